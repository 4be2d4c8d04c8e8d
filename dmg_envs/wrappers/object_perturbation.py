"""`ObjectPerturbation`: moves the task's free objects while an episode runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from dmg_envs.errors import InvalidConfigError, UnknownNameError
from dmg_envs.wrappers.arguments import record_arguments
from dmg_envs.wrappers.gating import EpisodeGate
from dmg_envs.wrappers.motions import make_motion

CLEARANCE = 0.002  # [m] kept between the footprint circles of a moved object and another object
_NO_STEP = (0.0, 0.0, 0.0)


class ObjectPerturbation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Move the task's movable objects in the table plane during an episode.

    Before each env step, every selected object takes one step of its motion model (`drift`,
    `random_walk`, `oscillate` or `jump`, see `dmg_envs.wrappers.motions`), as a kinematic displacement
    (its velocity is kept). Physical consistency:

    - an object moves only while it is free: touching no arm (so never while grasped), no other movable
      object (so never while stacked, and nothing ever rests on a moved object) and no fixture (so never
      inside a drawer);
    - its centre stays inside the task's workspace for it (`object_workspace`; the motion bounces off the
      edges);
    - it stops short of other objects (footprint circles `CLEARANCE` apart) and of fixtures and their
      parts (footprint rectangles: never into a cabinet or through a drawer's wall) and bounces away;
    - its height is kept, so it never sinks into the table.

    All randomness comes from the env's seeded generator (`env.np_random`), drawn at reset and at each
    step, so the same seed gives the same perturbations. `info["perturbation"]` maps each selected object
    to the step applied this control step, `[dx, dy, dyaw]` [m, m, rad] (zeros when unmoved), and
    `info["perturbation_total"]` to the episode's sum so far (its value at the last step is the total).

    Example:
        >>> import gymnasium as gym, dmg_envs
        >>> from dmg_envs.wrappers import ObjectPerturbation
        >>> env = ObjectPerturbation(gym.make("dmg/Stack-v0"), motion="drift", params={"speed": 0.02})
        >>> obs, info = env.reset(seed=0)
        >>> sorted(info["perturbation"])
        ['cubeA', 'cubeB']

    Args:
        env: a dmg-envs environment, possibly wrapped.
        motion: "drift", "random_walk", "oscillate" or "jump".
        params: the motion model's parameters, e.g. {"speed": 0.02} for drift [m/s].
        objects: names of the objects to move; None moves every movable object.
        probability, time_window, subtask, subtask_fraction: when it acts (`dmg_envs.wrappers.gating`).

    Change logs:
        v0.1.0: initial version.
        v0.2.0: an object touching a fixture is not free (a mug in a drawer stays put); objects stop short of
            fixtures' footprints; NumPy arguments are stored as plain numbers.
        unreleased: a subtask gate on two arms: a sequential subtask is active only once its partner has
            ended, and one whose arm may wait for the other arm only once that arm has set off for it.
    """

    def __init__(self, env: gym.Env, motion: str = "drift", params: dict[str, Any] | None = None,
                 objects: Sequence[str] | None = None, probability: float = 1.0,
                 time_window: Sequence[float] | None = None, subtask: str | None = None,
                 subtask_fraction: float = 1.0):
        args = record_arguments(self, motion=motion, params=params, objects=objects, probability=probability,
                                time_window=time_window, subtask=subtask, subtask_fraction=subtask_fraction)
        motion, params, objects, probability = args["motion"], args["params"], args["objects"], args["probability"]
        time_window, subtask_fraction = args["time_window"], args["subtask_fraction"]
        gym.Wrapper.__init__(self, env)
        task = env.unwrapped
        movable = task.movable_objects
        self.objects = tuple(movable if objects is None else objects)
        for name in self.objects:
            if name not in movable:
                raise UnknownNameError("object", name, movable)
        if not self.objects:
            raise InvalidConfigError("objects must name at least one movable object")
        self._motions = {name: make_motion(motion, task.control_dt, params) for name in self.objects}
        self._gate = EpisodeGate(probability, time_window, subtask, subtask_fraction)
        self._gate.bind(task)
        self._bounds = {name: (low[0], high[0], low[1], high[1])  # x_low, x_high, y_low, y_high [m]
                        for name, (low, high) in ((name, task.object_workspace(name)) for name in self.objects)}
        extents = {name: task.object_extent(name) for name in movable}
        self._radius = {name: extent.radius for name, extent in extents.items()}
        self._below = {name: extent.bottom for name, extent in extents.items()}  # [m] under the origin
        self._above = {name: extent.top for name, extent in extents.items()}
        self._has_fixtures = bool(task.fixtures)
        self._others = {name: tuple(other for other in movable if other != name) for name in self.objects}
        self._movable = movable
        self._dt = task.control_dt
        self._task = task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        rng = self._task.np_random
        self._gate.reset(rng)
        for model in self._motions.values():
            model.start(rng)
        self._steps = 0
        self._total = np.zeros((len(self.objects), 3))  # rows in `self.objects` order
        self._report(info, np.zeros((len(self.objects), 3)))
        return obs, info

    def step(self, action):
        t = self._steps * self._dt
        applied = self._perturb(t) if self._gate.allows(t) else None
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        self._gate.update(info)
        if applied is None:
            applied = np.zeros((len(self.objects), 3))
        else:
            self._total += applied
        self._report(info, applied)
        return obs, reward, terminated, truncated, info

    def _report(self, info: dict, applied: np.ndarray) -> None:
        # Fresh arrays every step: users keep infos, and each row is a view of this step's arrays only.
        info["perturbation"] = dict(zip(self.objects, applied))
        info["perturbation_total"] = dict(zip(self.objects, self._total.copy()))

    def _perturb(self, t: float) -> np.ndarray:
        """Move the free selected objects one motion step; returns the steps applied (n, 3)."""
        task = self._task
        rng = task.np_random
        # Decided on the state the last physics step left, before anything moves.
        free = task.free_objects()
        positions = dict(zip(self._movable, task.object_positions().tolist()))
        # Plain Python per object, one array at the end: this runs every control step.
        applied = [_NO_STEP] * len(self.objects)
        footprints = None  # of the fixtures: read once, when the first object moves
        for row, name in enumerate(self.objects):
            model = self._motions[name]
            dx, dy, dyaw = model.step(rng, t)  # stepped even when blocked, so the motion keeps its clock
            if name not in free or not (dx or dy or dyaw):
                continue
            x, y, z = positions[name]
            x_low, x_high, y_low, y_high = self._bounds[name]
            # Bounce only off an edge the step would cross outwards: an object left outside (pushed there
            # by the arm) may still move back in.
            if (x + dx > x_high and dx > 0) or (x + dx < x_low and dx < 0):
                model.bounce(0)
                dx = -dx
            if (y + dy > y_high and dy > 0) or (y + dy < y_low and dy < 0):
                model.bounce(1)
                dy = -dy
            if footprints is None:
                footprints = task.footprints() if self._has_fixtures else ()
            dx, dy = self._clear_of_others(positions, footprints, name, dx, dy)
            if dx or dy or dyaw:
                task.move_object(name, dx, dy, dyaw)
                positions[name] = [x + dx, y + dy, z]
                applied[row] = (dx, dy, dyaw)
        return np.array(applied)

    def _clear_of_others(self, positions: dict[str, list[float]], footprints, name: str, dx: float, dy: float):
        """The step, or no step (and a bounce) if it would bring the object too close to another one or
        into a fixture's footprint."""
        x, y, z = positions[name]
        radius, below, above = self._radius[name], self._below[name], self._above[name]
        for other in self._others[name]:
            ox, oy, oz = positions[other]
            dz = oz - z
            if dz >= above + self._below[other] or -dz >= below + self._above[other]:
                continue  # at another height (lifted, or stacked elsewhere): no collision in the plane
            gap = math.hypot(x + dx - ox, y + dy - oy) - radius - self._radius[other] - CLEARANCE
            if gap < 0 and math.hypot(x + dx - ox, y + dy - oy) < math.hypot(x - ox, y - oy):
                self._motions[name].bounce(0 if abs(x - ox) >= abs(y - oy) else 1)
                return 0.0, 0.0
        for footprint in footprints:
            if footprint.z_low >= z + above or z - below >= footprint.z_high:
                continue
            before, normal = _distance_to(footprint, x, y)
            after, _ = _distance_to(footprint, x + dx, y + dy)
            if after < radius + CLEARANCE and after < before:
                self._motions[name].bounce(0 if abs(normal[0]) >= abs(normal[1]) else 1)
                return 0.0, 0.0
        return dx, dy


def _distance_to(footprint, x: float, y: float) -> tuple[float, tuple[float, float]]:
    """Distance [m] from a point to a footprint rectangle, and the world direction from the rectangle to
    the point."""
    cos, sin = math.cos(footprint.yaw), math.sin(footprint.yaw)
    rx, ry = x - footprint.center[0], y - footprint.center[1]
    local_x, local_y = cos * rx + sin * ry, -sin * rx + cos * ry
    out_x = max(footprint.low_xy[0] - local_x, 0.0, local_x - footprint.high_xy[0])
    out_y = max(footprint.low_xy[1] - local_y, 0.0, local_y - footprint.high_xy[1])
    sign_x = 1.0 if local_x > footprint.high_xy[0] else -1.0
    sign_y = 1.0 if local_y > footprint.high_xy[1] else -1.0
    nx, ny = sign_x * out_x, sign_y * out_y
    return math.hypot(out_x, out_y), (cos * nx - sin * ny, sin * nx + cos * ny)
