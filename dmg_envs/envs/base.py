"""`ManipulationEnv`: the Gymnasium base of every dmg-envs task.

It owns the compiled scene, the arms' controllers, action checking, stepping, observations of the
robot, rendering, and the privileged task interface of DESIGN.md that wrappers and data generation
use instead of reaching into MuJoCo arrays.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any, NamedTuple

import gymnasium as gym
import mujoco
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from dmg_envs.errors import InvalidActionError, InvalidConfigError, UnknownNameError
from dmg_envs.sim import scene
from dmg_envs.sim.arm import ArmHandles
from dmg_envs.sim.controller import DiffIKController
from dmg_envs.sim.transforms import make_pose, mat_to_quat, pose_from_pos_quat, rotation_error, rotvec_to_mat

CONTROL_FREQ = 20  # [Hz]
MAX_DELTA_POS = 0.05  # [m] per control step at action 1
MAX_DELTA_ROT = 0.5  # [rad] per control step at action 1
GRIPPER_OPEN_WIDTH = 0.04  # [m] per finger
JOINT_INIT_NOISE = 0.02  # [rad], std of the Gaussian added to the home posture at reset

# Absolute-mode bounds of the TCP target position in the world frame [m].
WORKSPACE_LOW = np.array([-0.5, -0.5, scene.TABLE_TOP_Z - 0.05])
WORKSPACE_HIGH = np.array([0.5, 0.5, scene.TABLE_TOP_Z + 0.7])

OBS_MODES = ("dict", "flat")
CONTROL_MODES = ("delta", "absolute")
REWARD_TYPES = ("sparse", "dense")
RESET_DISTRIBUTIONS = ("D0", "D1")
RENDER_MODES = ("rgb_array", "human")

_BADQACC, _BADQVEL, _BADQPOS = (int(mujoco.mjtWarning.mjWARN_BADQACC), int(mujoco.mjtWarning.mjWARN_BADQVEL),
                                int(mujoco.mjtWarning.mjWARN_BADQPOS))
_STATE = mujoco.mjtState.mjSTATE_INTEGRATION
_DELTA_SCALE = np.array([MAX_DELTA_POS] * 3 + [MAX_DELTA_ROT] * 3)


class _ArmIO(NamedTuple):
    """What a step reads and writes for one arm, resolved once: views on the simulation state."""

    arm: ArmHandles
    action_offset: int  # of the arm's 7 values in the action
    controller: DiffIKController
    reference: np.ndarray  # activations: the joint position references
    joint_positions: np.ndarray  # qpos of the arm's 7 joints
    velocity_ctrl: np.ndarray  # controls of the reference actuators: joint velocity [rad/s]
    damping_ctrl: np.ndarray  # controls of the damping actuators: the same velocity, fed forward
    gripper_actuator: int


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidConfigError(f"{name}={value!r} is not valid; choose one of {', '.join(map(repr, choices))}")


class ManipulationEnv(gym.Env[Any, np.ndarray], ABC):
    """Table-top manipulation with one or more Panda arms.

    Subclasses declare `OBJECTS`, `NUM_ARMS` and `RELATIVE_OBSERVATIONS`, and implement `_place_objects`,
    `subtask_signals`, `is_success` and `_dense_reward`; observations of the arms and of every object
    (position, quaternion) come for free.

    Args:
        obs_mode: "dict" (robosuite-like keys) or "flat" (one float64 vector in the dict's key order).
        control_mode: "delta" (7-D per arm in [-1, 1]) or "absolute" (target pose per arm).
        reward_type: "sparse" (1 on success) or "dense" (staged, in [0, 1]).
        reset_distribution: "D0" (standard) or "D1" (broader object placement).
        render_mode: None, "rgb_array" or "human".
        render_camera: camera used by `render()`; see `camera_names`.
        width, height: size of rendered frames [px].
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": CONTROL_FREQ}

    OBJECTS: tuple[scene.BoxObject, ...] = ()
    FIXTURES: tuple[scene.BoxObject, ...] = ()  # scene geometry that wrappers may move (mocap bodies)
    NUM_ARMS = 1
    # The table-top rectangle ((x_low, y_low), (x_high, y_high)) [m] that perturbations keep objects in.
    OBJECT_WORKSPACE_XY = ((-0.2, -0.25), (0.2, 0.25))
    # (key, from, to): observation `key` = observation `to` - observation `from` (positions).
    RELATIVE_OBSERVATIONS: tuple[tuple[str, str, str], ...] = ()

    def __init__(
        self,
        obs_mode: str = "dict",
        control_mode: str = "delta",
        reward_type: str = "sparse",
        reset_distribution: str = "D0",
        render_mode: str | None = None,
        render_camera: str = "agentview",
        width: int = 320,
        height: int = 240,
    ):
        _check_choice("obs_mode", obs_mode, OBS_MODES)
        _check_choice("control_mode", control_mode, CONTROL_MODES)
        _check_choice("reward_type", reward_type, REWARD_TYPES)
        _check_choice("reset_distribution", reset_distribution, RESET_DISTRIBUTIONS)
        if render_mode is not None:
            _check_choice("render_mode", render_mode, RENDER_MODES)
        self.obs_mode, self.control_mode = obs_mode, control_mode
        self.reward_type, self.reset_distribution = reward_type, reset_distribution
        self.render_mode, self.width, self.height = render_mode, int(width), int(height)

        self.model = scene.build_table_scene(self.OBJECTS, num_arms=self.NUM_ARMS, fixtures=self.FIXTURES).compile()
        self.data = mujoco.MjData(self.model)
        self.substeps = round(1.0 / (CONTROL_FREQ * self.model.opt.timestep))
        self.control_dt = self.substeps * self.model.opt.timestep

        self._arms = tuple(ArmHandles.from_model(self.model, i) for i in range(self.NUM_ARMS))
        self._arm_index = {arm.name: i for i, arm in enumerate(self._arms)}
        self._object_qpos_adr = {
            obj.name: self.model.joint(f"{obj.name}_joint").qposadr[0] for obj in self.OBJECTS}
        self._object_dof_adr = {
            obj.name: self.model.joint(f"{obj.name}_joint").dofadr[0] for obj in self.OBJECTS}
        self._object_half_size = {obj.name: tuple(map(float, obj.half_size)) for obj in self.OBJECTS}
        self._fixture_mocap = {
            fixture.name: int(self.model.body(fixture.name).mocapid[0]) for fixture in self.FIXTURES}
        self._hand_bodies = {
            arm.name: self.model.body(scene.arm_prefix(i) + scene.HAND_BODY).id for i, arm in enumerate(self._arms)}
        self._build_contact_tables()
        self._object_position_index = np.array(  # (n, 3) qpos addresses of the objects' positions
            [[adr + i for i in range(3)] for adr in self._object_qpos_adr.values()], dtype=np.int64).reshape(-1, 3)
        self._blocking_codes = {  # contacts that make an object not free: with an arm or another object
            name: frozenset().union(*(self._pair_codes_of(name, other) for other in
                                      (*self.arms, *(o for o in self._object_qpos_adr if o != name))))
            for name in self._object_qpos_adr}
        self._build_observation_layout()

        self.camera_names = tuple(self.model.camera(i).name for i in range(self.model.ncam))
        if render_camera not in self.camera_names:
            raise UnknownNameError("camera", render_camera, self.camera_names)
        self.render_camera = render_camera
        self._renderer: mujoco.Renderer | None = None
        self._viewer = None

        self.action_space = self._make_action_space()
        self._action_shape = self.action_space.shape
        self._action_low = self.action_space.low.astype(np.float64)
        self._action_high = self.action_space.high.astype(np.float64)
        self._action_bounds = (self._action_low.tolist(), self._action_high.tolist())
        self._action_uniform_bounds = (  # one (low, high) pair for every value: the common, cheaper check
            (float(self._action_low.min()), float(self._action_high.max()))
            if np.ptp(self._action_low) == 0 and np.ptp(self._action_high) == 0 else None)
        self._pairs: set[int] | None = None
        self._unstable_count = 0
        self._bind_state()
        self._reset_sim(np.random.default_rng(0))
        if obs_mode == "flat":
            self.observation_space = spaces.Box(-np.inf, np.inf, shape=(self._obs_size,), dtype=np.float64)
        else:
            # An OrderedDict keeps the observation's key order (a plain dict would be sorted), so that
            # gymnasium.spaces.flatten gives the flat observation.
            self.observation_space = spaces.Dict(OrderedDict(
                (key, spaces.Box(-np.inf, np.inf, shape=(part.stop - part.start,), dtype=np.float64))
                for key, part in self._obs_slices))

    # ------------------------------------------------------------------ task hooks
    @abstractmethod
    def _place_objects(self, rng: np.random.Generator) -> None:
        """Write the objects' initial poses for `self.reset_distribution` (use `set_object_pose`)."""

    @abstractmethod
    def subtask_signals(self) -> dict[str, bool]:
        """The task's subtask termination signals, by name."""

    @abstractmethod
    def is_success(self) -> bool:
        """Whether the task is solved in the current state."""

    @abstractmethod
    def _dense_reward(self, info: dict[str, Any]) -> float:
        """Staged reward in [0, 1], given this step's `info` (signals and `is_success`, already computed)."""

    # ------------------------------------------------------------------ spaces
    def _make_action_space(self) -> spaces.Box:
        if self.control_mode == "delta":
            low, high = -np.ones(7), np.ones(7)
        else:
            low = np.concatenate([WORKSPACE_LOW, -np.pi * np.ones(3), [-1.0]])
            high = np.concatenate([WORKSPACE_HIGH, np.pi * np.ones(3), [1.0]])
        # float32 as Gymnasium's MuJoCo envs and SB3 expect; the env computes in float64.
        low, high = np.tile(low, self.NUM_ARMS), np.tile(high, self.NUM_ARMS)
        return spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._reset_sim(self.np_random)
        return self._observation(), self._info(sim_unstable=False)

    def step(self, action: npt.ArrayLike):
        action = self._check_action(action)
        model, data = self.model, self.data
        # This path runs between two 25-substep physics calls that evict Python's working set from the
        # caches, so every call costs several times its warm price: views and index tables are bound
        # once (see _bind_state) and the work is arranged into few NumPy and MuJoCo calls.
        ctrl = self._ctrl
        for arm, offset, controller, reference, joint_positions, velocity_ctrl, damping_ctrl, gripper in self._arm_io:
            if self.control_mode == "delta":
                # robosuite OSC_POSE semantics: the target is the current pose moved by the scaled action
                # (rotation about world axes), so the pose error is the scaled action itself.
                controller.compute(action[offset:offset + 6], _DELTA_SCALE, velocity_ctrl)
            else:
                controller.compute(self._absolute_pose_error(arm, action[offset:offset + 7]), 1.0, velocity_ctrl)
            damping_ctrl[...] = velocity_ctrl
            reference[...] = joint_positions  # the position reference ramps from where the joints are
            ctrl[gripper] = GRIPPER_OPEN_WIDTH * 0.5 * (1.0 - float(action[offset + 6]))
        start_time = data.time
        mujoco.mj_step(model, data, self.substeps)
        # MuJoCo resets the state (time included) on a bad value: a clock that ran on rules that out cheaply.
        unstable = not (0.0 < start_time < data.time) and self._sim_diverged()
        if unstable:
            # MuJoCo already reset the state to keep it finite; settle it so observations stay valid.
            self._reset_sim(self.np_random)
        else:
            # mj_step leaves kinematics one substep behind qpos; refresh them for observations and IK.
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            self._pairs = None
        info = self._info(sim_unstable=unstable)
        reward = self._dense_reward(info) if self.reward_type == "dense" else float(info["is_success"])
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, False, unstable, info

    def render(self):
        if self.render_mode == "human":
            return self._render_human()
        if self.render_mode == "rgb_array":
            return self.render_frame(self.render_camera)
        return None

    def close(self):
        if self._renderer is not None:
            self._renderer.close()  # the OSMesa binding errors if this is left to interpreter exit
            self._renderer = None
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None

    # ------------------------------------------------------------------ rendering
    def render_frame(self, camera: str) -> np.ndarray:
        """An RGB frame (height, width, 3) uint8 of the current state from a named camera."""
        if camera not in self.camera_names:
            raise UnknownNameError("camera", camera, self.camera_names)
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, height=self.height, width=self.width)
        self._renderer.update_scene(self.data, camera=camera)
        return self._renderer.render()

    def _render_human(self) -> None:
        if self._viewer is None:
            import mujoco.viewer  # needs a display; imported only when asked for

            self._viewer = mujoco.viewer.launch_passive(self.model, self.data)
        self._viewer.sync()

    # ------------------------------------------------------------------ task interface
    @property
    def arms(self) -> tuple[str, ...]:
        """Names of the arms, in action order."""
        return tuple(arm.name for arm in self._arms)

    @property
    def movable_objects(self) -> tuple[str, ...]:
        """Names of the free objects."""
        return tuple(self._object_qpos_adr)

    def eef_pose(self, arm: str = "robot0") -> np.ndarray:
        """4x4 world pose of an arm's tool centre point."""
        site = self._arm(arm).tcp_site
        return make_pose(self.data.site_xpos[site], self.data.site_xmat[site])

    def object_poses(self) -> dict[str, np.ndarray]:
        """4x4 world pose of every movable object."""
        qpos = self.data.qpos
        return {name: pose_from_pos_quat(qpos[a:a + 3], qpos[a + 3:a + 7]) for name, a in self._object_qpos_adr.items()}

    def set_object_pose(self, name: str, pose: npt.ArrayLike) -> None:
        """Teleport an object to a 4x4 world pose, zero its velocity and update kinematics."""
        adr = self._object_adr(name)
        pose = np.asarray(pose, dtype=np.float64)
        self.data.qpos[adr:adr + 3] = pose[:3, 3]
        self.data.qpos[adr + 3:adr + 7] = mat_to_quat(pose[:3, :3])
        dof = self._object_dof_adr[name]
        self.data.qvel[dof:dof + 6] = 0.0
        mujoco.mj_kinematics(self.model, self.data)
        self._pairs = None

    def move_object(self, name: str, dx: float, dy: float, dyaw: float = 0.0) -> None:
        """Shift an object in the table plane by (dx, dy) [m] and turn it by dyaw [rad] about the world z
        axis, keeping its height and velocity. Kinematics refresh at the next physics step."""
        adr = self._object_adr(name)
        qpos = self.data.qpos
        qpos[adr] += dx  # scalar updates: cheaper than a slice on this per-step path
        qpos[adr + 1] += dy
        if dyaw:
            turned = np.empty(4)
            mujoco.mju_mulQuat(turned, np.array([np.cos(dyaw / 2), 0.0, 0.0, np.sin(dyaw / 2)]), qpos[adr + 3:adr + 7])
            qpos[adr + 3:adr + 7] = turned
        self._pairs = None

    def object_positions(self) -> np.ndarray:
        """World positions (n, 3) [m] of the movable objects' centres, in `movable_objects` order."""
        return self.data.qpos[self._object_position_index]

    def free_objects(self) -> tuple[str, ...]:
        """Movable objects touching neither an arm nor another movable object (resting on the table or a
        fixture only): the ones a perturbation may move without dragging the robot or a stack along."""
        pairs = self._contact_pairs()
        return tuple(name for name, codes in self._blocking_codes.items() if pairs.isdisjoint(codes))

    def object_position(self, name: str) -> np.ndarray:
        """World position (3,) [m] of an object's centre (cheaper than `object_poses`)."""
        adr = self._object_adr(name)
        return self.data.qpos[adr:adr + 3].copy()

    def object_yaw_symmetry(self, name: str) -> int:
        """How many yaw turns (about the object's z axis) map the object onto itself: 4 for a square box."""
        half_x, half_y, _ = self.object_half_size(name)
        return 4 if abs(half_x - half_y) < 1e-9 else 2

    def object_half_size(self, name: str) -> tuple[float, float, float]:
        """Half extents [m] of an object's box."""
        self._object_adr(name)
        return self._object_half_size[name]

    @property
    def fixtures(self) -> tuple[str, ...]:
        """Names of the scene fixtures (drawer cabinets, target pads, ...) that wrappers may move."""
        return tuple(self._fixture_mocap)

    def fixture_pose(self, name: str) -> np.ndarray:
        """4x4 world pose of a fixture."""
        mocap = self._fixture(name)
        return pose_from_pos_quat(self.data.mocap_pos[mocap], self.data.mocap_quat[mocap])

    def set_fixture_pose(self, name: str, pose: npt.ArrayLike) -> None:
        """Move a fixture to a 4x4 world pose; it pushes what it meets, as a kinematic body does."""
        mocap = self._fixture(name)
        pose = np.asarray(pose, dtype=np.float64)
        self.data.mocap_pos[mocap] = pose[:3, 3]
        self.data.mocap_quat[mocap] = mat_to_quat(pose[:3, :3])
        self._pairs = None

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
        self._pairs = None

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
        self._pairs = None

    def in_contact(self, a: str, b: str) -> bool:
        """Whether any geom of `a` touches any geom of `b`.

        Names: an object, "table" (table and floor), an arm ("robot0") or a finger pad
        ("robot0_left_pad", "robot0_right_pad"); an arm includes its pads.
        """
        return not self._contact_pairs().isdisjoint(self._pair_codes_of(a, b))

    def grasped(self, obj: str, arm: str = "robot0") -> bool:
        """Whether both finger pads of `arm` touch `obj` (robosuite's grasp test)."""
        codes = self._grasp_codes.get((obj, arm))
        if codes is None:  # validated and resolved once per (object, arm): this runs every step
            self._object_adr(obj)
            self._arm(arm)
            codes = (self._pair_codes_of(obj, f"{arm}_left_pad"), self._pair_codes_of(obj, f"{arm}_right_pad"))
            self._grasp_codes[(obj, arm)] = codes
        pairs = self._contact_pairs()
        return not pairs.isdisjoint(codes[0]) and not pairs.isdisjoint(codes[1])

    @property
    def subtask_spec(self) -> dict[str, list[dict[str, str]]]:
        """Per arm: ordered subtasks with reference object, termination signal and kind."""
        return {}

    # ------------------------------------------------------------------ internals
    def _bind_state(self) -> None:
        """Resolve, once, the views on `self.data` and the controllers that every step uses."""
        data = self.data
        self._ctrl = data.ctrl
        self._qpos = data.qpos
        self._arm_io = tuple(
            _ArmIO(arm, 7 * index, DiffIKController(self.model, data, arm, self.control_dt),
                   data.act[arm.reference_slice], data.qpos[arm.qpos_slice], data.ctrl[arm.actuator_slice],
                   data.ctrl[arm.damping_slice], arm.gripper_actuator)
            for index, arm in enumerate(self._arms))
        qpos_source, qpos_target = self._qpos_obs
        contiguous = isinstance(qpos_source, slice)
        self._qpos_gather = None if contiguous else (qpos_source, qpos_target)
        self._obs_copies = ((qpos_target, data.qpos[qpos_source]),) if contiguous else ()
        for site, dofs, joint_vel, pos, _ in self._arm_obs:
            self._obs_copies += ((joint_vel, data.qvel[dofs]), (pos, data.site_xpos[site]))
        self._obs_quats = tuple((quat, data.site_xmat[site]) for site, _, _, _, quat in self._arm_obs)

    _BOUND = ("_ctrl", "_qpos", "_arm_io", "_qpos_gather", "_obs_copies", "_obs_quats")

    def __getstate__(self) -> dict[str, Any]:
        # Views on `data` would unpickle as copies that no longer follow the simulation: rebind instead.
        state = self.__dict__.copy()
        for name in self._BOUND:
            del state[name]
        state["_renderer"] = state["_viewer"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_state()

    def _arm(self, name: str) -> ArmHandles:
        if name not in self._arm_index:
            raise UnknownNameError("arm", name, self.arms)
        return self._arms[self._arm_index[name]]

    def _fixture(self, name: str) -> int:
        if name not in self._fixture_mocap:
            raise UnknownNameError("fixture", name, self.fixtures)
        return self._fixture_mocap[name]

    def _object_adr(self, name: str) -> int:
        if name not in self._object_qpos_adr:
            raise UnknownNameError("object", name, self.movable_objects)
        return self._object_qpos_adr[name]

    def _check_action(self, action: npt.ArrayLike) -> np.ndarray:
        """Validated `action` as a float array; values outside the action space are clipped (into a copy),
        not rejected. A float array within bounds is used as it is: the env never writes into it."""
        if type(action) is not np.ndarray or action.dtype.kind != "f":
            action = np.array(action, dtype=np.float64)
        if action.shape != self._action_shape:
            raise InvalidActionError(
                f"action has shape {action.shape}, expected {self._action_shape} "
                f"(7 values per arm: dx dy dz, axis-angle, gripper)")
        # Plain Python on 7 floats: each NumPy call costs microseconds on this hot path.
        values = action.tolist()
        if not all(map(math.isfinite, values)):
            bad = [i for i, value in enumerate(values) if not math.isfinite(value)]
            raise InvalidActionError(f"action contains NaN or inf at indices {bad}: {values}")
        if self._action_uniform_bounds is not None:
            low, high = self._action_uniform_bounds
            out_of_range = min(values) < low or max(values) > high
        else:
            out_of_range = any(v < low or v > high for v, low, high in zip(values, *self._action_bounds))
        if out_of_range:
            action = np.clip(action, self._action_low, self._action_high)
        return action

    def _absolute_pose_error(self, arm: ArmHandles, arm_action: np.ndarray) -> np.ndarray:
        """World-frame error (6,) from the current TCP pose to the absolute target pose of the action."""
        site = arm.tcp_site
        error = np.empty(6)
        error[:3] = arm_action[:3] - self.data.site_xpos[site]
        error[3:] = rotation_error(rotvec_to_mat(arm_action[3:6]), self.data.site_xmat[site])
        return error

    def _reset_sim(self, rng: np.random.Generator) -> None:
        model, data = self.model, self.data
        mujoco.mj_resetData(model, data)
        for arm in self._arms:
            q = arm.home_qpos[:7] + rng.normal(0.0, JOINT_INIT_NOISE, size=7)
            q = np.clip(q, arm.joint_range[:, 0], arm.joint_range[:, 1])
            data.qpos[arm.qpos_slice] = q
            data.qpos[arm.finger_qpos_slice] = GRIPPER_OPEN_WIDTH
            data.act[arm.reference_slice] = q
            data.ctrl[arm.gripper_actuator] = GRIPPER_OPEN_WIDTH
        for fixture, mocap in self._fixture_mocap.items():  # fixtures return to where the scene put them
            body = model.body(fixture)
            data.mocap_pos[mocap], data.mocap_quat[mocap] = body.pos, body.quat
        self._place_objects(rng)
        mujoco.mj_forward(model, data)
        self._pairs = None
        self._unstable_count = self._count_unstable_warnings()

    def _count_unstable_warnings(self) -> int:
        number = self.data.warning.number
        return int(number[_BADQACC]) + int(number[_BADQVEL]) + int(number[_BADQPOS])

    def _sim_diverged(self) -> bool:
        # MuJoCo checks qpos, qvel and qacc at every substep; on a bad value it warns and resets the state
        # itself, so the state is finite either way: a new warning is the sign.
        count = self._count_unstable_warnings()
        if count == self._unstable_count:
            return False
        self._unstable_count = count
        return True

    # observations -------------------------------------------------------
    def _build_observation_layout(self) -> None:
        """Place every observation key in one float64 vector, so a step fills it with a few slice copies.

        Keys come in qpos order (each arm's joint_pos and gripper_qpos, then each object's pos and quat),
        then each arm's joint_vel, eef_pos and eef_quat, then the task's relative vectors: the qpos part
        is then one contiguous copy.
        """
        qpos_parts: list[tuple[int, str, int]] = []  # (qpos address, key, size)
        for arm in self._arms:
            qpos_parts += [(arm.qpos_slice.start, f"{arm.name}_joint_pos", 7),
                           (arm.finger_qpos_slice.start, f"{arm.name}_gripper_qpos", 2)]
        for name, adr in self._object_qpos_adr.items():
            qpos_parts += [(adr, f"{name}_pos", 3), (adr + 3, f"{name}_quat", 4)]
        qpos_parts.sort()
        parts = [(key, size) for _, key, size in qpos_parts]
        for arm in self._arms:
            parts += [(f"{arm.name}_joint_vel", 7), (f"{arm.name}_eef_pos", 3), (f"{arm.name}_eef_quat", 4)]
        parts += [(key, 3) for key, _, _ in self.RELATIVE_OBSERVATIONS]
        offsets = np.cumsum([0] + [size for _, size in parts])
        slices = {key: slice(int(start), int(start) + size) for (key, size), start in zip(parts, offsets)}
        self._obs_slices = tuple(slices.items())
        self._obs_size = int(offsets[-1])

        qpos_source = np.concatenate([np.arange(adr, adr + size) for adr, _, size in qpos_parts])
        qpos_count = len(qpos_source)
        # A slice (a view: one copy per step) when the source addresses are contiguous, as they are when
        # every joint belongs to an arm or an object.
        contiguous = np.array_equal(qpos_source, np.arange(qpos_source[0], qpos_source[0] + qpos_count))
        self._qpos_obs = (slice(int(qpos_source[0]), int(qpos_source[0]) + qpos_count) if contiguous else qpos_source,
                          slice(0, qpos_count))
        self._arm_obs = tuple((arm.tcp_site, arm.dof_slice, slices[f"{arm.name}_joint_vel"],
                               slices[f"{arm.name}_eef_pos"], slices[f"{arm.name}_eef_quat"]) for arm in self._arms)
        # The relative vectors are the last keys: one subtraction of two gathers fills them all.
        self._relative_obs = None
        if self.RELATIVE_OBSERVATIONS:
            first, last = slices[self.RELATIVE_OBSERVATIONS[0][0]], slices[self.RELATIVE_OBSERVATIONS[-1][0]]
            origins = np.concatenate([np.arange(slices[origin].start, slices[origin].stop)
                                      for _, origin, _ in self.RELATIVE_OBSERVATIONS])
            targets = np.concatenate([np.arange(slices[target].start, slices[target].stop)
                                      for _, _, target in self.RELATIVE_OBSERVATIONS])
            self._relative_obs = (slice(first.start, last.stop), targets, origins)

    def _observation(self):
        flat = np.empty(self._obs_size)
        for target, source in self._obs_copies:
            flat[target] = source
        if self._qpos_gather is not None:
            index, target = self._qpos_gather
            np.take(self._qpos, index, out=flat[target])
        for target, xmat in self._obs_quats:
            mujoco.mju_mat2Quat(flat[target], xmat)
        if self._relative_obs is not None:
            block, targets, origins = self._relative_obs
            np.subtract(flat.take(targets), flat.take(origins), out=flat[block])
        if self.obs_mode == "flat":
            return flat
        # Views into this step's fresh vector: no key shares memory with another or with a later step.
        return {key: flat[part] for key, part in self._obs_slices}

    def _task_info(self) -> dict[str, Any]:
        """Subtask signals and `is_success`; tasks may override to share work between them."""
        info: dict[str, Any] = self.subtask_signals()
        info["is_success"] = self.is_success()
        return info

    def _info(self, sim_unstable: bool) -> dict[str, Any]:
        info = self._task_info()
        info["sim_unstable"] = sim_unstable
        return info

    # contacts -----------------------------------------------------------
    def _build_contact_tables(self) -> None:
        """Give every geom an entity id so that contact queries are set look-ups."""
        model = self.model
        names = ["<other>", "table"] + list(self._object_qpos_adr) + [fixture.name for fixture in self.FIXTURES]
        for arm in self._arms:
            names += [arm.name, f"{arm.name}_left_pad", f"{arm.name}_right_pad"]
        entity = {name: i for i, name in enumerate(names)}
        geom_entity = np.zeros(model.ngeom, dtype=np.int64)
        geom_entity[[model.geom("table_top").id, model.geom("floor").id]] = entity["table"]
        for obj in (*self.OBJECTS, *self.FIXTURES):
            geom_entity[model.geom_bodyid == model.body(obj.name).id] = entity[obj.name]
        groups: dict[str, tuple[int, ...]] = {name: (i,) for name, i in entity.items() if name != "<other>"}
        for arm in self._arms:
            geom_entity[arm.geom_ids] = entity[arm.name]
            geom_entity[arm.pad_geoms[0]] = entity[f"{arm.name}_left_pad"]
            geom_entity[arm.pad_geoms[1]] = entity[f"{arm.name}_right_pad"]
            groups[arm.name] = tuple(entity[n] for n in (arm.name, f"{arm.name}_left_pad", f"{arm.name}_right_pad"))
        self._geom_entity = geom_entity
        self._pair_codes: dict[tuple[str, str], frozenset[int]] = {}
        self._grasp_codes: dict[tuple[str, str], tuple[frozenset[int], frozenset[int]]] = {}
        self._num_entities = n = len(names)
        # _pair_code[a][b]: the code of geoms a and b touching, looked up per contact in plain Python (few
        # contacts per step: cheaper than NumPy calls).
        self._pair_code = [[ea * n + eb for eb in geom_entity.tolist()] for ea in geom_entity.tolist()]
        self._groups = groups

    def _pair_codes_of(self, a: str, b: str) -> frozenset[int]:
        """Contact codes meaning "a touches b", in both orders (a contact may list either entity first)."""
        codes = self._pair_codes.get((a, b))
        if codes is None:
            n = self._num_entities
            codes = frozenset(code for ea in self._contact_group(a) for eb in self._contact_group(b)
                              for code in (ea * n + eb, eb * n + ea))
            self._pair_codes[(a, b)] = codes
        return codes

    def _contact_group(self, name: str) -> tuple[int, ...]:
        if name not in self._groups:
            raise UnknownNameError("contact entity", name, tuple(self._groups))
        return self._groups[name]

    def _contact_pairs(self) -> set[int]:
        """Codes `a * n + b` of entity pairs in contact (a, b as MuJoCo lists them); cached per state."""
        if self._pairs is None:
            pair_code = self._pair_code
            self._pairs = {pair_code[a][b] for a, b in self.data.contact.geom.tolist()}
        return self._pairs
