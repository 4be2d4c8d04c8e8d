"""The task interface of DESIGN.md: what wrappers and data generation may use on `env.unwrapped`.

Poses, names and contacts of the scene by name (`reference_pose`, `set_object_pose`, `in_contact`, ...),
so that nothing outside `envs/` reaches into MuJoCo arrays. `ManipulationEnv` takes it as a mixin; it
works on the env's compiled `model` and `data`.
"""

from __future__ import annotations

from typing import NamedTuple

import mujoco
import numpy as np
import numpy.typing as npt

from dmg_envs.envs.observations import ObservationLayout, ObservedFrame
from dmg_envs.envs.task import Subtask, check_subtasks
from dmg_envs.errors import InvalidConfigError, UnknownNameError
from dmg_envs.sim import scene
from dmg_envs.sim.arm import ArmHandles
from dmg_envs.sim.contacts import ContactIndex
from dmg_envs.sim.objects import Extent, Fixture, SceneObject, extent_of
from dmg_envs.sim.scene_index import SceneIndex
from dmg_envs.sim.transforms import make_pose, mat_to_quat, yaw_of

_STATE = mujoco.mjtState.mjSTATE_INTEGRATION


class Footprint(NamedTuple):
    """Where a fixture or one of its parts stands now: its own-frame footprint rectangle
    (`low_xy`, `high_xy`) placed at `center` [m] turned by `yaw` [rad], between heights `z_low`, `z_high`."""

    name: str
    center: tuple[float, float]
    yaw: float
    low_xy: tuple[float, float]
    high_xy: tuple[float, float]
    z_low: float
    z_high: float


