"""Your own policy on the leaderboard: a scripted Stack policy (no learning, no data of ours), evaluated by the
same protocol as our checkpoints and entered beside them.

Run:  dmg eval examples/scripted_stack_policy.py:ScriptedStack --env dmg/Stack-v0 \\
          --policy-name "Scripted pick-and-place (example)" --clips --out leaderboard/entries/my_policy.json
      dmg leaderboard                 # listed as unranked until its command is in leaderboard/commands.txt
      dmg leaderboard --html site     # the web page, with the clips of a won and a lost episode
or    python examples/scripted_stack_policy.py   (the same, from Python, 10 episodes per condition)

Any object with `reset(num_envs)` and `act(observations) -> actions` enters this way (here the observations
come as a batch of dicts, one row per env); a plain callable of one observation works too, and so does a
stable-baselines3 model file (`dmg eval model.zip --env ...`).
"""

import numpy as np

APPROACH, DESCEND, CLOSE, LIFT, CARRY, LOWER, RELEASE, RETREAT = range(8)
HOVER = 0.10  # [m] above a cube's centre while moving over it
GAIN = 10.0  # action per metre of error (1 = 5 cm in one step)


class ScriptedStack:
    """Pick cubeA, carry it over cubeB, put it down, let go and move up: a state machine per env."""

    obs_mode = "dict"
    recipe = {"algorithm": "scripted"}  # nobody trained it: one "training seed" is the whole protocol

    def reset(self, num_envs: int) -> None:
        self.phase = np.full(num_envs, APPROACH)
        self.timer = np.zeros(num_envs, dtype=int)

    def act(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        hand, cube_a, cube_b = (np.asarray(observations[key]) for key in ("robot0_eef_pos", "cubeA_pos", "cubeB_pos"))
        actions = np.zeros((len(hand), 7))
        for i in range(len(hand)):
            target, grip = self._target(i, cube_a[i], cube_b[i])
            error = target - hand[i]
            actions[i, :3] = np.clip(GAIN * error, -1.0, 1.0)
            actions[i, 6] = grip
            self._advance(i, np.linalg.norm(error))
        return actions

    def _target(self, i: int, cube_a: np.ndarray, cube_b: np.ndarray) -> tuple[np.ndarray, float]:
        up = np.array([0.0, 0.0, HOVER])
        stacked = cube_b + np.array([0.0, 0.0, 0.045])  # cubeA's centre on cubeB: half of each cube's side
        return {APPROACH: (cube_a + up, -1.0), DESCEND: (cube_a, -1.0), CLOSE: (cube_a, 1.0),
                LIFT: (np.append(cube_a[:2], stacked[2] + HOVER), 1.0),  # up, wherever the held cube is
                CARRY: (stacked + up, 1.0), LOWER: (stacked + [0, 0, 0.005], 1.0),
                RELEASE: (stacked, -1.0), RETREAT: (stacked + up, -1.0)}[self.phase[i]]

    def _advance(self, i: int, distance: float) -> None:
        self.timer[i] += 1
        reached = distance < (0.006 if self.phase[i] in (DESCEND, LOWER) else 0.01)
        waited = self.timer[i] >= 8
        if (self.phase[i] in (CLOSE, RELEASE) and waited) or (
                self.phase[i] not in (CLOSE, RELEASE, RETREAT) and reached):
            self.phase[i] += 1
            self.timer[i] = 0


if __name__ == "__main__":
    import json

    from dmg_envs.learning.outside import evaluate_outside_policies

    entry, _ = evaluate_outside_policies([f"{__file__}:ScriptedStack"], "dmg/Stack-v0",
                                         "Scripted pick-and-place (example)", episodes=10)
    print(json.dumps({name: figures["success_mean"] for name, figures in entry["evaluation"]["conditions"].items()}))
