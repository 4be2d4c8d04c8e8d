"""The `dmg` command: a thin layer over the library's functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dmg_envs.cli_learning import evaluate, leaderboard, train_app
from dmg_envs.registration import TASKS

TASK_NAMES = ", ".join(TASKS)

app = typer.Typer(help="dmg-envs: fast MuJoCo manipulation environments for dynamic data generation.",
                  no_args_is_help=True, add_completion=False)


@app.command()
def render(
    env_id: Annotated[str, typer.Argument(help="registered environment id")] = "dmg/Stack-v0",
    out: Annotated[Path, typer.Option(help="output file, .gif or .mp4")] = Path("rollout.gif"),
    steps: Annotated[int, typer.Option(min=1, help="control steps to roll out")] = 80,
    seed: Annotated[int, typer.Option(help="seed of the reset and the actions")] = 0,
    camera: Annotated[str, typer.Option(help="camera name")] = "agentview",
    width: Annotated[int, typer.Option(min=16)] = 320,
    height: Annotated[int, typer.Option(min=16)] = 240,
    dynamics: Annotated[str, typer.Option(help="preset: static, dmg-paper, slow, fast, jumps, ...")] = "static",
):
    """Render a seeded rollout (smooth random actions) to a GIF or MP4 and print where it is."""
    import dmg_envs  # noqa: F401  (registers the ids)
    from dmg_envs.rollout import render_rollout
    from dmg_envs.video import write_video

    frames, summary = render_rollout(env_id, steps, seed, camera=camera, width=width, height=height,
                                     dynamics=dynamics)
    path = write_video(out, frames, fps=summary["fps"])
    typer.echo(f"rendered {len(frames)} frames of {env_id} (dynamics {dynamics}, seed {seed}, camera {camera}) "
               f"to {path.resolve()}")


@app.command()
def bench(
    env_id: Annotated[str, typer.Argument(help="registered environment id")] = "dmg/Stack-v0",
    steps: Annotated[int, typer.Option(min=10, help="env steps per round")] = 1000,
    rounds: Annotated[int, typer.Option(min=1, help="rounds, each from a fresh reset")] = 5,
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[Path | None, typer.Option(help="write the result as JSON here")] = None,
):
    """Env steps/s, the raw physics limit of the same model, their ratio and reset time."""
    import dmg_envs  # noqa: F401
    from dmg_envs.bench import benchmark_env

    result = benchmark_env(env_id, steps=steps, rounds=rounds, seed=seed)
    text = json.dumps(result, indent=2)
    typer.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


@app.command()
def source(
    task: Annotated[str, typer.Argument(help=f"task: {TASK_NAMES}")] = "stack",
    n: Annotated[int, typer.Option("-n", "--num-demos", min=1, help="successful demos to record")] = 10,
    seed: Annotated[int, typer.Option(help="first episode seed")] = 0,
    out: Annotated[Path | None, typer.Option(help="HDF5 file; default <task>_<n>.hdf5 here")] = None,
):
    """Record source demos with the task's scripted, human-like demonstrator (the shipped ones come from
    `dmg source <task> -n 1` and `dmg source <task> -n 10`)."""
    from dmg_envs.datagen.sources import write_source_demos

    path = write_source_demos(task, n, out or Path(f"{task}_{n}.hdf5"), seed=seed)
    typer.echo(f"wrote {n} {task} source demos to {path.resolve()}")


@app.command()
def generate(
    task: Annotated[str, typer.Argument(help=f"task: {TASK_NAMES}")] = "stack",
    source: Annotated[str, typer.Option(
        help="source demos: n -> <task>_<n> (1 and 10 shipped, others recorded on first use) or a path")] = "1",
    source_index: Annotated[int, typer.Option(help="which demo of the source file")] = 0,
    num_demos: Annotated[int, typer.Option(min=1, help="successful demos to keep")] = 20,
    dynamics: Annotated[str, typer.Option(help="preset: static, dmg-paper, slow, fast, jumps, ...")] = "static",
    generator: Annotated[str, typer.Option(help="dmp (D-MG) or mimicgen (baseline)")] = "dmp",
    seed: Annotated[int, typer.Option(min=0, help="run seed: attempt i uses episode seed (seed + 1) * 2**32 + i")] = 0,
    workers: Annotated[int | None, typer.Option(
        min=1, help="worker processes (local) or actors (ray); default: one per CPU core")] = None,
    backend: Annotated[str, typer.Option(
        help="local (a process pool) or ray (Ray actors, the ray extra); the dataset is the same")] = "local",
    address: Annotated[str | None, typer.Option(
        help="with --backend ray: the cluster to join (auto, ray://<head>:10001); default Ray on this machine")] = None,
    reset_distribution: Annotated[str, typer.Option(help="D0 or D1")] = "D0",
    work_dir: Annotated[Path | None, typer.Option(
        help="where finished attempts are kept (resume); default $DMG_WORK_DIR or ~/.cache/dmg-envs/runs")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing dataset with this id")] = False,
    keep_failures: Annotated[bool, typer.Option(help="also write the failed attempts as <id>-failures")] = False,
    action_noise: Annotated[float | None, typer.Option(
        help="Gaussian noise on the arm's actions, a multiple of 0.01 (default: dmp 0, mimicgen 0.05)")] = None,
    images: Annotated[bool, typer.Option(
        help="also record 84x84 frames of the front camera and each arm's eye-in-hand camera (id: -images)")] = False,
):
    """Generate a Minari dataset dmg/<task>/<generator>-<dynamics>-v0 from one source demo.

    Ctrl-C lets running attempts finish, keeps every finished demo and writes the dataset from them; run the
    same command again to resume.
    """
    from dmg_envs.datagen.config import GenerationConfig
    from dmg_envs.datagen.generate import generate as run_generation
    from dmg_envs.errors import DmgError

    def show(progress: dict) -> None:
        typer.echo(f"\r{progress['dataset_id']}: {progress['kept']}/{progress['num_demos']} demos, "
                   f"{progress['attempts']} attempts, success {progress['success_rate']:.1%}, "
                   f"{progress['demos_per_second']:.2f} demos/s", nl=False)

    try:
        config = GenerationConfig(task=task, source=f"{task}_{source}" if source.isdigit() else source,
                                  source_index=source_index, num_demos=num_demos, dynamics=dynamics,
                                  generator=generator, seed=seed, reset_distribution=reset_distribution,
                                  keep_failures=keep_failures, action_noise=action_noise, images=images)
        summary = run_generation(config, work_dir=work_dir, workers=workers, overwrite=overwrite, progress=show,
                                 backend=backend, address=address)
    except DmgError as error:
        typer.echo(f"\nerror: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo("")
    if summary["interrupted"]:
        typer.echo("interrupted: finished demos are kept; run the same command again to resume")
    if summary["exhausted"]:
        typer.echo(f"stopped after the attempt limit with {summary['kept']} of {num_demos} demos")
    if summary["errors"]:
        typer.echo(f"{summary['errors']} attempts raised an error (recorded as failed): {summary['error_examples']}")
    for message in summary["regenerated"]:
        typer.echo(f"unreadable episode file, its attempt was run again: {message}")
    for message in summary.get("unreadable_failures", []):
        typer.echo(f"unreadable failed-episode file, left out of the failures dataset: {message}")
    typer.echo(json.dumps({k: v for k, v in summary.items()}, indent=2))


@app.command()
def view(
    dataset_id: Annotated[str, typer.Argument(help="Minari dataset id")],
    episode: Annotated[int, typer.Option(min=0, help="episode index")] = 0,
    out: Annotated[Path, typer.Option(help="output file, .gif or .mp4")] = Path("episode.gif"),
    camera: Annotated[str, typer.Option(help="camera name")] = "agentview",
    width: Annotated[int, typer.Option(min=16)] = 320,
    height: Annotated[int, typer.Option(min=16)] = 240,
    every: Annotated[int, typer.Option(min=1, help="keep every n-th frame (a shorter file, the same speed)")] = 1,
):
    """Render one stored episode of a dataset, replayed in its recovered env, to a GIF or MP4; a dataset
    with frames of the camera (`--images`) shows its own frames instead."""
    from dmg_envs.datagen.replay import render_episode
    from dmg_envs.video import write_video

    frames, summary = render_episode(dataset_id, episode, camera=camera, width=width, height=height)
    path = write_video(out, frames[::every], fps=summary["fps"] / every)
    shown = "the dataset's own frames" if summary["stored_frames"] else "replayed"
    typer.echo(f"rendered episode {episode} of {dataset_id} ({summary['steps']} steps, success "
               f"{summary['success']}; {shown}) to {path.resolve()}")


@app.command()
def replay(dataset_id: Annotated[str, typer.Argument(help="Minari dataset id")]):
    """Replay every episode of a dataset in its recovered env; fails unless every one ends in success."""
    from dmg_envs.datagen.replay import replay_dataset

    report = replay_dataset(dataset_id)
    typer.echo(f"{report['successes']}/{report['episodes']} episodes end in success; "
               f"observations match the stored ones: {report['observations_match']}")
    if report["failed_episodes"]:
        typer.echo(f"failed episodes: {report['failed_episodes']}")
        raise typer.Exit(code=1)


@app.command()
def publish(
    remote: Annotated[str, typer.Option(help="the Minari remote: hf://<organisation or user>")],
    # Optional to typer, so that no ids gets our message, which names an example id.
    dataset_ids: Annotated[list[str] | None, typer.Argument(help="local dataset ids, e.g. dmg/stack/dmp-slow-v0")
                           ] = None,
    token: Annotated[str | None, typer.Option(
        help="Hugging Face token with write access; default $HF_TOKEN or the one `hf auth login` saved")] = None,
):
    """Upload datasets made by `dmg generate` to a Minari remote on the Hugging Face Hub (the repository
    <org>/dmg), with the dmg namespace's metadata and a dataset card each. Download one with
    `MINARI_REMOTE=hf://<org> minari download <dataset-id>`."""
    from dmg_envs.errors import DmgError
    from dmg_envs.publish import publish as publish_datasets

    try:
        results = publish_datasets(dataset_ids or [], remote, token=token)
    except DmgError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    for result in results:
        typer.echo(f"{result['dataset_id']}: {result['note']}; {result['url']}")
    typer.echo(f"download with: MINARI_REMOTE={remote} minari download {results[0]['dataset_id']}")


export_app = typer.Typer(help="Write a dataset in another library's format.", no_args_is_help=True)
import_app = typer.Typer(help="Read another library's demos as source demos.", no_args_is_help=True)
app.add_typer(export_app, name="export")
app.add_typer(import_app, name="import")


@export_app.command("robomimic")
def export_robomimic(
    dataset_id: Annotated[str, typer.Argument(help="local Minari dataset id, e.g. dmg/stack/dmp-slow-v0")],
    out: Annotated[Path, typer.Argument(help="robomimic-format HDF5 file to write")],
):
    """Write a dataset as a robomimic HDF5 file (MimicGen's layout); episodes are replayed for their states."""
    from dmg_envs.datagen.robomimic import export_robomimic as export
    from dmg_envs.errors import DmgError

    try:
        summary = export(dataset_id, out)
    except DmgError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"wrote {summary['demos']} demos ({summary['total']} steps) to {Path(summary['path']).resolve()}")


