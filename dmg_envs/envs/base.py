"""`ManipulationEnv`: the Gymnasium base of every dmg-envs task.

It owns the compiled scene, the arms' controllers, action checking, stepping, observations and rendering;
the task interface that wrappers and data generation use instead of MuJoCo arrays is `envs.interface`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, NamedTuple

import gymnasium as gym
import mujoco
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from dmg_envs.envs.interface import TaskInterface
from dmg_envs.errors import InvalidActionError, InvalidConfigError, UnknownNameError
from dmg_envs.headless import new_renderer
from dmg_envs.sim import scene
from dmg_envs.sim.controller import DiffIKController
from dmg_envs.sim.transforms import rotation_error, rotvec_to_mat

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
IMAGE_SIZE = 84  # [px] robomimic's default for image observations

_BADQACC, _BADQVEL, _BADQPOS = (int(mujoco.mjtWarning.mjWARN_BADQACC), int(mujoco.mjtWarning.mjWARN_BADQVEL),
                                int(mujoco.mjtWarning.mjWARN_BADQPOS))
_DELTA_SCALE = np.array([MAX_DELTA_POS] * 3 + [MAX_DELTA_ROT] * 3)


class _ArmIO(NamedTuple):
    """What a step reads and writes for one arm, resolved once: views on the simulation state."""

    action_offset: int  # of the arm's 7 values in the action
    tcp_site: int
    controller: DiffIKController
    reference: np.ndarray  # activations: the joint position references
    joint_positions: np.ndarray  # qpos of the arm's 7 joints
    velocity_ctrl: np.ndarray  # controls of the reference actuators: joint velocity [rad/s]
    damping_ctrl: np.ndarray  # controls of the damping actuators: the same velocity, fed forward
    gripper_actuator: int


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidConfigError(f"{name}={value!r} is not valid; choose one of {', '.join(map(repr, choices))}")


class ManipulationEnv(TaskInterface, gym.Env[Any, np.ndarray], ABC):
    """Table-top manipulation with one or more Panda arms.

    Subclasses declare the scene (`OBJECTS`, `FIXTURES`, `NUM_ARMS`, `ARM_LAYOUT`), `SUBTASKS` and the extra
    observations (`OBSERVED_FRAMES`, `RELATIVE_OBSERVATIONS`), and implement `_place_objects`,
    `_task_info` (the subtask signals and success) and `_dense_reward`; observations of the arms, objects,
    articulated parts and fixtures come for free.

    Args:
        obs_mode: "dict" (robosuite-like keys) or "flat" (one float64 vector in the dict's key order).
        control_mode: "delta" (7-D per arm in [-1, 1]) or "absolute" (target pose per arm).
        reward_type: "sparse" (1 on success) or "dense" (staged, in [0, 1]).
        reset_distribution: "D0" (standard) or "D1" (broader placement).
        render_mode: None, "rgb_array" or "human".
        render_camera: camera used by `render()`; see `camera_names`.
        width, height: size of rendered frames [px].
        render_observations: cameras whose frames join the dict observation as `<camera>_image`, uint8
            (H, W, 3), e.g. ("agentview", "robot0_eye_in_hand"); rendered by one renderer of their own,
            reused every step and closed with the env (OSMesa on CPU, EGL on a GPU: `MUJOCO_GL`).
        image_size: their size [px], one number for square frames or (height, width).
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": CONTROL_FREQ}

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
        render_observations: Sequence[str] = (),
        image_size: int | Sequence[int] = IMAGE_SIZE,
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

        self.model = self.scene_spec().compile()
        self.data = mujoco.MjData(self.model)
        self.substeps = round(1.0 / (CONTROL_FREQ * self.model.opt.timestep))
        self.control_dt = self.substeps * self.model.opt.timestep
        self._build_interface()

        self.camera_names = tuple(self.model.camera(i).name for i in range(self.model.ncam))
        if render_camera not in self.camera_names:
            raise UnknownNameError("camera", render_camera, self.camera_names)
        self.render_camera = render_camera
        self._renderer: mujoco.Renderer | None = None
        self._viewer = None
        self._set_image_observations(render_observations, image_size)

        self.action_space = self._make_action_space()
        self._action_shape = self.action_space.shape
        self._action_low = self.action_space.low.astype(np.float64)
        self._action_high = self.action_space.high.astype(np.float64)
        self._action_bounds = (self._action_low.tolist(), self._action_high.tolist())
        self._action_uniform_bounds = (  # one (low, high) pair for every value: the common, cheaper check
            (float(self._action_low.min()), float(self._action_high.max()))
            if np.ptp(self._action_low) == 0 and np.ptp(self._action_high) == 0 else None)
        self._unstable_count = 0
        self._bind_state()
        self._reset_sim(np.random.default_rng(0))
        self.observation_space = self._observation_layout.space(flat=obs_mode == "flat")
        if self.image_cameras:
            image_shape = (*self.image_size, 3)
            self.observation_space = spaces.Dict(
                [*self.observation_space.spaces.items()]
                + [(f"{camera}_image", spaces.Box(0, 255, shape=image_shape, dtype=np.uint8))
                   for camera in self.image_cameras])
        self._check_subtasks()

    def _set_image_observations(self, cameras: Sequence[str], size: int | Sequence[int]) -> None:
        if isinstance(cameras, str):
            cameras = (cameras,)
        self.image_cameras = tuple(cameras)
        for camera in self.image_cameras:
            if camera not in self.camera_names:
                raise UnknownNameError("camera", camera, self.camera_names)
        if len(set(self.image_cameras)) != len(self.image_cameras):
            raise InvalidConfigError(f"render_observations names a camera twice: {self.image_cameras}")
        if self.image_cameras and self.obs_mode == "flat":
            raise InvalidConfigError("render_observations needs obs_mode='dict': a flat float vector cannot "
                                     "hold images")
        pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and 16 <= v <= 2048 for v in pair):
            raise InvalidConfigError(f"image_size must be a size in [16, 2048] px or a (height, width) pair of "
                                     f"them, got {size!r}")
        self.image_size = (int(pair[0]), int(pair[1]))
        self._image_renderer: mujoco.Renderer | None = None

    # ------------------------------------------------------------------ task hooks
    @abstractmethod
    def _place_objects(self, rng: np.random.Generator) -> None:
        """Write the initial poses of the objects (and fixtures, where the task varies them) for
        `self.reset_distribution`, with `set_object_pose` and `set_fixture_pose`."""

    @abstractmethod
    def _task_info(self) -> dict[str, bool]:
        """The task's subtask termination signals by name, and `is_success`, computed together (they share
        the contact look-ups; this runs every step)."""

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
        for offset, tcp, controller, reference, joint_positions, velocity_ctrl, damping_ctrl, gripper in self._arm_io:
            if self.control_mode == "delta":
                # robosuite OSC_POSE semantics: the target is the current pose moved by the scaled action
                # (rotation about world axes), so the pose error is the scaled action itself.
                controller.compute(action[offset:offset + 6], _DELTA_SCALE, velocity_ctrl)
            else:
                controller.compute(self._absolute_pose_error(tcp, action[offset:offset + 7]), 1.0, velocity_ctrl)
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
            self._contacts.invalidate(moved=False)
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
        for name in ("_renderer", "_image_renderer"):
            renderer = getattr(self, name)
            if renderer is not None:
                renderer.close()  # the OSMesa binding errors if this is left to interpreter exit
                setattr(self, name, None)
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None

    @classmethod
    def scene_spec(cls) -> mujoco.MjSpec:
        """A fresh spec of the env's scene; `scene_spec().to_xml()` is its MJCF (robomimic's `model_file`)."""
        return scene.build_table_scene(cls.OBJECTS, num_arms=cls.NUM_ARMS, fixtures=cls.FIXTURES, layout=cls.ARM_LAYOUT)

    # ------------------------------------------------------------------ rendering
    def render_frame(self, camera: str) -> np.ndarray:
        """An RGB frame (height, width, 3) uint8 of the current state from a named camera."""
        if camera not in self.camera_names:
            raise UnknownNameError("camera", camera, self.camera_names)
        if self._renderer is None:
            self._renderer = new_renderer(self.model, self.height, self.width)
        self._renderer.update_scene(self.data, camera=camera)
        return self._renderer.render()

    def _render_human(self) -> None:
        if self._viewer is None:
            import mujoco.viewer  # needs a display; imported only when asked for

            self._viewer = mujoco.viewer.launch_passive(self.model, self.data)
        self._viewer.sync()

    # ------------------------------------------------------------------ internals
    def _bind_state(self) -> None:
        """Resolve, once, the views on `self.data` and the controllers that every step uses."""
        data = self.data
        self._ctrl = data.ctrl
        self._qpos = data.qpos
        self._arm_io = tuple(
            _ArmIO(7 * index, arm.tcp_site, DiffIKController(self.model, data, arm, self.control_dt),
                   data.act[arm.reference_slice], data.qpos[arm.qpos_slice], data.ctrl[arm.actuator_slice],
                   data.ctrl[arm.damping_slice], arm.gripper_actuator)
            for index, arm in enumerate(self._arms))
        self._observation_layout.bind(data)
        self._contacts.bind(self.model, data)

    _BOUND = ("_ctrl", "_qpos", "_arm_io")

    def __getstate__(self) -> dict[str, Any]:
        # Views on `data` would unpickle as copies that no longer follow the simulation: rebind instead.
        state = self.__dict__.copy()
        for name in self._BOUND:
            del state[name]
        state["_renderer"] = state["_image_renderer"] = state["_viewer"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_state()

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

    def _absolute_pose_error(self, tcp_site: int, arm_action: np.ndarray) -> np.ndarray:
        """World-frame error (6,) from the current TCP pose to the absolute target pose of the action."""
        error = np.empty(6)
        error[:3] = arm_action[:3] - self.data.site_xpos[tcp_site]
        error[3:] = rotation_error(rotvec_to_mat(arm_action[3:6]), self.data.site_xmat[tcp_site])
        return error

    def _reset_sim(self, rng: np.random.Generator) -> None:
        model, data = self.model, self.data
        mujoco.mj_resetData(model, data)  # parts back at joint position 0
        for arm in self._arms:
            q = arm.home_qpos[:7] + rng.normal(0.0, JOINT_INIT_NOISE, size=7)
            q = np.clip(q, arm.joint_range[:, 0], arm.joint_range[:, 1])
            data.qpos[arm.qpos_slice] = q
            data.qpos[arm.finger_qpos_slice] = GRIPPER_OPEN_WIDTH
            data.act[arm.reference_slice] = q
            data.ctrl[arm.gripper_actuator] = GRIPPER_OPEN_WIDTH
        for handle in self._index.fixtures.values():  # fixtures return to where the scene put them
            body = model.body(handle.body)
            data.mocap_pos[handle.mocap], data.mocap_quat[handle.mocap] = body.pos, body.quat
        self._place_objects(rng)
        mujoco.mj_forward(model, data)
        self._contacts.invalidate(moved=False)
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

    def _observation(self):
        flat = self._observation_layout.fill()
        if self.obs_mode == "flat":
            return flat
        # Views into this step's fresh vector: no key shares memory with another or with a later step.
        observation = self._observation_layout.as_dict(flat)
        if self.image_cameras:
            observation.update(self._images())
        return observation

    def _images(self) -> dict[str, np.ndarray]:
        """This step's frame from every camera of `render_observations` (fresh arrays)."""
        if self._image_renderer is None:
            # Without multisampling: four times faster on OSMesa (its cost at this size), edges one pixel hard.
            samples, self.model.vis.quality.offsamples = self.model.vis.quality.offsamples, 0
            try:
                self._image_renderer = new_renderer(self.model, *self.image_size)
            finally:
                self.model.vis.quality.offsamples = samples
        renderer, images = self._image_renderer, {}
        for camera in self.image_cameras:
            renderer.update_scene(self.data, camera=camera)
            images[f"{camera}_image"] = renderer.render()
        return images

    def subtask_signals(self) -> dict[str, bool]:
        """The task's subtask termination signals, by name."""
        info = self._task_info()
        del info["is_success"]
        return info

    def is_success(self) -> bool:
        """Whether the task is solved in the current state."""
        return self._task_info()["is_success"]

    def _info(self, sim_unstable: bool) -> dict[str, Any]:
        info = self._task_info()
        info["sim_unstable"] = sim_unstable
        return info
