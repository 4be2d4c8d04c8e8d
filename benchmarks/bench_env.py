"""Env speed vs the raw physics limit of the same model, and reset time; writes benchmarks/results/env_speed.json.

The machine is shared: the ratio moves with other load, so the benchmark repeats itself and reports
every repeat with the median and range.

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

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env-id", default="dmg/Stack-v0")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--pause", type=float, default=10.0, help="seconds between repeats [s]")
    parser.add_argument("--out", type=Path, default=RESULTS / "env_speed.json")
    args = parser.parse_args()
    repeats = []
    for index in range(args.repeats):
        if index:
            time.sleep(args.pause)
        repeats.append(benchmark_env(args.env_id, steps=args.steps, rounds=args.rounds))
        print(f"repeat {index}: {repeats[-1]['env_steps_per_s']:.0f} env steps/s, "
              f"env/limit {repeats[-1]['env_over_limit']:.3f}")
    ratios = [r["env_over_limit"] for r in repeats]
    summary = {
        "command": "python benchmarks/bench_env.py",
        "env_id": args.env_id,
        "env_over_limit_median": round(statistics.median(ratios), 3),
        "env_over_limit_range": [min(ratios), max(ratios)],
        "env_steps_per_s_median": round(statistics.median(r["env_steps_per_s"] for r in repeats), 1),
        "physics_limit_env_steps_per_s_median": round(
            statistics.median(r["physics_limit_env_steps_per_s"] for r in repeats), 1),
        "reset_median_ms": round(statistics.median(r["reset_median_ms"] for r in repeats), 3),
        "repeats": repeats,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{args.env_id}: env/limit median {summary['env_over_limit_median']:.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f}), {summary['env_steps_per_s_median']:.0f} env steps/s, "
          f"physics limit {summary['physics_limit_env_steps_per_s_median']:.0f}, "
          f"median reset {summary['reset_median_ms']:.3f} ms -> {args.out}")


if __name__ == "__main__":
    main()
