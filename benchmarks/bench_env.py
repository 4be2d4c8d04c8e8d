"""Env speed vs the raw physics limit of the same model, and reset time, for every task; writes
benchmarks/results/env_speed.json.

The machine is shared: the ratio moves with other load, so the benchmark repeats itself (the envs in turn,
10 s apart) and reports every repeat with the median and range per env.

Run: .venv/bin/python benchmarks/bench_env.py   (or `make bench`)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import dmg_envs  # noqa: F401  (registers the ids)
from dmg_envs.bench import benchmark_env
from dmg_envs.registration import TASKS

RESULTS = Path(__file__).parent / "results"


def summarise(env_id: str, repeats: list[dict]) -> dict:
    ratios = [r["env_over_limit"] for r in repeats]
    return {
        "env_id": env_id,
        "env_over_limit_median": round(statistics.median(ratios), 3),
        "env_over_limit_range": [min(ratios), max(ratios)],
        "env_steps_per_s_median": round(statistics.median(r["env_steps_per_s"] for r in repeats), 1),
        "physics_limit_env_steps_per_s_median": round(
            statistics.median(r["physics_limit_env_steps_per_s"] for r in repeats), 1),
        "reset_median_ms": round(statistics.median(r["reset_median_ms"] for r in repeats), 3),
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env-ids", nargs="+", default=[entry.env_id for entry in TASKS.values()])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--pause", type=float, default=10.0, help="seconds between repeats [s]")
    parser.add_argument("--out", type=Path, default=RESULTS / "env_speed.json")
    args = parser.parse_args()
    repeats: dict[str, list[dict]] = {env_id: [] for env_id in args.env_ids}
    for index in range(args.repeats):
        if index:
            time.sleep(args.pause)
        for env_id in args.env_ids:
            repeats[env_id].append(benchmark_env(env_id, steps=args.steps, rounds=args.rounds))
            print(f"repeat {index} {env_id}: {repeats[env_id][-1]['env_steps_per_s']:.0f} env steps/s, "
                  f"env/limit {repeats[env_id][-1]['env_over_limit']:.3f}", flush=True)
    record = {"command": "python benchmarks/bench_env.py",
              "envs": {env_id: summarise(env_id, runs) for env_id, runs in repeats.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    for env_id, summary in record["envs"].items():
        low, high = summary["env_over_limit_range"]
        print(f"{env_id}: env/limit median {summary['env_over_limit_median']:.3f} (range {low:.3f}-{high:.3f}), "
              f"{summary['env_steps_per_s_median']:.0f} env steps/s, physics limit "
              f"{summary['physics_limit_env_steps_per_s_median']:.0f}, "
              f"median reset {summary['reset_median_ms']:.3f} ms")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
