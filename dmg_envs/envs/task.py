"""Subtasks: how a task splits into object-centric steps per arm (DexMimicGen's kinds)."""

from __future__ import annotations

from dataclasses import dataclass

from dmg_envs.errors import InvalidConfigError

SUBTASK_KINDS = ("parallel", "coordination", "sequential")


@dataclass(frozen=True)
class Subtask:
    """One arm's subtask.

    Args:
        name: unique in the task (e.g. "open_drawer").
        reference: what the subtask is relative to: an object, fixture, part or named frame
            (`reference_pose(reference)` is its frame; a moving reference moves the subtask's motion).
        signal: the subtask signal that ends it (`subtask_signals()`); an arm's last subtask ends with the
            episode.
        kind: "parallel" (each arm runs its own queue), "coordination" (both arms use the shared reference
            and end on the same step) or "sequential" (starts only after `partner` has ended).
        partner: the other arm's subtask that a coordination subtask runs with, or that a sequential one
            waits for; None for parallel subtasks.
    """

    name: str
    reference: str
    signal: str
    kind: str = "parallel"
    partner: str | None = None

    def __post_init__(self):
        if self.kind not in SUBTASK_KINDS:
            raise InvalidConfigError(f"subtask {self.name!r}: kind {self.kind!r} is not valid; "
                                     f"choose one of {SUBTASK_KINDS}")
        if (self.kind == "parallel") != (self.partner is None):
            raise InvalidConfigError(f"subtask {self.name!r}: a {self.kind} subtask "
                                     f"{'takes no' if self.kind == 'parallel' else 'needs a'} partner")


def check_subtasks(spec: dict[str, tuple[Subtask, ...]], arms: tuple[str, ...], references: tuple[str, ...],
                   signals: tuple[str, ...]) -> None:
    """Raise `InvalidConfigError` unless every arm, reference, signal and partner of `spec` exists."""
    names = [subtask.name for subtasks in spec.values() for subtask in subtasks]
    if len(names) != len(set(names)):
        raise InvalidConfigError(f"subtask names must be unique: {names}")
    for arm, subtasks in spec.items():
        if arm not in arms:
            raise InvalidConfigError(f"subtasks for unknown arm {arm!r}; arms: {arms}")
        for subtask in subtasks:
            if subtask.reference not in references:
                raise InvalidConfigError(f"subtask {subtask.name!r}: unknown reference {subtask.reference!r}; "
                                         f"valid: {references}")
            if subtask.signal not in signals:
                raise InvalidConfigError(f"subtask {subtask.name!r}: unknown signal {subtask.signal!r}; "
                                         f"valid: {signals}")
            others = [s.name for other, queue in spec.items() if other != arm for s in queue]
            if subtask.partner is not None and subtask.partner not in others:
                raise InvalidConfigError(f"subtask {subtask.name!r}: partner {subtask.partner!r} is not a "
                                         f"subtask of another arm; valid: {others}")
