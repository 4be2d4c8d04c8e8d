"""TwoArmTrayLift: two arms each put a cube on a tray, then lift the tray together (DexMimicGen's Tray Lift)."""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np

from dmg_envs.envs.base import ManipulationEnv
from dmg_envs.envs.task import Subtask
from dmg_envs.sim.objects import Frame, Geom, SceneObject
from dmg_envs.sim.scene import TABLE_TOP_Z
from dmg_envs.sim.transforms import make_pose, rotvec_to_mat

_ALONG_X = (math.cos(math.pi / 4), 0.0, math.sin(math.pi / 4), 0.0)  # a capsule's z axis turned onto x

# --- the tray: a plate with a low rim, a handle bar on each short side (y), grasped from above ---------
TRAY_HALF = (0.11, 0.14)  # [m] the plate's half extents in x and y
TRAY_PLATE_HALF_THICKNESS = 0.005  # [m]; the tray's origin is the plate's centre
RIM_HEIGHT = 0.025  # [m] above the plate
HANDLE_Y = 0.19  # [m] the bars' axis, on either side
HANDLE_Z = 0.045  # [m] above the origin: 5 cm over the table, room for the fingers beneath
HANDLE_RADIUS, HANDLE_HALF_LENGTH = 0.01, 0.05  # [m]
_TRAY_COLOUR, _HANDLE_COLOUR = (0.35, 0.45, 0.7, 1.0), (0.25, 0.25, 0.28, 1.0)


def _tray_geoms() -> tuple[Geom, ...]:
    half_x, half_y = TRAY_HALF
    wall_z = TRAY_PLATE_HALF_THICKNESS + RIM_HEIGHT / 2
    geoms = [Geom("box", (half_x, half_y, TRAY_PLATE_HALF_THICKNESS), name="plate", group="tray_plate")]
    geoms += [Geom("box", (half_x, 0.004, RIM_HEIGHT / 2), pos=(0.0, side * (half_y - 0.004), wall_z),
                   name=f"rim_y{index}") for index, side in enumerate((-1, 1))]
    geoms += [Geom("box", (0.004, half_y, RIM_HEIGHT / 2), pos=(side * (half_x - 0.004), 0.0, wall_z),
                   name=f"rim_x{index}") for index, side in enumerate((-1, 1))]
    post_half = (HANDLE_Y - half_y) / 2
    for index, side in enumerate((-1, 1)):  # handle 0 on robot0's side (-y)
        group = f"tray_bar{index}"  # contacts with the handle; its frame is `tray_handle<k>`
        geoms.append(Geom("capsule", (HANDLE_RADIUS, HANDLE_HALF_LENGTH), pos=(0.0, side * HANDLE_Y, HANDLE_Z),
                          quat=_ALONG_X, name=f"handle{index}", rgba=_HANDLE_COLOUR, group=group))
        geoms += [Geom("box", (0.006, post_half, 0.006), pos=(x, side * (half_y + post_half), HANDLE_Z),
                       name=f"handle{index}_post{k}", rgba=_HANDLE_COLOUR, group=group)
                  for k, x in enumerate((-HANDLE_HALF_LENGTH - 0.004, HANDLE_HALF_LENGTH + 0.004))]
    return tuple(geoms)


# Grasp frames: on each bar's centre, x along the bar (so a gripper closing across it has yaw 0 or pi).
TRAY = SceneObject("tray", _tray_geoms(), rgba=_TRAY_COLOUR, yaw_symmetry=1, density=400.0,
                   frames=tuple(Frame(f"tray_handle{index}", pos=(0.0, side * HANDLE_Y, HANDLE_Z))
                                for index, side in enumerate((-1, 1))))

CUBE_HALF = 0.0225  # [m]
CUBES = (SceneObject.box("cube0", half_size=(CUBE_HALF,) * 3, rgba=(0.85, 0.15, 0.15, 1.0)),
         SceneObject.box("cube1", half_size=(CUBE_HALF,) * 3, rgba=(0.15, 0.7, 0.2, 1.0)))

# Placement per reset distribution: the tray's centre x, y ranges [m] and yaw half-range [rad]; robot0's
# cube's x, y ranges (robot1's cube mirrors its y: each arm's cube lies outside its own handle).
TRAY_PLACEMENT = {"D0": ((-0.02, 0.04), (-0.02, 0.02), math.radians(8)),
                  "D1": ((-0.06, 0.08), (-0.03, 0.03), math.radians(20))}
CUBE_PLACEMENT = {"D0": ((-0.04, 0.08), (-0.35, -0.30)),
                  "D1": ((-0.10, 0.14), (-0.36, -0.29))}
LIFT_HEIGHT = 0.10  # [m] the tray's bottom and the cubes' centres above the table, for success
MAX_TILT = math.radians(30)  # of the tray, for success
_MIN_TILT_COS = math.cos(MAX_TILT)
RESTING_PENETRATION = 1e-4  # [m] as in Stack: objects start resting, neither dropping nor floating


