"""A trained policy (behaviour cloning or Diffusion Policy): its network with the normalisation it was
trained with, saved to and loaded from safetensors (plain tensors and JSON: loading runs no pickle)."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmg_envs.errors import DmgError, InvalidConfigError
from dmg_envs.learning.data import Normalizer, stack_low_dim
from dmg_envs.learning.models import PolicyConfig, build_network

CHECKPOINT_FORMAT = 1
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """"auto": CUDA where present, else the CPU; "cpu"; or "cuda" (an error where there is none). Results
    are bit-identical from run to run on the CPU only: CUDA kernels may sum in another order."""
    if device not in DEVICES:
        raise InvalidConfigError(f"device={device!r} is not valid; choose one of {', '.join(map(repr, DEVICES))}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidConfigError("device='cuda' but torch sees no CUDA device (a CPU build of torch, or no GPU); "
                                 "use --device cpu or auto")
    return torch.device(device)


class CheckpointError(DmgError, ValueError):
    """A checkpoint that is missing, corrupt or of another format."""


class BCPolicy:
    """Acts in a batch of envs from dict observations: normalises them, runs the network and returns
    actions in the env's units, clipped to its action space.

    The LSTM state restarts every `rnn_horizon` steps, the length of the sequences it was trained on
    (robomimic does the same), and at `reset`. A policy trained on action chunks predicts a chunk, executes
    its first `action_horizon` actions one by one, then observes again; `reset` drops what is left of a
    chunk. A policy with an observation history remembers every step's observation, also those a chunk acts
    through, and at the start of an episode stands its first observation in for the steps before it, as in
    training. A diffusion policy draws its sampling noise from a generator that `reset(num_envs, seed)`
    seeds (0 by default), so the same episodes give the same actions.
    """

    obs_mode = "dict"

    def __init__(self, network: torch.nn.Module, obs_normalizer: Normalizer, action_normalizer: Normalizer,
                 info: dict[str, Any], device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.obs_normalizer, self.action_normalizer = obs_normalizer, action_normalizer
        self.info = info
        self.low_dim_keys = [(key, int(size)) for key, size in info["low_dim_keys"]]
        self.image_keys = list(network.config.image_keys)
        self.rnn_horizon = int(info.get("rnn_horizon", 0))
        self.action_low = np.asarray(info["action_low"], dtype=np.float32)
        self.action_high = np.asarray(info["action_high"], dtype=np.float32)
        self._state = None
        self._steps = 0
        self._chunk: deque[np.ndarray] = deque()  # the current chunk's actions still to execute, (N, A) each
        self._history: deque[np.ndarray] = deque(maxlen=network.config.obs_history)  # normalised, (N, D) each
        self._generator = torch.Generator().manual_seed(0)  # sampling noise (diffusion)

    def reset(self, num_envs: int = 1, seed: int = 0) -> None:
        self._state, self._steps = None, 0
        self._chunk.clear()
        self._history.clear()
        self._generator.manual_seed(seed)

    @torch.no_grad()
    def act(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        """(N, A) actions for a batch of N dict observations (each key (N, ...))."""
        low_dim = self.obs_normalizer.normalize(stack_low_dim(observations, self.low_dim_keys))
        remembered = self._chunk or self._history
        if remembered and len(remembered[0]) != len(low_dim):
            raise ValueError("the batch changed size in the middle of an action chunk or an observation history; "
                             "call reset() first")
        if self._history.maxlen > 1:
            if not self._history:  # the first observation stands in for the steps before the episode
                self._history.extend([low_dim] * (self._history.maxlen - 1))
            self._history.append(low_dim)
            low_dim = np.concatenate(self._history, axis=1)
        if self._chunk:
            return self._chunk.popleft()
        if self.rnn_horizon and self._steps % self.rnn_horizon == 0:
            self._state = None
        low_dim = torch.from_numpy(np.asarray(low_dim, dtype=np.float32)).to(self.device)
        images = {key: torch.from_numpy(np.asarray(observations[key])).to(self.device) for key in self.image_keys}
        if self.network.config.architecture == "rnn":
            low_dim, images = low_dim[:, None], {key: frames[:, None] for key, frames in images.items()}
        chunk, self._state = self.network.act_chunk(low_dim, images, self._state, self._generator)
        self._steps += 1
        actions = np.clip(self.action_normalizer.denormalize(chunk.cpu().numpy()), self.action_low, self.action_high)
        self._chunk.extend(actions.swapaxes(0, 1)[1:self.network.config.executed_actions])
        return actions[:, 0]

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """One env's action for one observation (keeps the recurrent state, chunk and history between calls)."""
        batch = {key: np.asarray(value)[None] for key, value in observation.items()}
        return self.act(batch)[0]


def save_policy(path: str | Path, policy: BCPolicy) -> Path:
    """Write `policy` as a safetensors file: the network's tensors, the normalisers, and the rest as JSON
    in the file's metadata. The file is written whole or not at all."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"network.{name}": value.detach().cpu().contiguous()
               for name, value in policy.network.state_dict().items()}
    for name, normalizer in (("obs", policy.obs_normalizer), ("action", policy.action_normalizer)):
        tensors[f"normalizer.{name}.mean"] = torch.from_numpy(normalizer.mean)
        tensors[f"normalizer.{name}.std"] = torch.from_numpy(normalizer.std)
    metadata = {"format": str(CHECKPOINT_FORMAT), "config": json.dumps(policy.network.config.to_dict()),
                "info": json.dumps(policy.info)}
    partial = path.with_suffix(path.suffix + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    partial.replace(path)
    return path


def load_policy(path: str | Path, device: str | torch.device = "cpu") -> BCPolicy:
    """The policy saved at `path` by `save_policy`, acting on `device` (a torch device, or "auto")."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: {error}") from error
    if metadata.get("format") != str(CHECKPOINT_FORMAT):
        raise CheckpointError(f"{path} has checkpoint format {metadata.get('format')!r}; this version of dmg-envs "
                              f"reads format {CHECKPOINT_FORMAT}")
    try:
        config = PolicyConfig.from_dict(json.loads(metadata["config"]))
        info = json.loads(metadata["info"])
        network = build_network(config)
        network.load_state_dict({name.removeprefix("network."): value for name, value in tensors.items()
                                 if name.startswith("network.")})
        normalizers = [Normalizer(tensors[f"normalizer.{name}.mean"].numpy(), tensors[f"normalizer.{name}.std"].numpy())
                       for name in ("obs", "action")]
    except (KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not a dmg-envs policy checkpoint: {error}") from error
    return BCPolicy(network, *normalizers, info, device=resolve_device(device) if isinstance(device, str) else device)
