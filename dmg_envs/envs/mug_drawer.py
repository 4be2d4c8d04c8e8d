"""MugDrawer: open a drawer, put the mug in, close the drawer (MimicGen's MugCleanup, built here)."""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np

from dmg_envs.envs.base import ManipulationEnv
from dmg_envs.envs.task import Subtask
from dmg_envs.sim.objects import Fixture, Frame, Geom, Joint, Part, SceneObject, vessel_geoms
from dmg_envs.sim.scene import TABLE_TOP_Z
from dmg_envs.sim.transforms import make_pose, rotvec_to_mat

# Capsules and cylinders lie along their z axis: these turn it onto x and onto y.
_ALONG_X = (math.cos(math.pi / 4), 0.0, math.sin(math.pi / 4), 0.0)
_ALONG_Y = (math.cos(math.pi / 4), -math.sin(math.pi / 4), 0.0, 0.0)

# --- the mug: a cylindrical wall of 12 panels on a round bottom, a C-shaped handle along its +x axis ----
MUG_RADIUS, MUG_HALF_HEIGHT = 0.029, 0.032  # [m] outer radius; the origin is at mid height
_WALL_PANELS = 12
_WALL_THICKNESS = 0.005
_CERAMIC = (0.92, 0.9, 0.85, 1.0)


def _mug_geoms() -> tuple[Geom, ...]:
    # Only the bottom touches a flat surface: the wall and handle start above it.
    geoms = list(vessel_geoms(MUG_RADIUS, MUG_HALF_HEIGHT, 0.003, _WALL_THICKNESS, _WALL_PANELS))
    geoms += [Geom("capsule", (0.004, 0.011), pos=(MUG_RADIUS + 0.011, 0.0, z), quat=_ALONG_X, name=f"handle_{side}")
              for side, z in (("top", 0.016), ("bottom", -0.016))]
    geoms.append(Geom("capsule", (0.004, 0.016), pos=(MUG_RADIUS + 0.022, 0.0, 0.0), name="handle_grip"))
    return tuple(geoms)


MUG = SceneObject("mug", _mug_geoms(), rgba=_CERAMIC, yaw_symmetry=1, density=1500.0)

# --- the cabinet: a box open at its front (-y), with a drawer sliding out along -y ------------------------
CABINET_HALF = (0.12, 0.11, 0.07)  # [m] outside half extents; the origin is on the table, under its centre
DRAWER_TRAVEL = 0.16  # [m]
DRAWER_OPEN = 0.10  # [m] opening from which the drawer counts as open
DRAWER_CLOSED = 0.01  # [m] opening up to which it counts as closed
HANDLE_OFFSET = (0.0, -0.17, 0.10)  # [m] the handle bar's centre in the drawer frame, 7 cm out
_WOOD, _METAL = (0.55, 0.38, 0.25, 1.0), (0.7, 0.7, 0.72, 1.0)

DRAWER = Part(
    "drawer",
    # Damping and dry friction keep the drawer where it was left; pulled at 10 cm/s it resists with ~3 N.
    joint=Joint("slide", axis=(0.0, -1.0, 0.0), range=(0.0, DRAWER_TRAVEL), damping=10.0, frictionloss=2.0),
    # The drawer frame: the centre of its inside bottom, x across the cabinet, y into it, z up.
    pos=(0.0, -0.01, 0.02),
    geoms=(
        Geom("box", (0.09, 0.1, 0.004), pos=(0.0, 0.0, -0.004), name="bottom", group="drawer_bottom"),
        Geom("box", (0.108, 0.005, 0.058), pos=(0.0, -0.095, 0.05), name="front"),
        Geom("box", (0.09, 0.005, 0.025), pos=(0.0, 0.095, 0.025), name="back"),
        Geom("box", (0.005, 0.09, 0.025), pos=(-0.085, 0.0, 0.025), name="left"),
        Geom("box", (0.005, 0.09, 0.025), pos=(0.085, 0.0, 0.025), name="right"),
        Geom("capsule", (0.009, 0.05), pos=HANDLE_OFFSET, quat=_ALONG_X, name="handle", rgba=_METAL),
        Geom("capsule", (0.006, 0.035), pos=(-0.045, -0.135, 0.10), quat=_ALONG_Y, name="post_left", rgba=_METAL),
        Geom("capsule", (0.006, 0.035), pos=(0.045, -0.135, 0.10), quat=_ALONG_Y, name="post_right", rgba=_METAL),
    ),
    frames=(Frame("drawer_handle", pos=HANDLE_OFFSET),),
)

CABINET = Fixture(
    "cabinet",
    geoms=(
        Geom("box", (0.12, 0.11, 0.005), pos=(0.0, 0.0, 0.005), name="bottom"),
        Geom("box", (0.12, 0.11, 0.005), pos=(0.0, 0.0, 0.135), name="top"),
        Geom("box", (0.005, 0.11, 0.06), pos=(-0.115, 0.0, 0.07), name="left"),
        Geom("box", (0.005, 0.11, 0.06), pos=(0.115, 0.0, 0.07), name="right"),
        Geom("box", (0.11, 0.005, 0.06), pos=(0.0, 0.105, 0.07), name="back"),
    ),
    rgba=_WOOD,
    pos_xy_yaw=(0.0, 0.32, 0.0),
    parts=(DRAWER,),
)

