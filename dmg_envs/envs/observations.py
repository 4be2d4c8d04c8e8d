"""The observation layout: every key's place in one float64 vector, filled with a few copies per step."""

from __future__ import annotations

from typing import NamedTuple

import mujoco
import numpy as np
from gymnasium import spaces

from dmg_envs.errors import InvalidConfigError
from dmg_envs.sim.arm import ArmHandles


class ObservedFrame(NamedTuple):
    """A position read from the simulation: `array` is "site_xpos" (a frame) or "xpos" (a part's body)."""

    name: str
    array: str
    index: int


class ObservationLayout:
    """Places the observation keys in one vector, so that a step fills it with a few slice copies.

    Keys come in this order: qpos keys in qpos order (each arm's `joint_pos` and `gripper_qpos`, each
    object's `pos` and `quat`, each part's `joint_pos`), then each arm's `joint_vel`, `eef_pos` and
    `eef_quat`, then each fixture's `pos` and `quat`, each observed frame's `pos`, and last the task's
    relative vectors. The qpos part is then one contiguous copy.

    Args:
        arms: the arms' index tables.
        qpos_keys: (key, qpos address, size) of the objects' and parts' observed coordinates.
        fixtures: (name, mocap id) of the fixtures.
        frames: positions to observe as `<name>_pos`.
        relative: (key, origin key, target key): key = observation target - observation origin.
    """

    def __init__(self, arms: tuple[ArmHandles, ...], qpos_keys: list[tuple[str, int, int]],
                 fixtures: list[tuple[str, int]], frames: list[ObservedFrame],
                 relative: tuple[tuple[str, str, str], ...]):
        qpos_parts = list(qpos_keys)
        for arm in arms:
            qpos_parts += [(f"{arm.name}_joint_pos", arm.qpos_slice.start, 7),
                           (f"{arm.name}_gripper_qpos", arm.finger_qpos_slice.start, 2)]
        qpos_parts.sort(key=lambda part: part[1])
        parts = [(key, size) for key, _, size in qpos_parts]
        for arm in arms:
            parts += [(f"{arm.name}_joint_vel", 7), (f"{arm.name}_eef_pos", 3), (f"{arm.name}_eef_quat", 4)]
        for name, _ in fixtures:
            parts += [(f"{name}_pos", 3), (f"{name}_quat", 4)]
        parts += [(f"{frame.name}_pos", 3) for frame in frames]
        parts += [(key, 3) for key, _, _ in relative]
        offsets = np.cumsum([0] + [size for _, size in parts])
        slices = {key: slice(int(start), int(start) + size) for (key, size), start in zip(parts, offsets)}
        if len(slices) != len(parts):
            raise InvalidConfigError(f"observation keys must be unique: {[key for key, _ in parts]}")
        self.slices = tuple(slices.items())
        self.size = int(offsets[-1])

        qpos_source = np.concatenate([np.arange(adr, adr + size) for _, adr, size in qpos_parts])
        count = len(qpos_source)
        # A slice (a view: one copy per step) when the source addresses are contiguous, as they are when
        # every joint is observed.
        contiguous = np.array_equal(qpos_source, np.arange(qpos_source[0], qpos_source[0] + count))
        self.qpos_source = slice(int(qpos_source[0]), int(qpos_source[0]) + count) if contiguous else qpos_source
        self.qpos_target = slice(0, count)
        self._arms = tuple((arm.tcp_site, arm.dof_slice, slices[f"{arm.name}_joint_vel"], slices[f"{arm.name}_eef_pos"],
                            slices[f"{arm.name}_eef_quat"]) for arm in arms)
        self._fixtures = tuple((mocap, slices[f"{name}_pos"], slices[f"{name}_quat"]) for name, mocap in fixtures)
        self._frames = tuple((frame, slices[f"{frame.name}_pos"]) for frame in frames)
        # The relative vectors are the last keys: one subtraction of two gathers fills them all.
        self._relative = None
        if relative:
            first, last = slices[relative[0][0]], slices[relative[-1][0]]
            origins = np.concatenate([np.arange(slices[o].start, slices[o].stop) for _, o, _ in relative])
            targets = np.concatenate([np.arange(slices[t].start, slices[t].stop) for _, _, t in relative])
            self._relative = (slice(first.start, last.stop), targets, origins)

    def bind(self, data: mujoco.MjData) -> None:
        """Resolve the views on `data` that `fill` copies from (again after unpickling)."""
        contiguous = isinstance(self.qpos_source, slice)
        self._qpos = data.qpos
        self._gather = None if contiguous else (self.qpos_source, self.qpos_target)
        self._copies = ((self.qpos_target, data.qpos[self.qpos_source]),) if contiguous else ()
        for site, dofs, joint_vel, pos, _ in self._arms:
            self._copies += ((joint_vel, data.qvel[dofs]), (pos, data.site_xpos[site]))
        for mocap, pos, quat in self._fixtures:
            self._copies += ((pos, data.mocap_pos[mocap]), (quat, data.mocap_quat[mocap]))
        for frame, pos in self._frames:
            self._copies += ((pos, getattr(data, frame.array)[frame.index]),)
        self._quats = tuple((quat, data.site_xmat[site]) for site, _, _, _, quat in self._arms)

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in ("_qpos", "_gather", "_copies", "_quats"):
            state.pop(name, None)  # views on the simulation: rebound with `bind`
        return state

    def fill(self) -> np.ndarray:
        """This step's observation vector (fresh: no key shares memory with a later step)."""
        flat = np.empty(self.size)
        for target, source in self._copies:
            flat[target] = source
        if self._gather is not None:
            index, target = self._gather
            np.take(self._qpos, index, out=flat[target])
        for target, xmat in self._quats:
            mujoco.mju_mat2Quat(flat[target], xmat)
        if self._relative is not None:
            block, targets, origins = self._relative
            np.subtract(flat.take(targets), flat.take(origins), out=flat[block])
        return flat

    def as_dict(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """Views into `flat`, by key, in layout order."""
        return {key: flat[part] for key, part in self.slices}

    def space(self, flat: bool) -> spaces.Space:
        if flat:
            return spaces.Box(-np.inf, np.inf, shape=(self.size,), dtype=np.float64)
        # A sequence of (key, space) pairs keeps the layout's key order, so that gymnasium.spaces.flatten gives
        # the flat observation. A mapping would be sorted by gymnasium 1.0 even as an OrderedDict (1.1 and
        # newer keep an OrderedDict's order).
        return spaces.Dict([(key, spaces.Box(-np.inf, np.inf, shape=(part.stop - part.start,), dtype=np.float64))
                            for key, part in self.slices])
