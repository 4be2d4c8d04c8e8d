"""When each arm runs which subtask, by DexMimicGen's kinds; shared by the DMP expert and the baseline.

- parallel: an arm starts its next subtask as soon as it ended its previous one;
- sequential: it also waits until its partner (the other arm's subtask) has ended and, given where the arm
  set off in the source demo (`set_off`), until the partner's arm has got as far through its own replay
  as it had in the demo then (the pouring arm has put its cup back, as when the bowl arm set off);
- coordination: both halves start on the same step, once both arms have reached them, and end on the
  same step, once both arms are done with them.
An arm's last subtask ends with the episode.
"""

from __future__ import annotations

from dmg_envs.envs.task import Subtask


class SubtaskSchedule:
    """The subtask each arm is at, and whether it is running it or waiting to start it.

    The generator calls `start_ready(progress)` after a reset and after every step's `finish(...)`, and
    starts the subtasks it returns; between the two, an arm that waits holds still.

    Args:
        subtask_spec: the task's subtasks per arm (`env.unwrapped.subtask_spec`).
        set_off: per sequential subtask, the source-demo step at which its arm set off for it (its segment's
            start, `trim_waits`); it starts only once its partner's arm has reached that demo step too.
            None: it starts as soon as its partner has ended.
    """

    def __init__(self, subtask_spec: dict[str, tuple[Subtask, ...]], set_off: dict[str, int] | None = None):
        self.spec = subtask_spec
        self.set_off = dict(set_off or {})
        self.arms = tuple(subtask_spec)
        self._arm_of = {subtask.name: (arm, index) for arm, subtasks in subtask_spec.items()
                        for index, subtask in enumerate(subtasks)}
        self.reset()

    def reset(self) -> None:
        """Every arm at its first subtask, waiting to start it."""
        self.index = dict.fromkeys(self.arms, 0)
        self.running = dict.fromkeys(self.arms, False)

    def current(self, arm: str) -> Subtask:
        """The subtask `arm` runs or waits to start."""
        return self.spec[arm][self.index[arm]]

    def is_last(self, arm: str) -> bool:
        """Whether `arm` is at its last subtask (which ends with the episode)."""
        return self.index[arm] == len(self.spec[arm]) - 1

    def ended(self, name: str) -> bool:
        """Whether subtask `name` has ended (its arm has moved past it)."""
        arm, index = self._arm_of[name]
        return self.index[arm] > index

    def start_ready(self, progress: dict[str, int] | None = None) -> list[str]:
        """The waiting arms that start their current subtask now (marked running). `progress`: per arm, the
        source-demo step its replay has reached (needed with `set_off`; missing arms count as not there)."""
        starting = []
        for arm in self.arms:
            if self.running[arm]:
                continue
            subtask = self.current(arm)
            if subtask.kind == "sequential":
                partner_arm = self._arm_of[subtask.partner][0]
                there = subtask.name not in self.set_off or \
                    (progress or {}).get(partner_arm, -1) >= self.set_off[subtask.name]
                ready = self.ended(subtask.partner) and there
            elif subtask.kind == "coordination":  # both halves waiting at their start: both start now
                partner_arm, partner_index = self._arm_of[subtask.partner]
                ready = self.index[partner_arm] == partner_index and not self.running[partner_arm]
            else:
                ready = True
            if ready:
                starting.append(arm)
        for arm in starting:
            self.running[arm] = True
        return starting

    def finish(self, done: dict[str, bool]) -> list[str]:
        """End the running subtasks of the arms that are `done` with them (a coordination subtask only when
        its partner is done too, both together; an arm's last subtask never); returns the arms that ended."""
        ending = []
        for arm in self.arms:
            if not (self.running[arm] and done.get(arm, False)) or self.is_last(arm):
                continue
            subtask = self.current(arm)
            if subtask.kind == "coordination" and not self._running_and_done(subtask.partner, done):
                continue
            ending.append(arm)
        for arm in ending:
            self.index[arm] += 1
            self.running[arm] = False
        return ending

    def _running_and_done(self, name: str, done: dict[str, bool]) -> bool:
        arm, index = self._arm_of[name]
        return self.index[arm] == index and self.running[arm] and done.get(arm, False)

    def restart(self, arm: str, index: int) -> None:
        """Send `arm` back to its subtask `index` (a lost grasp), to start again at the next `start_ready`.
        A coordination half it leaves stops its partner too: the two start again together."""
        subtask = self.current(arm)
        if subtask.kind == "coordination" and self.running[arm]:
            partner_arm, partner_index = self._arm_of[subtask.partner]
            if self.index[partner_arm] == partner_index:
                self.running[partner_arm] = False
        self.index[arm], self.running[arm] = index, False
