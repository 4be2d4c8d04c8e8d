"""The phase (canonical system) and the Gaussian basis of the forcing term, shared by every DMP."""

from __future__ import annotations

import math

import numpy as np

from dmg_envs.errors import InvalidConfigError


class CanonicalSystem:
    """Phase s that decays from 1 towards 0: tau * ds/dt = -alpha_s * s / (1 + alpha_stop * e^2).

    `e` is an optional tracking error: with `alpha_stop > 0` the phase slows down while the robot lags
    behind the DMP (phase stopping), so the motion waits for it instead of running ahead.

    Args:
        alpha_s: decay rate; s(tau) = exp(-alpha_s) at the end of the demonstrated duration.
        alpha_stop: phase-stopping gain [1/m^2], 0 to disable.
    """

    def __init__(self, alpha_s: float = math.log(1e4), alpha_stop: float = 0.0):
        if not (alpha_s > 0 and math.isfinite(alpha_s)):
            raise InvalidConfigError(f"alpha_s must be a positive number, got {alpha_s!r}")
        if not (alpha_stop >= 0 and math.isfinite(alpha_stop)):
            raise InvalidConfigError(f"alpha_stop must be a non-negative number, got {alpha_stop!r}")
        self.alpha_s, self.alpha_stop = float(alpha_s), float(alpha_stop)

    def trajectory(self, times: np.ndarray, tau: float) -> np.ndarray:
        """s(t) without phase stopping (used for fitting): exp(-alpha_s t / tau)."""
        return np.exp(-self.alpha_s * np.asarray(times) / tau)

    def step(self, s: float, dt: float, tau: float, error: float = 0.0) -> float:
        """The phase after `dt` [s], integrated exactly for a constant slowdown over the step."""
        rate = self.alpha_s / (tau * (1.0 + self.alpha_stop * error * error))
        return s * math.exp(-rate * dt)


class GaussianBasis:
    """`count` Gaussian kernels spaced evenly in time over the phase's decay, normalised, times s.

    f(s) = s * sum_i psi_i(s) w_i / sum_i psi_i(s),  psi_i(s) = exp(-h_i (s - c_i)^2).
    """

    def __init__(self, count: int, alpha_s: float):
        if not (isinstance(count, int) and count >= 2):
            raise InvalidConfigError(f"the basis needs at least 2 kernels, got {count!r}")
        self.centers = np.exp(-alpha_s * np.linspace(0.0, 1.0, count))  # (count,)
        gaps = np.diff(self.centers)
        self.widths = 1.0 / np.concatenate([gaps, gaps[-1:]]) ** 2  # (count,) overlap with the next kernel

    def features(self, s: np.ndarray | float) -> np.ndarray:
        """(T, count) normalised kernel activations times s, for phases (T,) (or one phase: (count,))."""
        s = np.asarray(s, dtype=np.float64)
        psi = np.exp(-self.widths * (s[..., None] - self.centers) ** 2)
        return psi * (s[..., None] / np.maximum(psi.sum(axis=-1, keepdims=True), 1e-300))

    def fit(self, s: np.ndarray, targets: np.ndarray, ridge: float = 1e-9) -> np.ndarray:
        """Weights (count, dim) whose forcing term best matches `targets` (T, dim) at phases `s` (T,)."""
        phi = self.features(s)  # (T, count)
        gram = phi.T @ phi
        gram[np.diag_indices_from(gram)] += ridge * max(np.trace(gram) / len(gram), 1e-12)
        return np.linalg.solve(gram, phi.T @ targets)
