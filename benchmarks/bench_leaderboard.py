"""The leaderboard rows: each task's recipe (`RECIPES`) trained on each kind of data, evaluated with the protocol.

For one task, each row's dataset is generated if it is missing (the count the row names, else --num-demos,
1,000, from the shipped source demo; again if a row on expert labels finds it written before the generator
stored them), a policy is trained per training seed (a run folder that already holds a finished run of the
same config is reused, so an interrupted benchmark resumes), the protocol's checkpoint is evaluated in every
condition, a won and a lost episode are rendered, and the entry goes to `leaderboard/entries/`, recording the
command that made it (this one, with --rows naming the row). `make leaderboard` runs the commands in
`leaderboard/commands.txt`, one per ranked row; `dmg leaderboard` then writes the tables.

    python benchmarks/bench_leaderboard.py --task stack --rows dmp-slow       # one ranked row, 3 seeds
    python benchmarks/bench_leaderboard.py --task stack                      # its TASK_ROWS
    python benchmarks/bench_leaderboard.py --task stack --rows dmp-slow --seeds 0
    python benchmarks/bench_leaderboard.py --task mug_drawer --rows dmp-static,dmp-mixed
    python benchmarks/bench_leaderboard.py --task mug_drawer --rows dmp-mixed --seeds 1 --train-only  # in parallel

Each task has its leaderboard rows (`TASK_ROWS`, run without --rows) and its recipe (`RECIPES`: algorithm,
budget, action chunk, observation history, gradient clipping); a row that names a learner (`Row.learner`, the
`-diffusion` rows) takes that learner's recipe instead (`LEARNER_RECIPES`). --algorithm, --epochs,
--steps-per-epoch, --action-chunk and --obs-history override the recipe, and a row that names its demo count or
epochs (`Row`) keeps them.

Datasets and run folders (checkpoints) live under --work-dir, never in the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Row(NamedTuple):
    """One leaderboard row: its training data, and the epochs where it trains longer or shorter than its task's
    recipe. generator None: the shipped source demo alone."""

    generator: str | None
    presets: tuple[str, ...] = ()  # dynamics presets; the row's demos are split evenly between them
    noise: float | None = None  # action noise; None: the generator's own
    labels: str = "executed"  # the actions trained on: "executed", or "expert" (the D-MG expert's before its noise)
    demos: int | None = None  # None: --num-demos
    epochs: int | None = None  # None: the task's recipe or --epochs
    learner: str | None = None  # a learner's own recipe (`LEARNER_RECIPES`); None: the task's (`RECIPES`)


ROWS = {
    "source": Row(None),
    "mimicgen-static": Row("mimicgen", ("static",)),
    "mimicgen-static2000": Row("mimicgen", ("static",), demos=2000),
    "dmp-static": Row("dmp", ("static",)),
    "dmp-slow": Row("dmp", ("slow",)),
    "dmp-mixed": Row("dmp", ("slow", "fast")),
    # MimicGen's action noise, corrected in closed loop
    "dmp-mixed-noise05": Row("dmp", ("slow", "fast"), noise=0.05),
    # on MugDrawer: more robust to motion, less precise
    "dmp-mixed-noise10": Row("dmp", ("slow", "fast"), noise=0.10),
    # labelled with the expert's corrections instead of the noisy actions (DART)
    "dmp-slow-noise10-expert": Row("dmp", ("slow",), noise=0.10, labels="expert"),
    # the same on more demos (a dataset's first demos are the smaller rows' demos)
    "dmp-slow2000-noise10-expert": Row("dmp", ("slow",), noise=0.10, labels="expert", demos=2000),
    "dmp-slow4000-noise10-expert": Row("dmp", ("slow",), noise=0.10, labels="expert", demos=4000),
    # trained longer (about 20 minutes a run alone on 2 cores), and MimicGen's data on the same budget
    "dmp-slow2000-noise10-expert-50ep": Row("dmp", ("slow",), noise=0.10, labels="expert", demos=2000, epochs=50),
    "mimicgen-static2000-50ep": Row("mimicgen", ("static",), demos=2000, epochs=50),
}
for _name in ("mimicgen-static", "dmp-slow", "dmp-mixed"):  # the same data, Diffusion Policy's recipe
    ROWS[f"{_name}-diffusion"] = ROWS[_name]._replace(learner="diffusion")
# each task's ranked rows (`leaderboard/commands.txt` runs each with --rows; without --rows, all of them):
# the method's data under motion against MimicGen's static data, with one learner at equal data and budget
TASK_ROWS = {
    "stack": ("source", "mimicgen-static", "dmp-static", "dmp-slow", "dmp-mixed"),
    "mug_drawer": ("mimicgen-static2000-50ep", "dmp-slow2000-noise10-expert-50ep"),
    "tray_lift": ("mimicgen-static-diffusion", "dmp-slow-diffusion"),
    "pouring": ("mimicgen-static-diffusion", "dmp-slow-diffusion"),
}

# Each task's TrainConfig fields. BC-RNN on whole episodes learns Stack (87 steps) in 3,000 steps; on
# MugDrawer (300 steps, four subtasks) it stayed near 0 %, and BC-MLP-GMM one action at a time stalled where
# the demos pause (26 % static); predicting chunks of 8 actions carries it through the pauses, clipped
# gradients keep rare far-out actions of the moving-object demos from stalling Adam, and two observations
# show how fast the mug moves (its rows before that: --obs-history 1). The two-arm tasks' rows
# were made with the unchunked MugDrawer recipe, untuned: its gradient steps cost the same at any episode
# length.
_MLP_GMM_RECIPE = {"algorithm": "bc-mlp-gmm", "epochs": 60, "steps_per_epoch": 1000}
RECIPES = {"stack": {"algorithm": "bc-rnn-gmm", "epochs": 30, "steps_per_epoch": 100},
           "mug_drawer": {"algorithm": "bc-mlp-gmm", "epochs": 30, "steps_per_epoch": 1000, "action_chunk": 8,
                          "obs_history": 2, "max_grad_norm": 100.0},
           "tray_lift": _MLP_GMM_RECIPE, "pouring": _MLP_GMM_RECIPE}
# Recipes of learners that are the same on every task. Diffusion Policy: 7,500 steps of batch 256, 0.23-0.30 s
# a step alone on 2 cores (Stack, TwoArmTrayLift), 29-38 minutes with validation: the protocol's 40 minutes.
LEARNER_RECIPES = {"diffusion": {"algorithm": "diffusion", "epochs": 30, "steps_per_epoch": 250}}


def ensure_dataset(task: str, generator: str, dynamics: str, num_demos: int, action_noise: float | None,
                   labels: str) -> str:
    import minari

    from dmg_envs.datagen.config import GenerationConfig
    from dmg_envs.datagen.generate import generate
    from dmg_envs.datagen.writer import expert_actions

    config = GenerationConfig(task=task, source=f"{task}_1", num_demos=num_demos, dynamics=dynamics,
                              generator=generator, action_noise=action_noise)
    if config.dataset_id in minari.list_local_datasets():
        dataset = minari.load_dataset(config.dataset_id)
        # a dataset written before the generator stored expert actions is written again, the same plus those
        if dataset.total_episodes >= num_demos and (
                labels == "executed" or expert_actions(next(dataset.iterate_episodes([0]))) is not None):
            return config.dataset_id
    print(f"generating {config.dataset_id} ({num_demos} demos)", flush=True)
    generate(config, workers=os.cpu_count() or 1, overwrite=True)
    return config.dataset_id


def row_command(task: str, row: str, args: argparse.Namespace) -> str:
    """The command that makes one row's entry: this benchmark on that row, with the options given that are
    not their defaults."""
    import shlex

    words = ["python", "benchmarks/bench_leaderboard.py", "--task", task, "--rows", row]
    defaults = vars(parser().parse_args([]))
    for name in ("seeds", "algorithm", "epochs", "steps_per_epoch", "action_chunk", "obs_history", "eval_every",
                 "episodes", "num_demos", "conditions"):
        if getattr(args, name) != defaults[name]:
            words += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return shlex.join(words)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="stack")
    parser.add_argument("--rows", help=f"comma-separated, of {list(ROWS)}; default: the task's (TASK_ROWS)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--algorithm", help="default: the task's recipe")
    parser.add_argument("--epochs", type=int, help="for rows that name no epochs; default: the task's recipe")
    parser.add_argument("--steps-per-epoch", type=int, help="default: the task's recipe")
    parser.add_argument("--action-chunk", type=int, help="bc-mlp(-gmm) actions per observation; default: the "
                        "task's recipe")
    parser.add_argument("--obs-history", type=int, help="bc-mlp(-gmm) observations read per step; default: the "
                        "task's recipe")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--train-only", action="store_true", help="train the runs and stop (e.g. one seed per "
                        "process); a later run without it evaluates them")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--num-demos", type=int, default=1000, help="demos of a row that names no count")
    parser.add_argument("--conditions", default="static,dmg-paper,slow,fast")
    parser.add_argument("--work-dir", type=Path, default=Path.home() / ".cache" / "dmg-envs" / "leaderboard")
    parser.add_argument("--entries", type=Path, default=ROOT / "leaderboard" / "entries")
    parser.add_argument("--no-clips", action="store_true", help="render no episodes for the leaderboard's page")
    return parser


def main() -> None:
    args = parser().parse_args()

    os.environ.setdefault("MINARI_DATASETS_PATH", str(args.work_dir / "datasets"))
    os.environ.setdefault("DMG_WORK_DIR", str(args.work_dir / "generation"))
    os.environ.setdefault("MUJOCO_GL", "osmesa")
    import dmg_envs  # noqa: F401
    from dmg_envs.errors import InvalidConfigError
    from dmg_envs.learning.data import content_hashes
    from dmg_envs.learning.leaderboard import PROTOCOL_CHECKPOINT, load_commands, load_entries, same_command
    from dmg_envs.learning.leaderboard_site import write_leaderboard
    from dmg_envs.learning.runs import evaluate_runs, trained_with
    from dmg_envs.learning.train import TrainConfig, train

    given = {"algorithm": args.algorithm, "epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch,
             "action_chunk": args.action_chunk, "obs_history": args.obs_history}
    if args.task not in RECIPES and None in (args.algorithm, args.epochs, args.steps_per_epoch):
        sys.exit(f"no recipe for task {args.task!r}; choose from {list(RECIPES)} or pass --algorithm, --epochs "
                 f"and --steps-per-epoch")
    overrides = {name: value for name, value in given.items() if value is not None}
    seeds = [int(seed) for seed in args.seeds.split(",")]
    conditions = args.conditions.split(",")
    args.entries.mkdir(parents=True, exist_ok=True)
    if args.rows is None and args.task not in TASK_ROWS:
        sys.exit(f"no leaderboard rows for task {args.task!r}; choose from {list(TASK_ROWS)} or pass --rows")
    rows = TASK_ROWS[args.task] if args.rows is None else args.rows.split(",")
    unknown = [row for row in rows if row not in ROWS]
    if unknown:  # before any row trains for hours
        sys.exit(f"unknown rows {unknown}; choose from {list(ROWS)}")
    for row in rows:
        spec = ROWS[row]
        per_preset = (args.num_demos if spec.demos is None else spec.demos) // max(len(spec.presets), 1)
        dataset = ",".join(ensure_dataset(args.task, spec.generator, dynamics, per_preset, spec.noise, spec.labels)
                           for dynamics in spec.presets)
        dataset = dataset or f"{args.task}_1"
        row_recipe = {**(RECIPES.get(args.task, {}) if spec.learner is None else LEARNER_RECIPES[spec.learner]),
                      **overrides, **({} if spec.epochs is None else {"epochs": spec.epochs})}
        runs = []
        for seed in seeds:
            try:
                config = TrainConfig(dataset=dataset, eval_every=args.eval_every, seed=seed,
                                     max_episodes=per_preset if spec.generator else None, action_labels=spec.labels,
                                     **row_recipe)
            except InvalidConfigError as error:
                sys.exit(f"error: {error}")
            run_dir = args.work_dir / "runs" / args.task / config.run_name / config.budget_name / row / f"seed{seed}"
            if not trained_with(run_dir, config, content_hashes(dataset)):
                summary = train(config, run_dir, progress=lambda r, row=row, seed=seed: print(
                    f"{row} seed {seed}: " + json.dumps(r), flush=True))
                print(f"{row} seed {seed}: trained in {summary['train_time_s'] / 60:.1f} min", flush=True)
            runs.append(run_dir)
        if args.train_only:
            continue
        # the whole recipe in the name (an --epochs override writes an entry of its own), and a digest of the
        # command where other options differ from the protocol's (a smoke run leaves the ranked entry alone)
        command = row_command(args.task, row, args)
        plain = same_command(command, f"python benchmarks/bench_leaderboard.py --task {args.task} --rows {row}")
        stem = f"{args.task}-{row}-{config.run_name}-{config.budget_name}"
        stem += "" if plain else "-" + hashlib.sha256(command.encode()).hexdigest()[:8]
        path = args.entries / f"{stem}.json"
        entry, _ = evaluate_runs(runs, PROTOCOL_CHECKPOINT, conditions, args.episodes, command=command,
                                 clips_beside=None if args.no_clips else path)
        path.write_text(json.dumps(entry, indent=2) + "\n")
        print(f"{row}: " + ", ".join(f"{name} {100 * figures['success_mean']:.1f}±{100 * figures['success_std']:.1f}"
                                     for name, figures in entry["evaluation"]["conditions"].items()), flush=True)
    if args.train_only:
        return
    commands = args.entries.parent / "commands.txt"
    written = write_leaderboard(load_entries(args.entries), args.entries.parent,
                                load_commands(commands) if commands.is_file() else None)
    print("wrote " + ", ".join(str(path) for path in written.values()))


if __name__ == "__main__":
    main()
