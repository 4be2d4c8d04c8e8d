"""Training batches: random windows, whole episodes, or single observations with their action chunks and
observation histories, cut from the normalised demonstrations."""

from __future__ import annotations

import numpy as np
import torch

from dmg_envs.errors import InvalidConfigError
from dmg_envs.learning.data import Demonstrations, Normalizer


class SequenceSampler:
    """Random windows of `length` steps from the episodes; a window that runs past its episode's end is
    padded with the last step, and the padded steps are masked out of the loss. `length` 0 samples whole
    episodes. With `action_chunk` > 1 (and `length` 1), each sample is one observation and the chunk of
    actions from it on, flattened; a chunk that runs past its episode's end repeats the episode's last
    action (these chunks start in the last steps before success, where the motion that succeeded goes on).
    With `obs_history` > 1 (and `length` 1), a sample's observation is its step's and the `obs_history - 1`
    before it side by side, oldest first; the episode's first observation stands in for steps before it."""

    def __init__(self, demos: Demonstrations, obs_normalizer: Normalizer, action_normalizer: Normalizer,
                 length: int, action_chunk: int = 1, obs_history: int = 1):
        self.low_dim = np.concatenate([obs_normalizer.normalize(x) for x in demos.low_dim]).astype(np.float32)
        self.actions = np.concatenate([action_normalizer.normalize(a) for a in demos.actions]).astype(np.float32)
        self.images = {key: np.concatenate([episode[key] for episode in demos.images]) for key in demos.image_keys}
        lengths = np.array([len(a) for a in demos.actions])
        ends = np.cumsum(lengths)
        # Every step starts a window, except with whole episodes (length 0): then each episode is one.
        self.length = int(lengths.max()) if length == 0 else length
        if action_chunk < 1 or (action_chunk > 1 and self.length != 1):
            raise InvalidConfigError(f"action chunks of {action_chunk} follow single observations (length 1); got "
                                     f"length {length}")
        if obs_history < 1 or (obs_history > 1 and self.length != 1):
            raise InvalidConfigError(f"obs_history={obs_history}: it must be at least 1, and above 1 only for single "
                                     f"observations (length 1); got length {length}")
        self.action_chunk, self.obs_history = action_chunk, obs_history
        self.starts = ends - lengths if length == 0 else np.arange(ends[-1])
        self.first = np.repeat(ends - lengths, lengths)        # the first step of each step's episode
        self.last = np.repeat(ends - 1, lengths)               # the last step of each step's episode

    def sample(self, rng: np.random.Generator, batch_size: int) -> dict[str, torch.Tensor]:
        starts = rng.choice(self.starts, size=batch_size)
        raw = starts[:, None] + np.arange(max(self.length, self.action_chunk))[None]
        index = np.minimum(raw, self.last[starts][:, None])
        if self.action_chunk > 1 or self.obs_history > 1:  # one observation (with its history), its actions
            past = np.maximum(starts[:, None] + np.arange(1 - self.obs_history, 1)[None], self.first[starts][:, None])
            return {"low_dim": torch.from_numpy(self.low_dim[past].reshape(batch_size, -1)),
                    "actions": torch.from_numpy(self.actions[index[:, :self.action_chunk]].reshape(batch_size, -1)),
                    "mask": torch.ones(batch_size, dtype=torch.bool),
                    "images": {key: torch.from_numpy(frames[starts]) for key, frames in self.images.items()}}
        batch = {"low_dim": torch.from_numpy(self.low_dim[index]), "actions": torch.from_numpy(self.actions[index]),
                 "mask": torch.from_numpy(raw <= self.last[starts][:, None]),
                 "images": {key: torch.from_numpy(frames[index]) for key, frames in self.images.items()}}
        if self.length == 1:  # the MLP sees single steps
            batch = {key: (value[:, 0] if torch.is_tensor(value) else {k: v[:, 0] for k, v in value.items()})
                     for key, value in batch.items()}
        return batch
