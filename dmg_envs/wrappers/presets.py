"""Named dynamics presets: comparable benchmark levels built from the perturbation wrappers.

| preset | what moves |
|---|---|
| `static` | nothing (no wrapper) |
| `dmg-paper` | D-MG's setting: in 50 % of episodes, the reference of the first subtask whose reference is a |
|  | movable object (Stack: cubeA; MugDrawer: the mug) drifts 2.5 mm per control step (5 cm/s) along +x, |
|  | -x, +y or -y, during the first half of that subtask (the TCP's approach); on two arms, only once the |
|  | arm of that subtask sets off for it (TrayLift: cube0, robot0; Pouring: the bowl, robot0's pick after |
|  | the pour, when the bowl holds the ball and so is not free: nothing moves) |
| `slow` | every movable object drifts at 2 cm/s in its own random direction for the whole episode |
| `fast` | the same at 8 cm/s |
| `jumps` | every movable object jumps 5 cm in a random direction and turns up to +-0.5 rad, on average once a second |
| `random-walk` | every movable object wanders with a smoothly varying velocity (4 cm/s RMS per axis, 1 s correlation) |
| `pushes` | a 60 N push in a random direction on the hand for 0.3 s, on average every 2 s |
| `cabinet` | every fixture (MugDrawer: the cabinet, drawer and all) slides at 2 cm/s in a random direction |
|  | and turns at 0.1 rad/s, within its workspace, while no arm touches it (tasks with fixtures only) |

Objects move only while free (see `ObjectPerturbation`) and stay inside the task's workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from dmg_envs.errors import InvalidConfigError
from dmg_envs.wrappers.object_perturbation import ObjectPerturbation
from dmg_envs.wrappers.robot_perturbation import RobotStatePerturbation
from dmg_envs.wrappers.scene_perturbation import SceneGeometryPerturbation


def _dmg_paper(env: gym.Env) -> gym.Env:
    task = env.unwrapped
    picks = [subtask for subtasks in task.subtask_spec.values() for subtask in subtasks
             if subtask.reference in task.movable_objects]
    if not picks:
        raise InvalidConfigError(f"the dmg-paper preset moves the reference of the first subtask that has a movable "
                                 f"object as its reference; {type(task).__name__} has none")
    pick = picks[0]
    speed = 0.0025 / task.control_dt  # 2.5 mm per control step
    return ObjectPerturbation(env, motion="drift", params={"speed": speed, "axis_aligned": True},
                              objects=[pick.reference], probability=0.5, subtask=pick.name, subtask_fraction=0.5)


def _cabinet(env: gym.Env) -> gym.Env:
    if not env.unwrapped.fixtures:
        raise InvalidConfigError(f"the cabinet preset moves fixtures; {type(env.unwrapped).__name__} has none")
    return SceneGeometryPerturbation(env, motion="drift", params={"speed": 0.02, "yaw_rate": 0.1})


PRESETS: dict[str, Callable[[gym.Env], gym.Env]] = {
    "static": lambda env: env,
    "dmg-paper": _dmg_paper,
    "slow": lambda env: ObjectPerturbation(env, motion="drift", params={"speed": 0.02}),
    "fast": lambda env: ObjectPerturbation(env, motion="drift", params={"speed": 0.08}),
    "jumps": lambda env: ObjectPerturbation(env, motion="jump",
                                            params={"interval": 1.0, "distance": 0.05, "yaw": 0.5}),
    "random-walk": lambda env: ObjectPerturbation(env, motion="random_walk",
                                                  params={"speed": 0.04, "correlation_time": 1.0}),
    "pushes": lambda env: RobotStatePerturbation(env, kind="push", magnitude=60.0, interval=2.0, duration=0.3),
    "cabinet": _cabinet,
}


def apply_dynamics(env: gym.Env, dynamics: str) -> gym.Env:
    """Wrap `env` with the perturbations of the preset `dynamics` (see the table above)."""
    if dynamics not in PRESETS:
        choices = ", ".join(map(repr, PRESETS))
        raise InvalidConfigError(f"dynamics {dynamics!r} is not a preset; choose one of {choices}")
    return PRESETS[dynamics](env)


def make(env_id: str, dynamics: str = "static", **kwargs: Any) -> gym.Env:
    """`gym.make(env_id, **kwargs)` wrapped with a dynamics preset; `env.spec` rebuilds it exactly."""
    return apply_dynamics(gym.make(env_id, **kwargs), dynamics)
