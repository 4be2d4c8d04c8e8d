"""Short rollout clips for the leaderboard page: one evaluation episode a policy won and one it lost, rendered
headless, small, as GIFs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dmg_envs.learning.evaluate import as_batch_policy

CLIP_SIZE = 96      # pixels a side: a clip is some 50-250 kB
CLIP_EVERY = 3      # render every this many control steps
CLIP_CANDIDATES = 5  # evaluation episodes of each outcome tried before giving up on that outcome


def record_episode(policy: Any, env_id: str, dynamics: str, seed: int, env_kwargs: dict[str, Any] | None = None,
                   camera: str = "agentview", size: int = CLIP_SIZE,
                   every: int = CLIP_EVERY) -> tuple[list[np.ndarray], bool, float]:
    """The frames of one episode of `policy` (any policy `evaluate` takes) from `seed`, whether it succeeded
    at some step, and the frame rate that plays it in real time."""
    from dmg_envs.wrappers.presets import make

    batch_policy = as_batch_policy(policy)
    env = make(env_id, dynamics, obs_mode=getattr(batch_policy, "obs_mode", "dict"), render_mode="rgb_array",
               render_camera=camera, width=size, height=size, **dict(env_kwargs or {}))
    try:
        observation, _ = env.reset(seed=seed)
        batch_policy.reset(1)
        frames, success, step = [env.render()], False, 0
        while True:
            batched = ({key: np.asarray(value)[None] for key, value in observation.items()}
                       if isinstance(observation, dict) else np.asarray(observation)[None])
            action = np.asarray(batch_policy.act(batched))[0]
            observation, _, terminated, truncated, info = env.step(action)
            success |= bool(info.get("is_success", False))
            step += 1
            if step % every == 0 or terminated or truncated:
                frames.append(env.render())
            if terminated or truncated:
                return frames, success, env.metadata["render_fps"] / every
    finally:
        env.close()


def write_clips(policy: Any, report: dict[str, Any], out_dir: str | Path, stem: str,
                env_kwargs: dict[str, Any] | None = None,
                preferred: tuple[str, ...] = ("slow", "fast", "dmg-paper", "static")) -> dict[str, str]:
    """Render one won and one lost evaluation episode of the first training seed's `policy`, each from the first
    condition in `preferred` (then the report's others) where it won or lost one, as
    `<out_dir>/clips/<stem>-<condition>-success.gif` and `...-failure.gif`. Episodes are replayed alone, so an
    outcome may differ from the batched evaluation's: a clip shows the outcome it is named by. Returns the
    clips written, relative to `out_dir` (an outcome the policy never had is left out)."""
    from dmg_envs.video import write_video

    conditions = [c for c in preferred if c in report["conditions"]]
    conditions += [c for c in report["conditions"] if c not in conditions]
    clips: dict[str, str] = {}
    for outcome, wanted in (("success", True), ("failure", False)):
        for condition in conditions:
            seeds = [seed for seed, won in report["conditions"][condition]["episodes"][0] if won == wanted]
            for seed in seeds[:CLIP_CANDIDATES]:
                frames, won, fps = record_episode(policy, report["env_id"], condition, seed, env_kwargs)
                if won == wanted:
                    path = Path("clips") / f"{stem}-{condition}-{outcome}.gif"
                    write_video(Path(out_dir) / path, frames, fps=fps)
                    clips[outcome] = path.as_posix()
                    break
            if outcome in clips:
                break
    return clips


def add_clips(entry: dict[str, Any], policy: Any, report: dict[str, Any], entry_path: str | Path,
              env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """`entry` with clips of `policy` written beside the entry file `entry_path` (`write_clips`)."""
    entry_path = Path(entry_path)
    clips = write_clips(policy, report, entry_path.parent, entry_path.stem, env_kwargs)
    if clips:
        entry["evaluation"]["clips"] = clips
    return entry
