"""`DMPExpert`: the D-MG expert. One Cartesian DMP per source-demo subtask, living in its reference frame."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from dmg_envs.datagen.reference_frames import ReferenceFrame, approach_end, reference_frames
from dmg_envs.datagen.schedule import SubtaskSchedule
from dmg_envs.datagen.segmentation import Segment, segment_demo
from dmg_envs.datagen.source import SourceDemo
from dmg_envs.dmp import CartesianDMP, quaternion
from dmg_envs.dmp.transformation import BLEND_WINDOW
from dmg_envs.envs.base import MAX_DELTA_POS, MAX_DELTA_ROT
from dmg_envs.errors import InvalidConfigError
from dmg_envs.sim.transforms import (
    invert_pose,
    mat_to_quat,
    nearest_equivalent,
    pose_from_pos_quat,
    upright_frame,
    yaw_of,
)

# A jump while the DMP is this close to its goal (the final approach: fingers around an object, an object
# over its target) rewinds the DMP to where it was this far from its goal, so the approach is made again.
REWIND_DISTANCE = 0.06  # [m]
# A parallel-jaw gripper looks the same turned half a turn about its approach (z) axis.
TOOL_TURNS = (np.eye(4), np.diag([-1.0, -1.0, 1.0, 1.0]))
SIDE_GRASP_COS = math.cos(math.radians(45))  # a hand whose axis is further than this from pointing down
STALL_STEPS = 10  # control steps a converged pick may wait for its signal before it rewinds
LOST_STEPS = 2  # control steps a held object must be missing before the expert goes back for it
LOST_WINDOW = 3  # [steps] around the matching demo step in which the demo must still have held it


class _SubtaskPlan:
    """What the expert keeps of one segment of the source demo: a DMP of the TCP in the reference frame."""

    def __init__(self, demo: SourceDemo, segment: Segment, dt: float, num_basis: int, alpha: float):
        span = slice(segment.start, segment.end + 1)
        touched = demo.touches[segment.arm][segment.reference][span]
        frames = reference_frames(demo.reference_poses[segment.reference][span], touched)
        local = np.einsum("tij,tjk->tik", np.linalg.inv(frames), demo.eef_poses[segment.arm][span])
        self.segment = segment
        window = (BLEND_WINDOW[0], approach_end(local[:, :3, 3], touched))
        self.dmp = CartesianDMP(num_basis=num_basis, alpha=alpha, blend_window=window).fit(
            np.arange(len(local)) * dt, local[:, :3, 3], np.stack([mat_to_quat(pose[:3, :3]) for pose in local]))
        self.goal = local[-1]  # the TCP at the segment's end, in the reference frame
        self.source_yaw = yaw_of(frames[-1][:3, :3])  # [rad] of that frame in the world
        self.gripper = demo.gripper_actions[segment.arm][segment.start:segment.end]


class ArmExpert:
    """One arm's part of `DMPExpert`: its subtask plans (a DMP each), the subtask it runs, the frame it runs
    it in (`frame`, turned by `turn`; the gripper turned by `tool_turn`), and recovery.

    Args:
        task: the env's task interface (`env.unwrapped`).
        arm: the arm it drives.
        demo: the source demo; `segments` are this arm's subtasks in it.
        dt: control period [s].
        num_basis, alpha: DMP kernels and gain.
    """

    def __init__(self, task: Any, arm: str, demo: SourceDemo, segments: list[Segment], dt: float, num_basis: int,
                 alpha: float):
        self.task, self.arm, self.dt = task, arm, dt
        self.subtasks = task.subtask_spec[arm]
        self.plans = [_SubtaskPlan(demo, segment, dt, num_basis, alpha) for segment in segments]
        self.owners = [task.reference_owner(segment.reference) for segment in segments]
        # Picks: subtasks that end holding their reference, a movable object, in the demo.
        self.picks = [index for index, segment in enumerate(segments) if segment.reference in task.movable_objects
                      and demo.touches[arm][segment.reference][segment.end]]
        self.demo_signals = demo.signals
        self.pick_tool_turns: dict[int, np.ndarray] = {}  # the gripper's turn each pick took its object with
        self.index, self.lost_for = 0, 0
        self.gripper_held = -1.0  # the gripper command while waiting to start a subtask

    def start(self, index: int) -> None:
        """Plan subtask `index` from the current pose: the reference's equivalent frame (`_choose_frame`),
        and the DMP started there."""
        self.index, self.steps_in_subtask = index, 0
        self.stalled_for, self.history = 0, []
        plan = self.plans[index]
        self._choose_frame(plan)
        start = invert_pose(self.frame.frame) @ self.task.eef_pose(self.arm) @ invert_pose(self.tool_turn)
        plan.dmp.reset(start=(start[:3, 3], mat_to_quat(start[:3, :3])),
                       goal=(plan.goal[:3, 3], mat_to_quat(plan.goal[:3, :3])))

    def follow_reference(self) -> bool:
        """Update the running subtask's frame from where its reference is now (held while this arm touches
        it); returns whether the reference jumped."""
        current = self._upright_reference(self.plans[self.index]) @ self.turn
        return self.frame.update(current, self.task.in_contact(self.owners[self.index], self.arm))

    def action(self) -> np.ndarray:
        """One DMP step of the running subtask, as this arm's 7 action values."""
        plan = self.plans[self.index]
        jumped = self.follow_reference()
        if jumped and plan.dmp.position.distance_to_goal() < REWIND_DISTANCE:
            self.rewind()
        position, orientation = plan.dmp.step(self.dt)
        self.history.append(plan.dmp.snapshot())
        target = self.frame.frame @ pose_from_pos_quat(position, orientation) @ self.tool_turn
        current = self.task.eef_pose(self.arm)
        action = np.zeros(7)
        action[:3] = (target[:3, 3] - current[:3, 3]) / MAX_DELTA_POS
        action[3:6] = quaternion.rotation_between(mat_to_quat(target[:3, :3]),
                                                  mat_to_quat(current[:3, :3])) / MAX_DELTA_ROT
        action[6] = self.gripper_held = float(plan.gripper[self._demo_step(plan)])
        return action

    def goal_pose(self) -> np.ndarray:
        """Where the running subtask's DMP ends, in the world, as the reference stands now (4x4)."""
        return self.frame.frame @ self.plans[self.index].goal @ self.tool_turn

    def after_step(self, info: dict[str, Any], last: bool, tolerances: tuple[float, float]) -> bool:
        """After a step: whether the running subtask is over (its DMP converged and its signal fired, or it
        ran far past the demo's duration); a pick whose DMP converged without its signal is rewound."""
        self.steps_in_subtask += 1
        if last:
            return False
        plan = self.plans[self.index]
        fired = bool(info.get(self.subtasks[self.index].signal, False))
        converged = plan.dmp.converged(*tolerances)
        self.stalled_for = self.stalled_for + 1 if converged and not fired else 0
        if fired and converged:
            return True
        if self.index in self.picks and self.stalled_for > STALL_STEPS:
            self.rewind()  # the grasp did not take: approach again
            return False
        return self.steps_in_subtask > 2 * plan.segment.length + 20  # long past the demo's duration: move on

    def _upright_reference(self, plan: _SubtaskPlan) -> np.ndarray:
        return upright_frame(self.task.reference_pose(plan.segment.reference))

    def _choose_frame(self, plan: _SubtaskPlan) -> None:
        """The reference's current frame, turned to the equivalent pose nearest the gripper (see
        `nearest_equivalent` for references that look the same at any yaw). A gripper that holds from the side
        what an earlier pick took keeps the turn it took it with: a half turn about its axis would turn the
        object over (a hand pointing down may turn: that only yaws what it holds)."""
        raw = self._upright_reference(plan)
        current = self.task.eef_pose(self.arm)
        from_the_side = -current[2, 2] < SIDE_GRASP_COS  # the approach axis (z) far from pointing down
        held = [pick for pick in self.picks if pick < self.index and pick in self.pick_tool_turns
                and self.task.grasped(self.plans[pick].segment.reference, self.arm)]
        tool_turns = (self.pick_tool_turns[held[-1]],) if held and from_the_side else TOOL_TURNS
        self.turn, self.tool_turn = nearest_equivalent(raw, plan.goal, current,
                                                       self.task.yaw_symmetry(plan.segment.reference), tool_turns,
                                                       continuous_yaw=plan.source_yaw)
        if self.index in self.picks:
            self.pick_tool_turns[self.index] = self.tool_turn
        self.frame = ReferenceFrame(raw @ self.turn)

    def rewind(self) -> None:
        """Take the running subtask's DMP back to where it was `REWIND_DISTANCE` from its goal (in the
        reference frame, which may have moved since), or start the subtask afresh if it never was."""
        plan = self.plans[self.index]
        while self.history:
            snapshot = self.history.pop()
            if np.linalg.norm(plan.goal[:3, 3] - snapshot[0][0]) >= REWIND_DISTANCE:
                self.history.append(snapshot)
                # The same equivalent pose as before, where the reference is now: the snapshot is in its terms.
                self.frame = ReferenceFrame(self._upright_reference(plan) @ self.turn)
                plan.dmp.restore(snapshot)
                self.stalled_for = 0
                return
        self.start(self.index)

    def progress(self, running: bool, index: int) -> int:
        """The source-demo step this arm's replay has reached: where its running subtask's phase stands, or
        the start of subtask `index` it waits to start."""
        if not running:
            return self.plans[index].segment.start
        plan = self.plans[self.index]
        return plan.segment.start + self._demo_step(plan)

    def _demo_step(self, plan: _SubtaskPlan) -> int:
        """The demo step that the current phase stands for (the DMP has just been stepped)."""
        dmp = plan.dmp.position
        elapsed = -dmp.demo_duration * math.log(max(dmp.phase, 1e-12)) / dmp.phase_system.alpha_s
        return min(max(round(elapsed / self.dt) - 1, 0), plan.segment.length - 1)

    def lost_pick(self, info: dict[str, Any]) -> int | None:
        """The earlier pick subtask whose object has left the fingers while the demo still held it, if any;
        None while the running subtask's signal holds (a bowl settling on its pad is placed, not lost)."""
        if info.get(self.subtasks[self.index].signal, False):
            self.lost_for = 0  # placed
            return None
        plan = self.plans[self.index]
        step = plan.segment.start + self._demo_step(plan)
        for pick in self.picks:
            if pick >= self.index:
                break
            signal = self.subtasks[pick].signal
            held_in_demo = self.demo_signals[signal][max(step - LOST_WINDOW, 0):step + LOST_WINDOW + 1].all()
            if held_in_demo and not info.get(signal, False):
                self.lost_for += 1
                if self.lost_for >= LOST_STEPS:
                    self.lost_for = 0
                    return pick
                return None
        self.lost_for = 0
        return None


