"""Source demonstrations: recording any policy's episode with what the generators need, and HDF5 I/O."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import h5py
import numpy as np
import numpy.typing as npt

from dmg_envs.errors import DmgError, InvalidConfigError

# 2: states are mjSTATE_INTEGRATION (controls, applied forces, mocap poses included).
# 3: subtask references' poses and which arm touched them, at every step.
FORMAT_VERSION = 3


class SourceDemoError(DmgError, ValueError):
    """A source-demo file that is missing, corrupt or of another format."""


@dataclass
class SourceDemo:
    """One recorded episode. T actions; every per-state array has T + 1 rows (the reset state first).

    Attributes:
        env_id, env_kwargs, seed: how to rebuild the episode's start (`gym.make(env_id, **env_kwargs)`,
            `reset(seed=seed)`).
        actions: (T, action_dim) what the policy sent.
        eef_poses: per arm, (T + 1, 4, 4) TCP poses in the world frame.
        gripper_actions: per arm, (T,) the gripper command (-1 open, +1 closed).
        object_poses: per object, (T + 1, 4, 4) world poses.
        reference_poses: per subtask reference (object, fixture, part or frame), (T + 1, 4, 4) world poses.
        touches: per arm and subtask reference, (T + 1,) whether the arm touched the reference (its
            carrier, for a frame): while it does, the arm moves the reference itself.
        signals: per subtask signal, (T + 1,) booleans.
        states: (T + 1, n) full physics states (`env.unwrapped.get_state()`).
        success: whether the episode ended in success.
    """

    env_id: str
    env_kwargs: dict[str, Any]
    seed: int
    actions: np.ndarray
    eef_poses: dict[str, np.ndarray]
    gripper_actions: dict[str, np.ndarray]
    object_poses: dict[str, np.ndarray]
    reference_poses: dict[str, np.ndarray]
    touches: dict[str, dict[str, np.ndarray]]
    signals: dict[str, np.ndarray]
    states: np.ndarray
    success: bool
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return len(self.actions)


class EpisodeRecorder:
    """What a `SourceDemo` holds, collected state by state from an env (`record_episode` drives it with a
    policy; replaying a stored episode drives it with the stored actions).

    Create it in the episode's first state (after the reset), then call `step` after every env step.
    """

    def __init__(self, env: gym.Env):
        self.env, task = env, env.unwrapped
        self.task = task
        self.references = sorted({subtask.reference for subtasks in task.subtask_spec.values() for subtask in subtasks})
        self.owners = {name: task.reference_owner(name) for name in self.references}
        self.actions: list[np.ndarray] = []
        self.states: list[np.ndarray] = []
        self.eef: dict[str, list] = {arm: [] for arm in task.arms}
        self.gripper: dict[str, list] = {arm: [] for arm in task.arms}
        self.objects: dict[str, list] = {name: [] for name in task.movable_objects}
        self.reference_poses: dict[str, list] = {name: [] for name in self.references}
        self.touches = {arm: {name: [] for name in self.references} for arm in task.arms}
        self.signals = {name: [bool(value)] for name, value in task.subtask_signals().items()}
        self._record_state()

    def _record_state(self) -> None:
        task = self.task
        self.states.append(task.get_state())
        for arm in task.arms:
            self.eef[arm].append(task.eef_pose(arm))
            for name in self.references:
                self.touches[arm][name].append(task.in_contact(self.owners[name], arm))
        for name, pose in task.object_poses().items():
            self.objects[name].append(pose)
        for name in self.references:
            self.reference_poses[name].append(task.reference_pose(name))

    def step(self, action: npt.ArrayLike, info: dict[str, Any]) -> None:
        """Record the state the env is in after stepping `action`, with that step's `info` (its signals)."""
        action = np.asarray(action, dtype=np.float64)
        self.actions.append(action)
        self._record_state()
        for index, arm in enumerate(self.task.arms):
            self.gripper[arm].append(float(np.clip(action[7 * index + 6], -1, 1)))
        for name in self.signals:
            self.signals[name].append(bool(info[name]))

    def demo(self, seed: int, success: bool, attrs: dict[str, Any] | None = None) -> SourceDemo:
        """The recorded episode, as the env's spec names it."""
        spec = self.env.spec
        return SourceDemo(
            env_id=spec.id if spec is not None else type(self.task).__name__,
            env_kwargs=dict(spec.kwargs) if spec is not None else {},
            seed=seed, actions=np.array(self.actions),
            eef_poses={arm: np.array(poses) for arm, poses in self.eef.items()},
            gripper_actions={arm: np.array(values) for arm, values in self.gripper.items()},
            object_poses={name: np.array(poses) for name, poses in self.objects.items()},
            reference_poses={name: np.array(poses) for name, poses in self.reference_poses.items()},
            touches={arm: {name: np.array(values) for name, values in by_name.items()}
                     for arm, by_name in self.touches.items()},
            signals={name: np.array(values) for name, values in self.signals.items()},
            states=np.array(self.states), success=success, attrs=dict(attrs or {}))


