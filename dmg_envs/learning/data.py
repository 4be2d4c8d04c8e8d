"""Training data for behaviour cloning: the episodes of a Minari dataset (or of a source-demo file) as
arrays, the observation keys a policy reads, and their normalisation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dmg_envs.errors import DmgError, InvalidConfigError


class DatasetError(DmgError, ValueError):
    """A dataset that cannot train a policy: missing, empty, or without the observations asked for."""


@dataclass
class Demonstrations:
    """Episodes ready for training.

    Attributes:
        low_dim: per episode, (T, D) float32 low-dimensional observations (the keys `low_dim_keys`,
            concatenated in that order), observed before each action.
        images: per episode, per image key, (T, H, W, 3) uint8 frames (empty without image keys).
        actions: per episode, (T, A) float32.
        low_dim_keys: the dict-observation keys in `low_dim`, with their sizes.
        image_keys: the image keys.
        env_id: the registered env the episodes come from (without dynamics wrappers).
        info: where they come from: the dataset id or source file, its generator, dynamics and counts.
    """

    low_dim: list[np.ndarray]
    images: list[dict[str, np.ndarray]]
    actions: list[np.ndarray]
    low_dim_keys: list[tuple[str, int]]
    image_keys: list[str]
    env_id: str
    info: dict[str, Any]

    @property
    def num_steps(self) -> int:
        return sum(len(actions) for actions in self.actions)


ACTION_LABELS = ("executed", "expert")
# How a policy reads `*_quat` observations: as they are (4 numbers), or as the first two columns of the
# rotation matrix (6 numbers; the recorded size of the key in `low_dim_keys` tells which, `stack_low_dim`).
QUATERNION_FEATURES = {"raw": 4, "rotation-6d": 6}


def check_action_labels(action_labels: str) -> None:
    """Raise `InvalidConfigError` naming `action_labels` unless it is one of `ACTION_LABELS`."""
    if action_labels not in ACTION_LABELS:
        raise InvalidConfigError(f"action_labels={action_labels!r} is not valid; choose one of "
                                 f"{', '.join(map(repr, ACTION_LABELS))}")


def load_demonstrations(name: str, max_episodes: int | None = None, obs_keys: tuple[str, ...] | None = None,
                        action_labels: str = "executed", quaternions: str = "rotation-6d") -> Demonstrations:
    """The episodes of the Minari dataset `name`, or of a source-demo file (a name like "stack_1", see
    `dmg_envs.datagen.sources.source_file`, or a path to an HDF5 file; its episodes are replayed to recover
    the observations).

    `obs_keys` picks the observations a policy reads; by default every key but the arms' joint positions
    and velocities (robomimic's low-dimensional recipe: end effector, gripper, objects; the joints let a
    policy key on the arm's posture, which does not carry over to new object poses).

    Several comma-separated Minari ids train on all of them together (the first `max_episodes` of each),
    e.g. D-MG data generated under several dynamics presets.

    `action_labels` "expert" takes as actions what the expert chose before its noise (the `expert_action`
    the D-MG generator stores when it adds action noise: DART's labels, the expert's correction in the states
    the noise led to) instead of the executed actions.

    `quaternions` "rotation-6d" (the default) reads every `*_quat` observation as the first two columns of
    its rotation matrix (`quaternion_features`), "raw" as the 4 numbers the env gives.
    """
    check_action_labels(action_labels)
    if quaternions not in QUATERNION_FEATURES:
        raise InvalidConfigError(f"quaternions={quaternions!r} is not valid; choose one of "
                                 f"{', '.join(map(repr, QUATERNION_FEATURES))}")
    from dmg_envs.datagen.sources import source_file

    source = source_file(name) or (Path(name) if name.endswith((".hdf5", ".h5")) else None)
    if source is not None:
        if action_labels != "executed":
            raise DatasetError(f"source demos {name!r} have no expert actions (action_labels={action_labels!r}); "
                               f"they are the demonstrator's own, noise-free")
        demos = _from_source_file(source, name, max_episodes, quaternions)
    else:
        demos = _combined([_from_minari(part.strip(), max_episodes, action_labels, quaternions)
                           for part in name.split(",")])
    return select_keys(demos, obs_keys or default_obs_keys([key for key, _ in demos.low_dim_keys] + demos.image_keys))


def content_hashes(name: str) -> dict[str, str]:
    """What a run on `name` (as `load_demonstrations` takes it) records as its data's content, without reading
    the episodes: per Minari id, the content hash its generation metadata holds ("unknown" where none); for
    source demos, the SHA-256 of their file."""
    from dmg_envs.datagen.sources import source_file

    source = source_file(name) or (Path(name) if name.endswith((".hdf5", ".h5")) else None)
    if source is not None:
        return {f"source:{Path(name).stem}": _file_sha256(source)}
    return {part.strip(): (open_dataset(part.strip()).storage.metadata.get("dmg_generation") or {}).get(
        "content_hash", "unknown") for part in name.split(",")}


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _combined(parts: list[Demonstrations]) -> Demonstrations:
    """Datasets of one env and one observation layout, trained on together."""
    first = parts[0]
    if len(parts) == 1:
        return first
    for part in parts[1:]:
        if (part.env_id, part.low_dim_keys, part.image_keys) != (first.env_id, first.low_dim_keys, first.image_keys):
            raise DatasetError(f"{part.info['dataset_id']} and {first.info['dataset_id']} differ in env or "
                               f"observations; combined datasets must share both")
    generators = {part.info["generator"] for part in parts}
    info = {**first.info, "dataset_id": ",".join(part.info["dataset_id"] for part in parts),
            "episodes": sum(part.info["episodes"] for part in parts),
            "generator": generators.pop() if len(generators) == 1 else "mixed",
            "dynamics": "mixed: " + " + ".join(f"{part.info['episodes']} {part.info['dynamics']}" for part in parts),
            "generated_demos": sum(part.info["generated_demos"] for part in parts),
            "content_hashes": {k: v for part in parts for k, v in part.info["content_hashes"].items()},
            "generated_with": {k: v for part in parts for k, v in part.info["generated_with"].items()}}
    return Demonstrations([x for p in parts for x in p.low_dim], [x for p in parts for x in p.images],
                          [x for p in parts for x in p.actions], first.low_dim_keys, first.image_keys,
                          first.env_id, info)


def default_obs_keys(keys: list[str]) -> tuple[str, ...]:
    """Every key but the arms' joint positions and velocities."""
    return tuple(key for key in keys if not (key.startswith("robot") and key.endswith(("_joint_pos", "_joint_vel"))))


def select_keys(demos: Demonstrations, keys: tuple[str, ...]) -> Demonstrations:
    """`demos` with only the observation `keys` (in the dataset's order)."""
    available = [key for key, _ in demos.low_dim_keys] + demos.image_keys
    unknown = [key for key in keys if key not in available]
    if unknown:
        raise DatasetError(f"observation keys {unknown} are not in {demos.info['dataset_id']}; it has {available}")
    offsets = np.cumsum([0] + [size for _, size in demos.low_dim_keys])
    columns = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i, (key, _) in enumerate(demos.low_dim_keys)
                              if key in keys] or [np.arange(0)]).astype(int)
    return replace(demos, low_dim=[episode[:, columns] for episode in demos.low_dim],
                   images=[{key: frames[key] for key in demos.image_keys if key in keys} for frames in demos.images],
                   low_dim_keys=[(key, size) for key, size in demos.low_dim_keys if key in keys],
                   image_keys=[key for key in demos.image_keys if key in keys])