@export_app.command("lerobot")
def export_lerobot(
    dataset_id: Annotated[str, typer.Argument(help="local Minari dataset id, e.g. dmg/stack/dmp-slow-v0")],
    out_dir: Annotated[Path, typer.Argument(help="LeRobotDataset folder to write (must not exist)")],
    video: Annotated[bool, typer.Option(help="camera frames as AV1 videos (lossy) instead of PNG images")] = False,
):
    """Write a dataset as a LeRobotDataset v3.0 folder (parquet and JSON; lerobot is not needed)."""
    from dmg_envs.datagen.lerobot import export_lerobot as export
    from dmg_envs.errors import DmgError

    try:
        summary = export(dataset_id, out_dir, video=video)
    except DmgError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"wrote {summary['episodes']} episodes ({summary['frames']} frames at {summary['fps']} fps; "
               f"{', '.join(summary['features'])}) to {Path(summary['out_dir']).resolve()}")


@import_app.command("robomimic")
def import_robomimic(
    robomimic_file: Annotated[Path, typer.Argument(help="robomimic-format HDF5 file recorded in a dmg-envs env")],
    out: Annotated[Path, typer.Argument(help="source-demo file to write (for dmg generate --source)")],
):
    """Turn a robomimic file recorded in one of our envs into source demos, replayed from its stored states."""
    from dmg_envs.datagen.robomimic import import_robomimic as run_import
    from dmg_envs.errors import DmgError

    try:
        path, count, env_id = run_import(robomimic_file, out)
    except DmgError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"wrote {count} {env_id} source demos to {path.resolve()}")


# The policy commands live in their own module (torch and SB3 are imported only when one runs).
app.add_typer(train_app, name="train")
app.command("eval")(evaluate)
app.command()(leaderboard)


if __name__ == "__main__":
    app()
