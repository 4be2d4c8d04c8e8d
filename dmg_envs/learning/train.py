"""The shared trainer: behaviour cloning (BC-MLP, BC-MLP-GMM, BC-RNN and BC-RNN-GMM, robomimic's recipes) and
Diffusion Policy, seeded and deterministic on the CPU, writing a run folder: config, log, loss curve, final
and best checkpoints."""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmg_envs.errors import InvalidConfigError
from dmg_envs.learning.data import (
    QUATERNION_FEATURES,
    Demonstrations,
    Normalizer,
    load_demonstrations,
)
from dmg_envs.learning.models import PolicyConfig, build_network
from dmg_envs.learning.policy import BCPolicy, resolve_device, save_policy
from dmg_envs.learning.recipe import ALGORITHMS, TrainConfig
from dmg_envs.learning.sampler import SequenceSampler


def train(config: TrainConfig, run_dir: str | Path, progress: Callable[[dict[str, Any]], None] | None = None,
          demos: Demonstrations | None = None, device: str = "cpu") -> dict[str, Any]:
    """Train a policy and write the run folder `run_dir`: `config.json`, `log.jsonl` (one line per epoch),
    `loss.png`, `checkpoints/final.safetensors` and, with evaluation, `checkpoints/best.safetensors`.
    `device` is "cpu", "cuda" or "auto" (`policy.resolve_device`); the same config trains the same weights
    on the CPU. Returns the run's summary (also in `summary.json`)."""
    run_dir = Path(run_dir)
    target = resolve_device(device)
    checkpoints = run_dir / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    if demos is None:  # loaded first: a config its data cannot serve leaves the folder's checkpoints as they were
        demos = load_demonstrations(config.dataset, config.max_episodes, config.obs_keys, config.action_labels,
                                    config.quaternions)
    quaternion_sizes = {size for key, size in demos.low_dim_keys if key.endswith("_quat")}
    if quaternion_sizes - {QUATERNION_FEATURES[config.quaternions]}:
        raise InvalidConfigError(f"the config says to read its quaternions as {config.quaternions!r}, but the "
                                 f"demonstrations given hold {sorted(quaternion_sizes)} features per quaternion")
    for stale in checkpoints.glob("*.safetensors"):  # a re-run must not leave another run's best behind
        stale.unlink()
    rng = np.random.default_rng(config.seed)
    architecture = ALGORITHMS[config.algorithm].architecture
    # Diffusion samples in [-1, 1] (its schedule clips there): the actions' range maps onto it.
    obs_normalizer = Normalizer.fit(demos.low_dim)
    action_normalizer = (Normalizer.fit_range if architecture == "diffusion" else Normalizer.fit)(demos.actions)
    with torch.random.fork_rng():  # the seed sets the initial weights without touching the caller's stream
        torch.manual_seed(config.seed)
        network = build_network(PolicyConfig(
            architecture, config.hidden_sizes, config.gmm_modes, sum(size for _, size in demos.low_dim_keys),
            demos.actions[0].shape[1], tuple(demos.image_keys), action_chunk=config.action_chunk,
            obs_history=config.obs_history, action_horizon=config.action_horizon)).to(target)
    noise = torch.Generator().manual_seed(config.seed)  # diffusion's noise and steps, drawn on the CPU
    averaged = copy.deepcopy(network) if config.ema else None
    policy = BCPolicy(averaged or network, obs_normalizer, action_normalizer, _policy_info(config, demos), target)
    sampler = SequenceSampler(demos, obs_normalizer, action_normalizer, config.seq_length, config.action_chunk,
                              config.obs_history)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    total_steps = config.epochs * config.steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, partial(_learning_rate_factor, config.warmup_steps, total_steps, config.final_lr_fraction))
    (run_dir / "config.json").write_text(json.dumps({**asdict(config), "data": demos.info}, indent=2) + "\n")
    log_path = run_dir / "log.jsonl"
    log_path.write_text("")
    history, best = [], {"success": -1.0, "epoch": None}
    started, step = time.perf_counter(), 0
    for epoch in range(1, config.epochs + 1):
        network.train()
        losses = []
        for _ in range(config.steps_per_epoch):
            loss = network.loss(_to_device(sampler.sample(rng, config.batch_size), target), noise)
            optimizer.zero_grad()
            loss.backward()
            if config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(network.parameters(), config.max_grad_norm)
            optimizer.step()
            schedule.step()
            step += 1
            if averaged is not None:
                _update_average(averaged, network, step)
            losses.append(loss.item())
        network.eval()
        record = {"epoch": epoch, "loss": float(np.mean(losses)), "learning_rate": schedule.get_last_lr()[0],
                  "time_s": time.perf_counter() - started}
        if config.eval_every and (epoch % config.eval_every == 0 or epoch == config.epochs):
            record["validation_success"] = _validate(policy, config.eval_episodes)
            if record["validation_success"] > best["success"]:
                best = {"success": record["validation_success"], "epoch": epoch}
                save_policy(checkpoints / "best.safetensors", _labelled(policy, epoch, "best"))
        history.append(record)
        with log_path.open("a") as log:
            log.write(json.dumps(record) + "\n")
        if progress is not None:
            progress(record)
    save_policy(checkpoints / "final.safetensors", _labelled(policy, config.epochs, "final"))
    _plot_losses(history, run_dir / "loss.png", f"{config.algorithm} on {demos.info['dataset_id']}, seed {config.seed}")
    summary = {"run_dir": str(run_dir), "final_loss": history[-1]["loss"], "best_epoch": best["epoch"],
               "best_validation_success": best["success"] if best["epoch"] else None,
               "train_time_s": time.perf_counter() - started, "steps": total_steps, "samples": demos.num_steps,
               "device": str(target)}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _learning_rate_factor(warmup_steps: int, total_steps: int, final_fraction: float, step: int) -> float:
    """Linear warm-up over `warmup_steps`, then a cosine from 1 to `final_fraction` at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def _update_average(averaged: torch.nn.Module, network: torch.nn.Module, step: int) -> None:
    """Diffusion Policy's EMA: decay 1 - (1 + step)^-0.75 (a short memory early on), at most 0.9999."""
    decay = min(0.9999, 1 - (1 + step) ** -0.75)
    for mean, value in zip(averaged.parameters(), network.parameters()):
        mean.lerp_(value, 1 - decay)
    for mean, value in zip(averaged.buffers(), network.buffers()):
        mean.copy_(value)


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    if device.type == "cpu":
        return batch
    return {key: ({k: v.to(device) for k, v in value.items()} if isinstance(value, dict) else value.to(device))
            for key, value in batch.items()}


