"""The table of registered environment ids (string entry points, so nothing heavy loads on import)."""

from __future__ import annotations

import gymnasium as gym

MAX_EPISODE_STEPS = {"dmg/Stack-v0": 300}

ENTRY_POINTS = {"dmg/Stack-v0": "dmg_envs.envs.stack:StackEnv"}


def register_envs() -> None:
    """Register every dmg-envs id with Gymnasium (idempotent)."""
    for env_id, entry_point in ENTRY_POINTS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, max_episode_steps=MAX_EPISODE_STEPS[env_id])