class TaskInterface:
    """Scene queries and edits by name. Subclasses (tasks) declare the scene as class attributes."""

    OBJECTS: tuple[SceneObject, ...] = ()
    FIXTURES: tuple[Fixture, ...] = ()
    NUM_ARMS = 1
    ARM_LAYOUT: str | None = None  # where the arms stand (`sim.scene.ARM_LAYOUTS`); None: the default for NUM_ARMS
    # Subtasks per arm, in order (`subtask_spec`).
    SUBTASKS: dict[str, tuple[Subtask, ...]] = {}
    # The table-top rectangle ((x_low, y_low), (x_high, y_high)) [m] that perturbations keep objects' centres
    # in; OBJECT_WORKSPACES overrides it per object (a tray wider than the table's margin).
    OBJECT_WORKSPACE_XY = ((-0.2, -0.25), (0.2, 0.25))
    OBJECT_WORKSPACES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
    # Per fixture, ((x_low, y_low, yaw_low), (x_high, y_high, yaw_high)) [m, rad] that perturbations keep it
    # in; a fixture not listed stays in OBJECT_WORKSPACE_XY at any yaw.
    FIXTURE_WORKSPACE: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {}
    # Frames and parts whose positions are observed (`<name>_pos`).
    OBSERVED_FRAMES: tuple[str, ...] = ()
    # (key, from, to): observation `key` = observation `to` - observation `from` (positions).
    RELATIVE_OBSERVATIONS: tuple[tuple[str, str, str], ...] = ()

    model: mujoco.MjModel
    data: mujoco.MjData

    def _build_interface(self) -> None:
        """Resolve names, contact groups and the observation layout for the compiled `self.model`."""
        model = self.model
        self._arms = tuple(ArmHandles.from_model(model, i) for i in range(self.NUM_ARMS))
        self._arm_index = {arm.name: i for i, arm in enumerate(self._arms)}
        self._index = index = SceneIndex(model, self.OBJECTS, self.FIXTURES)
        self._contacts = ContactIndex(model, self.data, index.contact_nodes(model, self._arms))
        self._hand_bodies = {arm.name: model.body(scene.arm_prefix(i) + scene.HAND_BODY).id
                             for i, arm in enumerate(self._arms)}
        self._object_position_index = np.array(  # (n, 3) qpos addresses of the objects' positions
            [[h.qpos + i for i in range(3)] for h in index.objects.values()], dtype=np.int64).reshape(-1, 3)
        # Contacts that make an object not free: with an arm, another object or a fixture (and its parts).
        blockers = (*self.arms, *index.fixtures, *index.objects)
        self._blocking_codes = {name: frozenset().union(*(
            self._contacts.codes(name, other) for other in blockers if other != name)) for name in index.objects}
        self._grasp_codes: dict[tuple[str, str], tuple[frozenset[int], frozenset[int]]] = {}
        bodies = {**{n: (h.body, h.spec.geoms) for n, h in index.fixtures.items()},
                  **{n: (h.body, h.spec.geoms) for n, h in index.parts.items()}}
        self._object_extents = {name: h.spec.extent for name, h in index.objects.items()}
        self._footprints = {name: (body, extent_of(geoms)) for name, (body, geoms) in bodies.items()}
        frames = []
        for name in self.OBSERVED_FRAMES:
            kind = index.kind(name)
            frames.append(ObservedFrame(name, "site_xpos", index.frames[name][0]) if kind == "frame"
                          else ObservedFrame(name, "xpos", index.parts[name].body))
        qpos_keys = [key for name, h in index.objects.items() for key in ((f"{name}_pos", h.qpos, 3),
                                                                         (f"{name}_quat", h.qpos + 3, 4))]
        qpos_keys += [(f"{name}_joint_pos", h.qpos, 1) for name, h in index.parts.items()]
        self._observation_layout = ObservationLayout(
            self._arms, qpos_keys, [(name, h.mocap) for name, h in index.fixtures.items()], frames,
            self.RELATIVE_OBSERVATIONS)

    def _check_subtasks(self) -> None:
        check_subtasks(self.SUBTASKS, self.arms, self._index.references, tuple(self.subtask_signals()))

    # ------------------------------------------------------------------ names
    @property
    def arms(self) -> tuple[str, ...]:
        """Names of the arms, in action order."""
        return tuple(arm.name for arm in self._arms)

    @property
    def movable_objects(self) -> tuple[str, ...]:
        """Names of the free objects."""
        return tuple(self._index.objects)

    @property
    def fixtures(self) -> tuple[str, ...]:
        """Names of the scene fixtures (drawer cabinets, target pads, ...) that wrappers may move."""
        return tuple(self._index.fixtures)

    @property
    def references(self) -> tuple[str, ...]:
        """Every name `reference_pose` takes: objects, fixtures, articulated parts, named frames."""
        return self._index.references

    @property
    def subtask_spec(self) -> dict[str, tuple[Subtask, ...]]:
        """Per arm: the ordered subtasks (reference, termination signal, kind, partner)."""
        return self.SUBTASKS

    def object_workspace(self, name: str) -> tuple[tuple[float, float], tuple[float, float]]:
        """The rectangle ((x_low, y_low), (x_high, y_high)) [m] that perturbations keep the object's centre in."""
        self._object(name)
        return self.OBJECT_WORKSPACES.get(name, self.OBJECT_WORKSPACE_XY)

    def object_extent(self, name: str) -> Extent:
        """Footprint and height of an object around its origin [m] (cached)."""
        self._object(name)
        return self._object_extents[name]

    def yaw_symmetry(self, name: str) -> int:
        """How many yaw turns map a reference onto itself (`sim.objects.CONTINUOUS`: any); 1 for fixtures,
        parts and frames."""
        self._index.kind(name)
        return self._index.objects[name].spec.yaw_symmetry if name in self._index.objects else 1

    # ------------------------------------------------------------------ poses
    def eef_pose(self, arm: str = "robot0") -> np.ndarray:
        """4x4 world pose of an arm's tool centre point."""
        site = self._arm(arm).tcp_site
        return make_pose(self.data.site_xpos[site], self.data.site_xmat[site])

    def reference_pose(self, name: str) -> np.ndarray:
        """4x4 world pose of an object, fixture, articulated part or named frame."""
        return self._index.reference_pose(self.data, name)

    def reference_owner(self, name: str) -> str:
        """The contact group that touching a reference means (a frame's carrier, else the reference)."""
        return self._index.owner(name)

    def object_poses(self) -> dict[str, np.ndarray]:
        """4x4 world pose of every movable object."""
        return {name: self._index.reference_pose(self.data, name) for name in self._index.objects}

    def object_position(self, name: str) -> np.ndarray:
        """World position (3,) [m] of an object's origin (cheaper than `object_poses`)."""
        adr = self._object(name).qpos
        return self.data.qpos[adr:adr + 3].copy()

    def object_positions(self) -> np.ndarray:
        """World positions (n, 3) [m] of the movable objects' origins, in `movable_objects` order."""
        return self.data.qpos[self._object_position_index]

    def set_object_pose(self, name: str, pose: npt.ArrayLike) -> None:
        """Teleport an object to a 4x4 world pose, zero its velocity and update kinematics."""
        handle = self._object(name)
        pose = np.asarray(pose, dtype=np.float64)
        self.data.qpos[handle.qpos:handle.qpos + 3] = pose[:3, 3]
        self.data.qpos[handle.qpos + 3:handle.qpos + 7] = mat_to_quat(pose[:3, :3])
        self.data.qvel[handle.dof:handle.dof + 6] = 0.0
        mujoco.mj_kinematics(self.model, self.data)
        self._contacts.invalidate(moved=True)

    def move_object(self, name: str, dx: float, dy: float, dyaw: float = 0.0) -> None:
        """Shift an object in the table plane by (dx, dy) [m] and turn it by dyaw [rad] about the world z
        axis, keeping its height and velocity. Kinematics refresh at the next physics step."""
        adr = self._object(name).qpos
        qpos = self.data.qpos
        qpos[adr] += dx  # scalar updates: cheaper than a slice on this per-step path
        qpos[adr + 1] += dy
        if dyaw:
            turned = np.empty(4)
            mujoco.mju_mulQuat(turned, np.array([np.cos(dyaw / 2), 0.0, 0.0, np.sin(dyaw / 2)]), qpos[adr + 3:adr + 7])
            qpos[adr + 3:adr + 7] = turned
        self._contacts.invalidate(moved=True)

    def fixture_pose(self, name: str) -> np.ndarray:
        """4x4 world pose of a fixture."""
        self._fixture(name)
        return self._index.reference_pose(self.data, name)

    def set_fixture_pose(self, name: str, pose: npt.ArrayLike) -> None:
        """Move a fixture (with its parts) to a 4x4 world pose; it pushes what it meets, as a kinematic body
        does."""
        mocap = self._fixture(name).mocap
        pose = np.asarray(pose, dtype=np.float64)
        self.data.mocap_pos[mocap] = pose[:3, 3]
        self.data.mocap_quat[mocap] = mat_to_quat(pose[:3, :3])
        mujoco.mj_kinematics(self.model, self.data)  # its parts' and frames' poses follow at once
        self._contacts.invalidate(moved=True)

    def footprints(self) -> list[Footprint]:
        """The current footprints of every fixture and articulated part (what objects must not enter). Their
        poses are current: physics steps, `set_state` and `set_fixture_pose` all update the kinematics."""
        found = []
        for name, (body, extent) in self._footprints.items():
            x, y, z = self.data.xpos[body].tolist()
            xmat = self.data.xmat[body]
            found.append(Footprint(name, (x, y), yaw_of(xmat.reshape(3, 3)), extent.low_xy, extent.high_xy,
                                   z - extent.bottom, z + extent.top))
        return found

    # ------------------------------------------------------------------ robot disturbances
    def apply_eef_wrench(self, arm: str, wrench: npt.ArrayLike) -> None:
        """Apply an external world-frame force [N] and torque [N m] (6,) to an arm's hand until changed."""
        self._arm(arm)
        self.data.xfrc_applied[self._hand_bodies[arm]] = wrench

    def offset_joints(self, arm: str, offset: npt.ArrayLike) -> None:
        """Displace an arm's 7 joints by `offset` [rad] (within their limits), as a sudden knock would."""
        handles = self._arm(arm)
        q = np.clip(self.data.qpos[handles.qpos_slice] + offset, handles.joint_range[:, 0], handles.joint_range[:, 1])
        self.data.qpos[handles.qpos_slice] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)
        self._contacts.invalidate(moved=True)

    # ------------------------------------------------------------------ state
    def get_state(self) -> np.ndarray:
        """Everything that determines the simulation's future (MuJoCo's mjSTATE_INTEGRATION: time, qpos,
        qvel, act, controls, applied forces, fixture (mocap) poses, ...) as a vector."""
        state = np.empty(mujoco.mj_stateSize(self.model, _STATE))
        mujoco.mj_getState(self.model, self.data, state, _STATE)
        return state

    def set_state(self, state: npt.ArrayLike) -> None:
        """Restore a state from `get_state` and recompute everything derived from it."""
        state = np.asarray(state, dtype=np.float64)
        expected = mujoco.mj_stateSize(self.model, _STATE)
        if state.shape != (expected,):
            raise InvalidConfigError(f"state has shape {state.shape}, expected ({expected},) for this scene")
        mujoco.mj_setState(self.model, self.data, state, _STATE)
        mujoco.mj_forward(self.model, self.data)
        self._contacts.invalidate(moved=False)

    # ------------------------------------------------------------------ contacts
    def in_contact(self, a: str, b: str) -> bool:
        """Whether any geom of `a` touches any geom of `b`, in the current state (also straight after a
        `set_*` call).

        Names: "table" (table and floor), an arm ("robot0", with its finger pads), a pad
        ("robot0_left_pad", "robot0_right_pad"), an object, a fixture (with its parts), a part (with the
        parts it carries), or a task's contact group ("drawer_bottom").
        """
        return self._contacts.touching(a, b)

    def grasped(self, obj: str, arm: str = "robot0") -> bool:
        """Whether both finger pads of `arm` touch `obj` (robosuite's grasp test)."""
        codes = self._grasp_codes.get((obj, arm))
        if codes is None:  # validated and resolved once per (object, arm): this runs every step
            self._object(obj)
            self._arm(arm)
            codes = (self._contacts.codes(obj, f"{arm}_left_pad"), self._contacts.codes(obj, f"{arm}_right_pad"))
            self._grasp_codes[(obj, arm)] = codes
        pairs = self._contacts.pairs()
        return not pairs.isdisjoint(codes[0]) and not pairs.isdisjoint(codes[1])

    def free_objects(self) -> tuple[str, ...]:
        """Movable objects touching no arm, no other movable object and no fixture (resting on the table
        only): the ones a perturbation may move without dragging the robot, a stack or a drawer along."""
        pairs = self._contacts.pairs()
        return tuple(name for name, codes in self._blocking_codes.items() if pairs.isdisjoint(codes))

    # ------------------------------------------------------------------ lookups
    def _arm(self, name: str) -> ArmHandles:
        if name not in self._arm_index:
            raise UnknownNameError("arm", name, self.arms)
        return self._arms[self._arm_index[name]]

    def _fixture(self, name: str):
        if name not in self._index.fixtures:
            raise UnknownNameError("fixture", name, self.fixtures)
        return self._index.fixtures[name]

    def _object(self, name: str):
        if name not in self._index.objects:
            raise UnknownNameError("object", name, self.movable_objects)
        return self._index.objects[name]
