"""The one-arm tasks' scripted demonstrators: Stack and MugDrawer."""

from __future__ import annotations

import math

import numpy as np

from dmg_envs.datagen.demonstrators.base import Move, ScriptedDemonstrator, nearest_turn, tcp_yaw
from dmg_envs.envs.mug_drawer import MUG_HALF_HEIGHT


class StackDemonstrator(ScriptedDemonstrator):
    """Pick cubeA, carry it over cubeB, lower it, let go, retreat."""

    def __init__(self, rng: np.random.Generator, speed: float = 0.25, cube_a_half: float = 0.02,
                 cube_b_half: float = 0.025):
        self.cube_a_half, self.cube_b_half = cube_a_half, cube_b_half
        super().__init__(rng, speed)

    def _plan(self, obs: dict) -> Move | None:
        eef, yaw = obs["robot0_eef_pos"], tcp_yaw(obs["robot0_eef_quat"])
        cube_a, cube_b = obs["cubeA_pos"], obs["cubeB_pos"]
        jitter = self.rng.uniform
        hold = self.move.gripper if self.move is not None else -1.0
        carry_z = cube_b[2] + self.cube_b_half + 2 * self.cube_a_half + jitter(0.05, 0.07)
        if self.phase == 0:  # over cubeA, fingers across two faces
            target_yaw = nearest_turn(tcp_yaw(obs["cubeA_quat"]), yaw, math.pi / 2) + math.radians(jitter(-3, 3))
            target = cube_a + np.array([jitter(-0.004, 0.004), jitter(-0.004, 0.004), jitter(0.07, 0.1)])
            return Move(eef, yaw, target, target_yaw, -1.0, self._steps(np.linalg.norm(target - eef), 15))
        if self.phase in (1, 6):  # a short look before committing
            return Move(eef, yaw, eef, yaw, hold, int(self.rng.integers(1, 5)))
        if self.phase == 2:  # down around the cube
            target = np.array([cube_a[0] + jitter(-0.003, 0.003), cube_a[1] + jitter(-0.003, 0.003),
                               cube_a[2] + jitter(-0.004, 0.002)])
            return Move(eef, yaw, target, yaw, -1.0, int(self.rng.integers(12, 17)))
        if self.phase == 3:  # close and wait for the grip
            return Move(eef, yaw, eef, yaw, 1.0, int(self.rng.integers(5, 8)))
        if self.phase == 4:  # lift
            return Move(eef, yaw, np.array([eef[0], eef[1], carry_z]), yaw, 1.0, int(self.rng.integers(10, 15)))
        if self.phase == 5:  # carry over cubeB, holding cubeA where it sits in the hand
            offset = eef - cube_a
            target = np.array([cube_b[0] + offset[0], cube_b[1] + offset[1], carry_z])
            return Move(eef, yaw, target, yaw, 1.0, self._steps(np.linalg.norm(target - eef), 12))
        if self.phase == 7:  # lower until cubeA is just above cubeB
            offset = eef - cube_a
            release_z = cube_b[2] + self.cube_b_half + self.cube_a_half + jitter(0.002, 0.006)
            target = np.array([cube_b[0] + offset[0], cube_b[1] + offset[1], release_z + offset[2]])
            return Move(eef, yaw, target, yaw, 1.0, int(self.rng.integers(12, 17)))
        if self.phase == 8:  # let go
            return Move(eef, yaw, eef, yaw, -1.0, int(self.rng.integers(4, 7)))
        if self.phase == 9:  # retreat
            return Move(eef, yaw, eef + np.array([0, 0, jitter(0.06, 0.1)]), yaw, -1.0, int(self.rng.integers(9, 13)))
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

    def _plan(self, obs: dict) -> Move | None:
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

        def still(gripper: float, low: int, high: int) -> Move:
            return Move(eef, yaw, eef, yaw, gripper, int(self.rng.integers(low, high)))

        def to(target: np.ndarray, target_yaw: float, gripper: float, minimum: int) -> Move:
            # Long enough for the turn too: the wrist turns at most about 2.6 rad/s.
            turn_steps = round(abs(target_yaw - yaw) / self.TURN_SPEED / 0.05)
            steps = self._steps(np.linalg.norm(target - eef), max(minimum, turn_steps))
            return Move(eef, yaw, target, target_yaw, gripper, steps)

        if phase == "look":  # a short look before committing
            return still(hold, 1, 5)
        if phase == "grip":
            return still(1.0, 5, 8)
        if phase == "let_go":
            return still(-1.0, 4, 7)
        if phase == "back_up":
            return Move(eef, yaw, eef + np.array([0.0, 0.0, jitter(0.06, 0.09)]), yaw, -1.0,
                         int(self.rng.integers(9, 13)))
        if phase == "over_handle":  # fingers to close along the drawer's axis
            target = handle + np.array([0.0, 0.0, jitter(0.07, 0.09)])
            target_yaw = nearest_turn(cabinet_yaw, 0.0, math.pi) + math.radians(jitter(-3, 3))
            return to(target, target_yaw, self.HANDLE_OPENING, 15)
        if phase == "onto_handle":
            target = handle + inward * jitter(-0.003, 0.003) + np.array([0.0, 0.0, jitter(-0.003, 0.003)])
            return Move(eef, yaw, target, yaw, self.HANDLE_OPENING, int(self.rng.integers(12, 17)))
        if phase in ("pull", "push"):  # along the drawer's axis, out to about PULL, or back in until shut
            opening = float(obs["drawer_joint_pos"][0])
            distance = self.PULL + jitter(-0.01, 0.01) - opening if phase == "pull" else opening + 0.01
            target = eef + inward * (distance if phase == "push" else -distance)
            return Move(eef, yaw, target, yaw, 1.0, self._steps(distance, 25) + 5)
        if phase == "over_mug":  # fingers to close across the direction of the mug's handle
            target = mug + np.array([jitter(-0.003, 0.003), jitter(-0.003, 0.003), jitter(0.09, 0.11)])
            return to(target, nearest_turn(tcp_yaw(obs["mug_quat"]), 0.0, math.pi) + math.radians(jitter(-3, 3)), -1.0,
                      15)
        if phase == "around_mug":
            target = np.array([mug[0] + jitter(-0.003, 0.003), mug[1] + jitter(-0.003, 0.003),
                               mug[2] + jitter(0.002, 0.008)])
            return Move(eef, yaw, target, yaw, -1.0, int(self.rng.integers(12, 17)))
        offset = eef - mug  # where the hand holds the mug
        carry_z = drawer[2] + self.CARRY_CLEARANCE + MUG_HALF_HEIGHT + offset[2] + jitter(0.0, 0.02)
        spot = drawer + across * self.PLACE_IN_DRAWER[0] + inward * self.PLACE_IN_DRAWER[1]
        if phase == "lift":
            return Move(eef, yaw, np.array([eef[0], eef[1], carry_z]), yaw, 1.0, int(self.rng.integers(10, 15)))
        if phase == "over_drawer":  # the hand's long side along the cabinet's face
            target = np.array([spot[0] + offset[0] + jitter(-0.004, 0.004), spot[1] + offset[1] + jitter(-0.004, 0.004),
                               eef[2]])
            place_yaw = nearest_turn(cabinet_yaw + math.pi / 2, 0.0, math.pi) + math.radians(jitter(-3, 3))
            return to(target, place_yaw, 1.0, 15)
        if phase == "lower":  # until the mug stands on the drawer's bottom, at the spot
            target = np.array([spot[0] + offset[0], spot[1] + offset[1],
                               drawer[2] + MUG_HALF_HEIGHT + offset[2] + jitter(-0.002, 0.0)])
            return Move(eef, yaw, target, yaw, 1.0, int(self.rng.integers(12, 17)))
        raise AssertionError(f"unknown phase {phase!r}")
