"""Image observations: env steps/s with two 84x84 cameras against none, and generation throughput with
`--images` against without, measured side by side in one run; writes benchmarks/results/images.json.

Run: MUJOCO_GL=osmesa .venv/bin/python benchmarks/bench_images.py [--demos 100] [--workers 2] [--task stack]
(`make bench` sets MUJOCO_GL)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

RESULTS = Path(__file__).parent / "results"
CAMERAS = ("agentview", "robot0_eye_in_hand")


def env_steps_per_second(env_id: str, cameras: tuple[str, ...], steps: int) -> float:
    env = gym.make(env_id, render_observations=cameras)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (steps, *env.action_space.shape)).astype(np.float32)
    env.reset(seed=0)
    env.step(actions[0])  # the renderer is made on the first observation
    start = time.perf_counter()
    for action in actions:
        _, _, _, truncated, _ = env.step(action)
        if truncated:
            env.reset()
    seconds = time.perf_counter() - start
    env.close()
    return steps / seconds


def generation_demos_per_second(task: str, images: bool, demos: int, workers: int) -> dict:
    from dmg_envs.datagen import GenerationConfig, generate

    with tempfile.TemporaryDirectory() as folder:
        os.environ["MINARI_DATASETS_PATH"] = str(Path(folder) / "datasets")
        start = time.perf_counter()
        summary = generate(GenerationConfig(task=task, num_demos=demos, images=images),
                           work_dir=Path(folder) / "work", workers=workers)
        seconds = time.perf_counter() - start
        size = sum(path.stat().st_size for path in (Path(folder) / "datasets").rglob("*") if path.is_file())
    return {"images": images, "num_demos": demos, "attempts": summary["attempts"], "seconds": round(seconds, 1),
            "demos_per_second": round(demos / seconds, 2), "dataset_mb": round(size / 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="stack")
    parser.add_argument("--demos", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "images.json")
    args = parser.parse_args()
    import dmg_envs  # noqa: F401  (registers the ids)
    from dmg_envs.bench import write_merged
    from dmg_envs.registration import TASKS

    env_id = TASKS[args.task].env_id
    ratios, rates = [], {"off": [], "on": []}
    for repeat in range(args.repeats):  # in turn, so that both see the same machine load
        off = env_steps_per_second(env_id, (), args.steps)
        on = env_steps_per_second(env_id, CAMERAS, args.steps)
        rates["off"].append(round(off, 1))
        rates["on"].append(round(on, 1))
        ratios.append(round(on / off, 4))
        print(f"repeat {repeat}: {off:.0f} env steps/s without images, {on:.0f} with two 84x84 cameras "
              f"({on / off:.3f})", flush=True)
    generation = [generation_demos_per_second(args.task, images, args.demos, args.workers)
                  for images in (False, True)]
    for result in generation:
        print(f"generation, images {result['images']}: {result['demos_per_second']} demos/s "
              f"({result['num_demos']} demos, {args.workers} workers, {result['dataset_mb']} MB)", flush=True)
    record = {"command": "python benchmarks/bench_images.py", "cameras": list(CAMERAS), "image_size": [84, 84],
              "env": {args.task: {"env_id": env_id, "steps_per_s_without_images": rates["off"],
                                  "steps_per_s_with_images": rates["on"], "ratio": ratios,
                                  "ratio_median": statistics.median(ratios)}},
              "generation": {args.task: {"workers": args.workers, "without_images": generation[0],
                                         "with_images": generation[1],
                                         "ratio": round(generation[1]["demos_per_second"]
                                                        / generation[0]["demos_per_second"], 3)}}}
    write_merged(args.out, record, per_task=("env", "generation"))


if __name__ == "__main__":
    main()
