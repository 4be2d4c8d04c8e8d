"""TwoArmPouring: one arm pours a ball from a cup into a bowl, then the other moves the bowl onto a pad
(DexMimicGen's Pouring)."""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np

from dmg_envs.envs.base import ManipulationEnv
from dmg_envs.envs.task import Subtask
from dmg_envs.sim.objects import CONTINUOUS, Fixture, Geom, SceneObject, vessel_geoms
from dmg_envs.sim.scene import TABLE_TOP_Z
from dmg_envs.sim.transforms import make_pose, rotvec_to_mat

# --- the cup: a round bottom and a wall of 10 panels, open at the top; the origin is at mid height ------
CUP_RADIUS, CUP_HALF_HEIGHT = 0.031, 0.0575  # [m] outer radius (6.2 cm across: the Panda's hand opens 8 cm)
CUP_BOTTOM_HALF_THICKNESS = 0.004  # [m]
_CUP_WALL_THICKNESS = 0.004
CUP = SceneObject(
    "cup", vessel_geoms(CUP_RADIUS, CUP_HALF_HEIGHT, CUP_BOTTOM_HALF_THICKNESS, _CUP_WALL_THICKNESS, 10),
    rgba=(0.2, 0.55, 0.8, 1.0), yaw_symmetry=CONTINUOUS, density=600.0)

# --- the ball -------------------------------------------------------------------------------------------
BALL_RADIUS = 0.02  # [m]
BALL_ROLLING_FRICTION = 0.002  # [m]: a ball rolling at 0.3 m/s on a flat floor stops within about 0.4 s
BALL = SceneObject("ball", (Geom("sphere", (BALL_RADIUS,)),), rgba=(0.9, 0.75, 0.1, 1.0),
                   yaw_symmetry=CONTINUOUS, density=800.0, friction=(1.0, 0.005, BALL_ROLLING_FRICTION), condim=6)

# --- the bowl: a wide round bottom and a low wall of 12 panels; the origin is at mid height --------------
BOWL_RADIUS, BOWL_HALF_HEIGHT = 0.0975, 0.0325  # [m] outer radius, half the height (DexMimicGen's size)
BOWL_BOTTOM_HALF_THICKNESS = 0.004  # [m]
BOWL_WALL_THICKNESS = 0.006  # [m]
BOWL = SceneObject(
    "bowl", vessel_geoms(BOWL_RADIUS, BOWL_HALF_HEIGHT, BOWL_BOTTOM_HALF_THICKNESS, BOWL_WALL_THICKNESS, 12),
    rgba=(0.85, 0.85, 0.8, 1.0), yaw_symmetry=CONTINUOUS, density=250.0)

# --- the pad: a thin square on the table, where the bowl goes --------------------------------------------
PAD_HALF_SIZE = (0.07, 0.07, 0.002)  # [m] DexMimicGen's 0.14 x 0.14
PAD = Fixture.box("pad", PAD_HALF_SIZE, rgba=(0.3, 0.65, 0.35, 1.0), pos_xy_yaw=(-0.1, -0.31, 0.0))

# Placement per reset distribution [m]: (x low, x high), (y low, y high) of the cup's, the bowl's and the
# pad's centres. The cup stands on robot1's side (+y), the bowl near the middle on robot0's side, the pad
# beyond it; the y ranges keep them apart.
CUP_PLACEMENT = {"D0": ((-0.15, -0.05), (0.10, 0.15)), "D1": ((-0.20, 0.0), (0.08, 0.18))}
BOWL_PLACEMENT = {"D0": ((-0.15, -0.05), (-0.12, -0.08)), "D1": ((-0.20, 0.0), (-0.12, -0.06))}
PAD_PLACEMENT = {"D0": ((-0.10, -0.10), (-0.31, -0.31)), "D1": ((-0.16, -0.04), (-0.33, -0.31))}
BALL_IN_BOWL_XY = 0.10  # [m] the ball's centre from the bowl's axis, for `ball_in_bowl` (DexMimicGen)
BOWL_ON_PAD_XY = 0.06  # [m] the bowl's centre from the pad's, for `bowl_on_pad` (DexMimicGen)
UPRIGHT_COS = math.cos(math.radians(18))  # the bowl's axis within 18 degrees of the vertical, for success
RESTING_PENETRATION = 1e-4  # [m] objects start this deep in what they rest on: neither dropping nor floating


