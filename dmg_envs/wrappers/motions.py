"""Planar motion models for perturbed objects: how an object would move this control step.

Each model keeps its per-object state, starts afresh with `start(rng)` at every episode and returns
the planar step `(dx, dy, dyaw)` [m, m, rad] with `step(rng, t)`; `bounce(axis)` reverses its velocity
along a world axis (0: x, 1: y) or its turn (2: yaw) when the object meets the workspace edge, another
object or a yaw limit.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

import numpy as np

from dmg_envs.errors import InvalidConfigError


class MotionModel(ABC):
    """One object's motion over an episode."""

    def __init__(self, dt: float):
        self.dt = dt
        self._draws: list[list[float]] = []

    def _draw(self, rng: np.random.Generator) -> list[float]:
        """The next row of `_sample`. Rows are drawn in blocks, since one NumPy call per step and object
        would cost more than the motion itself; `start` drops what is left of a block."""
        if not self._draws:
            self._draws = self._sample(rng, 64).tolist()[::-1]
        return self._draws.pop()

    def _sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """(count, k) random numbers for `count` steps, for models that draw at every step."""
        raise NotImplementedError

    @abstractmethod
    def start(self, rng: np.random.Generator) -> None:
        """Draw this episode's motion parameters."""

    @abstractmethod
    def step(self, rng: np.random.Generator, t: float) -> tuple[float, float, float]:
        """The planar step for the control step starting at time `t` [s]."""

    def bounce(self, axis: int) -> None:  # noqa: B027  (deliberately a no-op by default)
        """Reverse the velocity along world axis `axis` (2: the turn rate); models without one ignore it."""


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
            raise InvalidConfigError(f"{name} must be a positive number, got {value!r}")


class Drift(MotionModel):
    """Constant planar velocity of magnitude `speed` [m/s] in a random direction, and a constant turn at
    `yaw_rate` [rad/s] in a random sense.

    `axis_aligned=True` picks the direction among +x, -x, +y, -y instead (D-MG's setting).
    """

    def __init__(self, dt: float, speed: float = 0.02, axis_aligned: bool = False, yaw_rate: float = 0.0):
        super().__init__(dt)
        _check_positive(speed=speed)
        if not (isinstance(yaw_rate, numbers.Real) and math.isfinite(yaw_rate) and yaw_rate >= 0):
            raise InvalidConfigError(f"yaw_rate must be a non-negative number, got {yaw_rate!r}")
        self.speed, self.axis_aligned, self.yaw_rate = float(speed), bool(axis_aligned), float(yaw_rate)
        self.velocity = [0.0, 0.0]
        self.turn = 0.0

    def start(self, rng: np.random.Generator) -> None:
        if self.axis_aligned:
            axis, sign = int(rng.integers(2)), float(rng.choice((-1.0, 1.0)))
            self.velocity = [0.0, 0.0]
            self.velocity[axis] = sign * self.speed
        else:
            angle = float(rng.uniform(0.0, 2.0 * math.pi))
            self.velocity = [self.speed * math.cos(angle), self.speed * math.sin(angle)]
        if self.yaw_rate:  # drawn only when turning, so that plain drifts keep their random stream
            self.turn = self.yaw_rate * float(rng.choice((-1.0, 1.0)))

    def step(self, rng: np.random.Generator, t: float) -> tuple[float, float, float]:
        return self.velocity[0] * self.dt, self.velocity[1] * self.dt, self.turn * self.dt

    def bounce(self, axis: int) -> None:
        if axis == 2:
            self.turn = -self.turn
        else:
            self.velocity[axis] = -self.velocity[axis]


