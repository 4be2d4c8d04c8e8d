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

ARCHITECTURES = ("mlp", "rnn")


@dataclass(frozen=True)
class PolicyConfig:
    """The network and its inputs; stored in every checkpoint, so a checkpoint rebuilds its network.

    Attributes:
        architecture: "mlp" (one observation in, one action or chunk of actions out) or "rnn" (an LSTM over
            the episode).
        hidden_sizes: MLP layer widths ("mlp"), or (LSTM hidden size,) * layers ("rnn").
        gmm_modes: components of the Gaussian-mixture action head; 0 gives a deterministic head trained
            with the mean squared error.
        low_dim_size, action_size: input and output sizes.
        image_keys: camera observations, each through its own small conv encoder.
        image_feature_size: features per camera.
        min_std: the smallest standard deviation of a mixture component (normalised action units).
        action_chunk: actions predicted per observation ("mlp"): the head's distribution is over the next
            `action_chunk` actions together, executed one after the other (ACT, Diffusion Policy).
        obs_history: low-dimensional observations the network reads ("mlp"): the current one and the
            `obs_history - 1` before it, oldest first (Diffusion Policy's observation horizon), so that it
            can see how fast objects move; images are the current frame only.
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

    def to_dict(self) -> dict:
        values = asdict(self)
        for name in ("action_chunk", "obs_history"):  # at 1, checkpoints stay readable by versions without them
            if values[name] == 1:
                del values[name]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> PolicyConfig:
        return cls(**{**values, "hidden_sizes": tuple(values["hidden_sizes"]),
                      "image_keys": tuple(values.get("image_keys", ()))})


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


class BCPolicyNetwork(nn.Module):
    """Normalised observations in, an action distribution (normalised units) out."""

    def __init__(self, config: PolicyConfig):
        super().__init__()
        if config.architecture not in ARCHITECTURES:
            raise InvalidConfigError(f"architecture {config.architecture!r} is not one of {ARCHITECTURES}")
        if config.action_chunk < 1 or (config.architecture != "mlp" and config.action_chunk != 1):
            raise InvalidConfigError(f"action_chunk must be at least 1, and 1 for an {config.architecture!r} "
                                     f"network; got {config.action_chunk}")
        if config.obs_history < 1 or (config.architecture != "mlp" and config.obs_history != 1):
            raise InvalidConfigError(f"obs_history must be at least 1, and 1 for an {config.architecture!r} "
                                     f"network; got {config.obs_history}")
        self.config = config
        self.encoders = nn.ModuleDict({key.replace(".", "_"): ImageEncoder(config.image_feature_size)
                                       for key in config.image_keys})
        inputs = config.low_dim_size * config.obs_history + config.image_feature_size * len(config.image_keys)
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
        features = [low_dim]
        for key in self.config.image_keys:
            frames = images[key]
            encoded = self.encoders[key.replace(".", "_")](frames.reshape(-1, *frames.shape[-3:]))
            features.append(encoded.reshape(*frames.shape[:-3], -1))
        x = torch.cat(features, dim=-1)
        if self.config.architecture == "rnn":
            x, state = self.rnn(x, state)
        else:
            x = self.mlp(x)
        return self._distribution(self.head(x)), state

    def _distribution(self, out: torch.Tensor) -> ActionDistribution:
        config = self.config
        if not config.gmm_modes:
            return ActionDistribution(out)
        modes, actions = config.gmm_modes, config.action_size * config.action_chunk
        means, scales, logits = out.split([modes * actions, modes * actions, modes], dim=-1)
        means = means.reshape(*out.shape[:-1], modes, actions)
        std = nn.functional.softplus(scales.reshape(*out.shape[:-1], modes, actions)) + config.min_std
        return ActionDistribution(means, std.log(), logits)
