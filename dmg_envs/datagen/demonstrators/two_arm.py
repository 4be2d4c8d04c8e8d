"""The two-arm tasks' scripted demonstrators: TwoArmTrayLift and TwoArmPouring."""

from __future__ import annotations

import math

import numpy as np

from dmg_envs.datagen.demonstrators.base import Move, ScriptedDemonstrator, nearest_turn, tcp_yaw
from dmg_envs.envs.pouring import BOWL_HALF_HEIGHT, BOWL_RADIUS, BOWL_WALL_THICKNESS, PAD_HALF_SIZE
from dmg_envs.envs.tray_lift import CUBE_HALF, TRAY_PLATE_HALF_THICKNESS
from dmg_envs.sim.transforms import quat_to_mat, rotvec_to_mat


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

    def _plan(self, obs: dict) -> Move | None:
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

        def still(gripper: float, low: int, high: int) -> Move:
            return Move(eef, yaw, eef, yaw, gripper, int(self.rng.integers(low, high)))

        if phase == "look":
            return still(hold, 1, 5)
        if phase == "grip":
            return still(1.0, 5, 8)
        if phase == "let_go":  # until the fingers are clear of the cube: backing up sooner can drag it along
            return still(-1.0, 8, 11)
        if phase == "ready":  # holding the handle, until the other arm holds its own
            return Move(eef, yaw, eef, yaw, 1.0, 1, barrier=True)
        if phase == "hold":
            return still(1.0, 8, 12)
        if phase == "back_up":
            return Move(eef, yaw, eef + np.array([0.0, 0.0, jitter(0.05, 0.08)]), yaw, -1.0,
                         int(self.rng.integers(9, 13)))
        if phase == "over_cube":  # fingers across two faces, of the four such yaws the one nearest 90 degrees
            target_yaw = nearest_turn(tcp_yaw(obs[f"cube{index}_quat"]), math.pi / 2, math.pi / 2) \
                + math.radians(jitter(-3, 3))
            target = cube + np.array([jitter(-0.004, 0.004), jitter(-0.004, 0.004), jitter(0.07, 0.1)])
            return Move(eef, yaw, target, target_yaw, -1.0, self._steps(np.linalg.norm(target - eef), 15))
        if phase == "around_cube":
            target = cube + np.array([jitter(-0.003, 0.003), jitter(-0.003, 0.003), jitter(-0.004, 0.002)])
            return Move(eef, yaw, target, yaw, -1.0, int(self.rng.integers(12, 17)))
        offset = eef - cube  # where the hand holds the cube
        plate_top = tray[2] + TRAY_PLATE_HALF_THICKNESS
        spot = tray + rotvec_to_mat((0.0, 0.0, tray_yaw)) @ np.array([0.0, side * self.SPOT_Y, 0.0])
        if phase == "lift_cube":
            carry_z = plate_top + self.CARRY_CLEARANCE + CUBE_HALF + offset[2] + jitter(0.0, 0.02)
            return Move(eef, yaw, np.array([eef[0], eef[1], carry_z]), yaw, 1.0, int(self.rng.integers(10, 15)))
        if phase == "over_spot":
            target = np.array([spot[0] + offset[0] + jitter(-0.005, 0.005), spot[1] + offset[1] + jitter(-0.005, 0.005),
                               eef[2]])
            return Move(eef, yaw, target, yaw, 1.0, self._steps(np.linalg.norm(target - eef), 15))
        if phase == "lower":  # until the cube is just above the plate
            target = np.array([eef[0], eef[1], plate_top + CUBE_HALF + offset[2] + jitter(0.002, 0.006)])
            return Move(eef, yaw, target, yaw, 1.0, int(self.rng.integers(12, 17)))
        if phase == "over_handle":  # fingers to close across the bar, which runs along the tray's x axis
            target = handle + np.array([jitter(-0.004, 0.004), jitter(-0.003, 0.003), jitter(0.07, 0.09)])
            target_yaw = nearest_turn(tray_yaw, 0.0, math.pi) + math.radians(jitter(-3, 3))
            return Move(eef, yaw, target, target_yaw, -1.0, self._steps(np.linalg.norm(target - eef), 15))
        if phase == "onto_handle":
            target = handle + np.array([jitter(-0.004, 0.004), jitter(-0.002, 0.002), jitter(-0.004, 0.0)])
            return Move(eef, yaw, target, yaw, -1.0, int(self.rng.integers(12, 17)))
        if phase == "lift_tray":  # both arms plan this on the same step: one duration for both
            if index == 0:
                self._lift_steps = int(self.rng.integers(25, 31))
            return Move(eef, yaw, eef + np.array([0.0, 0.0, self.LIFT]), yaw, 1.0, self._lift_steps)
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

    def _plan(self, obs: dict) -> Move | None:
        return self._plan_cup(obs) if self.arm == "robot1" else self._plan_bowl(obs)

    def _plan_cup(self, obs: dict) -> Move | None:
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
               ) -> Move:
            target_tilt = tilt if target_tilt is None else target_tilt
            turn = max(abs(target_yaw - yaw), abs(target_tilt - tilt))
            steps = self._steps(np.linalg.norm(target - eef), max(minimum, round(turn / self.TURN_SPEED / 0.05)))
            return Move(eef, yaw, target, target_yaw, gripper, steps, start_tilt=tilt, target_tilt=target_tilt,
                         tilt_axis=self.CUP_TILT_AXIS)

        def still(gripper: float, low: int, high: int) -> Move:
            return Move(eef, yaw, eef, yaw, gripper, int(self.rng.integers(low, high)), start_tilt=tilt,
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

    def _plan_bowl(self, obs: dict) -> Move | None:
        if self.phase >= len(self.BOWL_PHASES):
            return None
        phase = self.BOWL_PHASES[self.phase]
        eef, jitter, move = obs["robot0_eef_pos"], self.rng.uniform, self.move
        yaw = move.target_yaw if move is not None else tcp_yaw(obs["robot0_eef_quat"])
        tilt, tilt_axis = (move.target_tilt, move.tilt_axis) if move is not None else (0.0, (0.0, 1.0, 0.0))
        hold = move.gripper if move is not None else -1.0
        bowl, pad, ball = obs["bowl_pos"], obs["pad_pos"], obs["ball_pos"]

        def to(target: np.ndarray, target_yaw: float, gripper: float, steps: int) -> Move:
            return Move(eef, yaw, target, target_yaw, gripper, steps, start_tilt=tilt, target_tilt=tilt,
                         tilt_axis=tilt_axis)

        def still(gripper: float, low: int, high: int) -> Move:
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
            return Move(move.target, yaw, move.target, yaw, -1.0, 1, repeat=not (cup_back and ball_down))
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
            return Move(eef, yaw, eef, yaw, 1.0, int(self.rng.integers(8, 12)), start_tilt=0.0,
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
