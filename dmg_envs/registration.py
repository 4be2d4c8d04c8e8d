"""The task table: one entry per task, from which the env ids are registered and data generation reads
its defaults. Adding a task means adding one entry here (and its module in `envs/`).

Everything is a string or a number, so importing the package loads neither MuJoCo nor any env module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym


@dataclass(frozen=True)
class TaskEntry:
    """One task.

    Attributes:
        task: short name used by the `dmg` command and in dataset ids (`dmg/<task>/...`).
        env_id: the registered, versioned Gymnasium id.
        entry_point: "module:Class" of the env.
        max_episode_steps: the episode's time limit [control steps].
        demonstrator: "module:Class" of the scripted, human-like source demonstrator (`dmg source`).
        expert_kwargs: the DMP expert's settings for this task (`DMPExpert` keyword arguments).
        demos_let_go: whether the source demos go on after success until the demonstrator has let go
            (needed where a held object only rests on its target once released: the bowl on its pad).
    """

    task: str
    env_id: str
    entry_point: str
    max_episode_steps: int
    demonstrator: str
    expert_kwargs: dict[str, Any] = field(default_factory=dict)
    demos_let_go: bool = False


TASKS: dict[str, TaskEntry] = {entry.task: entry for entry in (
    TaskEntry("stack", "dmg/Stack-v0", "dmg_envs.envs.stack:StackEnv", 300,
              "dmg_envs.datagen.demonstrators:StackDemonstrator"),
    TaskEntry("mug_drawer", "dmg/MugDrawer-v0", "dmg_envs.envs.mug_drawer:MugDrawerEnv", 500,
              "dmg_envs.datagen.demonstrators:MugDrawerDemonstrator"),
    TaskEntry("tray_lift", "dmg/TwoArmTrayLift-v0", "dmg_envs.envs.tray_lift:TwoArmTrayLiftEnv", 400,
              "dmg_envs.datagen.demonstrators:TrayLiftDemonstrator"),
    TaskEntry("pouring", "dmg/TwoArmPouring-v0", "dmg_envs.envs.pouring:TwoArmPouringEnv", 700,
              "dmg_envs.datagen.demonstrators:PouringDemonstrator", demos_let_go=True),
)}

ENTRY_POINTS = {entry.env_id: entry.entry_point for entry in TASKS.values()}
MAX_EPISODE_STEPS = {entry.env_id: entry.max_episode_steps for entry in TASKS.values()}


def register_envs() -> None:
    """Register every dmg-envs id with Gymnasium (idempotent)."""
    for entry in TASKS.values():
        if entry.env_id not in gym.registry:
            gym.register(id=entry.env_id, entry_point=entry.entry_point, max_episode_steps=entry.max_episode_steps)


def load_object(path: str) -> Any:
    """The object named by a "module:attribute" string."""
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
