"""The demonstrators' base: minimum-jerk moves of the TCP, per-arm phases, barriers and waits."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from dmg_envs.envs.base import MAX_DELTA_POS, MAX_DELTA_ROT
from dmg_envs.sim.transforms import quat_to_mat, rotation_error, rotvec_to_mat, yaw_of

GRIPPER_DOWN = np.diag([1.0, -1.0, -1.0])  # TCP z axis pointing down, x along world x


def min_jerk(fraction: float) -> float:
    """Minimum-jerk progress in [0, 1] at `fraction` of the move."""
    f = min(max(fraction, 0.0), 1.0)
    return f * f * f * (10.0 - 15.0 * f + 6.0 * f * f)


def tcp_yaw(quat: np.ndarray) -> float:
    """The heading [rad] of an orientation given as a quaternion (w, x, y, z)."""
    return yaw_of(quat_to_mat(quat))


def nearest_turn(target: float, current: float, period: float) -> float:
    """`target` shifted by a multiple of `period` [rad] to lie within half a period of `current`: a cube
    looks the same every quarter turn, the gripper every half turn."""
    return current + (target - current + period / 2) % period - period / 2


class Move:
    """A minimum-jerk move of the TCP from its pose at planning time to a target, with a gripper command.

    The hand's orientation is the gripper pointing down (`GRIPPER_DOWN`) turned by a yaw about the vertical
    and then, optionally, tilted by an angle about the horizontal `tilt_axis`; yaw and tilt are
    interpolated like the position. Tilted by 90 degrees, the hand points sideways and its yaw becomes a
    roll about the direction it points in: the wrist turn that pours what it holds.

    A `barrier` move holds still until every arm's move is a barrier; then all end on the same step, so
    that what the arms plan next starts together (a coordinated lift). After a `repeat` move the arm
    plans the same phase again (it waits for something)."""

    def __init__(self, start: np.ndarray, start_yaw: float, target: np.ndarray, target_yaw: float,
                 gripper: float, steps: int, barrier: bool = False, start_tilt: float = 0.0,
                 target_tilt: float = 0.0, tilt_axis: tuple[float, float, float] = (0.0, 1.0, 0.0),
                 repeat: bool = False):
        self.start, self.target, self.gripper, self.steps = start, target, gripper, max(1, steps)
        self.start_yaw, self.target_yaw = start_yaw, target_yaw
        self.start_tilt, self.target_tilt, self.tilt_axis = start_tilt, target_tilt, np.asarray(tilt_axis, float)
        self.step = 0
        self.barrier, self.released, self.repeat = barrier, False, repeat

    def desired(self) -> tuple[np.ndarray, np.ndarray]:
        """The TCP's position (3,) and orientation (3, 3) for the current step."""
        progress = min_jerk((self.step + 1) / self.steps)
        yaw = self.start_yaw + progress * (self.target_yaw - self.start_yaw)
        orientation = rotvec_to_mat([0.0, 0.0, yaw]) @ GRIPPER_DOWN
        if self.start_tilt or self.target_tilt:  # untilted moves compute exactly what they always did
            tilt = self.start_tilt + progress * (self.target_tilt - self.start_tilt)
            orientation = rotvec_to_mat(tilt * self.tilt_axis) @ orientation
        return self.start + progress * (self.target - self.start), orientation

    @property
    def done(self) -> bool:
        return self.released if self.barrier else self.step >= self.steps


class ScriptedDemonstrator(ABC):
    """A phase-by-phase demonstrator: `action = demonstrator(obs)`. Each arm's phases are planned when they
    start, from what the demonstrator sees then (`_plan`, with `self.arm`, `self.phase` and `self.move` the
    planning arm's), and played as minimum-jerk moves. Two-armed tasks list both arms in `ARMS`; their
    actions are concatenated, barrier moves (`Move(barrier=True)`) let the arms start a phase together and
    repeat moves (`Move(repeat=True)`) let an arm wait, planning the same phase again, until the other is done.

    Args:
        rng: seeds the imperfections.
        speed: typical TCP speed of free moves [m/s].
    """

    ARMS: tuple[str, ...] = ("robot0",)
    _IDLE = np.array([0, 0, 0, 0, 0, 0, -1.0], dtype=np.float32)  # a finished arm: still, gripper open

    def __init__(self, rng: np.random.Generator, speed: float = 0.25):
        self.rng, self.speed = rng, speed
        self.reset()

    def reset(self) -> None:
        self._phases = dict.fromkeys(self.ARMS, 0)
        self._moves: dict[str, Move | None] = dict.fromkeys(self.ARMS)
        self._finished = dict.fromkeys(self.ARMS, False)
        self.arm = self.ARMS[0]

    @property
    def phase(self) -> int:
        """The planning arm's next phase."""
        return self._phases[self.arm]

    @property
    def move(self) -> Move | None:
        """The planning arm's last move."""
        return self._moves[self.arm]

    @property
    def done(self) -> bool:
        return all(self._finished.values())

    def phase_of(self, arm: str) -> int:
        """The phase `arm` has reached (its next one to plan): what another arm may wait for."""
        return self._phases[arm]

    def _steps(self, distance: float, minimum: int) -> int:
        nominal = distance / self.speed / 0.05
        return max(minimum, round(nominal * self.rng.uniform(0.85, 1.2)))

    @abstractmethod
    def _plan(self, obs: dict) -> Move | None:
        """The move of `self.arm`'s phase `self.phase` (None: that arm's demonstration is over)."""

    def __call__(self, obs: dict) -> np.ndarray:
        for arm in self.ARMS:
            self._advance(arm, obs)
        moves = [self._moves[arm] for arm in self.ARMS if not self._finished[arm]]
        if len(self.ARMS) > 1 and moves and all(move.barrier for move in moves):
            for move in moves:
                move.released = True
            for arm in self.ARMS:
                self._advance(arm, obs)
        return np.concatenate([self._arm_action(arm, obs) for arm in self.ARMS]) if len(self.ARMS) > 1 \
            else self._arm_action(self.ARMS[0], obs)

    def _advance(self, arm: str, obs: dict) -> None:
        """Plan `arm`'s next phase if its move is over."""
        move = self._moves[arm]
        if self._finished[arm] or (move is not None and not move.done):
            return
        self.arm = arm
        move = self._moves[arm] = self._plan(obs)
        if move is None:
            self._finished[arm] = True
        elif not move.repeat:
            self._phases[arm] += 1

    def _arm_action(self, arm: str, obs: dict) -> np.ndarray:
        move = self._moves[arm]
        if self._finished[arm] or move is None:
            return self._IDLE.copy()
        position, target_mat = move.desired()
        move.step += 1
        action = np.zeros(7)
        action[:3] = (position - obs[f"{arm}_eef_pos"]) / MAX_DELTA_POS
        action[3:6] = rotation_error(target_mat, quat_to_mat(obs[f"{arm}_eef_quat"])) / MAX_DELTA_ROT
        action[6] = move.gripper
        return np.clip(action, -1.0, 1.0).astype(np.float32)
