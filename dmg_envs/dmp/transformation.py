"""Dynamic movement primitives: the transformation systems for positions and orientations.

Both follow Hoffmann et al. (2009) / Pastor et al. (2009), with the forcing term added (not scaled by
g - y0), so start == goal is harmless and the goal may change at any step:

    tau * dv/dt = K e(g, y) - D v - K e(g, y0) b(s) + K f(s),

where e(g, y) is the error from the state y to the goal g: g - y for positions, and for orientations
(unit quaternions) the world-frame rotation vector 2 log(g * conj(q)) (Ude et al. 2014). The state
follows tau * dy/dt = v (positions) or tau * dq/dt = 1/2 v * q (orientations). K = alpha^2 / 4 and
D = alpha make the system critically damped. A goal jump changes the acceleration by at most
K |delta g| / tau^2: it stays bounded.

b(s) blends from the start's offset to the goal's. Hoffmann uses b = s, whose exponential decay
applies most of a new goal's offset in the first tenth of the motion, so a lift that starts a move
turns into a sideways sweep. Here b follows a minimum-jerk profile, in the time the phase stands for,
between 10 % and 60 % of the motion (`BLEND_WINDOW`): the demonstrated departure keeps its start, the
demonstrated arrival happens at the new goal, and the path bends in between.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt

from dmg_envs.dmp import quaternion
from dmg_envs.dmp.basis import CanonicalSystem, GaussianBasis
from dmg_envs.errors import InvalidConfigError

# Fractions of the motion between which a new start and goal are blended: the demonstrated departure
# (a lift) keeps its start, and the demonstrated arrival (a descent) happens at its goal.
BLEND_WINDOW = (0.1, 0.6)
INTEGRATION_STEP = 0.01  # [s] the largest internal Euler step, whatever the caller's dt


class TransformationSystem(ABC):
    """A DMP over states of one kind; fit it to a demonstration, then reset and step it.

    Args:
        num_basis: Gaussian kernels of the forcing term.
        alpha: gain; K = alpha^2 / 4, D = alpha (D-MG uses 25, 10 for Stack).
        alpha_s: phase decay, s(end of the demonstration) = exp(-alpha_s).
        alpha_stop: phase-stopping gain on the tracking error [1/m^2 or 1/rad^2], 0 to disable.
        blend_window: (begin, end) fractions of the motion between which a new start's offset is blended
            into the goal's (`BLEND_WINDOW` by default).
    """

    dim = 3

    def __init__(self, num_basis: int = 50, alpha: float = 25.0, alpha_s: float = math.log(1e4),
                 alpha_stop: float = 0.0, blend_window: tuple[float, float] = BLEND_WINDOW):
        if not (alpha > 0 and math.isfinite(alpha)):
            raise InvalidConfigError(f"alpha must be a positive number, got {alpha!r}")
        if not 0.0 <= blend_window[0] < blend_window[1] <= 1.0:
            raise InvalidConfigError(f"blend_window must be (begin, end) with 0 <= begin < end <= 1, "
                                     f"got {blend_window}")
        self.blend_window = (float(blend_window[0]), float(blend_window[1]))
        self.stiffness, self.damping = alpha * alpha / 4.0, float(alpha)
        self.phase_system = CanonicalSystem(alpha_s, alpha_stop)
        self.basis = GaussianBasis(num_basis, alpha_s)
        self.weights = np.zeros((num_basis, self.dim))
        self.demo_start = self.demo_goal = None
        self.demo_duration = 1.0

    # ---------------------------------------------------------------- state-kind specifics
    @abstractmethod
    def _error(self, goal: np.ndarray, state: np.ndarray) -> np.ndarray:
        """e(goal, state) (..., 3)."""

    @abstractmethod
    def _integrate(self, state: np.ndarray, velocity: np.ndarray, dt: float, tau: float) -> np.ndarray:
        """The state after `dt` at the scaled velocity `velocity` (tau * dstate/dt)."""

    @abstractmethod
    def _velocities(self, states: np.ndarray, times: np.ndarray) -> np.ndarray:
        """(T, 3) time derivatives of a demonstrated state sequence (velocity or angular velocity)."""

    @abstractmethod
    def _check_state(self, state: npt.ArrayLike, name: str) -> np.ndarray:
        """The state as a float array, or a clear error."""

    def blend(self, s: np.ndarray | float) -> np.ndarray:
        """b(s): 1 until `blend_window[0]` of the motion, 0 after `blend_window[1]`, minimum-jerk between,
        in the time t / tau that phase s stands for."""
        time = np.log(np.maximum(s, 1e-300)) / -self.phase_system.alpha_s
        begin, end = self.blend_window
        fraction = np.clip((time - begin) / (end - begin), 0.0, 1.0)
        return 1.0 - fraction**3 * (10.0 - 15.0 * fraction + 6.0 * fraction**2)

    # ---------------------------------------------------------------- fitting
    def fit(self, times: npt.ArrayLike, states: npt.ArrayLike) -> TransformationSystem:
        """Least-squares weights that reproduce the demonstration `states` (T, ...) at `times` (T,) [s]."""
        times = np.asarray(times, dtype=np.float64)
        states = np.stack([self._check_state(state, "demonstration state") for state in states])
        if times.ndim != 1 or len(times) != len(states) or len(times) < 3:
            raise InvalidConfigError(
                f"need matching times (T,) and states (T, ...) with T >= 3, got {times.shape} and {states.shape}")
        if not np.all(np.diff(times) > 0):
            raise InvalidConfigError("demonstration times must increase strictly")
        times = times - times[0]
        tau = float(times[-1])
        velocity = self._velocities(states, times)  # (T, 3) d state / dt
        acceleration = np.gradient(velocity, times, axis=0)
        start, goal = states[0], states[-1]
        s = self.phase_system.trajectory(times, tau)
        targets = ((tau * tau * acceleration + self.damping * tau * velocity) / self.stiffness
                   - self._error(goal, states) + self._error(goal, start)[None, :] * self.blend(s)[:, None])
        self.weights = self.basis.fit(s, targets)
        self.demo_start, self.demo_goal, self.demo_duration = start, goal, tau
        return self

    # ---------------------------------------------------------------- execution
    def reset(self, start: npt.ArrayLike | None = None, goal: npt.ArrayLike | None = None,
              tau: float | None = None, velocity: npt.ArrayLike | None = None) -> None:
        """Start a rollout from `start` (default: the demonstration's) towards `goal`, lasting about
        `tau` [s] (default: the demonstration's duration: temporal scaling)."""
        if self.demo_start is None:
            raise InvalidConfigError("fit the DMP to a demonstration before resetting it")
        self.start = self._check_state(self.demo_start if start is None else start, "start")
        self.goal = self._check_state(self.demo_goal if goal is None else goal, "goal")
        self.tau = float(self.demo_duration if tau is None else tau)
        if not (self.tau > 0 and math.isfinite(self.tau)):
            raise InvalidConfigError(f"tau must be a positive duration, got {tau!r}")
        self.state = self.start.copy()
        self.velocity = np.zeros(3) if velocity is None else self.tau * np.asarray(velocity, dtype=np.float64)
        self.phase = 1.0
        self.acceleration = np.zeros(3)

    def step(self, dt: float, goal: npt.ArrayLike | None = None, tracking_error: float = 0.0) -> np.ndarray:
        """Advance `dt` [s] towards `goal` (changed from now on if given); returns the new state.

        `tracking_error` (e.g. the distance between the robot and the DMP's last state) slows the phase
        when phase stopping is enabled.
        """
        if goal is not None:
            self.goal = self._check_state(goal, "goal")
        substeps = max(1, math.ceil(dt / INTEGRATION_STEP))
        h = dt / substeps
        start_error = self._error(self.goal, self.start)
        for _ in range(substeps):
            forcing = self.basis.features(self.phase) @ self.weights
            self.acceleration = (self.stiffness * (self._error(self.goal, self.state)
                                                   - start_error * float(self.blend(self.phase)) + forcing)
                                 - self.damping * self.velocity) / self.tau
            self.velocity = self.velocity + h * self.acceleration
            self.state = self._integrate(self.state, self.velocity, h, self.tau)
            self.phase = self.phase_system.step(self.phase, h, self.tau, tracking_error)
        return self.state.copy()

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """The rollout's state (state, velocity, acceleration, phase), for `restore`."""
        return self.state.copy(), self.velocity.copy(), self.acceleration.copy(), self.phase

    def restore(self, snapshot: tuple[np.ndarray, np.ndarray, np.ndarray, float]) -> None:
        """Go back to a state taken by `snapshot` (start and goal unchanged): the rollout goes on from there."""
        state, velocity, acceleration, self.phase = snapshot
        self.state, self.velocity, self.acceleration = state.copy(), velocity.copy(), acceleration.copy()

    def rollout(self, dt: float, duration: float | None = None) -> np.ndarray:
        """States (T, ...) from the current state, every `dt` [s] for `duration` (default tau), goal fixed."""
        steps = round((self.tau if duration is None else duration) / dt)
        return np.stack([self.state.copy()] + [self.step(dt) for _ in range(steps)])

    def distance_to_goal(self) -> float:
        """|e(goal, state)| [m or rad]."""
        return float(np.linalg.norm(self._error(self.goal, self.state)))

    def converged(self, tolerance: float, phase: float = 0.05) -> bool:
        """Whether the phase is below `phase` and the state is within `tolerance` of the goal. (With the
        default alpha_s, a phase of 0.05 is reached a third of the way through tau: the distance test
        does most of the work.)"""
        return self.phase < phase and self.distance_to_goal() < tolerance


class PositionDMP(TransformationSystem):
    """DMP over 3-D positions [m]."""

    def _error(self, goal, state):
        return goal - state

    def _integrate(self, state, velocity, dt, tau):
        return state + velocity * (dt / tau)

    def _velocities(self, states, times):
        return np.gradient(states, times, axis=0)

    def _check_state(self, state, name):
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (3,) or not np.all(np.isfinite(state)):
            raise InvalidConfigError(f"{name} must be a finite position (3,), got {state.tolist()}")
        return state


class QuaternionDMP(TransformationSystem):
    """DMP over orientations as unit quaternions (w, x, y, z) (Ude et al. 2014)."""

    def _error(self, goal, state):
        return quaternion.rotation_between(goal, state)

    def _integrate(self, state, velocity, dt, tau):
        return quaternion.normalize(quaternion.multiply(quaternion.exp(velocity * (0.5 * dt / tau)), state))

    def _velocities(self, states, times):
        # Keep consecutive quaternions on one hemisphere so finite differences stay small.
        states = states.copy()
        for i in range(1, len(states)):
            if np.dot(states[i], states[i - 1]) < 0:
                states[i] = -states[i]
        steps = quaternion.rotation_between(states[1:], states[:-1])  # (T-1, 3) world-frame rotations
        rates = steps / np.diff(times)[:, None]
        mid_times = 0.5 * (times[1:] + times[:-1])
        return np.stack([np.interp(times, mid_times, rates[:, axis]) for axis in range(3)], axis=1)

    def _check_state(self, state, name):
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (4,) or not np.all(np.isfinite(state)) or abs(np.linalg.norm(state) - 1.0) > 1e-3:
            raise InvalidConfigError(f"{name} must be a unit quaternion (w, x, y, z), got {state.tolist()}")
        return state / np.linalg.norm(state)
