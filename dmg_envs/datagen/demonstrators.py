"""Scripted, human-like source demonstrators (one per task), used to record source demos.

They are not the DMP expert: they re-plan like a person at the start of each phase from what they see,
move along minimum-jerk profiles, pause, and are slightly imprecise (seeded noise on heights, offsets,
yaw and durations), so generated data inherits natural motion rather than a controller's signature.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from dmg_envs.envs.base import MAX_DELTA_POS, MAX_DELTA_ROT
from dmg_envs.envs.mug_drawer import MUG_HALF_HEIGHT
from dmg_envs.envs.pouring import BOWL_HALF_HEIGHT, BOWL_RADIUS, BOWL_WALL_THICKNESS, PAD_HALF_SIZE
from dmg_envs.envs.tray_lift import CUBE_HALF, TRAY_PLATE_HALF_THICKNESS
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


class _Move:
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
    actions are concatenated, barrier moves (`_Move(barrier=True)`) let the arms start a phase together and
    repeat moves (`_Move(repeat=True)`) let an arm wait, planning the same phase again, until the other is done.

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
        self._moves: dict[str, _Move | None] = dict.fromkeys(self.ARMS)
        self._finished = dict.fromkeys(self.ARMS, False)
        self.arm = self.ARMS[0]

    @property
    def phase(self) -> int:
        """The planning arm's next phase."""
        return self._phases[self.arm]

    @property
    def move(self) -> _Move | None:
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
    def _plan(self, obs: dict) -> _Move | None:
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


class StackDemonstrator(ScriptedDemonstrator):
    """Pick cubeA, carry it over cubeB, lower it, let go, retreat."""

    def __init__(self, rng: np.random.Generator, speed: float = 0.25, cube_a_half: float = 0.02,
                 cube_b_half: float = 0.025):
        self.cube_a_half, self.cube_b_half = cube_a_half, cube_b_half
        super().__init__(rng, speed)

    def _plan(self, obs: dict) -> _Move | None:
        eef, yaw = obs["robot0_eef_pos"], tcp_yaw(obs["robot0_eef_quat"])
        cube_a, cube_b = obs["cubeA_pos"], obs["cubeB_pos"]
        jitter = self.rng.uniform
        hold = self.move.gripper if self.move is not None else -1.0
        carry_z = cube_b[2] + self.cube_b_half + 2 * self.cube_a_half + jitter(0.05, 0.07)
        if self.phase == 0:  # over cubeA, fingers across two faces
            target_yaw = nearest_turn(tcp_yaw(obs["cubeA_quat"]), yaw, math.pi / 2) + math.radians(jitter(-3, 3))
            target = cube_a + np.array([jitter(-0.004, 0.004), jitter(-0.004, 0.004), jitter(0.07, 0.1)])
            return _Move(eef, yaw, target, target_yaw, -1.0, self._steps(np.linalg.norm(target - eef), 15))
        if self.phase in (1, 6):  # a short look before committing
            return _Move(eef, yaw, eef, yaw, hold, int(self.rng.integers(1, 5)))
        if self.phase == 2:  # down around the cube
            target = np.array([cube_a[0] + jitter(-0.003, 0.003), cube_a[1] + jitter(-0.003, 0.003),
                               cube_a[2] + jitter(-0.004, 0.002)])
            return _Move(eef, yaw, target, yaw, -1.0, int(self.rng.integers(12, 17)))
        if self.phase == 3:  # close and wait for the grip
            return _Move(eef, yaw, eef, yaw, 1.0, int(self.rng.integers(5, 8)))
        if self.phase == 4:  # lift
            return _Move(eef, yaw, np.array([eef[0], eef[1], carry_z]), yaw, 1.0, int(self.rng.integers(10, 15)))
        if self.phase == 5:  # carry over cubeB, holding cubeA where it sits in the hand
            offset = eef - cube_a
            target = np.array([cube_b[0] + offset[0], cube_b[1] + offset[1], carry_z])
            return _Move(eef, yaw, target, yaw, 1.0, self._steps(np.linalg.norm(target - eef), 12))
        if self.phase == 7:  # lower until cubeA is just above cubeB
            offset = eef - cube_a
            release_z = cube_b[2] + self.cube_b_half + self.cube_a_half + jitter(0.002, 0.006)
            target = np.array([cube_b[0] + offset[0], cube_b[1] + offset[1], release_z + offset[2]])
            return _Move(eef, yaw, target, yaw, 1.0, int(self.rng.integers(12, 17)))
        if self.phase == 8:  # let go
            return _Move(eef, yaw, eef, yaw, -1.0, int(self.rng.integers(4, 7)))
        if self.phase == 9:  # retreat
            return _Move(eef, yaw, eef + np.array([0, 0, jitter(0.06, 0.1)]), yaw, -1.0, int(self.rng.integers(9, 13)))
        return None


