"""`DMPExpert`: the D-MG expert. One Cartesian DMP per source-demo subtask, re-targeted every step."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from dmg_envs.datagen.segmentation import Segment, segment_demo
from dmg_envs.datagen.source import SourceDemo
from dmg_envs.dmp import CartesianDMP, quaternion
from dmg_envs.errors import InvalidConfigError
from dmg_envs.sim.transforms import invert_pose, make_pose, mat_to_quat, rotvec_to_mat

MAX_DELTA_POS, MAX_DELTA_ROT = 0.05, 0.5  # the env's delta-action scales [m], [rad]


def upright_frame(pose: np.ndarray) -> np.ndarray:
    """The object's pose with its tilt removed: its position, and a yaw from its most horizontal axis.

    Table-top objects are placed relative to gravity: a cube knocked onto another face is still "a cube
    here, turned by this much", and a goal above it must stay above it.
    """
    rotation = pose[:3, :3]
    # The axis nearest the vertical is "up"; the next one (cyclically) gives the heading. (Choosing the
    # most horizontal axis instead would tie between two axes of an upright box and flip by 90 degrees.)
    up = int(np.argmax(np.abs(rotation[2])))
    axis = rotation[:, (up + 1) % 3]
    return make_pose(pose[:3, 3], rotvec_to_mat([0.0, 0.0, math.atan2(axis[1], axis[0])]))


def nearest_yaw_turn(world_object: np.ndarray, object_to_pose: np.ndarray, current: np.ndarray,
                     order: int) -> np.ndarray:
    """Of the `order` yaw turns (4x4) that map a symmetric object onto itself, the one for which the pose
    `world_object . turn . object_to_pose` is oriented closest to the `current` pose."""
    current_quat = mat_to_quat(current[:3, :3])
    best, best_angle = np.eye(4), math.inf
    for k in range(order):
        turn = make_pose(np.zeros(3), rotvec_to_mat([0.0, 0.0, 2.0 * math.pi * k / order]))
        pose = world_object @ turn @ object_to_pose
        angle = np.linalg.norm(quaternion.rotation_between(mat_to_quat(pose[:3, :3]), current_quat))
        if angle < best_angle - 1e-9:
            best, best_angle = turn, angle
    return best


class _SubtaskPlan:
    """What the expert keeps of one segment of the source demo."""

    def __init__(self, demo: SourceDemo, segment: Segment, dt: float, num_basis: int, alpha: float):
        poses = demo.eef_poses[segment.arm][segment.start:segment.end + 1]
        times = np.arange(len(poses)) * dt
        self.segment = segment
        self.dmp = CartesianDMP(num_basis=num_basis, alpha=alpha).fit(
            times, poses[:, :3, 3], np.stack([mat_to_quat(pose[:3, :3]) for pose in poses]))
        self.gripper = demo.gripper_actions[segment.arm][segment.start:segment.end]
        # The TCP pose at the segment's end, in the reference object's frame then.
        reference = upright_frame(demo.object_poses[segment.reference_object][segment.end])
        self.object_to_eef = invert_pose(reference) @ poses[-1]


class DMPExpert(gym.Wrapper):
    """Drive a dmg-envs task with DMPs learnt from one source demo, adapting to moving objects.

    The source demo is split into object-centric subtasks (`segment_demo`). Each control step, for the
    running subtask: the goal is recomputed from the reference object's current (upright) pose,
    goal = T_world_object(now) . T_object_eef(segment end), during every subtask (picking and placing);
    the Cartesian DMP is integrated one control period towards it; the action moves the TCP to the DMP's
    new pose. With `follow_goal=True` the DMP state is also carried along with the goal's translation
    (the DMP runs in a frame that translates with the object), which removes the lag of a critically
    damped system behind a moving goal; `False` is D-MG's plain goal update. For objects with yaw
    symmetry (a cube: 4), the equivalent grasp nearest the gripper's current yaw is used. The gripper
    follows the demo by phase; a subtask ends when its DMP has converged and its termination signal has
    fired (the last one ends with the episode).

    `predict(obs, state=None, episode_start=None, deterministic=True)` follows SB3, so
    `stable_baselines3.common.evaluation.evaluate_policy(expert, expert)` works; `info["expert"]` reports
    the subtask index and phase each step.

    Args:
        env: a dmg-envs environment (static or dynamic), delta control mode.
        demo: the source demonstration (recorded in the same task).
        num_basis, alpha: DMP kernels and gain (K = alpha^2 / 4, D = alpha).
        follow_goal: carry the DMP along with the goal's translation (see above).
        position_tolerance, rotation_tolerance: convergence [m], [rad].
    """

    def __init__(self, env: gym.Env, demo: SourceDemo, num_basis: int = 50, alpha: float = 25.0,
                 follow_goal: bool = True, position_tolerance: float = 0.005,
                 rotation_tolerance: float = math.radians(5)):
        super().__init__(env)
        task = env.unwrapped
        if task.control_mode != "delta":
            raise InvalidConfigError("DMPExpert drives the env with delta actions: make it with control_mode='delta'")
        if len(task.arms) != 1:
            raise InvalidConfigError("DMPExpert handles one arm; bimanual coordination is not implemented yet")
        self._task, self._dt = task, task.control_dt
        self._arm = task.arms[0]
        segments = segment_demo(demo, task.subtask_spec)[self._arm]
        self._plans = [_SubtaskPlan(demo, segment, self._dt, num_basis, alpha) for segment in segments]
        self.follow_goal = follow_goal
        self.position_tolerance, self.rotation_tolerance = position_tolerance, rotation_tolerance

    # ------------------------------------------------------------------ gymnasium
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._index = -1
        self._start_subtask(0)
        info["expert"] = self._report()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        plan = self._plans[self._index]
        self._steps_in_subtask += 1
        last = self._index == len(self._plans) - 1
        if not last and plan.dmp.converged(self.position_tolerance, self.rotation_tolerance):
            signal = self._task.subtask_spec[self._arm][self._index]["signal"]
            if info.get(signal, False) or self._steps_in_subtask > 2 * plan.segment.length + 20:
                self._start_subtask(self._index + 1)
        info["expert"] = self._report()
        return obs, reward, terminated, truncated, info

    # ------------------------------------------------------------------ policy
    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """The expert's action for the current state (SB3's signature; the observation itself is not
        needed: the expert reads poses through the task interface). A batched observation (a vectorised
        env of this one env, as SB3's `evaluate_policy` makes) gets a batch of one action."""
        plan = self._plans[self._index]
        if self._task.in_contact(plan.segment.reference_object, self._arm):
            # The robot itself moves the object now (grasping, pushing): following it would chase itself.
            goal_position, goal_quat = plan.dmp.position.goal, plan.dmp.orientation.goal
        else:
            goal_position, goal_quat = self._goal(plan)
        if self.follow_goal:
            shift = goal_position - plan.dmp.position.goal
            plan.dmp.position.state = plan.dmp.position.state + shift
            plan.dmp.position.start = plan.dmp.position.start + shift
        position, orientation = plan.dmp.step(self._dt, goal=(goal_position, goal_quat))
        current = self._task.eef_pose(self._arm)
        action = np.zeros(7)
        action[:3] = (position - current[:3, 3]) / MAX_DELTA_POS
        action[3:6] = quaternion.rotation_between(orientation, mat_to_quat(current[:3, :3])) / MAX_DELTA_ROT
        action[6] = self._gripper(plan)
        action = np.clip(action, -1.0, 1.0).astype(np.float32)
        return (action[None] if self._is_batched(observation) else action), state

    def _is_batched(self, observation: Any) -> bool:
        space = self.observation_space
        if isinstance(observation, dict):
            key = next(iter(observation))
            return np.ndim(observation[key]) > len(space[key].shape)
        return observation is not None and np.ndim(observation) > len(space.shape)

    # ------------------------------------------------------------------ internals
    def _start_subtask(self, index: int) -> None:
        self._index, self._steps_in_subtask = index, 0
        plan = self._plans[index]
        current = self._task.eef_pose(self._arm)
        self._symmetry_turn = self._nearest_equivalent_grasp(plan, current)
        goal = self._goal(plan)
        plan.dmp.reset(start=(current[:3, 3], mat_to_quat(current[:3, :3])), goal=goal)

    def _nearest_equivalent_grasp(self, plan: _SubtaskPlan, current: np.ndarray) -> np.ndarray:
        """The object-frame yaw turn (4x4) giving the goal orientation closest to the current gripper's."""
        obj = plan.segment.reference_object
        world_object = upright_frame(self._task.object_poses()[obj])
        return nearest_yaw_turn(world_object, plan.object_to_eef, current, self._task.object_yaw_symmetry(obj))

    def _goal(self, plan: _SubtaskPlan) -> tuple[np.ndarray, np.ndarray]:
        world_object = upright_frame(self._task.object_poses()[plan.segment.reference_object])
        goal = world_object @ self._symmetry_turn @ plan.object_to_eef
        return goal[:3, 3], mat_to_quat(goal[:3, :3])

    def _gripper(self, plan: _SubtaskPlan) -> float:
        # The demo's command at the step whose end this phase stands for (the DMP has just been stepped).
        dmp = plan.dmp.position
        elapsed = -dmp.demo_duration * math.log(max(dmp.phase, 1e-12)) / dmp.phase_system.alpha_s
        return float(plan.gripper[min(max(round(elapsed / self._dt) - 1, 0), len(plan.gripper) - 1)])

    def _report(self) -> dict[str, Any]:
        return {"subtask": np.int64(self._index), "phase": np.float64(self._plans[self._index].dmp.phase)}