# Placement ranges [m, rad] (MimicGen's MugCleanup): (x low, x high), (y low, y high), yaw half-range.
MUG_PLACEMENT = {"D0": ((-0.15, 0.15), (-0.25, -0.14)), "D1": ((-0.25, 0.15), (-0.30, -0.15))}
CABINET_PLACEMENT = {"D0": ((0.0, 0.0), (0.32, 0.32), 0.0), "D1": ((-0.15, 0.05), (0.27, 0.37), math.pi / 6)}
UPRIGHT_COS = 0.999  # the mug is upright while its axis is within 2.6 degrees of the vertical (as MimicGen)
RESTING_PENETRATION = 1e-4  # [m] the mug starts this deep in the table, about where it rests


class _Tables(NamedTuple):
    """What the per-step signals look up, resolved once."""

    drawer_qpos: int
    drawer_arm: frozenset[int]  # contact codes of the drawer with any arm
    mug_left: frozenset[int]
    mug_right: frozenset[int]
    mug_bottom: frozenset[int]  # of the mug with the drawer's bottom
    mug_qpos: int


class MugDrawerEnv(ManipulationEnv):
    """Open the drawer of a table-top cabinet, put the mug in it and close it, with a Panda arm.

    ## Description
    A cabinet stands at the far side of the table with a drawer that slides out towards the robot on a
    damped slide joint (it stays where it is left); a bar handle 7 cm in front of its face is grasped
    from above. A mug (built from a round bottom, a wall of 12 panels and a C-shaped handle; it looks the
    same only after a full turn) stands on the table. The task is MimicGen's MugCleanup: open the drawer,
    pick the mug up by its body, place it in the drawer, close the drawer.

    ## Action Space
    As every dmg-envs task: `Box(-1, 1, (7,))`, TCP translation (x 0.05 m), world-frame axis-angle (x 0.5
    rad), gripper (-1 open, +1 closed); `control_mode="absolute"` takes the target pose.

    ## Observation Space
    A Dict of float64 vectors (or, with `obs_mode="flat"`, their 53 values in this order):
    `robot0_joint_pos` (7), `robot0_gripper_qpos` (2), `mug_pos` (3), `mug_quat` (4), `drawer_joint_pos`
    (1, the opening [m]), `robot0_joint_vel` (7), `robot0_eef_pos` (3), `robot0_eef_quat` (4),
    `cabinet_pos` (3), `cabinet_quat` (4), `drawer_handle_pos` (3), `drawer_pos` (3, the centre of the
    drawer's inside bottom), `gripper_to_mug` (3), `gripper_to_drawer_handle` (3), `mug_to_drawer` (3).

    ## Rewards
    `sparse`: 1 in a successful state, else 0. `dense`, by stage: opening the drawer 0.2 x opening / 0.10 m
    plus 0.05 x (1 - tanh(10 d_gripper_handle)); drawer open: 0.25 + 0.1 x (1 - tanh(10 d_gripper_mug));
    mug grasped: 0.4 + 0.1 x min(1, lift / 0.1 m), over the drawer when lifted 0.5 + 0.15 x (1 - tanh(10
    d_xy_mug_drawer)); mug in the drawer: 0.7 + 0.25 x (1 - opening / 0.16 m); success 1.

    ## Starting State
    Arm at home plus N(0, 0.02 rad) joint noise, gripper open, drawer closed. D0: cabinet at (0, 0.32) m
    facing the robot's side of the table; mug at x in [-0.15, 0.15], y in [-0.25, -0.14] m, yaw uniform.
    D1: cabinet at x in [-0.15, 0.05], y in [0.27, 0.37] m, yaw in +-30 degrees; mug at x in [-0.25,
    0.15], y in [-0.30, -0.15] m, yaw uniform.

    ## Episode End
    No termination; truncation at 500 steps (registration) or when the simulation diverges.

    ## Signals (`info` and `subtask_signals()`)
    `drawer_open`: opened by at least 0.10 m and released (no arm touches the drawer). `mug_grasped`: both
    finger pads touch the mug. `mug_in_drawer`: the mug touches the drawer's bottom. `drawer_closed`:
    opened by at most 0.01 m. `is_success`: drawer closed, mug in it, mug upright (within 2.6 degrees).

    ## Subtasks
    `open_drawer` (reference: the frame `drawer_handle`), `pick_mug` (`mug`), `place_mug` (the part
    `drawer`), `close_drawer` (`drawer_handle`).

    ## Version History
    - v0: initial release.
    """

    OBJECTS = (MUG,)
    FIXTURES = (CABINET,)
    SUBTASKS = {"robot0": (Subtask("open_drawer", reference="drawer_handle", signal="drawer_open"),
                           Subtask("pick_mug", reference="mug", signal="mug_grasped"),
                           Subtask("place_mug", reference="drawer", signal="mug_in_drawer"),
                           Subtask("close_drawer", reference="drawer_handle", signal="drawer_closed"))}
    OBJECT_WORKSPACE_XY = ((-0.25, -0.3), (0.15, 0.0))
    FIXTURE_WORKSPACE = {"cabinet": ((-0.15, 0.27, -math.pi / 6), (0.05, 0.37, math.pi / 6))}
    OBSERVED_FRAMES = ("drawer_handle", "drawer")
    RELATIVE_OBSERVATIONS = (("gripper_to_mug", "robot0_eef_pos", "mug_pos"),
                             ("gripper_to_drawer_handle", "robot0_eef_pos", "drawer_handle_pos"),
                             ("mug_to_drawer", "mug_pos", "drawer_pos"))

    def _place_objects(self, rng: np.random.Generator) -> None:
        (x_low, x_high), (y_low, y_high), yaw = CABINET_PLACEMENT[self.reset_distribution]
        x, y = rng.uniform((x_low, y_low), (x_high, y_high))
        turn = rng.uniform(-yaw, yaw)
        self.set_fixture_pose("cabinet", make_pose((x, y, TABLE_TOP_Z), rotvec_to_mat((0.0, 0.0, turn))))
        (x_low, x_high), (y_low, y_high) = MUG_PLACEMENT[self.reset_distribution]
        x, y = rng.uniform((x_low, y_low), (x_high, y_high))
        mug_yaw = rng.uniform(0.0, 2.0 * np.pi)
        self.set_object_pose("mug", make_pose((x, y, TABLE_TOP_Z + MUG_HALF_HEIGHT - RESTING_PENETRATION),
                                              rotvec_to_mat((0.0, 0.0, mug_yaw))))

    @functools.cached_property
    def _tables(self) -> _Tables:
        contacts = self._contacts
        return _Tables(
            drawer_qpos=self._index.parts["drawer"].qpos,
            drawer_arm=frozenset().union(*(contacts.codes("drawer", arm) for arm in self.arms)),
            mug_left=contacts.codes("mug", "robot0_left_pad"), mug_right=contacts.codes("mug", "robot0_right_pad"),
            mug_bottom=contacts.codes("mug", "drawer_bottom"), mug_qpos=self._index.objects["mug"].qpos)

    def drawer_opening(self) -> float:
        """How far the drawer is pulled out [m]."""
        return self._qpos.item(self._tables.drawer_qpos)

    def _task_info(self) -> dict[str, bool]:
        # Runs every step: contact codes and addresses are resolved once (_tables).
        tables, pairs = self._tables, self._contacts.pairs()
        opening = self._qpos.item(tables.drawer_qpos)
        in_drawer = not pairs.isdisjoint(tables.mug_bottom)
        closed = opening <= DRAWER_CLOSED
        success = False
        if closed and in_drawer:
            w, x, y, _ = self._qpos[tables.mug_qpos + 3:tables.mug_qpos + 7].tolist()
            success = 1.0 - 2.0 * (x * x + y * y) >= UPRIGHT_COS  # the z component of the mug's axis
        return {"drawer_open": opening >= DRAWER_OPEN and pairs.isdisjoint(tables.drawer_arm),
                "mug_grasped": not pairs.isdisjoint(tables.mug_left) and not pairs.isdisjoint(tables.mug_right),
                "mug_in_drawer": in_drawer, "drawer_closed": closed, "is_success": success}

    def _dense_reward(self, info: dict[str, Any]) -> float:
        if info["is_success"]:
            return 1.0
        opening = self.drawer_opening()
        if info["mug_in_drawer"]:
            return 0.7 + 0.25 * (1.0 - min(opening / DRAWER_TRAVEL, 1.0))
        tcp, mug = self.eef_pose()[:3, 3], self.object_position("mug")
        if info["mug_grasped"]:
            lift = mug[2] - TABLE_TOP_Z - MUG_HALF_HEIGHT
            reward = 0.4 + 0.1 * min(max(lift, 0.0) / 0.1, 1.0)
            if lift > 0.05:
                drawer = self.reference_pose("drawer")[:3, 3]
                reward = max(reward, 0.5 + 0.15 * (1.0 - math.tanh(10.0 * np.linalg.norm(mug[:2] - drawer[:2]))))
            return reward
        if opening >= DRAWER_OPEN:
            return 0.25 + 0.1 * (1.0 - math.tanh(10.0 * np.linalg.norm(mug - tcp)))
        handle = self.reference_pose("drawer_handle")[:3, 3]
        return 0.2 * min(opening / DRAWER_OPEN, 1.0) + 0.05 * (1.0 - math.tanh(10.0 * np.linalg.norm(handle - tcp)))