def _policy_info(config: TrainConfig, demos: Demonstrations) -> dict[str, Any]:
    import gymnasium as gym

    import dmg_envs  # noqa: F401  (registers the ids)

    env = gym.make(demos.env_id)
    space = env.action_space
    env.close()
    recipe = {key: value for key, value in asdict(config).items() if key != "seed"}
    return {"algorithm": config.algorithm, "recipe": recipe, "env_id": demos.env_id,
            "env_kwargs": demos.info.get("env_kwargs", {}),
            "data": demos.info,
            "low_dim_keys": demos.low_dim_keys,
            "rnn_horizon": config.seq_length if config.seq_length > 1 else 0,
            "action_low": space.low.tolist(), "action_high": space.high.tolist(), "training_seed": config.seed}


def _labelled(policy: BCPolicy, epoch: int, checkpoint: str) -> BCPolicy:
    policy.info = {**policy.info, "epoch": epoch, "checkpoint": checkpoint}
    return policy


def _validate(policy: BCPolicy, episodes: int) -> float:
    """Success on the validation episodes (static), which pick the best checkpoint."""
    from dmg_envs.learning.evaluate import VALIDATION_SEED_START, evaluate_policy, evaluation_seeds

    seeds = evaluation_seeds(episodes, start=VALIDATION_SEED_START)
    return evaluate_policy(policy, policy.info["env_id"], "static", seeds=seeds, num_envs=min(episodes, 10),
                           env_kwargs=policy.info["env_kwargs"])["success"]


def _plot_losses(history: list[dict[str, Any]], path: Path, title: str) -> None:
    from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is

    figure = Figure(figsize=(6, 3.5))
    axis = figure.subplots()
    axis.plot([r["epoch"] for r in history], [r["loss"] for r in history], label="training loss")
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss (negative log-likelihood or MSE)")
    evaluated = [r for r in history if "validation_success" in r]
    if evaluated:
        right = axis.twinx()
        right.plot([r["epoch"] for r in evaluated], [r["validation_success"] for r in evaluated], "o-", color="C1",
                   label="validation success")
        right.set_ylabel("validation success")
        right.set_ylim(-0.02, 1.02)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)

