"""The `dmg` commands about policies: `dmg train ...`, `dmg eval`, `dmg leaderboard` (registered by `cli`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

train_app = typer.Typer(help="Train a policy: behaviour cloning from a dataset, or SB3 reinforcement learning.",
                        no_args_is_help=True)


def _train_bc(algorithm: str, dataset: str, out: Path | None, seed: int, device: str, **options) -> None:
    from dmg_envs.errors import DmgError
    from dmg_envs.learning.train import TrainConfig, train

    try:  # options left out take the algorithm's defaults
        config = TrainConfig(dataset=dataset, algorithm=algorithm, seed=seed,
                             **{name: value for name, value in options.items() if value is not None})
        labels = "-expert" if config.action_labels == "expert" else ""  # beside the run on the executed actions
        run_dir = out or (Path("runs") / (config.run_name + labels) / dataset.replace("/", "_").replace(":", "_")
                          / f"seed{seed}")
        with typer.progressbar(length=config.epochs, label=f"{algorithm} on {dataset}, seed {seed}") as bar:
            def show(record: dict) -> None:
                bar.label = (f"{algorithm} seed {seed}: loss {record['loss']:.3f}"
                             + (f", validation success {record['validation_success']:.0%}"
                                if "validation_success" in record else ""))
                bar.update(1)

            summary = train(config, run_dir, progress=show, device=device)
    except DmgError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(json.dumps(summary, indent=2))


def _bc_command(algorithm: str):
    def command(
        dataset: Annotated[str, typer.Argument(help="Minari dataset id, or a source-demo file (stack_1, a path)")],
        epochs: Annotated[int | None, typer.Option(min=1, help="epochs (default 100)")] = None,
        steps_per_epoch: Annotated[int | None, typer.Option(min=1, help="gradient steps per epoch")] = None,
        batch_size: Annotated[int | None, typer.Option(min=1)] = None,
        learning_rate: Annotated[float | None, typer.Option(min=0.0)] = None,
        hidden_sizes: Annotated[str | None, typer.Option(help="comma-separated widths: MLP layers, LSTM layers, or "
                                                         "the diffusion U-Net's levels (default 64,128,256)")] = None,
        seed: Annotated[int, typer.Option(help="training seed")] = 0,
        eval_every: Annotated[int | None, typer.Option(min=0, help="validation every n epochs (0: never)")] = None,
        eval_episodes: Annotated[int | None, typer.Option(min=1, help="validation episodes")] = None,
        max_episodes: Annotated[int | None, typer.Option(min=1, help="train on the first n episodes")] = None,
        seq_length: Annotated[int | None, typer.Option(min=0, help="bc-rnn sequence length (0: whole episodes)")]
        = None,
        action_chunk: Annotated[int | None, typer.Option(min=1, help="bc-mlp(-gmm), diffusion: actions predicted "
                                                         "per observation")] = None,
        action_horizon: Annotated[int | None, typer.Option(min=1, help="bc-mlp(-gmm), diffusion: of those, the "
                                                           "actions executed before observing again (default: all; "
                                                           "diffusion: 8)")] = None,
        max_grad_norm: Annotated[float | None, typer.Option(min=0.0, help="clip gradients to this norm "
                                                                         "(default: no clipping)")] = None,
        obs_history: Annotated[int | None, typer.Option(min=1, help="bc-mlp(-gmm), diffusion: observations read "
                                                        "per step, the current one and those before it")] = None,
        action_labels: Annotated[str | None, typer.Option(help='the actions trained on: "executed" (default) or '
                                                          '"expert" (the D-MG expert\'s before its action noise)')]
        = None,
        out: Annotated[Path | None, typer.Option(help="run folder; default "
                                                 "runs/<algorithm>[-chunk<K>][-obs<H>][-expert]/<dataset>/seed<n>")]
        = None,
        device: Annotated[str, typer.Option(help="auto (CUDA where present), cpu or cuda; bit-identical runs "
                                                 "are promised on the CPU only")] = "auto",
    ):
        widths = None
        if hidden_sizes is not None:
            try:
                widths = tuple(int(width) for width in hidden_sizes.split(","))
            except ValueError:
                typer.echo(f"error: --hidden-sizes must be comma-separated integers, got {hidden_sizes!r}", err=True)
                raise typer.Exit(code=2) from None
        _train_bc(algorithm, dataset, out, seed, device, hidden_sizes=widths, epochs=epochs,
                  steps_per_epoch=steps_per_epoch,
                  batch_size=batch_size, learning_rate=learning_rate, eval_every=eval_every,
                  eval_episodes=eval_episodes, max_episodes=max_episodes, seq_length=seq_length,
                  action_chunk=action_chunk, action_horizon=action_horizon, max_grad_norm=max_grad_norm,
                  obs_history=obs_history, action_labels=action_labels)

    kind = "Diffusion Policy" if algorithm == "diffusion" else f"Behaviour cloning ({algorithm})"
    command.__doc__ = (f"{kind} from a dataset; writes a run folder with the config, log, loss curve and the final "
                       f"and best checkpoints.")
    return command


for _algorithm in ("diffusion", "bc-rnn", "bc-rnn-gmm", "bc-mlp", "bc-mlp-gmm"):
    train_app.command(_algorithm)(_bc_command(_algorithm))


def _train_sb3(algorithm: str, env_id: str, steps: int, seed: int, dynamics: str, demos: str | None,
               eval_every: int, out: Path) -> None:
    from dmg_envs.errors import DmgError
    from dmg_envs.learning.sb3 import plot_curves, train_sb3

    try:
        summaries = [train_sb3(algorithm, env_id, steps, out / ("demos" if demos else "scratch"), seed=seed,
                               demos=demos, dynamics=dynamics, eval_every=eval_every)]
        if demos:  # the comparison: the same budget from scratch
            summaries.append(train_sb3(algorithm, env_id, steps, out / "scratch", seed=seed, dynamics=dynamics,
                                       eval_every=eval_every))
    except DmgError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    plot = plot_curves(summaries, out / "learning_curves.png")
    for summary in summaries:
        typer.echo(json.dumps({**summary, "curve": summary["curve"][-1]}))
    typer.echo(f"learning curves: {plot.resolve()}")


@train_app.command("sac")
def train_sac(
    env_id: Annotated[str, typer.Argument(help="registered environment id")] = "dmg/Stack-v0",
    steps: Annotated[int, typer.Option(min=1, help="env steps")] = 50_000,
    seed: Annotated[int, typer.Option()] = 0,
    dynamics: Annotated[str, typer.Option(help="preset to train under")] = "static",
    demos: Annotated[str | None, typer.Option(
        help="Minari dataset seeding the replay buffer; SAC from scratch trains beside it, both plotted")] = None,
    eval_every: Annotated[int, typer.Option(min=1, help="validation every n env steps")] = 5000,
    out: Annotated[Path, typer.Option(help="run folder")] = Path("runs") / "sac",
):
    """SAC (stable-baselines3) on flat observations with the dense reward, optionally seeded with demos."""
    _train_sb3("sac", env_id, steps, seed, dynamics, demos, eval_every, out)


@train_app.command("ppo")
def train_ppo(
    env_id: Annotated[str, typer.Argument(help="registered environment id")] = "dmg/Stack-v0",
    steps: Annotated[int, typer.Option(min=1, help="env steps")] = 50_000,
    seed: Annotated[int, typer.Option()] = 0,
    dynamics: Annotated[str, typer.Option(help="preset to train under")] = "static",
    eval_every: Annotated[int, typer.Option(min=1, help="validation every n env steps")] = 5000,
    out: Annotated[Path, typer.Option(help="run folder")] = Path("runs") / "ppo",
):
    """PPO (stable-baselines3) on flat observations with the dense reward."""
    _train_sb3("ppo", env_id, steps, seed, dynamics, None, eval_every, out)


def evaluate(
    runs: Annotated[list[str], typer.Argument(help="one per training seed: run folders or checkpoints of ours, "
                                              "stable-baselines3 .zip files, or module:attribute (file.py:attribute) "
                                              "naming a policy object")],
    env_id: Annotated[str | None, typer.Option("--env", help="env id; default the policy's own")] = None,
    dynamics: Annotated[str, typer.Option(help="comma-separated conditions")] = "static,dmg-paper,slow,fast",
    episodes: Annotated[int, typer.Option(min=1, help="episodes per condition and training seed")] = 50,
    checkpoint: Annotated[str, typer.Option(help="final or best (picked on validation episodes)")] = "final",
    num_envs: Annotated[int, typer.Option(min=1, help="envs stepped together")] = 10,
    vectorization: Annotated[str, typer.Option(help="sync or async (one process per env)")] = "sync",
    policy_name: Annotated[str | None, typer.Option(help="name on the leaderboard")] = None,
    out: Annotated[Path | None, typer.Option(help="write the leaderboard entry (JSON) here")] = None,
    report: Annotated[Path | None, typer.Option(help="write the full report, every episode, here")] = None,
    device: Annotated[str, typer.Option(help="where the policies run: auto (CUDA where present), cpu or cuda")]
    = "auto",
    trained_on: Annotated[str | None, typer.Option(help="outside policies: the Minari dataset they learned from "
                                                   "(default: none of ours)")] = None,
    training_seeds: Annotated[str | None, typer.Option(help="outside policies: their training seeds, "
                                                       "comma-separated (default 0, 1, ...)")] = None,
    budget: Annotated[str, typer.Option(help="outside policies: what one trained for")] = "not stated",
    train_time_s: Annotated[float, typer.Option(min=0.0, help="outside policies: training time of all [s]")] = 0.0,
    recipe: Annotated[Path | None, typer.Option(help="outside policies: a JSON file of their training "
                                                "hyperparameters, at least \"algorithm\"")] = None,
    clips: Annotated[bool, typer.Option(help="render a won and a lost episode beside the entry (--out) for the "
                                        "leaderboard's page")] = False,
):
    """Evaluate policies with the protocol and print (or write) their leaderboard entry: our run folders or
    checkpoints, or outside policies (stable-baselines3 model files, Python objects) with --env and
    --policy-name."""
    from dmg_envs.errors import DmgError, InvalidConfigError
    from dmg_envs.learning.outside import evaluate_outside_policies, is_outside_policy
    from dmg_envs.learning.runs import evaluate_runs

    conditions = [d for d in dynamics.split(",") if d]
    # the entry records the command that reproduces it: these arguments, those left at their defaults out
    command = _command(["dmg", "eval", *runs], env=(env_id, None), dynamics=(dynamics, "static,dmg-paper,slow,fast"),
                       episodes=(episodes, 50), checkpoint=(checkpoint, "final"), num_envs=(num_envs, 10),
                       vectorization=(vectorization, "sync"), policy_name=(policy_name, None),
                       trained_on=(trained_on, None), training_seeds=(training_seeds, None),
                       budget=(budget, "not stated"), train_time_s=(train_time_s, 0.0), recipe=(recipe, None),
                       clips=(clips, False), out=(out, None))
    try:
        if clips and out is None:
            raise InvalidConfigError("--clips writes the clips beside the entry: give --out")
        outside = [is_outside_policy(run) for run in runs]
        if any(outside):
            if not all(outside):
                raise InvalidConfigError("one entry evaluates one kind of policy: give run folders of ours or "
                                         "outside policies, not both")
            if env_id is None or policy_name is None:
                raise InvalidConfigError("outside policies need --env (the env id) and --policy-name")
            try:
                seeds = None if training_seeds is None else [int(seed) for seed in training_seeds.split(",")]
            except ValueError as error:
                raise InvalidConfigError(f"--training-seeds must be comma-separated integers, got "
                                         f"{training_seeds!r}") from error
            entry, full_report = evaluate_outside_policies(
                runs, env_id, policy_name, trained_on, seeds, budget, train_time_s, conditions, episodes, num_envs,
                vectorization, _read_recipe(recipe), command, out if clips else None)
        else:
            entry, full_report = evaluate_runs([Path(run) for run in runs], checkpoint, conditions, episodes,
                                               env_id, num_envs, vectorization, policy_name, device, command,
                                               out if clips else None)
    except DmgError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    for path, content in ((out, entry), (report, full_report)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content, indent=2) + "\n")
    for condition, figures in entry["evaluation"]["conditions"].items():
        typer.echo(f"{condition:>10}: success {figures['success_mean']:.1%} +- {figures['success_std']:.1%}, "
                   f"at end {figures['success_at_end_mean']:.1%}")
    typer.echo(f"entry written to {out}" if out else json.dumps(entry, indent=2))


def _command(words: list[str], **options: tuple[object, object]) -> str:
    """A command line: `words`, then each option (value, default) whose value is not its default."""
    import shlex

    for name, (value, default) in options.items():
        if value != default:
            words += [f"--{name.replace('_', '-')}"] + ([] if isinstance(value, bool) else [str(value)])
    return shlex.join(words)


def _read_recipe(path: Path | None) -> dict | None:
    from dmg_envs.errors import InvalidConfigError

    if path is None:
        return None
    try:
        recipe = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InvalidConfigError(f"--recipe {path}: not a readable JSON file ({error})") from error
    if not isinstance(recipe, dict) or "algorithm" not in recipe:
        raise InvalidConfigError(f"--recipe {path}: a JSON object naming at least its \"algorithm\", got {recipe!r}")
    return recipe


def leaderboard(
    entries: Annotated[Path, typer.Argument(help="folder of entries (*.json)")] = Path("leaderboard/entries"),
    out_dir: Annotated[Path, typer.Option(help="where LEADERBOARD.md, leaderboard.csv and robustness.png go")]
    = Path("leaderboard"),
    commands: Annotated[Path | None, typer.Option(help="the commands `make leaderboard` runs, one a line; an "
                                                  "entry is ranked if it records one (default: commands.txt beside "
                                                  "the entries folder, where there is one)")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="also write the leaderboard as a static web page "
                                              "in this folder")] = None,
):
    """Validate every entry and write the ranked tables, their CSV and the robustness plot (and, with --html, a
    web page)."""
    from dmg_envs.learning.leaderboard import LeaderboardEntryError, load_commands, load_entries
    from dmg_envs.learning.leaderboard_site import write_leaderboard, write_site

    try:
        loaded = load_entries(entries)
        if commands is None and (entries.parent / "commands.txt").is_file():
            commands = entries.parent / "commands.txt"
        ranked_commands = None if commands is None else load_commands(commands)
        written = list(write_leaderboard(loaded, out_dir, ranked_commands).values())
        if html is not None:
            written.append(write_site(loaded, entries, html, ranked_commands))
    except LeaderboardEntryError as error:
        typer.echo(f"error: invalid leaderboard: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"{len(loaded)} entries -> " + ", ".join(str(path) for path in written))
