"""The subtask schedule: DexMimicGen's kinds (parallel, coordination, sequential) for two arms."""

import pytest

from dmg_envs.datagen.schedule import SubtaskSchedule
from dmg_envs.envs.task import Subtask, check_subtasks
from dmg_envs.errors import InvalidConfigError

# A: a1, a2 (with B's b2), a3, a4; B: b1, b2 (with A's a2), b3 (only once a3 has ended).
SPEC = {"A": (Subtask("a1", "x", "s"), Subtask("a2", "x", "s", "coordination", "b2"), Subtask("a3", "x", "s"),
              Subtask("a4", "x", "s")),
        "B": (Subtask("b1", "x", "s"), Subtask("b2", "x", "s", "coordination", "a2"),
              Subtask("b3", "x", "s", "sequential", "a3"))}


def test_parallel_subtasks_end_independently():
    schedule = SubtaskSchedule(SPEC)
    assert schedule.start_ready() == ["A", "B"]
    assert schedule.finish({"A": True, "B": False}) == ["A"]
    assert schedule.index == {"A": 1, "B": 0}


def test_coordination_subtasks_start_together_and_end_on_the_same_step():
    schedule = SubtaskSchedule(SPEC)
    schedule.start_ready()
    schedule.finish({"A": True})
    assert schedule.start_ready() == []  # A waits at a2 for B
    schedule.finish({"B": True})
    assert schedule.start_ready() == ["A", "B"]  # both start a2/b2 on the same step
    assert schedule.finish({"A": True, "B": False}) == []  # A is done, but not B: neither ends
    assert schedule.finish({"A": False, "B": True}) == []
    assert schedule.finish({"A": True, "B": True}) == ["A", "B"]


def test_a_sequential_subtask_never_starts_before_its_predecessor_ends():
    schedule = SubtaskSchedule(SPEC)
    schedule.start_ready()
    schedule.finish({"A": True, "B": True})
    schedule.start_ready()
    schedule.finish({"A": True, "B": True})  # a2 and b2 end: A runs a3, B waits for it at b3
    assert schedule.start_ready() == ["A"]
    for _ in range(5):
        assert schedule.finish({"A": False, "B": True}) == [] and schedule.start_ready() == []
        assert not schedule.running["B"]
    assert schedule.finish({"A": True}) == ["A"]
    assert sorted(schedule.start_ready()) == ["A", "B"]  # a3 ended: b3 starts


def test_an_arms_last_subtask_ends_only_with_the_episode():
    schedule = SubtaskSchedule({"A": (Subtask("a1", "x", "s"),)})
    schedule.start_ready()
    assert schedule.finish({"A": True}) == [] and schedule.index == {"A": 0}


def test_a_coordination_half_sent_back_stops_its_partner_and_both_start_again_together():
    schedule = SubtaskSchedule(SPEC)
    schedule.start_ready()
    schedule.finish({"A": True, "B": True})
    assert schedule.start_ready() == ["A", "B"]  # a2 and b2 run
    schedule.restart("A", 0)  # A lost what it held: back to a1; B must not go on with b2 alone
    assert schedule.running == {"A": False, "B": False}
    assert schedule.start_ready() == ["A"]
    schedule.finish({"A": True})
    assert schedule.start_ready() == ["A", "B"]


def _spec(a: tuple, b: tuple) -> dict:
    return {"A": tuple(Subtask(*args) for args in a), "B": tuple(Subtask(*args) for args in b)}


def test_a_valid_spec_passes():
    check_subtasks(SPEC, ("A", "B"), ("x",), ("s",))


@pytest.mark.parametrize("spec, message", [
    (_spec([("a1", "x", "s"), ("a2", "x", "s")], [("b1", "x", "s", "sequential", "a2")]),
     "last subtask and never ends"),
    (_spec([("a1", "x", "s"), ("a2", "x", "s", "coordination", "b1")], [("b1", "x", "s"), ("b2", "x", "s")]),
     "naming it back"),
    (_spec([("a1", "x", "s"), ("a2", "x", "s", "coordination", "b2")],
           [("b1", "x", "s"), ("b2", "y", "s", "coordination", "a2")]), "share their reference"),
    (_spec([("a1", "x", "s", "coordination", "b2")], [("b1", "x", "s"), ("b2", "x", "s", "coordination", "a1")]),
     "both be first, both last or neither"),
    (_spec([("a1", "x", "s"), ("a2", "x", "s", "sequential", "b2"), ("a3", "x", "s")],
           [("b1", "x", "s"), ("b2", "x", "s", "sequential", "a2"), ("b3", "x", "s")]), "wait for each other"),
])
def test_specs_that_cannot_be_scheduled_are_rejected_naming_the_problem(spec, message):
    with pytest.raises(InvalidConfigError, match=message):
        check_subtasks(spec, ("A", "B"), ("x", "y"), ("s",))


def test_a_sequential_subtask_given_where_its_arm_set_off_waits_for_its_partners_arm_to_get_that_far():
    """b3 set off at demo step 40 in the source demo, when A was 10 steps into a4: after a3 has ended, B
    starts only once A's replay has reached demo step 40, not as soon as a3 has ended."""
    schedule = SubtaskSchedule(SPEC, set_off={"b3": 40})
    schedule.start_ready({"A": 0, "B": 0})
    schedule.finish({"A": True, "B": True})
    schedule.start_ready({"A": 10, "B": 10})
    schedule.finish({"A": True, "B": True})
    assert schedule.start_ready({"A": 20, "B": 20}) == ["A"]  # a3 runs, B waits for it at b3
    assert schedule.finish({"A": True}) == ["A"]
    assert schedule.start_ready({"A": 30, "B": 20}) == ["A"]  # a3 ended, A at a4's start: not far enough
    for step in (31, 35, 39):
        assert schedule.start_ready({"A": step, "B": 20}) == []
    assert schedule.start_ready({"A": 40, "B": 20}) == ["B"]
