"""The shared trainer: behaviour cloning (BC-MLP, BC-MLP-GMM, BC-RNN and BC-RNN-GMM, robomimic's recipes) and
Diffusion Policy, seeded and deterministic on the CPU, writing a run folder: config, log, loss curve, final
and best checkpoints."""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from dmg_envs.errors import InvalidConfigError
from dmg_envs.learning.data import (
    QUATERNION_FEATURES,
    Demonstrations,
    Normalizer,
    check_action_labels,
    load_demonstrations,
)
from dmg_envs.learning.models import PolicyConfig, build_network
from dmg_envs.learning.policy import BCPolicy, resolve_device, save_policy
from dmg_envs.learning.sampler import SequenceSampler


class Algorithm(NamedTuple):
    """An algorithm's network and the defaults of its recipe (each a `TrainConfig` field left at None)."""

    architecture: str
    hidden_sizes: tuple[int, ...]
    gmm_modes: int
    seq_length: int
    batch_size: int
    action_chunk: int = 1
    obs_history: int = 1
    action_horizon: int | None = None
    learning_rate: float = 1e-3
    warmup_steps: int = 0
    weight_decay: float = 0.0
    ema: bool = False


ALGORITHMS = {
    "bc-mlp": Algorithm("mlp", (512, 512), 0, 1, 100),
    # robomimic's BC with a GMM head: on MugDrawer (300-step episodes) it learns where BC-RNN did not. The
    # width of our BC-MLP (robomimic: 2 x 1024), batches of 256 (robomimic: 100): more samples per step for
    # the same count of steps, each about 10 ms on one CPU core.
    "bc-mlp-gmm": Algorithm("mlp", (512, 512), 5, 1, 256),
    # robomimic trains 2 x 400 on windows of 10 steps and restarts the state every 10 steps when acting; here
    # 2 x 256 (2.5x faster on a CPU) on whole episodes (sequence length 0), acting with the whole episode
    # in memory: windows of 10 left policies stalled after a pause in the demos (the gripper closing),
    # with 54-60 % success on Stack against 100 % on the same validation episodes.
    "bc-rnn-gmm": Algorithm("rnn", (256, 256), 5, 0, 16),
    # the same LSTM with a deterministic head (MSE): DexMimicGen found it above BC-RNN-GMM on 5 of 9 tasks
    "bc-rnn": Algorithm("rnn", (256, 256), 0, 0, 16),
    # Diffusion Policy's defaults (observation horizon 2, prediction horizon 16, action horizon 8, AdamW with
    # weight decay 1e-6, 500 warm-up steps, an EMA of the weights) on a U-Net a sixteenth of the paper's
    # (`learning.diffusion`); a learning rate of 3e-4 rather than 1e-4, for budgets of thousands of steps,
    # not the paper's hundreds of thousands.
    "diffusion": Algorithm("diffusion", (64, 128, 256), 0, 1, 256, action_chunk=16, obs_history=2,
                           action_horizon=8, learning_rate=3e-4, warmup_steps=500, weight_decay=1e-6, ema=True),
}
# the recipe fields an algorithm sets where a config leaves them at None
_ALGORITHM_DEFAULTS = ("hidden_sizes", "gmm_modes", "seq_length", "batch_size", "action_chunk", "obs_history",
                       "action_horizon", "learning_rate", "warmup_steps", "weight_decay", "ema")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Two runs with the same config (and package versions) give the same checkpoints.

    Fields left at None take the algorithm's default (`ALGORITHMS`).

    Attributes:
        algorithm: "bc-rnn" (LSTM, mean squared error), "bc-rnn-gmm" (LSTM, Gaussian-mixture head),
            "bc-mlp" (MLP, mean squared error), "bc-mlp-gmm" (MLP, Gaussian-mixture head) or "diffusion"
            (Diffusion Policy, `learning.diffusion`).
        dataset: a Minari dataset id, or a source-demo file (shipped name like "stack_1", or a path).
        epochs, steps_per_epoch, batch_size: the budget: epochs x steps_per_epoch gradient steps on
            batches of `batch_size` sequences.
        learning_rate: AdamW's rate after `warmup_steps` of linear warm-up, then decayed along a cosine to
            `learning_rate * final_lr_fraction`; `weight_decay` is AdamW's.
        ema: act with (and save) an exponential moving average of the weights, as Diffusion Policy does
            (decay 1 - (1 + step)^-0.75, at most 0.9999).
        seq_length, hidden_sizes, gmm_modes: the network; `seq_length=0` trains on whole episodes.
        seed: initialises the network and orders the batches.
        eval_every: evaluate every this many epochs (0: never) on `eval_episodes` validation episodes of
            the dataset's env, static; the best such checkpoint is kept as `best.safetensors`.
        max_episodes: train on the first this many episodes of the dataset (None: all).
        obs_keys: the observations the policy reads (None: `data.default_obs_keys`).
        action_chunk: "bc-mlp(-gmm)" and "diffusion": predict the next this many actions from each observation
            (ACT's action chunking, Diffusion Policy's prediction horizon; 1: one action per observation).
        action_horizon: of a chunk, the actions executed before observing again (None: the whole chunk).
        max_grad_norm: clip each step's gradient to this norm (None: no clipping). A mixture head's
            likelihood of a rare action far out on a nearly constant dimension gives gradients a million
            times the usual, which stall Adam for thousands of steps.
        obs_history: "bc-mlp(-gmm)" and "diffusion": read the current low-dimensional observation and the
            `obs_history - 1` before it (Diffusion Policy's observation horizon: how fast objects move; camera
            frames are the current one only; 1: the current observation).
        action_labels: "executed" (the dataset's actions) or "expert": what the expert chose before its action
            noise, stored by the D-MG generator when it adds noise (DART's labels; `data.load_demonstrations`).
        quaternions: how the policy reads `*_quat` observations: "rotation-6d" (two columns of the rotation
            matrix: no sign flips) or "raw" (runs before this field existed; `data.quaternion_features`).
    """

    dataset: str
    algorithm: str = "bc-rnn-gmm"
    epochs: int = 100
    steps_per_epoch: int = 100
    batch_size: int | None = None
    learning_rate: float | None = None
    final_lr_fraction: float = 0.05
    warmup_steps: int | None = None
    weight_decay: float | None = None
    ema: bool | None = None
    seq_length: int | None = None
    hidden_sizes: tuple[int, ...] | None = None
    gmm_modes: int | None = None
    seed: int = 0
    eval_every: int = 10
    eval_episodes: int = 20
    max_episodes: int | None = None
    obs_keys: tuple[str, ...] | None = None
    action_chunk: int | None = None
    max_grad_norm: float | None = None
    obs_history: int | None = None
    action_labels: str = "executed"
    action_horizon: int | None = None
    quaternions: str = "rotation-6d"

    @property
    def run_name(self) -> str:
        """The algorithm, with its chunk length and observation history where they are not its defaults: names
        run folders and entries."""
        defaults = ALGORITHMS[self.algorithm]
        return (self.algorithm + (f"-chunk{self.action_chunk}" if self.action_chunk != defaults.action_chunk else "")
                + (f"-obs{self.obs_history}" if self.obs_history != defaults.obs_history else ""))

    @property
    def budget_name(self) -> str:
        """The budget in a file name, e.g. "30ep250x256" (epochs, steps per epoch x batch size): beside
        `run_name`, it keeps the runs and entries of one recipe on several budgets apart."""
        return f"{self.epochs}ep{self.steps_per_epoch}x{self.batch_size}"

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise InvalidConfigError(f"algorithm={self.algorithm!r} is not valid; choose one of "
                                     f"{', '.join(map(repr, ALGORITHMS))}")
        defaults = ALGORITHMS[self.algorithm]
        for name in _ALGORITHM_DEFAULTS:
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(defaults, name))
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        architecture = defaults.architecture
        for name in ("epochs", "steps_per_epoch", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise InvalidConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        if not 0 < self.final_lr_fraction <= 1:
            raise InvalidConfigError(f"final_lr_fraction must be in (0, 1], got {self.final_lr_fraction}")
        if self.warmup_steps < 0 or self.weight_decay < 0:
            raise InvalidConfigError(f"warmup_steps and weight_decay must be >= 0, got {self.warmup_steps} and "
                                     f"{self.weight_decay}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise InvalidConfigError(f"max_grad_norm must be positive or None, got {self.max_grad_norm}")
        if self.eval_every < 0 or self.eval_episodes < 1:
            raise InvalidConfigError(f"eval_every must be >= 0 and eval_episodes >= 1, got {self.eval_every} "
                                     f"and {self.eval_episodes}")
        if self.action_chunk < 1:
            raise InvalidConfigError(f"action_chunk must be at least 1, got {self.action_chunk}")
        if architecture == "rnn" and self.action_chunk != 1:
            raise InvalidConfigError(f"action_chunk is for the MLP and diffusion policies; {self.algorithm} acts one "
                                     f"action at a time, got action_chunk={self.action_chunk}")
        if self.action_horizon is not None and not 1 <= self.action_horizon <= self.action_chunk:
            raise InvalidConfigError(f"action_horizon must be in [1, action_chunk={self.action_chunk}], got "
                                     f"{self.action_horizon}")
        if self.obs_history < 1:
            raise InvalidConfigError(f"obs_history must be at least 1, got {self.obs_history}")
        if architecture == "rnn" and self.obs_history != 1:
            raise InvalidConfigError(f"obs_history is for the MLP and diffusion policies; {self.algorithm}'s LSTM "
                                     f"remembers the episode, got obs_history={self.obs_history}")
        check_action_labels(self.action_labels)
        if self.quaternions not in QUATERNION_FEATURES:
            raise InvalidConfigError(f"quaternions={self.quaternions!r} is not valid; choose one of "
                                     f"{', '.join(map(repr, QUATERNION_FEATURES))}")
        if architecture != "rnn" and self.seq_length != 1:
            raise InvalidConfigError(f"{self.algorithm} acts on one observation; seq_length must be 1, got "
                                     f"{self.seq_length}")
        if self.seq_length < 0 or self.gmm_modes < 0 or not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise InvalidConfigError(f"seq_length must be >= 0, gmm_modes >= 0 and hidden_sizes positive, got "
                                     f"{self.seq_length}, {self.gmm_modes} and {self.hidden_sizes}")
        if architecture == "rnn" and len(set(self.hidden_sizes)) != 1:
            raise InvalidConfigError(f"an LSTM's layers share one size; got hidden_sizes={self.hidden_sizes}")
        if architecture == "diffusion" and self.gmm_modes:
            raise InvalidConfigError(f"a diffusion policy has no mixture head; gmm_modes must be 0, got "
                                     f"{self.gmm_modes}")


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
    return {"algorithm": config.algorithm, "env_id": demos.env_id, "env_kwargs": demos.info.get("env_kwargs", {}),
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