class MugDrawerDemonstrator(ScriptedDemonstrator):
    """Open the drawer by its handle, pick the mug by its body, put it in the drawer, push the drawer shut.

    Grasps are from above: the handle with the fingers closing along the drawer's axis, the mug with them
    closing across its handle's direction; the mug is carried in with the hand's long side along the
    cabinet's face, so the hand stays clear of the cabinet. Of the two gripper yaws that do each, the one
    within 90 degrees of the home posture's is taken, so the wrist never winds up against its limit.
    """

    PHASES = ("over_handle", "look", "onto_handle", "grip", "pull", "let_go", "back_up",
              "look", "over_mug", "around_mug", "grip", "lift", "over_drawer", "look", "lower", "let_go", "back_up",
              "over_handle", "look", "onto_handle", "grip", "push", "let_go", "back_up")
    PULL = 0.15  # [m] how far the drawer is pulled out
    HANDLE_OPENING = -0.3  # gripper command around the handle: half open, the fingers clear of the drawer's face
    # Where the mug goes, in the drawer frame: midway between the drawer's front and the cabinet's, so that
    # its handle, which points along the drawer's axis, clears both.
    PLACE_IN_DRAWER = (0.0, -0.025)
    CARRY_CLEARANCE = 0.15  # [m] of the mug's bottom over the drawer's bottom while it is carried
    TURN_SPEED = 1.2  # [rad/s] average wrist turn of a move

    def _plan(self, obs: dict) -> _Move | None:
        if self.phase >= len(self.PHASES):
            return None
        phase = self.PHASES[self.phase]
        eef, yaw = obs["robot0_eef_pos"], tcp_yaw(obs["robot0_eef_quat"])
        jitter = self.rng.uniform
        hold = self.move.gripper if self.move is not None else -1.0
        cabinet_yaw = tcp_yaw(obs["cabinet_quat"])
        inward = np.array([-math.sin(cabinet_yaw), math.cos(cabinet_yaw), 0.0])  # the cabinet's +y: into it
        across = np.array([math.cos(cabinet_yaw), math.sin(cabinet_yaw), 0.0])
        handle, mug, drawer = obs["drawer_handle_pos"], obs["mug_pos"], obs["drawer_pos"]

        def still(gripper: float, low: int, high: int) -> _Move:
            return _Move(eef, yaw, eef, yaw, gripper, int(self.rng.integers(low, high)))

        def to(target: np.ndarray, target_yaw: float, gripper: float, minimum: int) -> _Move:
            # Long enough for the turn too: the wrist turns at most about 2.6 rad/s.
            turn_steps = round(abs(target_yaw - yaw) / self.TURN_SPEED / 0.05)
            steps = self._steps(np.linalg.norm(target - eef), max(minimum, turn_steps))
            return _Move(eef, yaw, target, target_yaw, gripper, steps)

        if phase == "look":  # a short look before committing
            return still(hold, 1, 5)
        if phase == "grip":
            return still(1.0, 5, 8)
        if phase == "let_go":
            return still(-1.0, 4, 7)
        if phase == "back_up":
            return _Move(eef, yaw, eef + np.array([0.0, 0.0, jitter(0.06, 0.09)]), yaw, -1.0,
                         int(self.rng.integers(9, 13)))
        if phase == "over_handle":  # fingers to close along the drawer's axis
            target = handle + np.array([0.0, 0.0, jitter(0.07, 0.09)])
            target_yaw = nearest_turn(cabinet_yaw, 0.0, math.pi) + math.radians(jitter(-3, 3))
            return to(target, target_yaw, self.HANDLE_OPENING, 15)
        if phase == "onto_handle":
            target = handle + inward * jitter(-0.003, 0.003) + np.array([0.0, 0.0, jitter(-0.003, 0.003)])
            return _Move(eef, yaw, target, yaw, self.HANDLE_OPENING, int(self.rng.integers(12, 17)))
        if phase in ("pull", "push"):  # along the drawer's axis, out to about PULL, or back in until shut
            opening = float(obs["drawer_joint_pos"][0])
            distance = self.PULL + jitter(-0.01, 0.01) - opening if phase == "pull" else opening + 0.01
            target = eef + inward * (distance if phase == "push" else -distance)
            return _Move(eef, yaw, target, yaw, 1.0, self._steps(distance, 25) + 5)
        if phase == "over_mug":  # fingers to close across the direction of the mug's handle
            target = mug + np.array([jitter(-0.003, 0.003), jitter(-0.003, 0.003), jitter(0.09, 0.11)])
            return to(target, nearest_turn(tcp_yaw(obs["mug_quat"]), 0.0, math.pi) + math.radians(jitter(-3, 3)), -1.0,
                      15)
        if phase == "around_mug":
            target = np.array([mug[0] + jitter(-0.003, 0.003), mug[1] + jitter(-0.003, 0.003),
                               mug[2] + jitter(0.002, 0.008)])
            return _Move(eef, yaw, target, yaw, -1.0, int(self.rng.integers(12, 17)))
        offset = eef - mug  # where the hand holds the mug
        carry_z = drawer[2] + self.CARRY_CLEARANCE + MUG_HALF_HEIGHT + offset[2] + jitter(0.0, 0.02)
        spot = drawer + across * self.PLACE_IN_DRAWER[0] + inward * self.PLACE_IN_DRAWER[1]
        if phase == "lift":
            return _Move(eef, yaw, np.array([eef[0], eef[1], carry_z]), yaw, 1.0, int(self.rng.integers(10, 15)))
        if phase == "over_drawer":  # the hand's long side along the cabinet's face
            target = np.array([spot[0] + offset[0] + jitter(-0.004, 0.004), spot[1] + offset[1] + jitter(-0.004, 0.004),
                               eef[2]])
            place_yaw = nearest_turn(cabinet_yaw + math.pi / 2, 0.0, math.pi) + math.radians(jitter(-3, 3))
            return to(target, place_yaw, 1.0, 15)
        if phase == "lower":  # until the mug stands on the drawer's bottom, at the spot
            target = np.array([spot[0] + offset[0], spot[1] + offset[1],
                               drawer[2] + MUG_HALF_HEIGHT + offset[2] + jitter(-0.002, 0.0)])
            return _Move(eef, yaw, target, yaw, 1.0, int(self.rng.integers(12, 17)))
        raise AssertionError(f"unknown phase {phase!r}")