def split_observation(observation: dict[str, np.ndarray], quaternions: str = "raw"
                      ) -> tuple[list[tuple[str, int]], list[str]]:
    """(low-dimensional keys with their feature sizes, image keys) of one dict observation, in its key order:
    uint8 arrays of shape (H, W, 3) are images, everything else is flattened into the low-dimensional
    vector; `*_quat` keys take the size of their `quaternions` features (`QUATERNION_FEATURES`)."""
    low_dim, images = [], []
    for key, value in observation.items():
        value = np.asarray(value)
        if value.dtype == np.uint8 and value.ndim == 3 and value.shape[-1] == 3:
            images.append(key)
        elif key.endswith("_quat") and value.size == 4:
            low_dim.append((key, QUATERNION_FEATURES[quaternions]))
        else:
            low_dim.append((key, int(value.size)))
    return low_dim, images


def quaternion_features(quaternions: np.ndarray) -> np.ndarray:
    """(..., 4) w-x-y-z quaternions to (..., 6): the first two columns of their rotation matrices (Zhou et
    al., 2019). Unlike the quaternion, they are the same for q and -q and continuous: MuJoCo keeps w >= 0,
    so an orientation near w = 0 (a hand pointing down, turned about 90 degrees from home) flips sign
    between steps and between episodes."""
    q = np.asarray(quaternions, dtype=np.float64)
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y),
                     2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)], axis=-1)


