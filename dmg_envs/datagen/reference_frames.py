"""A subtask's reference frame as the D-MG expert sees it over time: following the reference, held while the
arm moves it, and where a new start's offset must be blended away before the demo's final approach."""

from __future__ import annotations

import math

import numpy as np

from dmg_envs.dmp.transformation import BLEND_WINDOW
from dmg_envs.sim.transforms import upright_frame, yaw_of

# A reference that moves more than this in one control step has jumped.
JUMP_DISTANCE, JUMP_ANGLE = 0.02, 0.2  # [m], [rad]
# A reference moved this far by the arm (a drawer pulled by its handle) stays held for its subtask. (Only
# the distance counts: an object nudged onto an edge turns its upright frame without being carried.)
HOLD_DISTANCE = 0.03  # [m]
# A new start's offset is blended away before the demo's final approach: the last point this far from
# where it first touched the reference.
APPROACH_DISTANCE = 0.06  # [m]


def _moved(a: np.ndarray, b: np.ndarray, distance: float, angle: float) -> bool:
    """Whether two upright frames differ by more than `distance` [m] or `angle` [rad] of yaw."""
    turned = abs(yaw_of(a[:3, :3]) - yaw_of(b[:3, :3]))
    return bool(np.linalg.norm(a[:3, 3] - b[:3, 3]) > distance or min(turned, 2 * math.pi - turned) > angle)


class ReferenceFrame:
    """A subtask's reference frame over time. It follows the reference; while the arm touches the
    reference it is held where it was (the arm moves the reference then: it pulls a drawer by its handle,
    carries an object, so the motion must be read against where the reference was when the arm took hold
    of it); if the arm moved the reference by more than `HOLD_DISTANCE` while holding it, the frame stays
    held for the rest of the subtask, else (a brush) it follows again.

    Args:
        frame: the upright frame (4x4) to start from.
    """

    def __init__(self, frame: np.ndarray):
        self.frame, self._held_at, self._moved = frame, None, False

    def update(self, current: np.ndarray, touching: bool) -> bool:
        """Take the reference's current upright frame and whether the arm touches it; returns whether the
        reference jumped (moved more than `JUMP_DISTANCE` or `JUMP_ANGLE` since the last step while free)."""
        if touching:
            if self._held_at is None:
                self._held_at = self.frame
            self._moved = self._moved or _moved(current, self._held_at, HOLD_DISTANCE, math.inf)
            return False
        if self._held_at is not None:
            if not self._moved:  # an incidental touch: follow the reference again from where it is
                self._held_at, self.frame = None, current
            return False
        jumped = _moved(current, self.frame, JUMP_DISTANCE, JUMP_ANGLE)
        self.frame = current
        return jumped


def reference_frames(poses: np.ndarray, touched: np.ndarray) -> np.ndarray:
    """(T, 4, 4) frames of a reference over a segment, from its poses (T, 4, 4) and whether the arm touched
    it (T,), as `ReferenceFrame` would have them."""
    frame = ReferenceFrame(upright_frame(poses[0]))
    frames = np.empty_like(poses)
    for step, (pose, touching) in enumerate(zip(poses, touched)):
        frame.update(upright_frame(pose), bool(touching))
        frames[step] = frame.frame
    return frames


def approach_end(local_positions: np.ndarray, touched: np.ndarray) -> float:
    """The fraction of a segment by which a new start's offset must be blended away: the default end of
    the blend window, or earlier, when the demo last left `APPROACH_DISTANCE` before it first touched the
    reference (the start of its final approach, such as the descent onto a drawer's handle), so that the
    final approach and what follows it (the pull) are made as demonstrated."""
    steps = len(local_positions) - 1
    touches = np.flatnonzero(touched)
    if steps < 1 or len(touches) == 0:
        return BLEND_WINDOW[1]
    first = touches[0]
    far = np.flatnonzero(np.linalg.norm(local_positions[:first + 1] - local_positions[first], axis=1)
                         >= APPROACH_DISTANCE)
    if len(far) == 0:
        return BLEND_WINDOW[1]
    return float(np.clip(far[-1] / steps, BLEND_WINDOW[0] + 0.1, BLEND_WINDOW[1]))
