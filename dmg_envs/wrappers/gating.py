"""When a perturbation acts: per-episode probability, a time window, an active subtask."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from dmg_envs.errors import InvalidConfigError, UnknownNameError

if TYPE_CHECKING:
    from dmg_envs.envs.task import Subtask

# An arm that may wait at the start of its subtask (for its partner) has set off once its TCP is this much
# nearer the subtask's reference than when the subtask could start.
SET_OFF_DISTANCE = 0.01  # [m]


class EpisodeGate:
    """Decides, step by step, whether a perturbation may act.

    Args:
        probability: chance that an episode is perturbed at all, drawn at reset, in [0, 1].
        time_window: [start, end] episode time [s] in which it acts; None: the whole episode.
        subtask: act only while this subtask of `subtask_spec` is active: every earlier subtask of its
            arm has signalled, and it has not; a sequential subtask also waits until its partner (and every
            subtask before the partner on its arm) has signalled. A subtask whose arm may wait at its start
            for the other arm (sequential, coordination) is active only once the arm has set off: its TCP
            is `SET_OFF_DISTANCE` nearer the reference than when the subtask could start (a parked arm
            moves nothing).
        subtask_fraction: and only during this first fraction of the subtask, measured by how far the
            arm's TCP has closed in on the subtask's reference since the subtask began (could start), in
            (0, 1]. Once passed, the fraction stays passed for the episode (backing off does not reopen the
            gate).
    """

    def __init__(self, probability: float = 1.0, time_window: Sequence[float] | None = None,
                 subtask: str | None = None, subtask_fraction: float = 1.0):
        if not (isinstance(probability, numbers.Real) and 0.0 <= probability <= 1.0):
            raise InvalidConfigError(f"probability must lie in [0, 1], got {probability!r}")
        if time_window is not None:
            valid = len(time_window) == 2 and all(math.isfinite(t) for t in time_window)
            if not valid or time_window[0] > time_window[1]:
                raise InvalidConfigError(f"time_window must be [start, end] in seconds, got {time_window!r}")
            time_window = (float(time_window[0]), float(time_window[1]))
        if not (isinstance(subtask_fraction, numbers.Real) and 0.0 < subtask_fraction <= 1.0):
            raise InvalidConfigError(f"subtask_fraction must lie in (0, 1], got {subtask_fraction!r}")
        self.probability, self.time_window = float(probability), time_window
        self.subtask, self.subtask_fraction = subtask, float(subtask_fraction)
        self.episode_active = False

    def bind(self, unwrapped) -> None:
        """Resolve the subtask against the env's `subtask_spec` (raises for an unknown name)."""
        self._env = unwrapped
        self._chain: tuple[Subtask, ...] = ()
        self._partner_chain: tuple[Subtask, ...] = ()  # a sequential subtask's partner and what comes before it
        self._waits = False  # whether the arm may wait at the subtask's start
        if self.subtask is None:
            return
        names, chains = [], {}
        for arm, subtasks in unwrapped.subtask_spec.items():
            for index, spec in enumerate(subtasks):
                names.append(spec.name)
                chains[spec.name] = arm, tuple(subtasks[:index + 1])
        if self.subtask not in chains:
            raise UnknownNameError("subtask", self.subtask, names)
        self._arm, self._chain = chains[self.subtask]
        gated = self._chain[-1]
        if gated.kind == "sequential":
            self._partner_chain = chains[gated.partner][1]
        self._waits = gated.kind != "parallel"

    def reset(self, rng: np.random.Generator) -> None:
        self.episode_active = bool(rng.random() < self.probability)
        self._done = [False] * len(self._chain)
        self._partner_done = [False] * len(self._partner_chain)
        self._start_distance: float | None = None
        self._set_off = not self._waits
        self._fraction_passed = False

    def update(self, info: dict) -> None:
        """Latch the subtask signals of the step just taken, in order: a subtask is done when its signal
        fires after every earlier one of its arm has (a signal already true before its turn, such as
        `drawer_closed` at reset, does not count)."""
        for chain, done in ((self._chain, self._done), (self._partner_chain, self._partner_done)):
            for index, spec in enumerate(chain):
                if done[index]:
                    continue
                if not info.get(spec.signal, False):
                    break
                done[index] = True

    def allows(self, t: float) -> bool:
        """Whether the perturbation may act in the control step starting at time `t` [s]."""
        if not self.episode_active:
            return False
        if self.time_window is not None and not (self.time_window[0] <= t < self.time_window[1]):
            return False
        if not self._chain:
            return True
        if not all(self._done[:-1]) or self._done[-1] or not all(self._partner_done):
            return False
        if self.subtask_fraction >= 1.0 and self._set_off:
            return True
        if self._fraction_passed:
            return False
        reference = self._env.reference_pose(self._chain[-1].reference)[:3, 3]
        distance = float(np.linalg.norm(self._env.eef_pose(self._arm)[:3, 3] - reference))
        if self._start_distance is None:
            self._start_distance = max(distance, 1e-6)
        if not self._set_off:
            self._set_off = distance <= self._start_distance - SET_OFF_DISTANCE
            if not self._set_off:
                return False
        if self.subtask_fraction >= 1.0:
            return True
        self._fraction_passed = 1.0 - distance / self._start_distance >= self.subtask_fraction
        return not self._fraction_passed