def stack_low_dim(observations: dict[str, np.ndarray], keys: list[tuple[str, int]]) -> np.ndarray:
    """(N, D) float32: the keys of a batch of dict observations (each (N, ...)) side by side; a `*_quat`
    key listed with 6 features is read through `quaternion_features`."""
    count = len(next(iter(observations.values())))
    columns = [np.zeros((count, 0), dtype=np.float32)]
    for key, size in keys:
        value = np.asarray(observations[key], dtype=np.float32).reshape(count, -1)
        if key.endswith("_quat") and size == QUATERNION_FEATURES["rotation-6d"] and value.shape[1] == 4:
            value = quaternion_features(value).astype(np.float32)
        columns.append(value.reshape(count, size))
    return np.concatenate(columns, axis=1)


def _episodes(low_dim_keys, image_keys, observations_per_episode, actions_per_episode):
    low_dim, images, actions = [], [], []
    for observations, episode_actions in zip(observations_per_episode, actions_per_episode):
        steps = len(episode_actions)
        low_dim.append(stack_low_dim({k: np.asarray(v)[:steps] for k, v in observations.items()
                                      if k not in image_keys}, low_dim_keys))
        images.append({key: np.asarray(observations[key][:steps], dtype=np.uint8) for key in image_keys})
        actions.append(np.asarray(episode_actions, dtype=np.float32))
    return low_dim, images, actions


def open_dataset(dataset_id: str):
    """The local Minari dataset `dataset_id`, or a `DatasetError` that lists the local ones."""
    import minari

    try:
        return minari.load_dataset(dataset_id)
    except (FileNotFoundError, ValueError) as error:
        raise DatasetError(f"no Minari dataset {dataset_id!r} here ({error}); local datasets: "
                           f"{sorted(minari.list_local_datasets())}") from error


def _from_minari(dataset_id: str, max_episodes: int | None, action_labels: str = "executed",
                 quaternions: str = "raw") -> Demonstrations:
    from dmg_envs.datagen.writer import expert_actions

    dataset = open_dataset(dataset_id)
    count = dataset.total_episodes if max_episodes is None else min(max_episodes, dataset.total_episodes)
    if count == 0:
        raise DatasetError(f"dataset {dataset_id!r} has no episodes")
    episodes = list(dataset.iterate_episodes(list(range(count))))
    if not isinstance(episodes[0].observations, dict):
        raise DatasetError(f"dataset {dataset_id!r} stores flat observations; behaviour cloning reads dict "
                           f"observations (datasets written by `dmg generate` have them)")
    first = {key: value[0] for key, value in episodes[0].observations.items()}
    low_dim_keys, image_keys = split_observation(first, quaternions)
    labels = [e.actions for e in episodes]
    if action_labels == "expert":
        labels = [expert_actions(e) for e in episodes]
        if any(episode_labels is None for episode_labels in labels):
            raise DatasetError(f"dataset {dataset_id!r} stores no expert actions (action_labels='expert'); the D-MG "
                               f"generator stores them when it adds action noise (a noisy dataset generated before "
                               f"it did has none: generate it again with --overwrite)")
    low_dim, images, actions = _episodes(low_dim_keys, image_keys, [e.observations for e in episodes], labels)
    generation = dataset.storage.metadata.get("dmg_generation") or {}
    env_id = generation.get("env_id") or dataset.spec.env_spec.id
    info = {"dataset_id": dataset_id, "episodes": count, "generator": _generator_label(generation, action_labels),
            "dynamics": generation.get("dynamics", "unknown"), "source": generation.get("source", "unknown"),
            "source_demos": 1 if generation else None, "generated_demos": count if generation else 0,
            # what the data was: the whole dataset's hash (trained on its first `count` episodes) and the
            # dmg-envs that generated it
            "content_hashes": {dataset_id: generation.get("content_hash", "unknown")},
            "generated_with": {dataset_id: generation.get("package_version", "unknown")},
            "env_kwargs": {"reset_distribution": generation.get("reset_distribution", "D0"),
                           **image_env_kwargs({key: first[key] for key in image_keys})}}
    return Demonstrations(low_dim, images, actions, low_dim_keys, image_keys, env_id, info)


