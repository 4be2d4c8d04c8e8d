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
    """Raise `InvalidConfigError` unless every arm, reference, signal and partner of `spec` exists and the
    kinds can be scheduled (`_check_kinds`)."""
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
    _check_kinds(spec)


def _check_kinds(spec: dict[str, tuple[Subtask, ...]]) -> None:
    """A coordination subtask's partner is a coordination subtask naming it back, on the same reference, at
    the same end of its queue (both first, both last or neither); a sequential subtask's partner is not its
    arm's last subtask (that one never ends); and no subtask waits, however indirectly, for itself."""
    where = {s.name: (arm, index) for arm, queue in spec.items() for index, s in enumerate(queue)}
    subtasks = {s.name: s for queue in spec.values() for s in queue}

    def position(name: str) -> tuple[bool, bool]:
        arm, index = where[name]
        return index == 0, index == len(spec[arm]) - 1

    waits_for: dict[str, set[str]] = {name: set() for name in subtasks}  # what must end before it starts
    for queue in spec.values():
        for index, subtask in enumerate(queue):
            if index:
                waits_for[subtask.name].add(queue[index - 1].name)
            partner = subtasks.get(subtask.partner or "")
            if subtask.kind == "coordination":
                if partner is None or partner.kind != "coordination" or partner.partner != subtask.name:
                    raise InvalidConfigError(f"coordination subtask {subtask.name!r}: its partner "
                                             f"{subtask.partner!r} must be a coordination subtask naming it back")
                if partner.reference != subtask.reference:
                    raise InvalidConfigError(f"coordination subtasks {subtask.name!r} and {partner.name!r} must share "
                                             f"their reference, got {subtask.reference!r} and {partner.reference!r}")
                if position(subtask.name) != position(partner.name):
                    raise InvalidConfigError(f"coordination subtasks {subtask.name!r} and {partner.name!r} must both "
                                             f"be first, both last or neither in their arms' queues")
                partner_arm, partner_index = where[partner.name]
                if partner_index:  # it starts only when the partner's arm has reached the partner
                    waits_for[subtask.name].add(spec[partner_arm][partner_index - 1].name)
            elif subtask.kind == "sequential":
                if position(subtask.partner)[1]:
                    raise InvalidConfigError(f"sequential subtask {subtask.name!r} waits for {subtask.partner!r}, "
                                             f"which is its arm's last subtask and never ends")
                waits_for[subtask.name].add(subtask.partner)
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise InvalidConfigError(f"subtasks wait for each other: {' -> '.join(path + (name,))}")
        state[name] = 1
        for other in sorted(waits_for[name]):
            visit(other, path + (name,))
        state[name] = 2

    for name in subtasks:
        visit(name, ())