class _Tables(NamedTuple):
    """Contact codes and qpos addresses the per-step signals look up, resolved once."""

    cube_pads: tuple[tuple[frozenset[int], frozenset[int]], ...]  # per arm: its cube with its left, right pad
    handle_pads: tuple[tuple[frozenset[int], frozenset[int]], ...]  # per arm: its handle with its pads
    cube_plate: tuple[frozenset[int], ...]  # per cube: with the tray's plate
    cube_qpos: tuple[int, ...]
    tray_qpos: int


class TwoArmTrayLiftEnv(ManipulationEnv):
    """Two Panda arms side by side each put a cube on a tray, then grasp its handles and lift it together.

    ## Description
    DexMimicGen's Tray Lift with parallel grippers. robot0 (on the right, -y) owns cube0 and the tray's
    handle on its side, robot1 cube1 and the other handle. Each arm picks its cube from beside the tray,
    sets it on the tray (parallel subtasks); then both take the handles on their sides and lift the tray
    together (a coordination subtask: both relative to the tray, started and ended on the same step). The
    tray (0.22 x 0.28 m plate, 2.5 cm rim, bars 0.38 m apart) weighs about 0.4 kg, lighter than
    DexMimicGen's 2.9 kg: a parallel gripper holds a bar by friction alone.

    ## Action Space
    `Box(-1, 1, (14,))`: robot0's 7 values then robot1's, each as in `dmg/Stack-v0` (TCP translation x 0.05
    m, axis-angle x 0.5 rad, gripper -1 open / +1 closed); `control_mode="absolute"` takes target poses.

    ## Observation Space
    A Dict of float64 vectors (flat: their values concatenated in this order): per arm `robotK_joint_pos`
    (7), `robotK_gripper_qpos` (2); `tray_pos` (3), `tray_quat` (4), `cube0_pos`, `cube0_quat`,
    `cube1_pos`, `cube1_quat`; per arm `robotK_joint_vel` (7), `robotK_eef_pos` (3), `robotK_eef_quat` (4);
    `tray_handle0_pos`, `tray_handle1_pos` (3 each); `gripper0_to_cube0`, `gripper1_to_cube1`,
    `gripper0_to_handle0`, `gripper1_to_handle1`, `cube0_to_tray`, `cube1_to_tray` (3 each): 91 values.

    ## Rewards
    `sparse`: 1 in a successful state. `dense`: per arm 0.05 * (1 - tanh(10 d)) for reaching its cube, 0.1
    while grasping it, 0.15 once it is on the tray and let go; with both cubes there, 0.1 more per handle
    grasped, and with both held at least 0.6 + 0.35 * min(1, lift / 0.10); at most 0.95 short of success,
    which gives 1.

    ## Starting State
    Arms at their home posture plus N(0, 0.02 rad) joint noise, grippers open. D0: tray centre x in [-0.02,
    0.04], y in [-0.02, 0.02] m, yaw within +-8 degrees; cube0 at x in [-0.04, 0.08], y in [-0.35, -0.30],
    cube1 mirrored in y, yaw uniform. D1: tray x in [-0.06, 0.08], y in [-0.03, 0.03], yaw +-20 degrees;
    cubes x in [-0.10, 0.14], |y| in [0.29, 0.36].

    ## Episode End
    No termination; truncation at 400 steps (registration) or when the simulation diverges.

    ## Signals
    `grasp_cube0`, `grasp_cube1`: both pads of the arm touch its cube. `cube0_on_tray`, `cube1_on_tray`:
    the cube touches the tray's plate. `grasp_handle0`, `grasp_handle1`: both pads of the arm touch its
    handle. `tray_lifted`: the tray's bottom more than 0.10 m above the table. `is_success`: the tray's
    bottom and both cubes' centres more than 0.10 m above the table, both cubes on the plate, the tray
    tilted less than 30 degrees.

    ## Subtasks
    Per arm K: `pick_cubeK` (reference `cubeK`), `place_cubeK` (`tray`), both parallel: each arm's own
    queue; then `lift_trayK` (`tray`): a coordination subtask with the other arm's (take the handle, lift),
    both started and ended on the same step.

    ## Version History
    - v0: initial release.
    """

    OBJECTS = (TRAY, *CUBES)
    NUM_ARMS = 2
    ARM_LAYOUT = "parallel"
    SUBTASKS = {
        f"robot{k}": (Subtask(f"pick_cube{k}", reference=f"cube{k}", signal=f"grasp_cube{k}"),
                      Subtask(f"place_cube{k}", reference="tray", signal=f"cube{k}_on_tray"),
                      Subtask(f"lift_tray{k}", reference="tray", signal="tray_lifted", kind="coordination",
                              partner=f"lift_tray{1 - k}"))
        for k in range(2)}
    OBJECT_WORKSPACE_XY = ((-0.15, -0.37), (0.15, 0.37))
    OBJECT_WORKSPACES = {"tray": ((-0.08, -0.05), (0.10, 0.05))}  # D1's range and a little: the tray stays on
    OBSERVED_FRAMES = ("tray_handle0", "tray_handle1")
    RELATIVE_OBSERVATIONS = (("gripper0_to_cube0", "robot0_eef_pos", "cube0_pos"),
                             ("gripper1_to_cube1", "robot1_eef_pos", "cube1_pos"),
                             ("gripper0_to_handle0", "robot0_eef_pos", "tray_handle0_pos"),
                             ("gripper1_to_handle1", "robot1_eef_pos", "tray_handle1_pos"),
                             ("cube0_to_tray", "cube0_pos", "tray_pos"),
                             ("cube1_to_tray", "cube1_pos", "tray_pos"))

    def _place_objects(self, rng: np.random.Generator) -> None:
        (x_low, x_high), (y_low, y_high), yaw = TRAY_PLACEMENT[self.reset_distribution]
        x, y = rng.uniform((x_low, y_low), (x_high, y_high))
        tray_z = TABLE_TOP_Z + TRAY_PLATE_HALF_THICKNESS - RESTING_PENETRATION
        self.set_object_pose("tray", make_pose((x, y, tray_z), rotvec_to_mat((0.0, 0.0, rng.uniform(-yaw, yaw)))))
        (x_low, x_high), (y_low, y_high) = CUBE_PLACEMENT[self.reset_distribution]
        for cube, side in zip(CUBES, (1, -1)):
            x, y = rng.uniform((x_low, y_low), (x_high, y_high))
            pose = make_pose((x, side * y, TABLE_TOP_Z + CUBE_HALF - RESTING_PENETRATION),
                             rotvec_to_mat((0.0, 0.0, rng.uniform(0.0, 2.0 * np.pi))))
            self.set_object_pose(cube.name, pose)

    @functools.cached_property
    def _tables(self) -> _Tables:
        codes = self._contacts.codes
        return _Tables(
            cube_pads=tuple(self._pad_codes(f"cube{k}", f"robot{k}") for k in range(2)),
            handle_pads=tuple(self._pad_codes(f"tray_bar{k}", f"robot{k}") for k in range(2)),
            cube_plate=tuple(codes(f"cube{k}", "tray_plate") for k in range(2)),
            cube_qpos=tuple(self._index.objects[f"cube{k}"].qpos for k in range(2)),
            tray_qpos=self._index.objects["tray"].qpos)

    def _pad_codes(self, name: str, arm: str) -> tuple[frozenset[int], frozenset[int]]:
        return self._contacts.codes(name, f"{arm}_left_pad"), self._contacts.codes(name, f"{arm}_right_pad")

    def _task_info(self) -> dict[str, bool]:
        # Runs every step: contact codes and addresses are resolved once (_tables).
        tables, pairs, qpos = self._tables, self._contacts.pairs(), self._qpos
        (cube0_left, cube0_right), (cube1_left, cube1_right) = tables.cube_pads
        (bar0_left, bar0_right), (bar1_left, bar1_right) = tables.handle_pads
        on_tray = [not pairs.isdisjoint(codes) for codes in tables.cube_plate]
        lift_z = TABLE_TOP_Z + LIFT_HEIGHT
        lifted = qpos.item(tables.tray_qpos + 2) - TRAY_PLATE_HALF_THICKNESS > lift_z
        success = lifted and all(on_tray) and all(qpos.item(address + 2) > lift_z for address in tables.cube_qpos)
        if success:
            _, x, y, _ = qpos[tables.tray_qpos + 3:tables.tray_qpos + 7].tolist()
            success = 1.0 - 2.0 * (x * x + y * y) >= _MIN_TILT_COS  # the z component of the tray's normal
        return {"grasp_cube0": not pairs.isdisjoint(cube0_left) and not pairs.isdisjoint(cube0_right),
                "grasp_cube1": not pairs.isdisjoint(cube1_left) and not pairs.isdisjoint(cube1_right),
                "cube0_on_tray": on_tray[0], "cube1_on_tray": on_tray[1],
                "grasp_handle0": not pairs.isdisjoint(bar0_left) and not pairs.isdisjoint(bar0_right),
                "grasp_handle1": not pairs.isdisjoint(bar1_left) and not pairs.isdisjoint(bar1_right),
                "tray_lifted": lifted, "is_success": success}

    def _dense_reward(self, info: dict[str, Any]) -> float:
        if info["is_success"]:
            return 1.0
        reward = 0.0
        for k in range(2):
            if info[f"cube{k}_on_tray"] and not info[f"grasp_cube{k}"]:
                reward += 0.15
            elif info[f"grasp_cube{k}"]:
                reward += 0.1
            else:
                distance = np.linalg.norm(self.object_position(f"cube{k}") - self.eef_pose(f"robot{k}")[:3, 3])
                reward += 0.05 * (1.0 - math.tanh(10.0 * distance))
        if not (info["cube0_on_tray"] and info["cube1_on_tray"]):
            return float(reward)
        reward += 0.1 * (info["grasp_handle0"] + info["grasp_handle1"])
        if info["grasp_handle0"] and info["grasp_handle1"]:
            lift = self.object_position("tray")[2] - TRAY_PLATE_HALF_THICKNESS - TABLE_TOP_Z
            reward = max(reward, 0.6 + 0.35 * min(max(lift, 0.0) / LIFT_HEIGHT, 1.0))
        return float(min(reward, 0.95))