class RandomWalk(MotionModel):
    """Smoothly varying planar velocity: an Ornstein-Uhlenbeck process with RMS speed `speed` [m/s]
    per axis and correlation time `correlation_time` [s]."""

    def __init__(self, dt: float, speed: float = 0.02, correlation_time: float = 1.0):
        super().__init__(dt)
        _check_positive(speed=speed, correlation_time=correlation_time)
        self.speed = float(speed)
        self.decay = math.exp(-dt / correlation_time)
        self.noise = self.speed * math.sqrt(1.0 - self.decay**2)
        self.velocity = [0.0, 0.0]

    def start(self, rng: np.random.Generator) -> None:
        self.velocity = rng.normal(0.0, self.speed, size=2).tolist()
        self._draws = []

    def step(self, rng: np.random.Generator, t: float) -> tuple[float, float, float]:
        kick_x, kick_y = self._draw(rng)
        vx, vy = self.velocity
        self.velocity = [self.decay * vx + kick_x, self.decay * vy + kick_y]
        return self.velocity[0] * self.dt, self.velocity[1] * self.dt, 0.0

    def _sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return rng.normal(0.0, self.noise, size=(count, 2))

    def bounce(self, axis: int) -> None:
        if axis < 2:
            self.velocity[axis] = -self.velocity[axis]


class Oscillate(MotionModel):
    """Sinusoidal back-and-forth of amplitude `amplitude` [m] and period `period` [s] along a random
    planar direction, from a random phase."""

    def __init__(self, dt: float, amplitude: float = 0.03, period: float = 2.0):
        super().__init__(dt)
        _check_positive(amplitude=amplitude, period=period)
        self.amplitude, self.omega = float(amplitude), 2.0 * math.pi / float(period)
        self.direction, self.phase = (1.0, 0.0), 0.0

    def start(self, rng: np.random.Generator) -> None:
        angle = float(rng.uniform(0.0, 2.0 * math.pi))
        self.direction = (math.cos(angle), math.sin(angle))
        self.phase = float(rng.uniform(0.0, 2.0 * math.pi))

    def step(self, rng: np.random.Generator, t: float) -> tuple[float, float, float]:
        now, later = self.omega * t + self.phase, self.omega * (t + self.dt) + self.phase
        delta = self.amplitude * (math.sin(later) - math.sin(now))
        return delta * self.direction[0], delta * self.direction[1], 0.0

    def bounce(self, axis: int) -> None:
        # Mirror the direction so the remaining swing points away from the obstacle.
        if axis == 2:
            return
        direction = list(self.direction)
        direction[axis] = -direction[axis]
        self.direction = (direction[0], direction[1])


class Jump(MotionModel):
    """Sudden planar translation of `distance` [m] in a random direction and a yaw turn uniform in
    +-`yaw` [rad], at random times: on average one jump every `interval` [s] (a Poisson process)."""

    def __init__(self, dt: float, interval: float = 1.5, distance: float = 0.05, yaw: float = 0.5):
        super().__init__(dt)
        _check_positive(interval=interval, distance=distance)
        if not (isinstance(yaw, numbers.Real) and math.isfinite(yaw) and yaw >= 0):
            raise InvalidConfigError(f"yaw must be a non-negative number, got {yaw!r}")
        self.probability = 1.0 - math.exp(-dt / float(interval))
        self.distance, self.yaw = float(distance), float(yaw)

    def start(self, rng: np.random.Generator) -> None:
        self._draws = []

    def step(self, rng: np.random.Generator, t: float) -> tuple[float, float, float]:
        draw = self._draw(rng)
        if draw[0] >= self.probability:
            return 0.0, 0.0, 0.0
        angle = 2.0 * math.pi * draw[1]
        return self.distance * math.cos(angle), self.distance * math.sin(angle), self.yaw * (2.0 * draw[2] - 1.0)

    def _sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return rng.random((count, 3))


MOTIONS: dict[str, type[MotionModel]] = {
    "drift": Drift, "random_walk": RandomWalk, "oscillate": Oscillate, "jump": Jump}


def make_motion(kind: str, dt: float, params: dict[str, float] | None) -> MotionModel:
    """The motion model `kind` with `params`, with errors that list what is valid."""
    if kind not in MOTIONS:
        raise InvalidConfigError(f"motion {kind!r} is not valid; choose one of {', '.join(map(repr, MOTIONS))}")
    cls = MOTIONS[kind]
    valid = [name for name in cls.__init__.__code__.co_varnames[2:cls.__init__.__code__.co_argcount]]
    unknown = sorted(set(params or {}) - set(valid))
    if unknown:
        raise InvalidConfigError(f"motion {kind!r} takes {valid}; unknown: {unknown}")
    return cls(dt, **(params or {}))