def image_env_kwargs(frames: dict[str, np.ndarray]) -> dict[str, Any]:
    """The env arguments that render the camera observations `frames` (`<camera>_image` keys, one (H, W, 3)
    frame each), so that validation and evaluation envs observe what the policy was trained on."""
    if not frames:
        return {}
    cameras = [key.removesuffix("_image") for key in frames]
    sizes = {tuple(np.shape(frame)[:2]) for frame in frames.values()}
    if len(sizes) != 1 or any(camera == key for camera, key in zip(cameras, frames)):
        raise DatasetError(f"camera observations {sorted(frames)} are not <camera>_image keys of one frame size")
    return {"render_observations": cameras, "image_size": list(sizes.pop())}


def _generator_label(generation: dict[str, Any], action_labels: str) -> str:
    """The generator's name, with its action noise where that is not the generator's own, and expert labels
    where those are the actions trained on."""
    from dmg_envs.datagen.config import DEFAULT_ACTION_NOISE

    name = generation.get("generator", "unknown")
    noise = generation.get("action_noise")
    details = ([] if noise is None or noise == DEFAULT_ACTION_NOISE.get(name) else [f"action noise {noise:g}"]) + (
        ["expert labels"] if action_labels == "expert" else [])
    return f"{name} ({', '.join(details)})" if details else name


def _from_source_file(path: Path, name: str, max_episodes: int | None, quaternions: str = "raw") -> Demonstrations:
    import gymnasium as gym

    import dmg_envs  # noqa: F401  (registers the ids)
    from dmg_envs.datagen.replay import replay_episode
    from dmg_envs.datagen.source import load_source_demos

    demos = load_source_demos(path)[:max_episodes]
    observations_per_episode = []
    for demo in demos:
        env = gym.make(demo.env_id, **{**demo.env_kwargs, "obs_mode": "dict"})
        try:
            rows = replay_episode(env, {"seed": demo.seed}, demo.actions[:-1])["observations"]
        finally:
            env.close()
        observations_per_episode.append({key: np.stack([row[key] for row in rows]) for key in rows[0]})
    low_dim_keys, image_keys = split_observation({k: v[0] for k, v in observations_per_episode[0].items()},
                                                 quaternions)
    low_dim, images, actions = _episodes(low_dim_keys, image_keys, observations_per_episode,
                                         [demo.actions for demo in demos])
    info = {"dataset_id": f"source:{Path(name).stem}", "episodes": len(demos), "generator": "none",
            "dynamics": "static", "source": str(name), "source_demos": len(demos), "generated_demos": 0,
            "content_hashes": {f"source:{Path(name).stem}": _file_sha256(path)},
            "generated_with": {f"source:{Path(name).stem}": "shipped source demos"},
            "env_kwargs": {k: v for k, v in demos[0].env_kwargs.items() if k == "reset_distribution"}}
    return Demonstrations(low_dim, images, actions, low_dim_keys, image_keys, demos[0].env_id, info)


@dataclass
class Normalizer:
    """Per-dimension standardisation, (x - mean) / std, with the statistics of the training data."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, rows: list[np.ndarray], min_std: float = 1e-3) -> Normalizer:
        """Mean and standard deviation per dimension; a dimension (nearly) constant in `rows`, its deviation
        under `min_std`, is centred but not scaled: scaled by its tiny spread, any change at test time (a pad
        placed in D1 where D0 kept it fixed) would come out thousands of deviations wide."""
        data = np.concatenate(rows).astype(np.float64)
        std = data.std(axis=0)
        return cls(data.mean(axis=0).astype(np.float32), np.where(std < min_std, 1.0, std).astype(np.float32))

    @classmethod
    def fit_range(cls, rows: list[np.ndarray], min_half_range: float = 1e-3) -> Normalizer:
        """Maps each dimension's [min, max] onto [-1, 1] (Diffusion Policy's normalisation)."""
        data = np.concatenate(rows).astype(np.float64)
        low, high = data.min(axis=0), data.max(axis=0)
        return cls(((high + low) / 2).astype(np.float32),
                   np.maximum((high - low) / 2, min_half_range).astype(np.float32))

    def normalize(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def denormalize(self, x: np.ndarray) -> np.ndarray:
        return x * self.std + self.mean
