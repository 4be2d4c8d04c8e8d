"""`SceneGeometryPerturbation`: moves scene fixtures (drawer cabinets, target pads) during an episode."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from dmg_envs.errors import InvalidConfigError, UnknownNameError
from dmg_envs.sim.transforms import make_pose, rotvec_to_mat, yaw_of
from dmg_envs.wrappers.arguments import record_arguments
from dmg_envs.wrappers.gating import EpisodeGate
from dmg_envs.wrappers.motions import make_motion


class SceneGeometryPerturbation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Shift and turn the task's fixtures (kinematic scene geometry, with their articulated parts) in the
    table plane during an episode.

    Fixtures follow the same motion models as `ObjectPerturbation` and stay inside their workspace (the
    task's `FIXTURE_WORKSPACE`: x, y and yaw bounds; else `OBJECT_WORKSPACE_XY` at any yaw): a motion
    bounces off its edges, and a fixture found outside (placed or pushed there) is moved back in, never
    jittered in place. A fixture moves only while no arm touches it or its parts, as objects move only
    while free; being kinematic (mocap bodies), it pushes whatever else it meets, as furniture moved by a
    strong hand would. All randomness comes from the env's seeded generator.
    `info["scene_perturbation"]` maps each fixture to the step applied this control step,
    `[dx, dy, dyaw]` [m, m, rad].

    Example:
        >>> import gymnasium as gym, dmg_envs
        >>> from dmg_envs.wrappers import SceneGeometryPerturbation
        >>> env = SceneGeometryPerturbation(gym.make("dmg/MugDrawer-v0"), motion="drift", params={"speed": 0.02})
        >>> obs, info = env.reset(seed=0)
        >>> sorted(info["scene_perturbation"])
        ['cabinet']

    Args:
        env: a dmg-envs environment with fixtures (`env.unwrapped.fixtures`), possibly wrapped.
        motion: "drift", "random_walk", "oscillate" or "jump".
        params: the motion model's parameters.
        fixtures: names of the fixtures to move; None: all.
        probability, time_window, subtask, subtask_fraction: when it acts (`dmg_envs.wrappers.gating`).

    Change logs:
        v0.1.0: initial version.
        v0.2.0: yaw bounds per fixture, fixtures outside their workspace move back in, no motion while an
            arm touches the fixture.
    """

    def __init__(self, env: gym.Env, motion: str = "drift", params: dict[str, Any] | None = None,
                 fixtures: Sequence[str] | None = None, probability: float = 1.0,
                 time_window: Sequence[float] | None = None, subtask: str | None = None,
                 subtask_fraction: float = 1.0):
        args = record_arguments(self, motion=motion, params=params, fixtures=fixtures, probability=probability,
                                time_window=time_window, subtask=subtask, subtask_fraction=subtask_fraction)
        gym.Wrapper.__init__(self, env)
        task = env.unwrapped
        self.fixtures = tuple(task.fixtures if args["fixtures"] is None else args["fixtures"])
        if not self.fixtures:
            raise InvalidConfigError(f"{type(task).__name__} has no fixtures to move")
        for name in self.fixtures:
            if name not in task.fixtures:
                raise UnknownNameError("fixture", name, task.fixtures)
        self._motions = {name: make_motion(args["motion"], task.control_dt, args["params"]) for name in self.fixtures}
        self._gate = EpisodeGate(args["probability"], args["time_window"], args["subtask"], args["subtask_fraction"])
        self._gate.bind(task)
        (x_low, y_low), (x_high, y_high) = task.OBJECT_WORKSPACE_XY
        default = ((x_low, y_low, -math.inf), (x_high, y_high, math.inf))
        self._bounds = {name: task.FIXTURE_WORKSPACE.get(name, default) for name in self.fixtures}
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
                step = list(model.step(rng, t))  # stepped even when held, so the motion keeps its clock
                if any(task.in_contact(name, arm) for arm in task.arms) or not any(step):
                    continue
                pose = task.fixture_pose(name)
                position = [pose[0, 3], pose[1, 3], yaw_of(pose[:3, :3])]
                low, high = self._bounds[name]
                for axis in range(3):
                    # Bounce only off an edge the step would cross outwards: a fixture outside moves back in.
                    value = position[axis] + step[axis]
                    if (value > high[axis] and step[axis] > 0) or (value < low[axis] and step[axis] < 0):
                        model.bounce(axis)
                        step[axis] = -step[axis]
                moved = make_pose([position[0] + step[0], position[1] + step[1], pose[2, 3]],
                                  rotvec_to_mat([0.0, 0.0, step[2]]) @ pose[:3, :3])
                task.set_fixture_pose(name, moved)
                applied[name] = np.array(step)
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        self._gate.update(info)
        info["scene_perturbation"] = applied
        return obs, reward, terminated, truncated, info
