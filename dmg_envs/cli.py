"""The `dmg` command: a thin layer over the library's functions."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="dmg-envs: fast MuJoCo manipulation environments for dynamic data generation.",
                  no_args_is_help=True, add_completion=False)


def _headless_gl_default() -> None:
    # MuJoCo picks its GL backend at import: without a display, OSMesa works on any machine (EGL needs a GPU).
    if sys.platform.startswith("linux") and "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "osmesa"


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
    _headless_gl_default()
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


if __name__ == "__main__":
    app()
