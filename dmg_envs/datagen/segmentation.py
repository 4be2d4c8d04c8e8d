"""Object-centric segmentation of a source demo into subtasks, from the task's termination signals."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dmg_envs.datagen.source import SourceDemo
from dmg_envs.envs.task import Subtask
from dmg_envs.errors import DmgError


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
    coordination subtask are then aligned (`align_coordination`)."""
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
    return align_coordination(segments, subtask_spec)


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
    end of the demo). Names and references are checked against the task's `subtask_spec`.
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
    return align_coordination(segments, subtask_spec)
