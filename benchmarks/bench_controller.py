"""How well the controller follows the action, through the env's action interface on dmg/Stack-v0; writes
benchmarks/results/controller.json (the README's controller figures come from here; the tests in
tests/sim/test_controller.py hold the same behaviour to its bounds).

- Constant delta actions along each world axis, amplitudes 0.3 and 0.5, for 10 control steps: the share of
  the commanded distance covered, the sideways drift, the orientation drift.
- A constant 0.2 yaw-rate action for 5 steps: the share of the commanded turn.
- Absolute mode: control steps to reach seeded targets within 5 mm and 3 degrees.

Run: .venv/bin/python benchmarks/bench_controller.py   (or `make bench`)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np

import dmg_envs  # noqa: F401  (registers the ids)
from dmg_envs.envs.base import MAX_DELTA_POS, MAX_DELTA_ROT
from dmg_envs.sim.transforms import angle_between, mat_to_rotvec, rotvec_to_mat

RESULTS = Path(__file__).parent / "results"


def delta_moves(env: gym.Env) -> list[dict]:
    task, rows = env.unwrapped, []
    for axis in range(3):
        for amplitude in (0.3, 0.5):
            env.reset(seed=axis)
            start = task.eef_pose()
            action = np.zeros(7)
            action[axis], action[6] = amplitude, -1.0
            for _ in range(10):
                env.step(action)
            end = task.eef_pose()
            commanded = 10 * MAX_DELTA_POS * amplitude
            moved = end[:3, 3] - start[:3, 3]
            rows.append({"axis": "xyz"[axis], "amplitude": amplitude, "commanded_m": commanded,
                         "covered": round(float(moved[axis] / commanded), 3),
                         "sideways_m": round(float(np.linalg.norm(np.delete(moved, axis))), 4),
                         "orientation_drift_deg": round(float(np.degrees(angle_between(start[:3, :3],
                                                                                       end[:3, :3]))), 3)})
    return rows


def yaw_turn(env: gym.Env) -> dict:
    task = env.unwrapped
    env.reset(seed=0)
    start = task.eef_pose()
    for _ in range(5):
        env.step(np.array([0, 0, 0, 0, 0, 0.2, -1.0]))
    end = task.eef_pose()
    turned = mat_to_rotvec(end[:3, :3] @ start[:3, :3].T)
    commanded = 5 * 0.2 * MAX_DELTA_ROT
    return {"commanded_rad": commanded, "covered": round(float(turned[2] / commanded), 3),
            "position_drift_m": round(float(np.linalg.norm(end[:3, 3] - start[:3, 3])), 4)}


def absolute_targets(seeds: int = 10) -> list[int | None]:
    env = gym.make("dmg/Stack-v0", control_mode="absolute")
    task, steps_needed = env.unwrapped, []
    for seed in range(seeds):
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        start = task.eef_pose()
        target_pos = start[:3, 3] + rng.uniform([-0.15, -0.2, -0.15], [0.25, 0.2, 0.1])
        tilt, yaw = rng.uniform(-0.3, 0.3), rng.uniform(-0.8, 0.8)
        target_mat = rotvec_to_mat([0, 0, yaw]) @ rotvec_to_mat([tilt, 0, 0]) @ start[:3, :3]
        action = np.concatenate([target_pos, mat_to_rotvec(target_mat), [-1.0]])
        reached = None
        for step in range(1, 41):
            env.step(action)
            pose = task.eef_pose()
            close = np.linalg.norm(pose[:3, 3] - target_pos) < 0.005
            if close and np.degrees(angle_between(pose[:3, :3], target_mat)) < 3:
                reached = step
                break
        steps_needed.append(reached)
    return steps_needed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS / "controller.json")
    args = parser.parse_args()
    env = gym.make("dmg/Stack-v0")
    moves = delta_moves(env)
    record = {"command": "python benchmarks/bench_controller.py", "delta_moves": moves, "yaw_turn": yaw_turn(env),
              "absolute_steps_to_5mm_3deg": absolute_targets()}
    covered = [row["covered"] for row in moves]
    record["summary"] = {"delta_covered_range": [min(covered), max(covered)],
                         "delta_orientation_drift_max_deg": max(row["orientation_drift_deg"] for row in moves),
                         "delta_sideways_max_m": max(row["sideways_m"] for row in moves)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["summary"]), record["yaw_turn"], record["absolute_steps_to_5mm_3deg"])
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
