"""A generation run's work folder: its configuration, a log line per finished attempt, and one episode
file ("shard") per kept attempt, so that an interrupted run loses nothing and resumes where it stopped.

Shards are NumPy `.npz` files (no pickle: loading runs no code) with a format version; a truncated or
corrupt shard is detected when read (`ShardError`, naming the file), and its attempt is run again.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dmg_envs.errors import DmgError, GenerationError

SHARD_FORMAT_VERSION = 2  # 2: expert actions; a shard of 1 is run again
_OBSERVATION = "observations/"


class ShardError(DmgError, ValueError):
    """An episode file that is missing, truncated, corrupt or of another format."""


@dataclass
class Episode:
    """One attempt's record (observations have one more row than actions). `expert_actions`: where the
    generator adds noise to a closed-loop expert's actions, what the expert chose at each step before the
    noise (DART's labels: the expert's correction in the states the noise led to); None otherwise."""

    seed: int
    success: bool
    observations: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    expert_actions: np.ndarray | None = None


@dataclass(frozen=True)
class AttemptResult:
    """What the driver learns of a finished attempt (the episode itself stays in its shard)."""

    index: int
    seed: int
    success: bool
    steps: int
    error: str | None = None


CONTENT_HASH_LAYOUT = (
    "sha256 over the episodes in dataset order; per episode: b'episode', the seed as 8-byte little-endian "
    "signed, then one record per array (observations/<key> in sorted key order, actions, expert_actions where "
    "recorded: the first T rows of the step info expert_action, rewards): "
    "'<name> <dtype> <shape>\\n' in UTF-8 (dtype as NumPy's little-endian str, e.g. <f8 or |u1; shape comma-"
    "separated) followed by the array's bytes in C order, little-endian")


class ShardEpisodes(Sequence):
    """The episodes of some attempts, each read from its shard when it is reached: a run of any size is
    written without holding its episodes in memory (`seeds` without reading them)."""

    def __init__(self, folder: Path, results: list[AttemptResult]):
        self.folder, self.results = folder, results

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ShardEpisodes(self.folder, self.results[index])
        return read_shard(shard_path(self.folder, self.results[index].seed))

    @property
    def seeds(self) -> list[int]:
        return [result.seed for result in self.results]


def content_hash(episodes: Iterable[Episode]) -> str:
    """SHA-256 (hex) of the episodes' contents: seeds, observations, actions (and expert actions, where
    recorded) and rewards, in order, in the byte layout `CONTENT_HASH_LAYOUT` describes. Two datasets with
    the same hash hold the same data, whatever wrote them (worker count, backend, interruptions)."""
    digest = hashlib.sha256()
    for episode in episodes:
        digest.update(b"episode" + int(episode.seed).to_bytes(8, "little", signed=True))
        arrays = [(_OBSERVATION + key, episode.observations[key]) for key in sorted(episode.observations)]
        expert = [] if episode.expert_actions is None else [("expert_actions", episode.expert_actions)]
        for name, array in [*arrays, ("actions", episode.actions), *expert, ("rewards", episode.rewards)]:
            array = np.asarray(array)
            array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            shape = ",".join(str(size) for size in array.shape)
            digest.update(f"{name} {array.dtype.str} {shape}\n".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def shard_path(folder: Path, seed: int) -> Path:
    return folder / f"episode_{seed}.npz"


def write_shard(folder: Path, episode: Episode) -> Path:
    """Write an episode atomically (a partial file renamed into place)."""
    path = shard_path(folder, episode.seed)
    partial = path.with_name(path.name + ".partial")
    arrays = {"format_version": np.array(SHARD_FORMAT_VERSION), "seed": np.array(episode.seed, dtype=np.int64),
              "success": np.array(episode.success), "actions": episode.actions, "rewards": episode.rewards,
              "observation_keys": np.array(list(episode.observations), dtype=str)}
    arrays.update({_OBSERVATION + key: value for key, value in episode.observations.items()})
    if episode.expert_actions is not None:
        arrays["expert_actions"] = episode.expert_actions
    # Frames compress several-fold (flat table, plain colours); a vector-only episode is not worth the time.
    save = np.savez_compressed if any(value.dtype == np.uint8 for value in episode.observations.values()) \
        else np.savez
    with open(partial, "wb") as file:
        save(file, **arrays)
    partial.replace(path)
    return path


def read_shard(path: Path) -> Episode:
    """Read an episode written by `write_shard`; raises `ShardError` naming the file if it cannot."""
    try:
        with np.load(path, allow_pickle=False) as data:
            version = int(data["format_version"])
            if version != SHARD_FORMAT_VERSION:
                raise ShardError(f"{path.name} has shard format version {version}, this dmg-envs reads "
                                 f"{SHARD_FORMAT_VERSION}")
            keys = [str(key) for key in data["observation_keys"]]
            episode = Episode(seed=int(data["seed"]), success=bool(data["success"]),
                              observations={key: data[_OBSERVATION + key] for key in keys},
                              actions=data["actions"], rewards=data["rewards"],
                              expert_actions=data["expert_actions"] if "expert_actions" in data else None)
    except ShardError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise ShardError(f"{path.name} is truncated or corrupt ({type(error).__name__}: {error})") from error
    steps = len(episode.actions)
    expert = () if episode.expert_actions is None else (episode.expert_actions,)
    if (len(episode.rewards) != steps or any(len(value) != steps + 1 for value in episode.observations.values())
            or any(actions.shape != episode.actions.shape for actions in expert)):
        raise ShardError(f"{path.name} is inconsistent: {steps} actions but other lengths for rewards, expert "
                         f"actions or observations")
    return episode


class RunState:
    """The work folder of one run: every finished attempt's outcome by attempt index, and its shards.

    Args:
        folder: the work folder (created).
        identity: what makes two runs the same run (a config without its demo and attempt counts).
        config: the full configuration, written to `config.json`.
    """

    def __init__(self, folder: Path, identity: dict[str, Any], config: dict[str, Any]):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        config_file = folder / "config.json"
        if config_file.exists():
            previous = json.loads(config_file.read_text())
            if {key: previous.get(key) for key in identity} != identity:
                raise GenerationError(f"{folder} holds a run with another configuration ({previous}); "
                                      f"remove it or use another --work-dir")
        config_file.write_text(json.dumps(config, indent=2))
        self.results: dict[int, AttemptResult] = {}
        self.keeps_failures = bool(config.get("keep_failures", False))
        log = folder / "attempts.jsonl"
        if log.exists():
            for line in log.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    result = AttemptResult(int(entry["index"]), int(entry["seed"]), bool(entry["success"]),
                                           int(entry["steps"]), entry.get("error"))
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue  # a line cut by an interruption: that attempt is simply run again
                if result.error is not None:
                    continue  # an attempt that raised (a full disk, a dead worker) is tried again on resume
                if not self._needs_shard(result) or shard_path(folder, result.seed).exists():
                    self.results[result.index] = result

    def _needs_shard(self, result: AttemptResult) -> bool:
        return result.success or self.keeps_failures

    def record(self, result: AttemptResult) -> None:
        """Log a finished attempt (its shard, if any, is already written)."""
        with open(self.folder / "attempts.jsonl", "a") as log:
            log.write(json.dumps({"index": result.index, "seed": result.seed, "success": result.success,
                                  "steps": result.steps, "error": result.error}) + "\n")
        self.results[result.index] = result

    def forget(self, index: int) -> None:
        """Drop an attempt whose shard turned out unreadable, so that it is run again."""
        result = self.results.pop(index)
        shard_path(self.folder, result.seed).unlink(missing_ok=True)

    def prefix(self, num_demos: int, attempt_limit: int) -> tuple[list[AttemptResult], int]:
        """The successes among the unbroken run of finished attempts from index 0 (at most `num_demos`,
        within `attempt_limit` attempts), and how many attempts that run took: what the dataset holds does
        not depend on worker timing."""
        kept, index = [], 0
        while index in self.results and len(kept) < num_demos and index < attempt_limit:
            if self.results[index].success:
                kept.append(self.results[index])
            index += 1
        return kept, index

    def load(self, result: AttemptResult) -> Episode:
        return read_shard(shard_path(self.folder, result.seed))
