"""Stack: put the red cube (cubeA) on the green cube (cubeB)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from dmg_envs.envs.base import ManipulationEnv
from dmg_envs.envs.task import Subtask
from dmg_envs.sim.objects import SceneObject
from dmg_envs.sim.scene import TABLE_TOP_Z
from dmg_envs.sim.transforms import make_pose, rotvec_to_mat

CUBE_A_HALF, CUBE_B_HALF = 0.02, 0.025  # [m]
CUBE_A = SceneObject.box("cubeA", half_size=(CUBE_A_HALF,) * 3, rgba=(0.85, 0.15, 0.15, 1.0))
CUBE_B = SceneObject.box("cubeB", half_size=(CUBE_B_HALF,) * 3, rgba=(0.15, 0.7, 0.2, 1.0))

# Half-ranges of the cubes' xy placement around the table centre [m].
PLACEMENT_HALF_RANGE = {"D0": (0.08, 0.08), "D1": (0.16, 0.2)}
MIN_CUBE_DISTANCE = 0.07  # [m] between cube centres at reset, so they never overlap
LIFT_HEIGHT = 0.04  # [m] cubeA's centre above the table for success, as robosuite
# Cubes start sunk this deep into the table, about their resting penetration under gravity: they neither
# drop at the first step nor start out of contact.
RESTING_PENETRATION = 1e-4  # [m]


class _SignalTables(NamedTuple):
    """What the per-step signals look up: contact codes of cubeA with each pad and with cubeB, and the qpos
    addresses of the cubes' heights."""

    left_pad: frozenset[int]
    right_pad: frozenset[int]
    cubes: frozenset[int]
    cube_a_z: int
    cube_b_z: int


