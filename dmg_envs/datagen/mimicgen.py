"""The MimicGen baseline (Mandlekar et al. 2023) as a policy on the same segments as the DMP expert.

Per subtask, when it starts: observe the reference, transform the source segment's end-effector poses
rigidly with T_new = T_reference_now . inv(T_reference_source) . T_eef_source, prepend a 5-step linear
interpolation from the current pose, then replay the result open loop with Gaussian action noise 0.05;
the gripper replays the demo. Subtask boundaries are the termination signals plus a random offset of
10-20 steps per attempt (MimicGen's setting: the pick then ends after the lift has begun, so the move
to the next subtask starts in the air), never past the next boundary. Written here from the paper's
description.
"""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np

from dmg_envs.datagen.config import DEFAULT_ACTION_NOISE
from dmg_envs.datagen.expert import TOOL_TURNS
from dmg_envs.datagen.schedule import SubtaskSchedule
from dmg_envs.datagen.segmentation import Segment, align_coordination, segment_demo
from dmg_envs.datagen.source import SourceDemo
from dmg_envs.dmp import quaternion
from dmg_envs.envs.base import MAX_DELTA_POS, MAX_DELTA_ROT
from dmg_envs.sim.transforms import invert_pose, mat_to_quat, nearest_equivalent, upright_frame, yaw_of

INTERPOLATION_STEPS = 5
ACTION_NOISE = DEFAULT_ACTION_NOISE["mimicgen"]
BOUNDARY_OFFSET = (10, 20)  # [steps] added to each subtask's end, drawn per attempt


def offset_boundaries(segments: list[Segment], rng: np.random.Generator,
                      offset: tuple[int, int] = BOUNDARY_OFFSET) -> list[Segment]:
    """The segments with every inner boundary moved later by a random offset in [offset[0], offset[1]]
    steps, but never onto or past the next boundary: every segment keeps at least one step. A segment that
    starts after its predecessor's end (a sequential subtask without the demo's wait, `trim_waits`) starts
    there still, or at the shifted end if that is later."""
    ends = [segment.end for segment in segments]
    shifted = [min(end + int(rng.integers(offset[0], offset[1] + 1)), ends[i + 1] - 1) if i < len(ends) - 1 else end
               for i, end in enumerate(ends)]
    starts = [segments[0].start] + [max(segment.start, end) for segment, end in zip(segments[1:], shifted)]
    return [replace(segment, start=start, end=end) for segment, start, end in zip(segments, starts, shifted)]


class MimicGenPolicy:
    """`action = policy(obs)`: transform-and-replay of the source demo's segments.

    The same upright reference frames and symmetric-pose choice as `DMPExpert` are used, so that the two
    generators differ only in how they move (poses transformed once and replayed vs DMPs in a frame that
    follows the reference every step). Two arms: each replays its own segments, scheduled by kind as the
    expert's (`SubtaskSchedule`, a sequential subtask waiting until its partner's arm has got as far as in
    the demo when this arm set off); both halves of a coordination subtask keep one boundary offset, so they
    replay the same number of steps from the same step. An arm waiting to start holds still.
    """

    def __init__(self, env: gym.Env, demo: SourceDemo, rng: np.random.Generator, noise: float = ACTION_NOISE):
        task = env.unwrapped
        self._task, self._rng, self._noise = task, rng, noise
        self._demo = demo
        segments = segment_demo(demo, task.subtask_spec)
        self._segments = align_coordination({arm: offset_boundaries(segments[arm], rng) for arm in task.arms},
                                            task.subtask_spec)
        self._schedule = SubtaskSchedule(task.subtask_spec, set_off={
            segment.name: segment.start for arm_segments in self._segments.values() for segment in arm_segments})
        self.reset()

    def reset(self) -> None:
        self._schedule.reset()
        self._plans: dict[str, list] = {arm: [] for arm in self._task.arms}
        self._cursors = dict.fromkeys(self._task.arms, 0)

    def _plan_segment(self, arm: str, index: int) -> None:
        segment = self._segments[arm][index]
        demo_poses = self._demo.eef_poses[arm][segment.start + 1:segment.end + 1]
        source = upright_frame(self._demo.reference_poses[segment.reference][segment.start])
        now = upright_frame(self._task.reference_pose(segment.reference))
        current = self._task.eef_pose(arm)
        to_source = invert_pose(source)
        turn, tool_turn = nearest_equivalent(now, to_source @ demo_poses[-1], current,
                                             self._task.yaw_symmetry(segment.reference), TOOL_TURNS,
                                             continuous_yaw=yaw_of(source[:3, :3]))
        transform = now @ turn @ to_source
        targets = [transform @ pose @ tool_turn for pose in demo_poses]
        first = targets[0]
        interpolation = []
        start_quat, first_quat = mat_to_quat(current[:3, :3]), mat_to_quat(first[:3, :3])
        rotation = quaternion.log(quaternion.multiply(first_quat, quaternion.conjugate(start_quat)))
        gripper_at_start = self._demo.gripper_actions[arm][segment.start]
        for step in range(1, INTERPOLATION_STEPS + 1):
            fraction = step / (INTERPOLATION_STEPS + 1)
            position = current[:3, 3] + fraction * (first[:3, 3] - current[:3, 3])
            orientation = quaternion.multiply(quaternion.exp(fraction * rotation), start_quat)
            interpolation.append((position, orientation, gripper_at_start))
        replay = [(pose[:3, 3], mat_to_quat(pose[:3, :3]), gripper) for pose, gripper in
                  zip(targets, self._demo.gripper_actions[arm][segment.start:segment.end])]
        self._plans[arm], self._cursors[arm] = interpolation + replay, 0

    def __call__(self, obs) -> np.ndarray:
        schedule = self._schedule
        schedule.finish({arm: self._cursors[arm] >= len(self._plans[arm]) for arm in schedule.arms})
        for arm in schedule.start_ready({arm: self._progress(arm) for arm in schedule.arms}):
            self._plan_segment(arm, schedule.index[arm])
        return np.concatenate([self._arm_action(arm) for arm in schedule.arms])

    def _progress(self, arm: str) -> int:
        """The source-demo step `arm`'s replay has reached: the start of the subtask it waits to start, or
        the demo step its running subtask's last replayed target stands for."""
        segment = self._segments[arm][self._schedule.index[arm]]
        if not self._schedule.running[arm]:
            return segment.start
        return min(segment.start + max(self._cursors[arm] - INTERPOLATION_STEPS, 0), segment.end)

    def _arm_action(self, arm: str) -> np.ndarray:
        plan, cursor = self._plans[arm], self._cursors[arm]
        if cursor >= len(plan):  # done, or waiting to start: hold still with the last gripper command
            action = np.zeros(7, dtype=np.float32)
            action[6] = plan[-1][2] if plan else -1.0
            return action
        position, orientation, gripper = plan[cursor]
        self._cursors[arm] += 1
        current = self._task.eef_pose(arm)
        action = np.zeros(7)
        action[:3] = (position - current[:3, 3]) / MAX_DELTA_POS
        action[3:6] = quaternion.rotation_between(orientation, mat_to_quat(current[:3, :3])) / MAX_DELTA_ROT
        action[:6] += self._rng.normal(0.0, self._noise, size=6)
        action[6] = gripper
        return np.clip(action, -1.0, 1.0).astype(np.float32)