class DMPExpert(gym.Wrapper):
    """Drive a dmg-envs task with DMPs learnt from one source demo, adapting to moving references.

    The source demo is split into subtasks per arm (`segment_demo`), each relative to its reference (an
    object, a fixture, a part such as a drawer, or a named frame such as its handle). Each subtask's TCP
    path is encoded as a Cartesian DMP in the reference's upright frame, held still from the moment the arm
    touches the reference (the arm moves it then). Every control step the DMP is integrated one control
    period in that frame and mapped to the world through the reference's current frame, so the whole path
    moves and turns with the reference, not only its goal: a drawer in a turned cabinet is pulled along the
    turned axis, and an object that drifts is followed without lag. For references with yaw symmetry (a
    cube: 4) and for the gripper's own half-turn symmetry, the equivalent pose nearest the gripper is
    used; a reference that looks the same at any yaw (a cup) keeps the source demo's heading, and the
    gripper the demo's roll. The gripper follows the demo by phase. A subtask ends when its DMP has converged and its
    signal has fired; an arm's last one ends with the episode.

    Two arms: each runs its own queue of subtasks, scheduled by kind (`SubtaskSchedule`): a sequential
    subtask waits until its partner has ended and the partner's arm has got as far as it had in the demo
    when this arm set off (the demo's own wait is not replayed, `trim_waits`: the arm waits once); the
    two halves of a coordination subtask start on the same step, with DMPs of the same duration (the
    segments are aligned), and end on the same step. Each arm follows the reference in its own frame,
    held only while that arm touches it: a tray held by one arm and moved still moves the other arm's
    goal. An arm waiting to start holds still.

    Recovery: a reference that jumps (more than 2 cm or 0.2 rad in a step) during the final approach
    (the DMP within 6 cm of its goal), or a pick whose DMP has converged without its signal firing,
    rewinds the DMP to where it was 6 cm from its goal, so the approach is made again where the
    reference now is; an object picked by an earlier subtask that leaves the fingers while the demo still
    held it sends that arm back to that subtask.

    `predict(obs, state=None, episode_start=None, deterministic=True)` follows SB3 (also with SB3's
    `evaluate_policy`); calling it twice for one step gives one action and one DMP step.
    `info["expert"]` reports, per arm, the subtask index, its DMP's phase and whether it runs (or waits).

    Args:
        env: a dmg-envs environment (static or dynamic), delta control mode, one or two arms.
        demo: the source demonstration (recorded in the same task).
        num_basis, alpha: DMP kernels and gain (K = alpha^2 / 4, D = alpha).
        position_tolerance, rotation_tolerance: convergence [m], [rad].
    """

    def __init__(self, env: gym.Env, demo: SourceDemo, num_basis: int = 50, alpha: float = 25.0,
                 position_tolerance: float = 0.005, rotation_tolerance: float = math.radians(5)):
        super().__init__(env)
        task = env.unwrapped
        if task.control_mode != "delta":
            raise InvalidConfigError("DMPExpert drives the env with delta actions: make it with control_mode='delta'")
        self._task, self._dt = task, task.control_dt
        segments = segment_demo(demo, task.subtask_spec)
        self._schedule = SubtaskSchedule(task.subtask_spec, set_off={segment.name: segment.start for arm_segments
                                                                     in segments.values() for segment in arm_segments})
        self._arms = {arm: ArmExpert(task, arm, demo, segments[arm], self._dt, num_basis, alpha) for arm in task.arms}
        self.position_tolerance, self.rotation_tolerance = position_tolerance, rotation_tolerance

    def arm_expert(self, arm: str = "robot0") -> ArmExpert:
        """The part of the expert that drives `arm` (its plans, running DMP and frame)."""
        return self._arms[arm]

    def goal_pose(self, arm: str = "robot0") -> np.ndarray:
        """Where `arm`'s running subtask ends, in the world, as its reference stands now (4x4)."""
        return self._arms[arm].goal_pose()

    # ------------------------------------------------------------------ gymnasium
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._action = None
        self._schedule.reset()
        for expert in self._arms.values():
            expert.lost_for, expert.gripper_held = 0, -1.0
        self._start_ready()
        info["expert"] = self._report()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._action = None  # the next predict makes the next DMP step
        schedule, tolerances = self._schedule, (self.position_tolerance, self.rotation_tolerance)
        done = {}
        for arm, expert in self._arms.items():
            if not schedule.running[arm]:
                continue
            lost = expert.lost_pick(info)
            if lost is not None:
                schedule.restart(arm, lost)
            else:
                done[arm] = expert.after_step(info, schedule.is_last(arm), tolerances)
        schedule.finish(done)
        self._start_ready()
        info["expert"] = self._report()
        return obs, reward, terminated, truncated, info

    # ------------------------------------------------------------------ policy
    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """The expert's action for the current state (SB3's signature; the observation itself is not
        needed: the expert reads poses through the task interface). A batched observation (a vectorised
        env of this one env, as SB3's `evaluate_policy` makes) gets a batch of one action."""
        if self._action is None:  # one DMP step per env step, however often predict is called
            self._action = self._next_action()
        action = self._action.copy()
        return (action[None] if self._is_batched(observation) else action), state

    def _next_action(self) -> np.ndarray:
        parts = []
        for arm, expert in self._arms.items():
            if self._schedule.running[arm]:
                parts.append(expert.action())
            else:  # waiting for a partner: hold still, the gripper as it was
                parts.append(np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, expert.gripper_held]))
        return np.clip(np.concatenate(parts), -1.0, 1.0).astype(np.float32)

    def _is_batched(self, observation: Any) -> bool:
        space = self.observation_space
        if isinstance(observation, dict):
            key = next(iter(observation))
            return np.ndim(observation[key]) > len(space[key].shape)
        return observation is not None and np.ndim(observation) > len(space.shape)

    # ------------------------------------------------------------------ internals
    def _start_ready(self) -> None:
        schedule = self._schedule
        progress = {arm: expert.progress(schedule.running[arm], schedule.index[arm])
                    for arm, expert in self._arms.items()}
        for arm in schedule.start_ready(progress):
            self._arms[arm].start(schedule.index[arm])

    def _report(self) -> dict[str, Any]:
        report = {}
        for arm, expert in self._arms.items():
            running = self._schedule.running[arm]
            phase = expert.plans[expert.index].dmp.phase if running else 1.0  # a waiting arm has not begun
            report[arm] = {"subtask": np.int64(self._schedule.index[arm]), "phase": np.float64(phase),
                           "running": running}
        return report
