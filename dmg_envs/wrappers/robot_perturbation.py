"""`RobotStatePerturbation`: pushes on the end effector or knocks on the joints at random times."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from dmg_envs.errors import InvalidConfigError, UnknownNameError
from dmg_envs.wrappers.arguments import record_arguments
from dmg_envs.wrappers.gating import EpisodeGate

KINDS = ("push", "joint_offset")


class RobotStatePerturbation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Disturb the robot at random times: an external push on the hand, or a sudden joint offset.

    Disturbances start as a Poisson process, on average one every `interval` [s] per arm. `push` applies
    a world-frame force of `magnitude` [N] in a uniformly random direction to the hand for `duration`
    [s]; the arm's joint impedance yields, and stays where the push left it until the policy moves it
    back (delta actions are relative to the current pose). `joint_offset` displaces the 7 joints by
    N(0, `magnitude`^2) [rad] each at once, as a knock would. All randomness comes from the env's
    seeded generator. `info["robot_perturbation"]` maps each arm to what acts this step: the force [N]
    (3,) for `push`, the joint offset [rad] (7,) for `joint_offset` (zeros otherwise).

    Example:
        >>> import gymnasium as gym, dmg_envs
        >>> from dmg_envs.wrappers import RobotStatePerturbation
        >>> env = RobotStatePerturbation(gym.make("dmg/Stack-v0"), kind="push", magnitude=15.0)
        >>> obs, info = env.reset(seed=0)
        >>> info["robot_perturbation"]["robot0"].shape
        (3,)

    Args:
        env: a dmg-envs environment, possibly wrapped.
        kind: "push" or "joint_offset".
        magnitude: force [N] for `push`, standard deviation [rad] for `joint_offset`.
        interval: mean time between disturbances [s].
        duration: how long a push lasts [s] (at least one control step).
        arms: the arms to disturb; None: all.
        probability, time_window, subtask, subtask_fraction: when it acts (`dmg_envs.wrappers.gating`).

    Change logs:
        v0.1.0: initial version.
        v0.2.0: NumPy arguments are stored as plain numbers.
    """

    def __init__(self, env: gym.Env, kind: str = "push", magnitude: float = 10.0, interval: float = 2.0,
                 duration: float = 0.2, arms: Sequence[str] | None = None, probability: float = 1.0,
                 time_window: Sequence[float] | None = None, subtask: str | None = None,
                 subtask_fraction: float = 1.0):
        args = record_arguments(self, kind=kind, magnitude=magnitude, interval=interval, duration=duration, arms=arms,
                                probability=probability, time_window=time_window, subtask=subtask,
                                subtask_fraction=subtask_fraction)
        kind, magnitude, interval, duration = args["kind"], args["magnitude"], args["interval"], args["duration"]
        arms, probability, time_window = args["arms"], args["probability"], args["time_window"]
        subtask_fraction = args["subtask_fraction"]
        gym.Wrapper.__init__(self, env)
        if kind not in KINDS:
            raise InvalidConfigError(f"kind {kind!r} is not valid; choose one of {', '.join(map(repr, KINDS))}")
        for name, value in (("magnitude", magnitude), ("interval", interval), ("duration", duration)):
            if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
                raise InvalidConfigError(f"{name} must be a positive number, got {value!r}")
        task = env.unwrapped
        self.arms = tuple(task.arms if arms is None else arms)
        for arm in self.arms:
            if arm not in task.arms:
                raise UnknownNameError("arm", arm, task.arms)
        self.kind, self.magnitude = kind, float(magnitude)
        self._dt = task.control_dt
        self._start_probability = 1.0 - math.exp(-self._dt / float(interval))
        self._push_steps = max(1, round(float(duration) / self._dt))
        self._size = 3 if kind == "push" else 7
        self._gate = EpisodeGate(probability, time_window, subtask, subtask_fraction)
        self._gate.bind(task)
        self._task = task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._gate.reset(self._task.np_random)
        self._steps = 0
        self._pushes = {arm: (np.zeros(3), 0) for arm in self.arms}  # force, steps left
        info["robot_perturbation"] = {arm: np.zeros(self._size) for arm in self.arms}
        return obs, info

    def step(self, action):
        task = self._task
        rng = task.np_random
        allowed = self._gate.allows(self._steps * self._dt)
        applied = {}
        for arm in self.arms:
            starts = allowed and rng.random() < self._start_probability
            if self.kind == "joint_offset":
                applied[arm] = rng.normal(0.0, self.magnitude, size=7) if starts else np.zeros(7)
                if starts:
                    task.offset_joints(arm, applied[arm])
                continue
            force, left = self._pushes[arm]
            if starts and left == 0:
                direction = rng.normal(size=3)
                force, left = self.magnitude * direction / np.linalg.norm(direction), self._push_steps
            applied[arm] = force.copy() if left else np.zeros(3)
            task.apply_eef_wrench(arm, np.concatenate([applied[arm], np.zeros(3)]))
            self._pushes[arm] = (force, max(left - 1, 0))
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        self._gate.update(info)
        info["robot_perturbation"] = applied
        return obs, reward, terminated, truncated, info