def record_episode(env: gym.Env, policy: Callable[[Any], np.ndarray], seed: int, max_steps: int = 300,
                   stop_on_success: int | None = 5, until_done: bool = False) -> SourceDemo:
    """Run `policy(obs) -> action` from `env.reset(seed=seed)` and record everything a generator needs.

    Works with any policy, scripted or teleoperated (a callable that returns the operator's command).

    Args:
        env, policy, seed: what to record, driven by what, from which reset.
        max_steps: the episode stops here at the latest (and at termination or truncation).
        stop_on_success: it stops this many steps after the first success (None: never early).
        until_done: it goes on past that until the policy says it is done (`policy.done`, as the scripted
            demonstrators have), so that the demo shows it letting go of what it placed; a policy not done
            by `max_steps` makes an unsuccessful demo.
    """
    if until_done and not hasattr(policy, "done"):
        raise InvalidConfigError(f"until_done needs a policy with a `done` attribute; {type(policy).__name__} "
                                 f"has none")
    obs, info = env.reset(seed=seed)
    recorder = EpisodeRecorder(env)
    since_success = None
    for _ in range(max_steps):
        action = np.asarray(policy(obs), dtype=np.float64)
        obs, _, terminated, truncated, info = env.step(action)
        recorder.step(action, info)
        if info["is_success"] and since_success is None:
            since_success = 0
        if since_success is not None:
            since_success += 1
        past_success = (stop_on_success is not None and since_success is not None
                        and since_success > stop_on_success)
        waiting_for_policy = until_done and not policy.done
        if terminated or truncated or (past_success and not waiting_for_policy):
            break
    return recorder.demo(seed, success=bool(info["is_success"]) and not (until_done and not policy.done))


def save_source_demos(path: str | Path, demos: list[SourceDemo]) -> Path:
    """Write demos to one HDF5 file (`demo_0`, `demo_1`, ... groups), replacing it atomically (each call
    writes a partial file of its own, so two that record the same demos do not write over each other)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
    try:
        with h5py.File(partial, "w") as file:
            file.attrs["format"] = "dmg-envs source demos"
            file.attrs["format_version"] = FORMAT_VERSION
            file.attrs["count"] = len(demos)
            for index, demo in enumerate(demos):
                group = file.create_group(f"demo_{index}")
                group.attrs.update({"env_id": demo.env_id, "env_kwargs": json.dumps(demo.env_kwargs),
                                    "seed": demo.seed, "success": demo.success, "attrs": json.dumps(demo.attrs)})
                for name in ("actions", "states"):
                    group.create_dataset(name, data=getattr(demo, name), compression="gzip")
                for name in ("eef_poses", "gripper_actions", "object_poses", "reference_poses", "signals"):
                    sub = group.create_group(name)
                    for key, value in getattr(demo, name).items():
                        sub.create_dataset(key, data=value, compression="gzip")
                for arm, by_name in demo.touches.items():
                    sub = group.create_group(f"touches/{arm}")
                    for key, value in by_name.items():
                        sub.create_dataset(key, data=value, compression="gzip")
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def load_source_demos(path: str | Path) -> list[SourceDemo]:
    """Read demos written by `save_source_demos`; raises `SourceDemoError` naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise SourceDemoError(f"source demo file {str(path)!r} does not exist")
    try:
        with h5py.File(path, "r") as file:
            if file.attrs.get("format") != "dmg-envs source demos":
                raise SourceDemoError(f"{str(path)!r} is not a dmg-envs source demo file")
            if int(file.attrs["format_version"]) != FORMAT_VERSION:
                raise SourceDemoError(f"{str(path)!r} has format version {file.attrs['format_version']}, "
                                      f"this dmg-envs reads {FORMAT_VERSION}")
            demos = []
            for index in range(int(file.attrs["count"])):
                group = file[f"demo_{index}"]
                demos.append(SourceDemo(
                    env_id=str(group.attrs["env_id"]), env_kwargs=json.loads(group.attrs["env_kwargs"]),
                    seed=int(group.attrs["seed"]), actions=group["actions"][()], states=group["states"][()],
                    eef_poses={k: v[()] for k, v in group["eef_poses"].items()},
                    gripper_actions={k: v[()] for k, v in group["gripper_actions"].items()},
                    object_poses={k: v[()] for k, v in group["object_poses"].items()},
                    reference_poses={k: v[()] for k, v in group["reference_poses"].items()},
                    touches={arm: {k: v[()].astype(bool) for k, v in by_name.items()}
                             for arm, by_name in group["touches"].items()},
                    signals={k: v[()].astype(bool) for k, v in group["signals"].items()},
                    success=bool(group.attrs["success"]), attrs=json.loads(group.attrs["attrs"])))
    except SourceDemoError:
        raise
    except (OSError, KeyError, ValueError) as error:
        raise SourceDemoError(f"source demo file {str(path)!r} is corrupt or incomplete: {error}") from error
    for index, demo in enumerate(demos):
        steps = demo.num_steps
        lengths = [len(demo.states)] + [len(v) for v in (
            *demo.eef_poses.values(), *demo.object_poses.values(), *demo.reference_poses.values(),
            *demo.signals.values(), *(v for by_name in demo.touches.values() for v in by_name.values()))]
        if any(length != steps + 1 for length in lengths):
            raise SourceDemoError(f"{str(path)!r} demo_{index}: per-state arrays must have {steps + 1} rows")
    return demos
