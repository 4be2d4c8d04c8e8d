"""The MimicGen baseline (Mandlekar et al. 2023) as a policy on the same segments as the DMP expert.

Per subtask, when it starts: observe the reference object, transform the source segment's end-effector
poses rigidly with T_new = T_object_now . inv(T_object_source) . T_eef_source, prepend a 5-step linear
interpolation from the current pose, then replay the result open loop with Gaussian action noise 0.05;
the gripper replays the demo. Subtask boundaries are the termination signals plus a random offset of
10-20 steps per attempt (MimicGen's setting: the pick then ends after the lift has begun, so the move
to the next subtask starts in the air). Written here from the paper's description.
"""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np

from dmg_envs.datagen.segmentation import segment_demo
from dmg_envs.datagen.source import SourceDemo
from dmg_envs.dmp import quaternion
from dmg_envs.errors import InvalidConfigError
from dmg_envs.sim.transforms import invert_pose, mat_to_quat
from dmg_envs.wrappers.dmp_expert import MAX_DELTA_POS, MAX_DELTA_ROT, nearest_yaw_turn, upright_frame

INTERPOLATION_STEPS = 5
ACTION_NOISE = 0.05
BOUNDARY_OFFSET = (10, 20)  # [steps] added to each subtask's end, drawn per attempt


class MimicGenPolicy:
    """`action = policy(obs)`: transform-and-replay of the source demo's segments.

    The same upright object frames and yaw-symmetric object handling as `DMPExpert` are used, so that
    the two generators differ only in how they move (replayed once-transformed poses vs DMPs re-targeted
    every step).
    """

    def __init__(self, env: gym.Env, demo: SourceDemo, rng: np.random.Generator, noise: float = ACTION_NOISE):
        task = env.unwrapped
        if len(task.arms) != 1:
            raise InvalidConfigError("the MimicGen baseline here handles one arm")
        self._task, self._arm, self._rng, self._noise = task, task.arms[0], rng, noise
        self._demo = demo
        segments = segment_demo(demo, task.subtask_spec)[self._arm]
        # Shift every inner boundary later by a random offset, keeping each segment non-empty.
        ends = [min(s.end + int(rng.integers(BOUNDARY_OFFSET[0], BOUNDARY_OFFSET[1] + 1)), demo.num_steps - 1)
                if i < len(segments) - 1 else s.end for i, s in enumerate(segments)]
        starts = [0] + ends[:-1]
        self._segments = [replace(s, start=a, end=max(b, a + 1)) for s, a, b in zip(segments, starts, ends)]
        self.reset()

    def reset(self) -> None:
        self._index, self._plan, self._cursor = -1, [], 0

    def _plan_segment(self, index: int) -> None:
        segment = self._segments[index]
        demo_poses = self._demo.eef_poses[self._arm][segment.start + 1:segment.end + 1]
        source_object = upright_frame(self._demo.object_poses[segment.reference_object][segment.start])
        current_object = upright_frame(self._task.object_poses()[segment.reference_object])
        current = self._task.eef_pose(self._arm)
        # Among the object's equivalent yaws, the one that keeps the segment's end closest to the
        # gripper's current orientation (as the DMP expert does).
        to_source = invert_pose(source_object)
        turn = nearest_yaw_turn(current_object, to_source @ demo_poses[-1], current,
                                self._task.object_yaw_symmetry(segment.reference_object))
        transform = current_object @ turn @ to_source
        targets = [transform @ pose for pose in demo_poses]
        first = targets[0]
        interpolation = []
        start_quat, first_quat = mat_to_quat(current[:3, :3]), mat_to_quat(first[:3, :3])
        turn = quaternion.log(quaternion.multiply(first_quat, quaternion.conjugate(start_quat)))
        gripper_at_start = self._demo.gripper_actions[self._arm][segment.start]
        for step in range(1, INTERPOLATION_STEPS + 1):
            fraction = step / (INTERPOLATION_STEPS + 1)
            position = current[:3, 3] + fraction * (first[:3, 3] - current[:3, 3])
            orientation = quaternion.multiply(quaternion.exp(fraction * turn), start_quat)
            interpolation.append((position, orientation, gripper_at_start))
        replay = [(pose[:3, 3], mat_to_quat(pose[:3, :3]), gripper) for pose, gripper in
                  zip(targets, self._demo.gripper_actions[self._arm][segment.start:segment.end])]
        self._index, self._plan, self._cursor = index, interpolation + replay, 0

    def __call__(self, obs) -> np.ndarray:
        if self._cursor >= len(self._plan):
            if self._index + 1 < len(self._segments):
                self._plan_segment(self._index + 1)
            else:  # done: hold still with the last gripper command
                action = np.zeros(7, dtype=np.float32)
                action[6] = self._plan[-1][2] if self._plan else -1.0
                return action
        position, orientation, gripper = self._plan[self._cursor]
        self._cursor += 1
        current = self._task.eef_pose(self._arm)
        action = np.zeros(7)
        action[:3] = (position - current[:3, 3]) / MAX_DELTA_POS
        action[3:6] = quaternion.rotation_between(orientation, mat_to_quat(current[:3, :3])) / MAX_DELTA_ROT
        action[:6] += self._rng.normal(0.0, self._noise, size=6)
        action[6] = gripper
        return np.clip(action, -1.0, 1.0).astype(np.float32)