class _Tables(NamedTuple):
    """Contact codes and qpos addresses the per-step signals look up, resolved once."""

    cup_pads: tuple[frozenset[int], frozenset[int]]  # the cup with robot1's left, right pad
    bowl_pads: tuple[frozenset[int], frozenset[int]]  # the bowl with robot0's left, right pad
    ball_bowl: frozenset[int]
    bowl_pad: frozenset[int]
    ball_qpos: int
    bowl_qpos: int
    pad_mocap: int


class TwoArmPouringEnv(ManipulationEnv):
    """Two Panda arms side by side: one pours a ball from a cup into a bowl, then the other sets the bowl on a pad.

    ## Description
    DexMimicGen's Pouring with parallel grippers. A cup (6.2 cm across, 11.5 cm tall, a round bottom and a
    wall of 10 panels, open at the top) holds a ball (4 cm across); a wide, low bowl (19.5 cm across, 6.5 cm
    tall, a wall of 12 panels) stands near the middle of the table and a thin green pad (14 x 14 cm, a
    fixture) lies beyond it on robot0's side. robot1 (on the left, +y) picks the cup and pours the ball into
    the bowl; then (a sequential constraint) robot0 (on the right, -y) moves the bowl onto the pad. The
    cup, ball and bowl look the same at every yaw (`CONTINUOUS` symmetry). The ball has rolling friction
    (condim 6), so it comes to rest in the bowl instead of rolling around it.

    Deviations from DexMimicGen, whose robot is a humanoid with dexterous hands: the cup is 6.2 cm across,
    not 7.4 cm, so that it fits a Panda hand (8 cm open) with room to spare, and the ball is 2 cm in radius,
    not 2.5 cm, so that it has room in that cup; the bowl is grasped by its wall, which is upright (a basin)
    so that the pads close flat on it; the pad is 4 cm nearer the middle (y = -0.31, not -0.35) and the
    bowl's D0 range 2-3 cm nearer too (y in [-0.12, -0.08], not [-0.15, -0.10]), because this table is 0.8
    m wide and the pad must lie on it, clear of the bowl; the ball starts resting on the cup's bottom rather
    than dropped into it. Their D1 ranges are not public: ours are our own.

    ## Action Space
    `Box(-1, 1, (14,))`: robot0's 7 values then robot1's, each as in `dmg/Stack-v0` (TCP translation x 0.05
    m, axis-angle x 0.5 rad, gripper -1 open / +1 closed); `control_mode="absolute"` takes target poses.

    ## Observation Space
    A Dict of float64 vectors (flat: their values concatenated in this order): per arm `robotK_joint_pos`
    (7), `robotK_gripper_qpos` (2); `cup_pos` (3), `cup_quat` (4), `ball_pos`, `ball_quat`, `bowl_pos`,
    `bowl_quat` (the cup's and bowl's origins are at mid height); per arm `robotK_joint_vel` (7),
    `robotK_eef_pos` (3), `robotK_eef_quat` (4); `pad_pos` (3, the centre of its underside), `pad_quat`
    (4); `gripper1_to_cup`, `cup_to_bowl`, `ball_to_bowl`, `gripper0_to_bowl`, `bowl_to_pad` (3 each):
    89 values.

    ## Rewards
    `sparse`: 1 in a successful state. `dense`, by stage: robot1 reaching the cup 0.1 x (1 - tanh(10 d));
    the cup grasped 0.15 + 0.1 x min(1, lift / 0.10 m), and once lifted by 5 cm 0.15 x (1 - tanh(10
    d_xy(cup, bowl))) more, plus, within 5 cm of the bowl's axis, 0.1 x min(1, tilt / 90 degrees); the ball
    in the bowl 0.5 + 0.1 x (1 - tanh(10 d(robot0's TCP, bowl))); the bowl grasped too 0.65 + 0.25 x (1 -
    tanh(10 d_xy(bowl, pad))); the ball in the bowl on the pad but the bowl tilted 0.9; success 1.

    ## Starting State
    Arms at their home posture plus N(0, 0.02 rad) joint noise, grippers open; the ball rests on the cup's
    bottom. D0: pad at (-0.10, -0.31) m; bowl centre x in [-0.15, -0.05], y in [-0.12, -0.08]; cup x in
    [-0.15, -0.05], y in [0.10, 0.15]. D1: pad x in [-0.16, -0.04], y in [-0.33, -0.31]; bowl x in [-0.20,
    0.0], y in [-0.12, -0.06]; cup x in [-0.20, 0.0], y in [0.08, 0.18]. Cup and bowl yaw uniform.

    ## Episode End
    No termination; truncation at 700 steps (registration; a scripted demonstration takes 272-324) or when
    the simulation diverges.

    ## Signals
    `cup_grasped`: both of robot1's pads touch the cup. `ball_in_bowl`: the ball touches the bowl with its
    centre within 0.10 m of the bowl's axis (xy). `bowl_grasped`: both of robot0's pads touch the bowl.
    `bowl_on_pad`: the bowl touches the pad with its centre within 0.06 m of the pad's (xy). `is_success`:
    `ball_in_bowl` and `bowl_on_pad`, the bowl's axis within 18 degrees of the vertical (DexMimicGen's
    definition; the bowl need not be let go).

    ## Subtasks
    robot1: `pick_cup` (reference `cup`, ends with `cup_grasped`), `pour` (`bowl`, ends with `ball_in_bowl`),
    `put_down_cup` (`cup`: relative to where the cup was when the pour ended; it runs to the episode's end).
    robot0: `pick_bowl` (`bowl`, ends with `bowl_grasped`; sequential: it starts only after `pour` has
    ended), `place_bowl` (`pad`).

    ## Version History
    - v0: initial release.
    """

    OBJECTS = (CUP, BALL, BOWL)
    FIXTURES = (PAD,)
    NUM_ARMS = 2
    ARM_LAYOUT = "parallel"
    SUBTASKS = {
        "robot0": (Subtask("pick_bowl", reference="bowl", signal="bowl_grasped", kind="sequential", partner="pour"),
                   Subtask("place_bowl", reference="pad", signal="bowl_on_pad")),
        "robot1": (Subtask("pick_cup", reference="cup", signal="cup_grasped"),
                   Subtask("pour", reference="bowl", signal="ball_in_bowl"),
                   # The pour must end for robot0 to start, so it is not the last: putting the cup down is.
                   Subtask("put_down_cup", reference="cup", signal="ball_in_bowl")),
    }
    OBJECT_WORKSPACE_XY = ((-0.22, -0.33), (0.02, 0.2))  # the bowl travels to the pad
    FIXTURE_WORKSPACE = {"pad": ((-0.18, -0.33, 0.0), (-0.02, -0.30, 0.0))}
    RELATIVE_OBSERVATIONS = (("gripper1_to_cup", "robot1_eef_pos", "cup_pos"),
                             ("cup_to_bowl", "cup_pos", "bowl_pos"),
                             ("ball_to_bowl", "ball_pos", "bowl_pos"),
                             ("gripper0_to_bowl", "robot0_eef_pos", "bowl_pos"),
                             ("bowl_to_pad", "bowl_pos", "pad_pos"))

    def _place_objects(self, rng: np.random.Generator) -> None:
        (x_low, x_high), (y_low, y_high) = PAD_PLACEMENT[self.reset_distribution]
        x, y = rng.uniform((x_low, y_low), (x_high, y_high))
        self.set_fixture_pose("pad", make_pose((x, y, TABLE_TOP_Z), np.eye(3)))
        (x_low, x_high), (y_low, y_high) = BOWL_PLACEMENT[self.reset_distribution]
        x, y = rng.uniform((x_low, y_low), (x_high, y_high))
        self.set_object_pose("bowl", make_pose((x, y, TABLE_TOP_Z + BOWL_HALF_HEIGHT - RESTING_PENETRATION),
                                               rotvec_to_mat((0.0, 0.0, rng.uniform(0.0, 2.0 * np.pi)))))
        (x_low, x_high), (y_low, y_high) = CUP_PLACEMENT[self.reset_distribution]
        x, y = rng.uniform((x_low, y_low), (x_high, y_high))
        cup_z = TABLE_TOP_Z + CUP_HALF_HEIGHT - RESTING_PENETRATION
        self.set_object_pose("cup", make_pose((x, y, cup_z), rotvec_to_mat((0.0, 0.0, rng.uniform(0.0, 2.0 * np.pi)))))
        ball_z = cup_z - CUP_HALF_HEIGHT + 2 * CUP_BOTTOM_HALF_THICKNESS + BALL_RADIUS - RESTING_PENETRATION
        self.set_object_pose("ball", make_pose((x, y, ball_z), np.eye(3)))  # resting on the cup's bottom

    @functools.cached_property
    def _tables(self) -> _Tables:
        codes = self._contacts.codes
        return _Tables(
            cup_pads=(codes("cup", "robot1_left_pad"), codes("cup", "robot1_right_pad")),
            bowl_pads=(codes("bowl", "robot0_left_pad"), codes("bowl", "robot0_right_pad")),
            ball_bowl=codes("ball", "bowl"), bowl_pad=codes("bowl", "pad"),
            ball_qpos=self._index.objects["ball"].qpos, bowl_qpos=self._index.objects["bowl"].qpos,
            pad_mocap=self._index.fixtures["pad"].mocap)

    def _task_info(self) -> dict[str, bool]:
        # Runs every step: contact codes and addresses are resolved once (_tables).
        tables, pairs, qpos = self._tables, self._contacts.pairs(), self._qpos
        bowl = tables.bowl_qpos
        bowl_x, bowl_y = qpos.item(bowl), qpos.item(bowl + 1)
        ball_in_bowl = not pairs.isdisjoint(tables.ball_bowl)
        if ball_in_bowl:
            ball = tables.ball_qpos
            ball_in_bowl = math.hypot(qpos.item(ball) - bowl_x, qpos.item(ball + 1) - bowl_y) <= BALL_IN_BOWL_XY
        bowl_on_pad = not pairs.isdisjoint(tables.bowl_pad)
        if bowl_on_pad:
            pad_x, pad_y, _ = self.data.mocap_pos[tables.pad_mocap].tolist()
            bowl_on_pad = math.hypot(bowl_x - pad_x, bowl_y - pad_y) <= BOWL_ON_PAD_XY
        success = ball_in_bowl and bowl_on_pad
        if success:
            _, x, y, _ = qpos[bowl + 3:bowl + 7].tolist()
            success = 1.0 - 2.0 * (x * x + y * y) >= UPRIGHT_COS  # the z component of the bowl's axis
        cup_left, cup_right = tables.cup_pads
        bowl_left, bowl_right = tables.bowl_pads
        return {"cup_grasped": not pairs.isdisjoint(cup_left) and not pairs.isdisjoint(cup_right),
                "ball_in_bowl": ball_in_bowl,
                "bowl_grasped": not pairs.isdisjoint(bowl_left) and not pairs.isdisjoint(bowl_right),
                "bowl_on_pad": bowl_on_pad, "is_success": success}

    def _dense_reward(self, info: dict[str, Any]) -> float:
        if info["is_success"]:
            return 1.0
        bowl = self.object_position("bowl")
        if info["ball_in_bowl"]:
            if info["bowl_on_pad"]:
                return 0.9  # only the bowl's tilt is wrong
            if info["bowl_grasped"]:
                pad = self.fixture_pose("pad")[:3, 3]
                return 0.65 + 0.25 * (1.0 - math.tanh(10.0 * np.linalg.norm(bowl[:2] - pad[:2])))
            return 0.5 + 0.1 * (1.0 - math.tanh(10.0 * np.linalg.norm(bowl - self.eef_pose("robot0")[:3, 3])))
        cup = self.reference_pose("cup")
        if not info["cup_grasped"]:
            return 0.1 * (1.0 - math.tanh(10.0 * np.linalg.norm(cup[:3, 3] - self.eef_pose("robot1")[:3, 3])))
        lift = cup[2, 3] - CUP_HALF_HEIGHT - TABLE_TOP_Z
        reward = 0.15 + 0.1 * min(max(lift, 0.0) / 0.1, 1.0)
        if lift > 0.05:
            distance = float(np.linalg.norm(cup[:2, 3] - bowl[:2]))
            reward += 0.15 * (1.0 - math.tanh(10.0 * distance))
            if distance < 0.05:
                tilt = math.acos(min(max(cup[2, 2], -1.0), 1.0))  # of the cup's axis from the vertical
                reward += 0.1 * min(tilt / (math.pi / 2), 1.0)
        return float(reward)
