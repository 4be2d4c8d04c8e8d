"""`SceneGeometryPerturbation`: moves scene fixtures (drawer cabinets, target pads) during an episode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from dmg_envs.errors import InvalidConfigError, UnknownNameError
from dmg_envs.sim.transforms import make_pose, rotvec_to_mat
from dmg_envs.wrappers.gating import EpisodeGate
from dmg_envs.wrappers.motions import make_motion


class SceneGeometryPerturbation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Shift and turn the task's fixtures (kinematic scene geometry) in the table plane during an episode.

    Fixtures follow the same motion models as `ObjectPerturbation` and stay inside the task's
    `OBJECT_WORKSPACE_XY`; being kinematic (mocap bodies), they push whatever they meet, as furniture
    moved by a strong hand would. All randomness comes from the env's seeded generator.
    `info["scene_perturbation"]` maps each fixture to the step applied this control step,
    `[dx, dy, dyaw]` [m, m, rad].

    Args:
        env: a dmg-envs environment with fixtures (`env.unwrapped.fixtures`), possibly wrapped.
        motion: "drift", "random_walk", "oscillate" or "jump".
        params: the motion model's parameters.
        fixtures: names of the fixtures to move; None: all.
        probability, time_window, subtask, subtask_fraction: when it acts (`dmg_envs.wrappers.gating`).

    Change logs:
        v0.1.0: initial version.
    """

    def __init__(self, env: gym.Env, motion: str = "drift", params: dict[str, Any] | None = None,
                 fixtures: Sequence[str] | None = None, probability: float = 1.0,
                 time_window: Sequence[float] | None = None, subtask: str | None = None,
                 subtask_fraction: float = 1.0):
        gym.utils.RecordConstructorArgs.__init__(
            self, motion=motion, params=params, fixtures=None if fixtures is None else list(fixtures),
            probability=probability, time_window=None if time_window is None else list(time_window),
            subtask=subtask, subtask_fraction=subtask_fraction)
        gym.Wrapper.__init__(self, env)
        task = env.unwrapped
        self.fixtures = tuple(task.fixtures if fixtures is None else fixtures)
        if not self.fixtures:
            raise InvalidConfigError(f"{type(task).__name__} has no fixtures to move")
        for name in self.fixtures:
            if name not in task.fixtures:
                raise UnknownNameError("fixture", name, task.fixtures)
        self._motions = {name: make_motion(motion, task.control_dt, params) for name in self.fixtures}
        self._gate = EpisodeGate(probability, time_window, subtask, subtask_fraction)
        self._gate.bind(task)
        self._low, self._high = np.array(task.OBJECT_WORKSPACE_XY[0]), np.array(task.OBJECT_WORKSPACE_XY[1])
        self._dt = task.control_dt
        self._task = task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        rng = self._task.np_random
        self._gate.reset(rng)
        for model in self._motions.values():
            model.start(rng)
        self._steps = 0
        info["scene_perturbation"] = {name: np.zeros(3) for name in self.fixtures}
        return obs, info

    def step(self, action):
        task = self._task
        rng = task.np_random
        t = self._steps * self._dt
        applied = {name: np.zeros(3) for name in self.fixtures}
        if self._gate.allows(t):
            for name, model in self._motions.items():
                step = np.array(model.step(rng, t))
                pose = task.fixture_pose(name)
                for axis in (0, 1):
                    if not self._low[axis] <= pose[axis, 3] + step[axis] <= self._high[axis]:
                        model.bounce(axis)
                        step[axis] = -step[axis]
                if step.any():
                    position = pose[:3, 3] + [step[0], step[1], 0.0]
                    moved = make_pose(position, rotvec_to_mat([0, 0, step[2]]) @ pose[:3, :3])
                    task.set_fixture_pose(name, moved)
                    applied[name] = step
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        self._gate.update(info)
        info["scene_perturbation"] = applied
        return obs, reward, terminated, truncated, info
