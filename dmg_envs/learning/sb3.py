"""stable-baselines3 on our envs: SAC and PPO on flat observations with the dense reward, SAC's replay
buffer optionally seeded with a Minari dataset's demonstrations, and learning curves measured with the
evaluation protocol's validation episodes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from dmg_envs.errors import InvalidConfigError

SB3_ALGORITHMS = ("sac", "ppo")


def make_training_env(env_id: str, dynamics: str = "static"):
    """The env SB3 trains in: flat observations, dense reward, under a dynamics preset."""
    import dmg_envs  # noqa: F401  (registers the ids)
    from dmg_envs.wrappers.presets import make

    return make(env_id, dynamics, obs_mode="flat", reward_type="dense")


def demo_transitions(dataset_id: str, max_episodes: int | None = None) -> dict[str, np.ndarray]:
    """A dataset's episodes as flat-observation transitions with the dense reward: each episode is replayed
    in its recovered env (same seed, same dynamics) with `obs_mode="flat"` and `reward_type="dense"`."""
    from dmg_envs.datagen.replay import replay_episode
    from dmg_envs.learning.data import open_dataset

    dataset = open_dataset(dataset_id)
    count = dataset.total_episodes if max_episodes is None else min(max_episodes, dataset.total_episodes)
    env = dataset.recover_environment(eval_env=True, obs_mode="flat", reward_type="dense")
    columns: dict[str, list] = {"observations": [], "next_observations": [], "actions": [], "rewards": [],
                                "dones": []}
    try:
        for meta, episode in zip(dataset.storage.get_episode_metadata(range(count)),
                                 dataset.iterate_episodes(list(range(count)))):
            replayed = replay_episode(env, meta, episode.actions)
            columns["observations"] += replayed["observations"][:-1]
            columns["next_observations"] += replayed["observations"][1:]
            columns["actions"] += list(episode.actions)
            columns["rewards"] += replayed["rewards"]
            columns["dones"] += replayed["terminations"]
    finally:
        env.close()
    return {key: np.asarray(values) for key, values in columns.items()}


def seed_replay_buffer(model: Any, transitions: dict[str, np.ndarray]) -> int:
    """Add demonstration transitions to an off-policy model's replay buffer; returns how many."""
    buffer = model.replay_buffer
    scaled = model.policy.scale_action(transitions["actions"])
    for i in range(len(scaled)):
        buffer.add(transitions["observations"][i][None], transitions["next_observations"][i][None], scaled[i][None],
                   np.array([transitions["rewards"][i]]), np.array([transitions["dones"][i]]), [{}])
    return len(scaled)


def train_sb3(algorithm: str, env_id: str, total_steps: int, run_dir: str | Path, seed: int = 0,
              demos: str | None = None, dynamics: str = "static", eval_every: int = 5000,
              eval_episodes: int = 10, max_demo_episodes: int | None = None) -> dict[str, Any]:
    """Train SAC or PPO for `total_steps` env steps; with `demos` (SAC only), the replay buffer starts
    with the dataset's transitions. Writes `model.zip` and `curve.json` (validation success and return
    every `eval_every` steps) in `run_dir` and returns the summary."""
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from dmg_envs.learning.evaluate import VALIDATION_SEED_START, evaluate_policy, evaluation_seeds

    if algorithm not in SB3_ALGORITHMS:
        raise InvalidConfigError(f"algorithm={algorithm!r} is not valid; choose one of {SB3_ALGORITHMS}")
    if demos is not None and algorithm != "sac":
        raise InvalidConfigError("demos seed a replay buffer; only the off-policy 'sac' has one")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    transitions = demo_transitions(demos, max_demo_episodes) if demos else None
    env = make_training_env(env_id, dynamics)
    if algorithm == "sac":
        model = SAC("MlpPolicy", env, seed=seed, device="cpu", learning_starts=0 if demos else 1000, verbose=0)
    else:
        model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0)
    seeded = seed_replay_buffer(model, transitions) if transitions else 0
    seeds = evaluation_seeds(eval_episodes, start=VALIDATION_SEED_START)
    curve: list[dict[str, float]] = []
    started = time.perf_counter()

    def measure(steps: int) -> None:
        result = evaluate_policy(model, env_id, dynamics, seeds=seeds, num_envs=min(10, eval_episodes),
                                 env_kwargs={"reward_type": "dense"})
        curve.append({"steps": steps, "success": result["success"],
                      "return": float(np.mean([e["return"] for e in result["episodes"]])),
                      "time_s": time.perf_counter() - started})

    class Measure(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                measure(self.num_timesteps)
            return True

    try:
        measure(0)
        model.learn(total_timesteps=total_steps, callback=Measure())
        model.save(run_dir / "model.zip")
    finally:
        env.close()
    summary = {"algorithm": algorithm, "env_id": env_id, "dynamics": dynamics, "seed": seed, "demos": demos,
               "demo_transitions": seeded, "total_steps": total_steps, "curve": curve,
               "train_time_s": time.perf_counter() - started}
    (run_dir / "curve.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def plot_curves(summaries: list[dict[str, Any]], path: str | Path) -> Path:
    """Validation success and return against env steps, one line per run."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is

    figure = Figure(figsize=(10, 3.8))
    left, right = figure.subplots(1, 2)
    for summary in summaries:
        label = f"{summary['algorithm'].upper()} " + (f"seeded with {summary['demo_transitions']} demo transitions"
                                                      if summary["demos"] else "from scratch")
        steps = [point["steps"] for point in summary["curve"]]
        left.plot(steps, [100 * point["success"] for point in summary["curve"]], marker="o", label=label)
        right.plot(steps, [point["return"] for point in summary["curve"]], marker="o", label=label)
    left.set_ylabel("validation success [%]")
    left.set_ylim(-3, 103)
    right.set_ylabel("validation return (dense reward)")
    for axis in (left, right):
        axis.set_xlabel("env steps")
        axis.legend(fontsize=8)
    figure.suptitle(f"{summaries[0]['env_id']}, dynamics {summaries[0]['dynamics']}: learning curves", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return Path(path)
