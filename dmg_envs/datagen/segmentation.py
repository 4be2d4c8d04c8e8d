"""Object-centric segmentation of a source demo into subtasks, from the task's termination signals."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dmg_envs.datagen.source import SourceDemo
from dmg_envs.envs.task import Subtask
from dmg_envs.errors import DmgError
from dmg_envs.sim.transforms import mat_to_quat

# A TCP that moves less than this in a control step stands still.
STILL_DISTANCE, STILL_ANGLE = 0.001, 0.01  # [m], [rad]
# Standing still this long is a wait (for the partner), not a look or a grip (a few steps).
WAIT_STEPS = 10  # [control steps]


class SegmentationError(DmgError, ValueError):
    """A source demo whose signals (or annotation) do not give a consistent subtask sequence."""


@dataclass(frozen=True)
class Segment:
    """Steps [start, end) of one arm's subtask; the states run from `start` to `end` inclusive.

    Attributes:
        arm: the arm that does it.
        name: the subtask's name in the task's `subtask_spec`.
        reference: the object, fixture, part or frame whose frame the subtask is relative to.
        start, end: first and one-past-last action index.
    """

    arm: str
    name: str
    reference: str
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def segment_demo(demo: SourceDemo, subtask_spec: dict[str, tuple[Subtask, ...]]) -> dict[str, list[Segment]]:
    """Split `demo` per arm at the first step where each subtask's signal turns true (after the previous
    subtask ended); the last subtask of an arm runs to the end of the demo. The two halves of a
    coordination subtask are then aligned (`align_coordination`), and the demo's wait is cut from the start
    of every sequential subtask (`trim_waits`)."""
    segments: dict[str, list[Segment]] = {}
    for arm, subtasks in subtask_spec.items():
        start, arm_segments = 0, []
        for index, subtask in enumerate(subtasks):
            last = index == len(subtasks) - 1
            if last:
                end = demo.num_steps
            else:
                signal = subtask.signal
                if signal not in demo.signals:
                    raise SegmentationError(f"signal {signal!r} of subtask {subtask.name!r} is not in the demo; "
                                            f"it has {sorted(demo.signals)}")
                # signals[k] describes the state after action k - 1: the subtask ends with that action
                fired = np.flatnonzero(demo.signals[signal][start + 1:]) + start + 1
                if len(fired) == 0:
                    raise SegmentationError(f"signal {signal!r} never turns true after step {start}: subtask "
                                            f"{subtask.name!r} of {arm} is not completed in this demo")
                end = int(fired[0])
            if end <= start:
                raise SegmentationError(f"subtask {subtask.name!r} of {arm} is empty (steps {start}..{end})")
            arm_segments.append(Segment(arm, subtask.name, subtask.reference, start, end))
            start = end
        segments[arm] = arm_segments
    return trim_waits(align_coordination(segments, subtask_spec), demo, subtask_spec)


def align_coordination(segments: dict[str, list[Segment]], subtask_spec: dict[str, tuple[Subtask, ...]]
                       ) -> dict[str, list[Segment]]:
    """Make both halves of every coordination subtask span the same steps, as DexMimicGen synchronises
    them: both start at the later of their two starts (the earlier arm's previous subtask runs until then,
    waiting as it did in the demo) and end at the later of their two ends (the earlier arm's next subtask
    starts then), so that both arms replay the same duration and finish on the same step."""
    kinds = {subtask.name: subtask for subtasks in subtask_spec.values() for subtask in subtasks}
    aligned = {arm: list(arm_segments) for arm, arm_segments in segments.items()}
    for arm, arm_segments in aligned.items():
        for index, segment in enumerate(arm_segments):
            subtask = kinds[segment.name]
            if subtask.kind != "coordination" or arm > _arm_of(aligned, subtask.partner):
                continue  # each pair once, from its first arm's side
            other = _arm_of(aligned, subtask.partner)
            other_index = next(i for i, s in enumerate(aligned[other]) if s.name == subtask.partner)
            start = max(segment.start, aligned[other][other_index].start)
            end = max(segment.end, aligned[other][other_index].end)
            for name, position in ((arm, index), (other, other_index)):
                _move_bounds(aligned[name], position, start, end)
    return aligned


def trim_waits(segments: dict[str, list[Segment]], demo: SourceDemo, subtask_spec: dict[str, tuple[Subtask, ...]]
               ) -> dict[str, list[Segment]]:
    """Start every sequential subtask where its arm, in the demo, last set off after standing still (for
    `WAIT_STEPS` or more) before it first touched the subtask's reference: what the arm did before, such
    as moving aside and waiting there for its partner, is dropped. The generators hold the arm still until
    the partner's subtask has ended and the partner's arm has got as far as it had in the demo at this
    start (`SubtaskSchedule`'s `set_off`); replaying the demo's own wait after that would make the arm wait
    twice, the second time with nothing observable to tell when it ends. The steps dropped belong to no
    segment."""
    kinds = {subtask.name: subtask.kind for subtasks in subtask_spec.values() for subtask in subtasks}
    trimmed = {arm: list(arm_segments) for arm, arm_segments in segments.items()}
    for arm_segments in trimmed.values():
        for index, segment in enumerate(arm_segments):
            if kinds[segment.name] == "sequential":
                arm_segments[index] = replace(segment, start=_end_of_wait(demo, segment))
    return trimmed


def _end_of_wait(demo: SourceDemo, segment: Segment) -> int:
    """The first step after the segment's last still run of `WAIT_STEPS` or more actions that ends before
    the arm first touches the reference; the segment's start if there is none."""
    touched = np.flatnonzero(demo.touches[segment.arm][segment.reference][segment.start:segment.end + 1])
    approach = touched[0] if len(touched) else segment.length  # actions before the first touch
    poses = demo.eef_poses[segment.arm][segment.start:segment.start + approach + 1]
    if len(poses) <= WAIT_STEPS:
        return segment.start
    quats = np.stack([mat_to_quat(pose[:3, :3]) for pose in poses])
    turns = 2 * np.arccos(np.clip(np.abs(np.sum(quats[1:] * quats[:-1], axis=1)), 0.0, 1.0))
    still = (np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1) < STILL_DISTANCE) & (turns < STILL_ANGLE)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], still.astype(int), [0]])))  # run starts and ends
    ends = [end for begin, end in zip(edges[::2], edges[1::2]) if end - begin >= WAIT_STEPS]
    return min(segment.start + int(ends[-1]), segment.end - 1) if ends else segment.start


