"""How often each task's scripted source demonstrator succeeds, on 100 seeds per reset distribution, and
how long its demos are; writes benchmarks/results/demonstrators.json.

Run: .venv/bin/python benchmarks/bench_demonstrators.py [--seeds 100] [--workers 2] [--tasks ...]   (or `make bench`)
(with --tasks, the other tasks keep their records in the file)
"""

from __future__ import annotations

import argparse
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dmg_envs.bench import write_merged

RESULTS = Path(__file__).parent / "results"


def _record(job: tuple[str, str, list[int]]) -> list[tuple[int, bool, int]]:
    import gymnasium as gym

    import dmg_envs  # noqa: F401  (registers the ids)
    from dmg_envs.datagen.sources import record_demo
    from dmg_envs.registration import TASKS

    task, distribution, seeds = job
    env = gym.make(TASKS[task].env_id, reset_distribution=distribution)
    results = []
    for seed in seeds:
        demo = record_demo(env, task, seed)
        results.append((seed, demo.success, demo.num_steps))
    return results


def main() -> None:
    from dmg_envs.registration import TASKS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--out", type=Path, default=RESULTS / "demonstrators.json")
    args = parser.parse_args()
    record = {"command": "python benchmarks/bench_demonstrators.py", "seeds": args.seeds, "tasks": {}}
    with ProcessPoolExecutor(args.workers) as pool:
        for task in args.tasks:
            for distribution in ("D0", "D1"):
                seeds = list(range(args.seeds))
                jobs = [(task, distribution, seeds[i::args.workers * 2]) for i in range(args.workers * 2)]
                results = sorted(r for part in pool.map(_record, jobs) for r in part)
                lengths = [steps for _, success, steps in results if success]
                record["tasks"].setdefault(task, {})[distribution] = {
                    "successes": len(lengths), "episodes": len(results),
                    "failed_seeds": [seed for seed, success, _ in results if not success],
                    "steps_median": statistics.median(lengths) if lengths else None,
                    "steps_range": [min(lengths), max(lengths)] if lengths else None}
                print(f"{task} {distribution}: {len(lengths)}/{len(results)} solved, demo length median "
                      f"{record['tasks'][task][distribution]['steps_median']}", flush=True)
    write_merged(args.out, record, per_task=("tasks",), same=("seeds",))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
