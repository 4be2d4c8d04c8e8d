"""Training recipes: each learner's network and defaults (`ALGORITHMS`) and one run's every hyperparameter
(`TrainConfig`). No torch here: leaderboard entries record and check recipes without it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from dmg_envs.errors import InvalidConfigError
from dmg_envs.learning.data import QUATERNION_FEATURES, check_action_labels


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
