"""Behaviour-cloning networks: an MLP or an LSTM trunk, an optional conv encoder per camera, and a
deterministic (MSE) or Gaussian-mixture action head, as in robomimic's BC and BC-RNN-GMM."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dmg_envs.errors import InvalidConfigError

try:
    import torch
except ModuleNotFoundError as error:  # the learn extra is optional
    raise ModuleNotFoundError("dmg_envs.learning needs torch: pip install 'dmg-envs[learn]'") from error
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

ARCHITECTURES = ("mlp", "rnn", "diffusion")
# Fields added after the first checkpoints: left out of a checkpoint's config at these values, so checkpoints
# of policies that do not use them stay readable by versions without them.
_LATER_FIELDS = {"action_chunk": 1, "obs_history": 1, "action_horizon": None, "diffusion_steps": 100,
                 "inference_steps": 10}


@dataclass(frozen=True)
class PolicyConfig:
    """The network and its inputs; stored in every checkpoint, so a checkpoint rebuilds its network.

    Attributes:
        architecture: "mlp" (one observation in, one action or chunk of actions out), "rnn" (an LSTM over
            the episode) or "diffusion" (a denoiser of action chunks, `learning.diffusion`).
        hidden_sizes: MLP layer widths ("mlp"), (LSTM hidden size,) * layers ("rnn"), or the U-Net's widths
            from its finest level to its coarsest ("diffusion").
        gmm_modes: components of the Gaussian-mixture action head; 0 gives a deterministic head trained
            with the mean squared error.
        low_dim_size, action_size: input and output sizes.
        image_keys: camera observations, each through its own small conv encoder.
        image_feature_size: features per camera.
        min_std: the smallest standard deviation of a mixture component (normalised action units).
        action_chunk: actions predicted per observation ("mlp", "diffusion"): the head's distribution is over
            the next `action_chunk` actions together (ACT; Diffusion Policy's prediction horizon).
        obs_history: low-dimensional observations the network reads ("mlp", "diffusion"): the current one and
            the `obs_history - 1` before it, oldest first (Diffusion Policy's observation horizon), so that it
            can see how fast objects move; images are the current frame only.
        action_horizon: how many of a chunk's actions are executed before observing again (None: all of
            them; Diffusion Policy's action horizon, 8 of 16).
        diffusion_steps, inference_steps: "diffusion": the noise levels DDPM trains on, and the DDIM steps
            that denoise a chunk when acting.
    """

    architecture: str
    hidden_sizes: tuple[int, ...]
    gmm_modes: int
    low_dim_size: int
    action_size: int
    image_keys: tuple[str, ...] = ()
    image_feature_size: int = 64
    min_std: float = 1e-4
    action_chunk: int = 1
    obs_history: int = 1
    action_horizon: int | None = None
    diffusion_steps: int = 100
    inference_steps: int = 10

    @property
    def input_size(self) -> int:
        """Features the trunk (or denoiser) reads: the low-dimensional history and each camera's features."""
        return self.low_dim_size * self.obs_history + self.image_feature_size * len(self.image_keys)

    @property
    def executed_actions(self) -> int:
        """Actions executed from each chunk before the next observation."""
        return self.action_chunk if self.action_horizon is None else self.action_horizon

    def to_dict(self) -> dict:
        return {name: value for name, value in asdict(self).items()
                if name not in _LATER_FIELDS or value != _LATER_FIELDS[name]}

    @classmethod
    def from_dict(cls, values: dict) -> PolicyConfig:
        return cls(**{**values, "hidden_sizes": tuple(values["hidden_sizes"]),
                      "image_keys": tuple(values.get("image_keys", ()))})


def camera_encoders(config: PolicyConfig, encoder: type[nn.Module]) -> nn.ModuleDict:
    """One `encoder(config.image_feature_size)` per camera key (dots, not allowed in module names, as "_")."""
    return nn.ModuleDict({key.replace(".", "_"): encoder(config.image_feature_size) for key in config.image_keys})


def encode_cameras(encoders: nn.ModuleDict, config: PolicyConfig, images: dict[str, torch.Tensor] | None
                   ) -> list[torch.Tensor]:
    """Each camera's features, in `config.image_keys` order; frames (N, [T,] H, W, 3) give (N, [T,] F)."""
    features = []
    for key in config.image_keys:
        frames = images[key]
        encoded = encoders[key.replace(".", "_")](frames.reshape(-1, *frames.shape[-3:]))
        features.append(encoded.reshape(*frames.shape[:-3], -1))
    return features


class ImageEncoder(nn.Module):
    """uint8 (N, H, W, 3) frames to (N, features): three convolutions, as the Atari and robomimic encoders."""

    def __init__(self, features: int):
        super().__init__()
        self.convs = nn.Sequential(nn.Conv2d(3, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2),
                                   nn.ReLU(), nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
                                   nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.project = nn.Linear(64 * 16, features)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.project(self.convs(frames.permute(0, 3, 1, 2).float() / 255.0))


@dataclass
class ActionDistribution:
    """The head's output for a batch: a mixture, or (gmm_modes = 0) a point."""

    mean: torch.Tensor  # (..., A) or (..., modes, A), A the action size times the chunk length
    log_std: torch.Tensor | None = None
    logits: torch.Tensor | None = None

    def step_losses(self, actions: torch.Tensor) -> torch.Tensor:
        """Per step: the squared error (a point) or the negative log-likelihood (a mixture) of `actions`."""
        if self.logits is None:
            return ((self.mean - actions) ** 2).mean(dim=-1)
        return -self.mixture().log_prob(actions)

    def mixture(self) -> MixtureSameFamily:
        return MixtureSameFamily(Categorical(logits=self.logits),
                                 Independent(Normal(self.mean, self.log_std.exp()), 1))

    def mode(self) -> torch.Tensor:
        """The mean of the most likely component (deterministic evaluation)."""
        if self.logits is None:
            return self.mean
        best = self.logits.argmax(dim=-1)
        return torch.take_along_dim(self.mean, best[..., None, None], dim=-2).squeeze(-2)


def build_network(config: PolicyConfig) -> nn.Module:
    """The network `config` describes: a `BCPolicyNetwork` or a `diffusion.DiffusionNetwork`. Both give
    `loss(batch, generator)` for training and `act_chunk(low_dim, images, state, generator)` for acting."""
    if config.architecture not in ARCHITECTURES:
        raise InvalidConfigError(f"architecture {config.architecture!r} is not one of {ARCHITECTURES}")
    if config.action_horizon is not None and not 1 <= config.action_horizon <= config.action_chunk:
        raise InvalidConfigError(f"action_horizon must be in [1, action_chunk={config.action_chunk}], got "
                                 f"{config.action_horizon}")
    if config.architecture == "diffusion":
        from dmg_envs.learning.diffusion import DiffusionNetwork

        return DiffusionNetwork(config)
    return BCPolicyNetwork(config)


class BCPolicyNetwork(nn.Module):
    """Normalised observations in, an action distribution (normalised units) out."""

    def __init__(self, config: PolicyConfig):
        super().__init__()
        if config.architecture not in ("mlp", "rnn"):
            raise InvalidConfigError(f"architecture {config.architecture!r} is not one of ('mlp', 'rnn')")
        if config.action_chunk < 1 or (config.architecture != "mlp" and config.action_chunk != 1):
            raise InvalidConfigError(f"action_chunk must be at least 1, and 1 for an {config.architecture!r} "
                                     f"network; got {config.action_chunk}")
        if config.obs_history < 1 or (config.architecture != "mlp" and config.obs_history != 1):
            raise InvalidConfigError(f"obs_history must be at least 1, and 1 for an {config.architecture!r} "
                                     f"network; got {config.obs_history}")
        self.config = config
        self.encoders = camera_encoders(config, ImageEncoder)
        inputs = config.input_size
        if config.architecture == "rnn":
            self.rnn = nn.LSTM(inputs, config.hidden_sizes[0], num_layers=len(config.hidden_sizes), batch_first=True)
            trunk_out = config.hidden_sizes[0]
        else:
            layers, width = [], inputs
            for size in config.hidden_sizes:
                layers += [nn.Linear(width, size), nn.ReLU()]
                width = size
            self.mlp = nn.Sequential(*layers)
            trunk_out = width
        modes, actions = max(config.gmm_modes, 1), config.action_size * config.action_chunk
        outputs = modes * actions * (2 if config.gmm_modes else 1) + (modes if config.gmm_modes else 0)
        self.head = nn.Linear(trunk_out, outputs)

    def forward(self, low_dim: torch.Tensor, images: dict[str, torch.Tensor] | None = None,
                state: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[ActionDistribution, tuple | None]:
        """`low_dim` is (N, T, D) for "rnn" and (N, D * obs_history) for "mlp"; images (N, [T,] H, W, 3).
        Returns the distribution over actions at every input step and the LSTM state (None for "mlp")."""
        x = torch.cat([low_dim] + encode_cameras(self.encoders, self.config, images), dim=-1)
        if self.config.architecture == "rnn":
            x, state = self.rnn(x, state)
        else:
            x = self.mlp(x)
        return self._distribution(self.head(x)), state

    def loss(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """The mean per-step loss (`ActionDistribution.step_losses`) over the steps the batch's mask keeps."""
        distribution, _ = self(batch["low_dim"], batch["images"])
        mask = batch["mask"]
        return (distribution.step_losses(batch["actions"]) * mask).sum() / mask.sum()

    @torch.no_grad()
    def act_chunk(self, low_dim: torch.Tensor, images: dict[str, torch.Tensor] | None, state=None,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, tuple | None]:
        """(N, action_chunk, A) normalised actions, the head's mode, and the LSTM state (None for "mlp")."""
        distribution, state = self(low_dim, images, state)
        return distribution.mode().reshape(len(low_dim), self.config.action_chunk, -1), state

    def _distribution(self, out: torch.Tensor) -> ActionDistribution:
        config = self.config
        if not config.gmm_modes:
            return ActionDistribution(out)
        modes, actions = config.gmm_modes, config.action_size * config.action_chunk
        means, scales, logits = out.split([modes * actions, modes * actions, modes], dim=-1)
        means = means.reshape(*out.shape[:-1], modes, actions)
        std = nn.functional.softplus(scales.reshape(*out.shape[:-1], modes, actions)) + config.min_std
        return ActionDistribution(means, std.log(), logits)
