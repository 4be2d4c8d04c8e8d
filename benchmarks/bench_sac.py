"""SAC seeded with demonstrations against SAC from scratch, at the same step budget (the learning-curve
plot of the leaderboard). The same as `dmg train sac <env> --demos <dataset>`, with its outputs kept:

    python benchmarks/bench_sac.py --steps 30000

writes benchmarks/results/sac.json and benchmarks/results/sac_curves.png (models stay in --work-dir).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="dmg/Stack-v0")
    parser.add_argument("--task", default="stack")
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--eval-every", type=int, default=5000)
    parser.add_argument("--demos", type=int, default=50, help="demonstrations seeding the replay buffer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=Path.home() / ".cache" / "dmg-envs" / "leaderboard")
    args = parser.parse_args()
    os.environ.setdefault("MINARI_DATASETS_PATH", str(args.work_dir / "datasets"))
    os.environ.setdefault("DMG_WORK_DIR", str(args.work_dir / "generation"))

    import minari

    from dmg_envs.datagen.config import GenerationConfig
    from dmg_envs.datagen.generate import generate
    from dmg_envs.learning.sb3 import plot_curves, train_sb3

    config = GenerationConfig(task=args.task, num_demos=args.demos, dynamics="static")
    if config.dataset_id not in minari.list_local_datasets():
        generate(config, workers=os.cpu_count() or 1)
    runs = args.work_dir / "sac"
    summaries = [train_sb3("sac", args.env_id, args.steps, runs / "demos", seed=args.seed, demos=config.dataset_id,
                           eval_every=args.eval_every, max_demo_episodes=args.demos),
                 train_sb3("sac", args.env_id, args.steps, runs / "scratch", seed=args.seed,
                           eval_every=args.eval_every)]
    results = ROOT / "benchmarks" / "results"
    plot_curves(summaries, results / "sac_curves.png")
    (results / "sac.json").write_text(json.dumps({"command": "python benchmarks/bench_sac.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "work_dir"), "runs": summaries},
        indent=2) + "\n")
    for summary in summaries:
        print(("seeded" if summary["demos"] else "scratch"), summary["curve"][-1],
              f"{summary['train_time_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
