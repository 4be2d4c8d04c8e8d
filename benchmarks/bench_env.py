"""Env speed vs the raw physics limit of the same model, and reset time; writes benchmarks/results/env_speed.json.

Run: .venv/bin/python benchmarks/bench_env.py   (or `make bench`)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import dmg_envs  # noqa: F401  (registers the ids)
from dmg_envs.bench import benchmark_env

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env-id", default="dmg/Stack-v0")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "env_speed.json")
    args = parser.parse_args()
    result = benchmark_env(args.env_id, steps=args.steps, rounds=args.rounds)
    result["command"] = "python benchmarks/bench_env.py"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['env_id']}: {result['env_steps_per_s']:.0f} env steps/s, physics limit "
          f"{result['physics_limit_env_steps_per_s']:.0f}, env/limit {result['env_over_limit']:.3f}, "
          f"median reset {result['reset_median_ms']:.3f} ms -> {args.out}")


if __name__ == "__main__":
    main()
