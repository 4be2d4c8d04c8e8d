"""Seeded rollouts for previews and smoke runs: smooth random exploration, rendered to frames."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def smooth_random_actions(space: gym.spaces.Box, rng: np.random.Generator, steps: int,
                          smoothing: float = 0.8) -> np.ndarray:
    """(steps, dim) actions of a first-order low-pass filtered uniform noise inside a Box space.

    Plain uniform noise makes the arm jitter in place; low-pass noise wanders, which shows more of
    the scene. `smoothing` in [0, 1) is the filter's memory per step.
    """
    low, high = space.low, space.high
    noise = rng.uniform(low, high, size=(steps, *space.shape))
    actions = np.empty_like(noise)
    state = np.zeros(space.shape) if np.all(low < 0) and np.all(high > 0) else (low + high) / 2
    for i, sample in enumerate(noise):
        state = smoothing * state + (1.0 - smoothing) * sample * 2.0
        actions[i] = np.clip(state, low, high)
    return actions


def render_rollout(env_id: str, steps: int, seed: int, camera: str = "agentview", width: int = 320,
                   height: int = 240, dynamics: str = "static",
                   **make_kwargs: Any) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Frames of a seeded smooth-random rollout under a dynamics preset, and a summary (steps, final info)."""
    from dmg_envs.wrappers.presets import make

    env = make(env_id, dynamics, render_mode="rgb_array", render_camera=camera, width=width, height=height,
               **make_kwargs)
    try:
        env.reset(seed=seed)
        actions = smooth_random_actions(env.action_space, np.random.default_rng(seed), steps)
        frames = [env.render()]
        info: dict[str, Any] = {}
        for action in actions:
            _, _, terminated, truncated, info = env.step(action)
            frames.append(env.render())
            if terminated or truncated:
                break
        return frames, {"steps": len(frames) - 1, "fps": env.metadata["render_fps"], "final_info": info}
    finally:
        env.close()
