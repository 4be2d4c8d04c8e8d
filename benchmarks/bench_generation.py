"""Generation success rate and throughput, D-MG (DMP expert) against the MimicGen baseline, side by side
on the same seeds and source demo. Writes benchmarks/results/generation.json and generation_speed.png.

Run: .venv/bin/python benchmarks/bench_generation.py [--attempts 200] [--workers 2]   (or `make bench`)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
# (label, dynamics preset, reset distribution)
CONDITIONS = [("static D0", "static", "D0"), ("static D1", "static", "D1"), ("dmg-paper", "dmg-paper", "D0"),
              ("slow", "slow", "D0"), ("fast", "fast", "D0"), ("jumps", "jumps", "D0")]
SPEEDS = [0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.12]  # [m/s] drift of both cubes, for the plot


def _attempts(job: tuple[str, str, str, float | None, list[int]]) -> list[bool]:
    """Run attempts in a worker: (generator, dynamics, reset distribution, drift speed or None, seeds)."""
    import gymnasium as gym

    from dmg_envs.datagen.generate import GenerationConfig, _Attempts
    from dmg_envs.wrappers import ObjectPerturbation

    generator, dynamics, distribution, speed, seeds = job
    attempts = _Attempts(GenerationConfig(generator=generator, dynamics=dynamics, reset_distribution=distribution))
    if speed is not None:  # replace the preset by a drift of the given speed
        env = gym.make("dmg/Stack-v0", reset_distribution=distribution)
        if speed > 0:
            env = ObjectPerturbation(env, motion="drift", params={"speed": speed})
        attempts.env = env
        if generator == "dmp":
            from dmg_envs.wrappers.dmp_expert import DMPExpert

            attempts.expert = DMPExpert(env, attempts.demo)
    return [attempts.run(seed).success for seed in seeds]


def run_condition(pool, generator, dynamics, distribution, speed, attempts, workers):
    from dmg_envs.datagen.generate import SEED_OFFSET

    seeds = list(range(SEED_OFFSET, SEED_OFFSET + attempts))
    chunks = [seeds[i::workers * 4] for i in range(workers * 4)]
    start = time.perf_counter()
    outcomes = [ok for part in pool.map(_attempts, [(generator, dynamics, distribution, speed, c) for c in chunks])
                for ok in part]
    seconds = time.perf_counter() - start
    return {"attempts": len(outcomes), "successes": int(sum(outcomes)), "success_rate": float(np.mean(outcomes)),
            "seconds": round(seconds, 1), "successes_per_second": round(sum(outcomes) / seconds, 2)}


def throughput(num_demos: int, workers: int) -> dict:
    """A real `generate` run (dataset written) of the D-MG generator, static: demos/s end to end."""
    from dmg_envs.datagen.generate import GenerationConfig, generate

    with tempfile.TemporaryDirectory() as folder:
        os.environ["MINARI_DATASETS_PATH"] = str(Path(folder) / "datasets")
        start = time.perf_counter()
        summary = generate(GenerationConfig(num_demos=num_demos), work_dir=Path(folder) / "work", workers=workers)
        seconds = time.perf_counter() - start
    return {"num_demos": num_demos, "workers": workers, "seconds_end_to_end": round(seconds, 1),
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
    parser.add_argument("--sweep-attempts", type=int, default=100, help="attempts per point of the speed sweep")
    parser.add_argument("--throughput-demos", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "generation.json")
    args = parser.parse_args()
    record = {"command": "python benchmarks/bench_generation.py", "source": "stack_1[0]", "conditions": {},
              "speed_sweep": {"dmp": {}, "mimicgen": {}}}
    with ProcessPoolExecutor(args.workers) as pool:
        for label, dynamics, distribution in CONDITIONS:
            for generator in ("dmp", "mimicgen"):
                result = run_condition(pool, generator, dynamics, distribution, None, args.attempts, args.workers)
                record["conditions"].setdefault(label, {})[generator] = result
                print(f"{label:10s} {generator:9s} success {result['success_rate']:.1%} "
                      f"({result['successes']}/{result['attempts']}), {result['successes_per_second']} demos/s",
                      flush=True)
        for speed in SPEEDS:
            for generator in ("dmp", "mimicgen"):
                result = run_condition(pool, generator, "static", "D0", speed, args.sweep_attempts, args.workers)
                record["speed_sweep"][generator][str(speed)] = result
                print(f"drift {speed * 100:4.0f} cm/s {generator:9s} success {result['success_rate']:.1%}", flush=True)
    record["throughput"] = throughput(args.throughput_demos, args.workers)
    print(f"throughput: {record['throughput']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    plot(record, args.out.with_name("generation_speed.png"))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
