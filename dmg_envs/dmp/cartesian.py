"""A Cartesian DMP: a position DMP and an orientation DMP driven by the same phase."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dmg_envs.dmp.transformation import BLEND_WINDOW, PositionDMP, QuaternionDMP


class CartesianDMP:
    """End-effector pose DMP: position [m] and orientation (unit quaternion w, x, y, z).

    Both parts see the same phase (same gains, same time steps, same tracking error), so they start,
    slow down and finish together.

    Args: as `TransformationSystem` (`num_basis`, `alpha`, `alpha_s`, `alpha_stop`, `blend_window`).
    """

    def __init__(self, num_basis: int = 50, alpha: float = 25.0, alpha_s: float = math.log(1e4),
                 alpha_stop: float = 0.0, blend_window: tuple[float, float] = BLEND_WINDOW):
        self.position = PositionDMP(num_basis, alpha, alpha_s, alpha_stop, blend_window)
        self.orientation = QuaternionDMP(num_basis, alpha, alpha_s, alpha_stop, blend_window)

    def fit(self, times: npt.ArrayLike, positions: npt.ArrayLike, quaternions: npt.ArrayLike) -> CartesianDMP:
        """Fit both parts to a demonstrated pose sequence: times (T,) [s], positions (T, 3), quaternions (T, 4)."""
        self.position.fit(times, positions)
        self.orientation.fit(times, quaternions)
        return self

    def reset(self, start: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
              goal: tuple[npt.ArrayLike, npt.ArrayLike] | None = None, tau: float | None = None) -> None:
        """Start from `start` = (position, quaternion) towards `goal` (defaults: the demonstration's)."""
        self.position.reset(None if start is None else start[0], None if goal is None else goal[0], tau)
        self.orientation.reset(None if start is None else start[1], None if goal is None else goal[1], tau)

    def step(self, dt: float, goal: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
             tracking_error: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Advance `dt` [s], towards a new `goal` = (position, quaternion) if given."""
        position = self.position.step(dt, None if goal is None else goal[0], tracking_error)
        orientation = self.orientation.step(dt, None if goal is None else goal[1], tracking_error)
        return position, orientation

    def snapshot(self) -> tuple:
        """Both parts' rollout states, for `restore`."""
        return self.position.snapshot(), self.orientation.snapshot()

    def restore(self, snapshot: tuple) -> None:
        """Go back to a `snapshot` of this rollout."""
        self.position.restore(snapshot[0])
        self.orientation.restore(snapshot[1])

    @property
    def phase(self) -> float:
        return self.position.phase

    def converged(self, position_tolerance: float, rotation_tolerance: float, phase: float = 0.05) -> bool:
        """Whether the phase is below `phase` and the pose is within the tolerances [m], [rad] of the goal."""
        return (self.position.converged(position_tolerance, phase)
                and self.orientation.converged(rotation_tolerance, phase))