def _arm_of(segments: dict[str, list[Segment]], subtask: str | None) -> str:
    return next(arm for arm, arm_segments in segments.items() if any(s.name == subtask for s in arm_segments))


def _move_bounds(arm_segments: list[Segment], index: int, start: int, end: int) -> None:
    """Give segment `index` the steps [start, end), its neighbours what that leaves them."""
    if index > 0:
        arm_segments[index - 1] = replace(arm_segments[index - 1], end=start)
    if index + 1 < len(arm_segments):
        arm_segments[index + 1] = replace(arm_segments[index + 1], start=end)
    arm_segments[index] = replace(arm_segments[index], start=start, end=end)
    if any(segment.length <= 0 for segment in arm_segments):
        raise SegmentationError(f"aligning coordination subtask {arm_segments[index].name!r} with its partner "
                                f"leaves an empty subtask: {arm_segments}")


def load_annotation(path: str | Path, demo: SourceDemo, subtask_spec: dict[str, tuple[Subtask, ...]]
                    ) -> dict[str, list[Segment]]:
    """Segments from a hand annotation: JSON `{"robot0": [{"name": ..., "reference": ..., "end": step}, ...]}`.

    Each arm's entries follow each other; `end` values must increase and the last may be omitted (the
    end of the demo). Names and references are checked against the task's `subtask_spec`. As in
    `segment_demo`, coordination halves are aligned and a sequential subtask starts after its arm's wait.
    """
    try:
        annotation = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SegmentationError(f"cannot read the annotation {str(path)!r}: {error}") from error
    if not isinstance(annotation, dict):
        raise SegmentationError("an annotation maps arm names to lists of subtasks")
    segments: dict[str, list[Segment]] = {}
    for arm, entries in annotation.items():
        if arm not in subtask_spec:
            raise SegmentationError(f"unknown arm {arm!r} in the annotation; the task has {sorted(subtask_spec)}")
        known = {(s.name, s.reference) for s in subtask_spec[arm]}
        start, arm_segments = 0, []
        for index, entry in enumerate(entries):
            name, reference = entry.get("name"), entry.get("reference")
            if (name, reference) not in known:
                raise SegmentationError(f"{arm} entry {index}: ({name!r}, {reference!r}) is not a subtask of this "
                                        f"task; valid: {sorted(known)}")
            end = int(entry.get("end", demo.num_steps))
            if not start < end <= demo.num_steps:
                raise SegmentationError(f"{arm} entry {index}: end {end} must lie in ({start}, {demo.num_steps}]")
            arm_segments.append(Segment(arm, name, reference, start, end))
            start = end
        if start != demo.num_steps:
            raise SegmentationError(f"{arm}: the annotation stops at step {start}, the demo has {demo.num_steps}")
        segments[arm] = arm_segments
    return trim_waits(align_coordination(segments, subtask_spec), demo, subtask_spec)