class StackEnv(ManipulationEnv):
    """Stack a 4 cm cube (cubeA) on a 5 cm cube (cubeB) with a Panda arm.

    ## Description
    Both cubes start on the table with random position and yaw. The task is solved when cubeA rests on
    cubeB and the gripper has let go (robosuite's Stack definition).

    ## Action Space
    `Box(-1, 1, (7,))` in `control_mode="delta"`: TCP translation (x 0.05 m), rotation as an axis-angle
    vector in the world frame (x 0.5 rad), gripper (-1 open, +1 closed). Values outside [-1, 1] are
    clipped. `control_mode="absolute"`: TCP target position [m] and axis-angle orientation [rad] in the
    world frame, then the gripper value.

    ## Observation Space
    A Dict of float64 vectors (or, with `obs_mode="flat"`, their 43 values concatenated in this order):
    `robot0_joint_pos` (7), `robot0_gripper_qpos` (2), `cubeA_pos` (3), `cubeA_quat` (4), `cubeB_pos` (3),
    `cubeB_quat` (4), `robot0_joint_vel` (7), `robot0_eef_pos` (3), `robot0_eef_quat` (4, w-x-y-z),
    `gripper_to_cubeA` (3, cubeA_pos - robot0_eef_pos), `cubeA_to_cubeB` (3, cubeB_pos - cubeA_pos).

    ## Rewards
    `sparse`: 1 in a successful state, else 0. `dense`: the highest reached stage of
    reach 0.25 * (1 - tanh(10 d_gripper_cubeA)), grasp 0.35, lift 0.35 + 0.15 * min(1, lift / 0.05),
    align 0.5 + 0.25 * (1 - tanh(10 d_xy_cubeA_cubeB)) while lifted, placed on cubeB 0.9, success 1.

    ## Starting State
    Arm at its home posture plus N(0, 0.02 rad) joint noise, gripper open. Cube centres uniform in
    +-0.08 m (D0) or x +-0.16 m, y +-0.2 m (D1) around the table centre, at least 0.07 m apart,
    yaw uniform in [0, 2 pi).

    ## Episode End
    No termination; truncation at 300 steps (registration) or when the simulation diverges
    (`info["sim_unstable"]`).

    ## Signals (`info` and `subtask_signals()`)
    `grasp_cubeA`: both finger pads touch cubeA. `cubeA_on_cubeB`: cubeA touches cubeB with its centre
    above cubeB's top face. `is_success`: cubeA on cubeB, not grasped, centre > 0.04 m above the table.

    ## Version History
    - v0: initial release.
    """

    OBJECTS = (CUBE_A, CUBE_B)
    SUBTASKS = {"robot0": (Subtask("pick_cubeA", reference="cubeA", signal="grasp_cubeA"),
                           Subtask("place_on_cubeB", reference="cubeB", signal="cubeA_on_cubeB"))}
    RELATIVE_OBSERVATIONS = (("gripper_to_cubeA", "robot0_eef_pos", "cubeA_pos"),
                             ("cubeA_to_cubeB", "cubeA_pos", "cubeB_pos"))

    def _place_objects(self, rng: np.random.Generator) -> None:
        half_x, half_y = PLACEMENT_HALF_RANGE[self.reset_distribution]
        while True:
            xy = rng.uniform((-half_x, -half_y), (half_x, half_y), size=(2, 2))
            if np.linalg.norm(xy[0] - xy[1]) >= MIN_CUBE_DISTANCE:
                break
        yaws = rng.uniform(0.0, 2.0 * np.pi, size=2)
        for cube, half, (x, y), yaw in zip(self.OBJECTS, (CUBE_A_HALF, CUBE_B_HALF), xy, yaws):
            pos = (x, y, TABLE_TOP_Z + half - RESTING_PENETRATION)
            self.set_object_pose(cube.name, make_pose(pos, rotvec_to_mat((0.0, 0.0, yaw))))

    @functools.cached_property
    def _signal_tables(self) -> _SignalTables:
        return _SignalTables(
            left_pad=self._contacts.codes("cubeA", "robot0_left_pad"),
            right_pad=self._contacts.codes("cubeA", "robot0_right_pad"),
            cubes=self._contacts.codes("cubeA", "cubeB"),
            cube_a_z=self._index.objects["cubeA"].qpos + 2,
            cube_b_z=self._index.objects["cubeB"].qpos + 2,
        )

    def _task_info(self) -> dict[str, bool]:
        # Runs every step: contact codes and addresses are resolved once (_signal_tables), not per call.
        tables, pairs, qpos = self._signal_tables, self._contacts.pairs(), self._qpos
        cube_a_z = qpos.item(tables.cube_a_z)
        grasped = not pairs.isdisjoint(tables.left_pad) and not pairs.isdisjoint(tables.right_pad)
        on_cube_b = cube_a_z - qpos.item(tables.cube_b_z) > CUBE_B_HALF and not pairs.isdisjoint(tables.cubes)
        success = cube_a_z > TABLE_TOP_Z + LIFT_HEIGHT and on_cube_b and not grasped
        return {"grasp_cubeA": grasped, "cubeA_on_cubeB": on_cube_b, "is_success": success}

    def _dense_reward(self, info: dict[str, bool]) -> float:
        if info["is_success"]:
            return 1.0
        if info["cubeA_on_cubeB"]:
            return 0.9
        qpos = self.data.qpos
        cube_a = qpos[self._index.objects["cubeA"].qpos:][:3]
        cube_b = qpos[self._index.objects["cubeB"].qpos:][:3]
        tcp = self.data.site_xpos[self._arms[0].tcp_site]
        reward = 0.25 * (1.0 - np.tanh(10.0 * np.linalg.norm(cube_a - tcp)))
        if info["grasp_cubeA"]:
            lift = cube_a[2] - TABLE_TOP_Z - CUBE_A_HALF
            reward = max(reward, 0.35 + 0.15 * min(1.0, max(lift, 0.0) / 0.05))
            if cube_a[2] > TABLE_TOP_Z + LIFT_HEIGHT:  # lifted as `is_success` counts it
                reward = max(reward, 0.5 + 0.25 * (1.0 - np.tanh(10.0 * np.linalg.norm(cube_a[:2] - cube_b[:2]))))
        return float(reward)