class TrayLiftDemonstrator(ScriptedDemonstrator):
    """Each arm picks its cube, sets it on its half of the tray and takes the tray's handle on its side;
    when both hold their handles, both lift together (a barrier, then moves of one shared duration).

    Cubes are carried with the hand's long side along x (the fingers closing along x), so that two hands
    over the tray stay clear of each other and the opening fingers clear the tray's rim; handles are taken
    with the fingers across the bar, of the two such yaws the one nearer the home posture's.
    """

    ARMS = ("robot0", "robot1")
    PHASES = ("over_cube", "look", "around_cube", "grip", "lift_cube", "over_spot", "lower", "let_go", "back_up",
              "over_handle", "look", "onto_handle", "grip", "ready", "lift_tray", "hold")
    SPOT_Y = 0.07  # [m] where a cube goes: this far from the tray's centre, towards its arm's handle
    CARRY_CLEARANCE = 0.09  # [m] of a carried cube's bottom over the tray's plate
    LIFT = 0.16  # [m] how high the tray is lifted

    def reset(self) -> None:
        super().reset()
        self._lift_steps = 0  # the lift's duration, drawn by robot0 and shared with robot1

    def _plan(self, obs: dict) -> _Move | None:
        if self.phase >= len(self.PHASES):
            return None
        phase, arm = self.PHASES[self.phase], self.arm
        index = self.ARMS.index(arm)
        side = -1.0 if index == 0 else 1.0  # robot0's half of the tray is its -y side
        eef, yaw = obs[f"{arm}_eef_pos"], tcp_yaw(obs[f"{arm}_eef_quat"])
        cube, tray, handle = obs[f"cube{index}_pos"], obs["tray_pos"], obs[f"tray_handle{index}_pos"]
        tray_yaw = tcp_yaw(obs["tray_quat"])
        jitter = self.rng.uniform
        hold = self.move.gripper if self.move is not None else -1.0

        def still(gripper: float, low: int, high: int) -> _Move:
            return _Move(eef, yaw, eef, yaw, gripper, int(self.rng.integers(low, high)))

        if phase == "look":
            return still(hold, 1, 5)
        if phase == "grip":
            return still(1.0, 5, 8)
        if phase == "let_go":  # until the fingers are clear of the cube: backing up sooner can drag it along
            return still(-1.0, 8, 11)
        if phase == "ready":  # holding the handle, until the other arm holds its own
            return _Move(eef, yaw, eef, yaw, 1.0, 1, barrier=True)
        if phase == "hold":
            return still(1.0, 8, 12)
        if phase == "back_up":
            return _Move(eef, yaw, eef + np.array([0.0, 0.0, jitter(0.05, 0.08)]), yaw, -1.0,
                         int(self.rng.integers(9, 13)))
        if phase == "over_cube":  # fingers across two faces, of the four such yaws the one nearest 90 degrees
            target_yaw = nearest_turn(tcp_yaw(obs[f"cube{index}_quat"]), math.pi / 2, math.pi / 2) \
                + math.radians(jitter(-3, 3))
            target = cube + np.array([jitter(-0.004, 0.004), jitter(-0.004, 0.004), jitter(0.07, 0.1)])
            return _Move(eef, yaw, target, target_yaw, -1.0, self._steps(np.linalg.norm(target - eef), 15))
        if phase == "around_cube":
            target = cube + np.array([jitter(-0.003, 0.003), jitter(-0.003, 0.003), jitter(-0.004, 0.002)])
            return _Move(eef, yaw, target, yaw, -1.0, int(self.rng.integers(12, 17)))
        offset = eef - cube  # where the hand holds the cube
        plate_top = tray[2] + TRAY_PLATE_HALF_THICKNESS
        spot = tray + rotvec_to_mat((0.0, 0.0, tray_yaw)) @ np.array([0.0, side * self.SPOT_Y, 0.0])
        if phase == "lift_cube":
            carry_z = plate_top + self.CARRY_CLEARANCE + CUBE_HALF + offset[2] + jitter(0.0, 0.02)
            return _Move(eef, yaw, np.array([eef[0], eef[1], carry_z]), yaw, 1.0, int(self.rng.integers(10, 15)))
        if phase == "over_spot":
            target = np.array([spot[0] + offset[0] + jitter(-0.005, 0.005), spot[1] + offset[1] + jitter(-0.005, 0.005),
                               eef[2]])
            return _Move(eef, yaw, target, yaw, 1.0, self._steps(np.linalg.norm(target - eef), 15))
        if phase == "lower":  # until the cube is just above the plate
            target = np.array([eef[0], eef[1], plate_top + CUBE_HALF + offset[2] + jitter(0.002, 0.006)])
            return _Move(eef, yaw, target, yaw, 1.0, int(self.rng.integers(12, 17)))
        if phase == "over_handle":  # fingers to close across the bar, which runs along the tray's x axis
            target = handle + np.array([jitter(-0.004, 0.004), jitter(-0.003, 0.003), jitter(0.07, 0.09)])
            target_yaw = nearest_turn(tray_yaw, 0.0, math.pi) + math.radians(jitter(-3, 3))
            return _Move(eef, yaw, target, target_yaw, -1.0, self._steps(np.linalg.norm(target - eef), 15))
        if phase == "onto_handle":
            target = handle + np.array([jitter(-0.004, 0.004), jitter(-0.002, 0.002), jitter(-0.004, 0.0)])
            return _Move(eef, yaw, target, yaw, -1.0, int(self.rng.integers(12, 17)))
        if phase == "lift_tray":  # both arms plan this on the same step: one duration for both
            if index == 0:
                self._lift_steps = int(self.rng.integers(25, 31))
            return _Move(eef, yaw, eef + np.array([0.0, 0.0, self.LIFT]), yaw, 1.0, self._lift_steps)
        raise AssertionError(f"unknown phase {phase!r}")


