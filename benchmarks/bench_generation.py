"""Generation success rate and throughput, D-MG (DMP expert) against the MimicGen baseline, side by side
on the same seeds and source demo, for every task. Writes benchmarks/results/generation.json and
generation_speed.png.

Run: .venv/bin/python benchmarks/bench_generation.py [--attempts 200] [--workers 2] [--tasks stack mug_drawer ...]
(or `make bench`; with --tasks, the other tasks keep their records in the file)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from dmg_envs.bench import write_merged

RESULTS = Path(__file__).parent / "results"
# Per task, (label, dynamics preset, reset distribution).
CONDITIONS = {
    "stack": [("static D0", "static", "D0"), ("static D1", "static", "D1"), ("dmg-paper", "dmg-paper", "D0"),
              ("slow", "slow", "D0"), ("fast", "fast", "D0"), ("jumps", "jumps", "D0")],
    "mug_drawer": [("static D0", "static", "D0"), ("static D1", "static", "D1"), ("dmg-paper", "dmg-paper", "D0"),
                   ("slow", "slow", "D0"), ("cabinet", "cabinet", "D0")],
    "tray_lift": [("static D0", "static", "D0"), ("static D1", "static", "D1"), ("dmg-paper", "dmg-paper", "D0"),
                  ("slow", "slow", "D0"), ("fast", "fast", "D0")],
    "pouring": [("static D0", "static", "D0"), ("static D1", "static", "D1"), ("dmg-paper", "dmg-paper", "D0"),
                ("slow", "slow", "D0"), ("fast", "fast", "D0")],
}
SPEEDS = [0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.12]  # [m/s] drift of both Stack cubes, for the plot


def _attempts(job: tuple[str, str, str, str, float | None, list[int]]) -> list[bool]:
    """Run attempts in a worker: (task, generator, dynamics, reset distribution, drift speed or None,
    attempt indices)."""
    import gymnasium as gym

    from dmg_envs.datagen.attempts import AttemptRunner
    from dmg_envs.datagen.config import GenerationConfig, attempt_seed
    from dmg_envs.wrappers import ObjectPerturbation

    task, generator, dynamics, distribution, speed, indices = job
    config = GenerationConfig(task=task, generator=generator, dynamics=dynamics, reset_distribution=distribution)
    env = None
    if speed is not None:  # the preset replaced by a drift of the given speed
        env = gym.make(config.env_id, reset_distribution=distribution)
        if speed > 0:
            env = ObjectPerturbation(env, motion="drift", params={"speed": speed})
    runner = AttemptRunner(config, env=env)
    return [runner.run(attempt_seed(config.seed, index)).success for index in indices]


def run_condition(pool, task, generator, dynamics, distribution, speed, attempts, workers):
    indices = list(range(attempts))
    chunks = [indices[i::workers * 4] for i in range(workers * 4)]
    start = time.perf_counter()
    outcomes = [ok for part in pool.map(_attempts, [(task, generator, dynamics, distribution, speed, chunk)
                                                    for chunk in chunks]) for ok in part]
    seconds = time.perf_counter() - start
    return {"attempts": len(outcomes), "successes": int(sum(outcomes)), "success_rate": float(np.mean(outcomes)),
            "seconds": round(seconds, 1), "successes_per_second": round(sum(outcomes) / seconds, 2)}


def throughput(task: str, num_demos: int, workers: int) -> dict:
    """A real `generate` run (dataset written) of the D-MG generator, static: demos/s end to end."""
    from dmg_envs.datagen import GenerationConfig, generate

    with tempfile.TemporaryDirectory() as folder:
        os.environ["MINARI_DATASETS_PATH"] = str(Path(folder) / "datasets")
        start = time.perf_counter()
        summary = generate(GenerationConfig(task=task, num_demos=num_demos), work_dir=Path(folder) / "work",
                           workers=workers)
        seconds = time.perf_counter() - start
    return {"task": task, "num_demos": num_demos, "workers": workers, "seconds_end_to_end": round(seconds, 1),
            "demos_per_second_end_to_end": round(num_demos / seconds, 2), "attempts": summary["attempts"]}


def plot(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 3.5), dpi=120)
    for generator, label in (("dmp", "D-MG (DMP expert)"), ("mimicgen", "MimicGen baseline")):
        rates = [record["speed_sweep"][generator][str(speed)]["success_rate"] * 100 for speed in SPEEDS]
        axes.plot([s * 100 for s in SPEEDS], rates, marker="o", label=label)
    axes.set_xlabel("object drift speed [cm/s]")
    axes.set_ylabel("generation success [%]")
    axes.set_ylim(-3, 103)
    axes.set_title("dmg/Stack-v0, 1 source demo")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=200, help="attempts per generator and condition")
    parser.add_argument("--sweep-attempts", type=int, default=100, help="attempts per point of the Stack speed sweep")
    parser.add_argument("--throughput-demos", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    parser.add_argument("--out", type=Path, default=RESULTS / "generation.json")
    args = parser.parse_args()
    record = {"command": "python benchmarks/bench_generation.py",
              "source": {task: f"{task}_1[0]" for task in args.tasks}, "attempts_per_cell": args.attempts,
              "conditions": {}, "speed_sweep": {"dmp": {}, "mimicgen": {}}, "throughput": {}}
    with ProcessPoolExecutor(args.workers) as pool:
        for task in args.tasks:
            for label, dynamics, distribution in CONDITIONS[task]:
                for generator in ("dmp", "mimicgen"):
                    result = run_condition(pool, task, generator, dynamics, distribution, None, args.attempts,
                                           args.workers)
                    record["conditions"].setdefault(task, {}).setdefault(label, {})[generator] = result
                    print(f"{task:10s} {label:10s} {generator:9s} success {result['success_rate']:.1%} "
                          f"({result['successes']}/{result['attempts']}), {result['successes_per_second']} demos/s",
                          flush=True)
        if "stack" in args.tasks:
            for speed in SPEEDS:
                for generator in ("dmp", "mimicgen"):
                    result = run_condition(pool, "stack", generator, "static", "D0", speed, args.sweep_attempts,
                                           args.workers)
                    record["speed_sweep"][generator][str(speed)] = result
                    print(f"drift {speed * 100:4.0f} cm/s {generator:9s} success {result['success_rate']:.1%}",
                          flush=True)
    for task in args.tasks:
        record["throughput"][task] = throughput(task, args.throughput_demos, args.workers)
        print(f"throughput: {record['throughput'][task]}", flush=True)
    if "stack" not in args.tasks:
        del record["speed_sweep"]  # the file keeps the last one
    write_merged(args.out, record, per_task=("source", "conditions", "throughput"), same=("attempts_per_cell",),
                 carry=("speed_sweep",))
    if "stack" in args.tasks:
        plot(record, args.out.with_name("generation_speed.png"))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
