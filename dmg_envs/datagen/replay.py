"""Check a dataset's honesty: every stored episode, replayed in its recovered env, must end in success."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from dmg_envs.datagen.source import EpisodeRecorder
from dmg_envs.envs.base import CONTROL_FREQ


def replay_dataset(dataset_id: str, episodes: list[int] | None = None) -> dict[str, Any]:
    """Replay episodes of a Minari dataset in `recover_environment(eval_env=True)` from their stored seeds
    and options; report, per episode, whether it ends in success and whether the observations match.
    """
    import minari

    dataset = minari.load_dataset(dataset_id)
    env = dataset.recover_environment(eval_env=True)
    indices = list(range(dataset.total_episodes)) if episodes is None else list(episodes)
    metadata = list(dataset.storage.get_episode_metadata(indices))
    results = []
    try:
        for index, episode, meta in zip(indices, dataset.iterate_episodes(indices), metadata):
            replayed = replay_episode(env, meta, episode.actions)
            matches = first_mismatch(replayed["observations"], episode.observations) is None
            seed = meta.get("seed")
            results.append({"episode": index, "seed": None if seed is None else int(seed),
                            "success": bool(replayed["infos"][-1]["is_success"]), "observations_match": matches})
    finally:
        env.close()
    failed = [r["episode"] for r in results if not r["success"]]
    return {"dataset_id": dataset_id, "episodes": len(results), "successes": len(results) - len(failed),
            "failed_episodes": failed, "observations_match": all(r["observations_match"] for r in results),
            "results": results}


def replay_episode(env: Any, meta: dict[str, Any], actions: Any, record: bool = False) -> dict[str, Any]:
    """Stored `actions` replayed in `env` from the episode's seed and options (`meta`, as Minari keeps
    them): the observations (one more than the actions, the reset's first), and per action the reward,
    whether the step terminated, and its info. With `record`, also `"recorder"`: an `EpisodeRecorder` that
    followed the replay (states, poses, touches, signals and gripper commands, as a source demo has them)."""
    seed = meta.get("seed")
    observation, info = env.reset(seed=None if seed is None else int(seed), options=meta.get("options"))
    replayed: dict[str, Any] = {"observations": [observation], "rewards": [], "terminations": [], "infos": [info]}
    recorder = EpisodeRecorder(env) if record else None
    for action in actions:
        observation, reward, terminated, _, info = env.step(action)
        replayed["observations"].append(observation)
        replayed["rewards"].append(reward)
        replayed["terminations"].append(terminated)
        replayed["infos"].append(info)
        if recorder is not None:
            recorder.step(action, info)
    if recorder is not None:
        replayed["recorder"] = recorder
    return replayed


def first_mismatch(observations: list[Any], stored: Any) -> tuple[int, str | None] | None:
    """Where replayed `observations` (one per step) first differ from the `stored` ones (a dict of arrays
    or one array, a row per step): (step, key; None for an array), or None if they are all equal."""
    for step, observation in enumerate(observations):
        if isinstance(observation, dict):
            for key in observation:
                if not np.array_equal(observation[key], stored[key][step]):
                    return step, key
        elif not np.array_equal(observation, stored[step]):
            return step, None
    return None


def render_episode(dataset_id: str, episode: int = 0, camera: str = "agentview", width: int = 320,
                   height: int = 240) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Frames of one stored episode: the dataset's own frames of `camera` if it recorded them (`--images`;
    `width` and `height` do not apply then), else the episode replayed in its recovered (dynamic) env."""
    import minari

    dataset = minari.load_dataset(dataset_id)
    if not 0 <= episode < dataset.total_episodes:
        raise IndexError(f"{dataset_id} has episodes 0..{dataset.total_episodes - 1}, not {episode}")
    key = f"{camera}_image"
    if isinstance(dataset.observation_space, gym.spaces.Dict) and key in dataset.observation_space.spaces:
        (data,) = dataset.iterate_episodes([episode])
        generation = dataset.storage.metadata.get("dmg_generation", {})
        return list(data.observations[key]), {
            "fps": CONTROL_FREQ, "steps": len(data.actions), "stored_frames": True,
            "success": not generation.get("failures", False)}  # a dataset holds only successes or failures
    env = dataset.recover_environment(eval_env=True, render_mode="rgb_array", render_camera=camera,
                                      width=width, height=height)
    try:  # the renderer must be closed even if replaying fails
        (meta,) = dataset.storage.get_episode_metadata([episode])
        (data,) = dataset.iterate_episodes([episode])
        env.reset(seed=int(meta["seed"]), options=meta.get("options"))
        frames = [env.render()]
        info: dict[str, Any] = {}
        for action in data.actions:
            _, _, _, _, info = env.step(action)
            frames.append(env.render())
        fps = env.metadata["render_fps"]
    finally:
        env.close()
    return frames, {"fps": fps, "steps": len(data.actions), "stored_frames": False,
                    "success": bool(info.get("is_success", False))}