class PouringDemonstrator(ScriptedDemonstrator):
    """robot1 takes the cup from its own side (the hand pointing along -y, the fingers closing along x),
    carries it over the bowl and turns its wrist until the ball rolls out, turns it back and puts the cup
    down where it stood. robot0 meanwhile waits aside over the pad; once the ball lies in the bowl and the
    cup is back over its place (the pour is over: a sequential subtask), it takes the bowl by its wall on
    its own side, away from the ball, turns it level (a bowl held by its wall sags) and sets it on the pad."""

    ARMS = ("robot0", "robot1")
    CUP_PHASES = ("beside_cup", "look", "onto_cup", "grip", "lift", "over_bowl", "look", "pour", "hold",
                  "unpour", "retreat", "lower", "let_go", "back_off")
    BOWL_PHASES = ("aside", "wait", "look", "over_wall", "look", "onto_wall", "grip", "lift", "level", "over_pad",
                   "lower", "let_go", "back_up")
    # The cup hand: tilted from pointing down to pointing along -y (about x), fingers along x (yaw 90
    # degrees); its yaw is then a roll about y, and turning it further pours towards +x.
    CUP_TILT, CUP_YAW, CUP_TILT_AXIS = -math.pi / 2, math.pi / 2, (1.0, 0.0, 0.0)
    GRASP_HEIGHT = 0.012  # [m] of the cup's grasp above its middle
    APPROACH = 0.11  # [m] beside the cup, where the hand has turned towards it before closing in
    POUR_TURN = math.radians(120)  # the wrist's turn that pours: past 90 degrees the ball rolls out
    POUR_OFFSET = 0.05  # [m] of the hand behind the bowl's axis (-x) while pouring towards +x
    POUR_HEIGHT = 0.16  # [m] of the hand above the bowl's middle while pouring
    TURN_SPEED = 1.5  # [rad/s] average turn of the wrist
    WALL_GRASP_DEPTH = 0.03  # [m] of the pads' centre below the bowl's rim

    def reset(self) -> None:
        super().reset()
        self._cup_home = np.zeros(3)  # where the cup stood: it goes back there
        self._wall = np.zeros(3)  # where robot0 takes the bowl's wall, from the bowl's centre
        self._grip_height = 0.0  # [m] of robot0's TCP above the bowl's middle, as it took the bowl

    def _plan(self, obs: dict) -> _Move | None:
        return self._plan_cup(obs) if self.arm == "robot1" else self._plan_bowl(obs)

    def _plan_cup(self, obs: dict) -> _Move | None:
        if self.phase >= len(self.CUP_PHASES):
            return None
        phase = self.CUP_PHASES[self.phase]
        eef, jitter, move = obs["robot1_eef_pos"], self.rng.uniform, self.move
        # The hand's orientation is what it was last told (a tilted hand's heading is not a yaw to read back).
        yaw = move.target_yaw if move is not None else tcp_yaw(obs["robot1_eef_quat"])
        tilt = move.target_tilt if move is not None else 0.0
        hold = move.gripper if move is not None else -1.0
        cup, bowl = obs["cup_pos"], obs["bowl_pos"]

        def to(target: np.ndarray, target_yaw: float, gripper: float, minimum: int, target_tilt: float | None = None
               ) -> _Move:
            target_tilt = tilt if target_tilt is None else target_tilt
            turn = max(abs(target_yaw - yaw), abs(target_tilt - tilt))
            steps = self._steps(np.linalg.norm(target - eef), max(minimum, round(turn / self.TURN_SPEED / 0.05)))
            return _Move(eef, yaw, target, target_yaw, gripper, steps, start_tilt=tilt, target_tilt=target_tilt,
                         tilt_axis=self.CUP_TILT_AXIS)

        def still(gripper: float, low: int, high: int) -> _Move:
            return _Move(eef, yaw, eef, yaw, gripper, int(self.rng.integers(low, high)), start_tilt=tilt,
                         target_tilt=tilt, tilt_axis=self.CUP_TILT_AXIS)

        if phase == "look":
            return still(hold, 1, 5)
        if phase == "grip":
            return still(1.0, 5, 8)
        if phase == "hold":  # while the ball rolls out
            return still(1.0, 8, 12)
        if phase == "let_go":
            return still(-1.0, 6, 9)
        if phase == "beside_cup":  # on the cup's +y side, pointing at it
            self._cup_home = cup.copy()
            target = cup + np.array([jitter(-0.003, 0.003), self.APPROACH + jitter(-0.01, 0.01),
                                     self.GRASP_HEIGHT + jitter(-0.004, 0.004)])
            return to(target, self.CUP_YAW + math.radians(jitter(-3, 3)), -1.0, 30, target_tilt=self.CUP_TILT)
        if phase == "onto_cup":
            target = cup + np.array([jitter(-0.003, 0.003), jitter(-0.004, 0.002), eef[2] - cup[2]])
            return to(target, yaw, -1.0, 14)
        offset = eef - cup  # where the hand holds the cup
        if phase == "lift":
            carry_z = bowl[2] + self.POUR_HEIGHT + jitter(0.0, 0.02)
            return to(np.array([eef[0], eef[1], carry_z]), yaw, 1.0, 12)
        if phase == "over_bowl":
            target = bowl + np.array([-self.POUR_OFFSET + jitter(-0.01, 0.005), jitter(-0.01, 0.01),
                                      self.POUR_HEIGHT + jitter(0.0, 0.02)])
            return to(target, yaw, 1.0, 15)
        if phase == "pour":  # the mouth turns towards +x and down, over the bowl
            return to(eef, self.CUP_YAW + self.POUR_TURN + math.radians(jitter(-8, 8)), 1.0, 25)
        if phase == "unpour":
            return to(eef, self.CUP_YAW + math.radians(jitter(-3, 3)), 1.0, 20)
        home = self._cup_home
        if phase == "retreat":  # over where the cup stood
            target = np.array([home[0] + offset[0], home[1] + offset[1], eef[2]])
            return to(target, yaw, 1.0, 15)
        if phase == "lower":
            target = np.array([eef[0], eef[1], home[2] + offset[2] + jitter(0.002, 0.006)])
            return to(target, yaw, 1.0, 12)
        if phase == "back_off":
            return to(eef + np.array([0.0, self.APPROACH, jitter(0.0, 0.02)]), yaw, -1.0, 12)
        raise AssertionError(f"unknown phase {phase!r}")

    def _plan_bowl(self, obs: dict) -> _Move | None:
        if self.phase >= len(self.BOWL_PHASES):
            return None
        phase = self.BOWL_PHASES[self.phase]
        eef, jitter, move = obs["robot0_eef_pos"], self.rng.uniform, self.move
        yaw = move.target_yaw if move is not None else tcp_yaw(obs["robot0_eef_quat"])
        tilt, tilt_axis = (move.target_tilt, move.tilt_axis) if move is not None else (0.0, (0.0, 1.0, 0.0))
        hold = move.gripper if move is not None else -1.0
        bowl, pad, ball = obs["bowl_pos"], obs["pad_pos"], obs["ball_pos"]

        def to(target: np.ndarray, target_yaw: float, gripper: float, steps: int) -> _Move:
            return _Move(eef, yaw, target, target_yaw, gripper, steps, start_tilt=tilt, target_tilt=tilt,
                         tilt_axis=tilt_axis)

        def still(gripper: float, low: int, high: int) -> _Move:
            return to(eef, yaw, gripper, int(self.rng.integers(low, high)))

        if phase == "look":
            return still(hold, 1, 5)
        if phase == "grip":
            return still(1.0, 5, 8)
        if phase == "let_go":
            return still(-1.0, 6, 9)
        if phase == "back_up":
            return to(eef + np.array([0.0, 0.0, jitter(0.06, 0.09)]), yaw, -1.0, int(self.rng.integers(9, 13)))
        if phase == "aside":  # out of the pouring arm's way, over the pad's far side
            target = np.array([pad[0] + jitter(-0.02, 0.02), pad[1] + jitter(-0.05, -0.03),
                               eef[2] + jitter(-0.02, 0.0)])
            return to(target, yaw, -1.0, self._steps(np.linalg.norm(target - eef), 15))
        if phase == "wait":  # holding still until the pour is over: a sequential subtask
            cup_back = self.phase_of("robot1") > self.CUP_PHASES.index("lower")  # over its place, clear of the bowl
            ball_down = np.linalg.norm(ball[:2] - bowl[:2]) < BOWL_RADIUS and ball[2] < bowl[2]
            return _Move(move.target, yaw, move.target, yaw, -1.0, 1, repeat=not (cup_back and ball_down))
        if phase == "over_wall":  # over the wall on robot0's side, where it is farthest from the ball
            angles = np.radians(np.arange(-150.0, -29.0, 15.0))
            inner = bowl[:2] + 0.5 * BOWL_RADIUS * np.column_stack([np.cos(angles), np.sin(angles)])
            angle = angles[np.argmax(np.linalg.norm(inner - ball[:2], axis=1))] + math.radians(jitter(-5, 5))
            self._wall = np.array([math.cos(angle), math.sin(angle), 0.0]) * (BOWL_RADIUS - BOWL_WALL_THICKNESS / 2)
            target = bowl + self._wall + np.array([0.0, 0.0, BOWL_HALF_HEIGHT + jitter(0.07, 0.09)])
            # fingers closing across the wall, along the radius; of the two yaws that do, the one nearer home
            target_yaw = nearest_turn(angle + math.pi / 2, 0.0, math.pi)
            turn_steps = round(abs(target_yaw - yaw) / self.TURN_SPEED / 0.05)
            return to(target, target_yaw, -1.0, self._steps(np.linalg.norm(target - eef), max(15, turn_steps)))
        if phase == "onto_wall":  # the pads around the wall, below its rim
            target = bowl + self._wall + np.array([jitter(-0.002, 0.002), jitter(-0.002, 0.002),
                                                   BOWL_HALF_HEIGHT - self.WALL_GRASP_DEPTH + jitter(-0.003, 0.003)])
            return to(target, yaw, -1.0, int(self.rng.integers(12, 17)))
        offset = eef - bowl  # where the hand holds the bowl
        if phase == "lift":  # the bowl still stands level: how high above its middle the hand holds it
            self._grip_height = offset[2]
            return to(eef + np.array([0.0, 0.0, jitter(0.08, 0.1)]), yaw, 1.0, int(self.rng.integers(10, 15)))
        if phase == "level":  # held by its wall, the bowl sags: the wrist turns it level again
            sag_axis, sag = self._sag(obs)
            return _Move(eef, yaw, eef, yaw, 1.0, int(self.rng.integers(8, 12)), start_tilt=0.0,
                         target_tilt=-sag + math.radians(jitter(-1, 1)), tilt_axis=sag_axis)
        if phase == "over_pad":
            target = np.array([pad[0] + offset[0] + jitter(-0.005, 0.005), pad[1] + offset[1] + jitter(-0.005, 0.005),
                               eef[2]])
            return to(target, yaw, 1.0, self._steps(np.linalg.norm(target - eef), 15))
        if phase == "lower":  # until the bowl stands on the pad
            target_z = pad[2] + 2 * PAD_HALF_SIZE[2] + BOWL_HALF_HEIGHT + self._grip_height + jitter(-0.003, -0.001)
            return to(np.array([eef[0], eef[1], target_z]), yaw, 1.0, int(self.rng.integers(15, 20)))
        raise AssertionError(f"unknown phase {phase!r}")

    @staticmethod
    def _sag(obs: dict) -> tuple[np.ndarray, float]:
        """The bowl's tilt: a horizontal unit axis and the angle [rad] that turn the vertical onto its axis."""
        bowl_axis = quat_to_mat(obs["bowl_quat"])[:, 2]
        axis = np.cross((0.0, 0.0, 1.0), bowl_axis)
        norm = float(np.linalg.norm(axis))
        if norm < 1e-9:
            return np.array([1.0, 0.0, 0.0]), 0.0
        return axis / norm, math.atan2(norm, float(bowl_axis[2]))
