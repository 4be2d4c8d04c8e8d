"""LeRobot interop: our Minari datasets as LeRobotDataset v3.0 folders, written with pyarrow alone (lerobot
itself pins an older torch, so it is never needed to export).

Layout written by `export_lerobot` (lerobot 0.4.4 loads it with `LeRobotDataset(repo_id, root=out_dir)`):

    meta/info.json                       codebase_version "v3.0", fps (the env's control rate), features, counts
    meta/stats.json                      per feature: min, max, mean, std, count, q01, q10, q50, q90, q99
    meta/tasks.parquet                   the task's instruction (the pandas index) and its task_index
    meta/episodes/chunk-000/file-000.parquet   one row per episode: length, index range, where its rows are
    meta/dmg_envs.json                   our generation metadata: generator, dynamics, env spec, content hash
    data/chunk-000/file-NNN.parquet      one row per step (observation t, action t): the features below

Features: `observation.state` (float32: every `robot*` key of the observation, in sorted order),
`observation.environment_state` (float32: every other low-dimensional key: objects, fixtures),
`observation.images.<camera>` (PNG images, for each `<camera>_image` key) and `action`, each with the names
of its elements (`robot0_eef_pos.x`, ...); then LeRobot's own timestamp, frame_index, episode_index, index and
task_index. An episode's final observation, after its last action, has no row (LeRobot pairs each frame
with the action taken from it).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from dmg_envs.errors import DmgError, InvalidConfigError

CODEBASE_VERSION = "v3.0"
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
FRAMES_PER_FILE = 100_000  # data rows per parquet file (a file never splits an episode)
# What each task asks, in words: LeRobot's task text, read by language-conditioned policies.
INSTRUCTIONS = {
    "dmg/Stack-v0": "Put the red cube on the green cube.",
    "dmg/MugDrawer-v0": "Open the drawer, put the mug in it and close the drawer.",
    "dmg/TwoArmTrayLift-v0": "Each arm puts its cube on the tray, then both arms lift the tray by its handles.",
    "dmg/TwoArmPouring-v0": "Pour the ball from the cup into the bowl, then move the bowl onto the pad.",
}
_AXES = {3: ("x", "y", "z"), 4: ("w", "x", "y", "z")}


class LeRobotExportError(DmgError, ValueError):
    """A dataset that cannot be written as a LeRobotDataset."""


def feature_layout(observation: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """Which observation keys go into which LeRobot feature: "observation.state" (the arms' keys),
    "observation.environment_state" (the other low-dimensional keys) and one "observation.images.<camera>"
    per camera key, from one observation (key -> array); keys in sorted order, whatever the dict's."""
    layout: dict[str, list[str]] = {"observation.state": [], "observation.environment_state": []}
    for key, value in sorted(observation.items()):
        if key.endswith("_image") and np.asarray(value).ndim == 3:
            layout[f"observation.images.{key.removesuffix('_image')}"] = [key]
        elif key.startswith("robot"):
            layout["observation.state"].append(key)
        else:
            layout["observation.environment_state"].append(key)
    return {name: keys for name, keys in layout.items() if keys}


def element_names(keys: list[str], observation: dict[str, np.ndarray]) -> list[str]:
    """A name per element of the keys' concatenation: "<key>.x" for positions, "<key>.w" ... for
    quaternions, "<key>.<i>" otherwise."""
    names = []
    for key in keys:
        size = int(np.asarray(observation[key]).size)
        axes = _AXES.get(size) if key.endswith(("_pos", "_quat")) else None
        names += [f"{key}.{axis}" for axis in axes] if axes else [f"{key}.{i}" for i in range(size)]
    return names


def export_lerobot(dataset_id: str, out_dir: str | Path, repo_id: str | None = None,
                   video: bool = False) -> dict[str, Any]:
    """Write the Minari dataset `dataset_id` as a LeRobotDataset v3.0 folder `out_dir` (which must not exist
    yet); returns a summary (episodes, frames, features, fps). `repo_id` only goes into our metadata. With
    `video`, camera frames go into one AV1 video per camera (`videos/<feature>/chunk-000/file-000.mp4`,
    LeRobot's default codec, lossy; PyAV) instead of PNG images in the parquet rows."""
    import minari

    out_dir = Path(out_dir)
    if out_dir.exists():
        raise InvalidConfigError(f"{out_dir} exists; LeRobot datasets are written into a new folder")
    try:
        dataset = minari.load_dataset(dataset_id)
    except (FileNotFoundError, ValueError) as error:
        raise InvalidConfigError(f"no Minari dataset {dataset_id!r} here ({error}); local datasets: "
                                 f"{sorted(minari.list_local_datasets())}") from error
    if dataset.total_episodes == 0 or dataset.total_steps == 0:
        raise LeRobotExportError(f"dataset {dataset_id!r} has no steps to export")
    generation = dataset.storage.metadata.get("dmg_generation") or {}
    env_id = generation.get("env_id") or dataset.spec.env_spec.id
    first = next(dataset.iterate_episodes([0]))
    if not isinstance(first.observations, dict):
        raise LeRobotExportError(f"dataset {dataset_id!r} stores flat observations; the export splits dict "
                                 f"observations into robot and environment state (`dmg generate` writes them)")
    sample = {key: np.asarray(value[0]) for key, value in first.observations.items()}
    layout = feature_layout(sample)
    cameras = [name for name in layout if name.startswith("observation.images.")]
    if video and not cameras:
        raise LeRobotExportError(f"dataset {dataset_id!r} has no camera frames to write as video (generate it with "
                                 f"--images)")
    fps = _control_rate(env_id)
    task = INSTRUCTIONS.get(env_id, env_id)

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise InvalidConfigError('the LeRobot export needs the lerobot extra: pip install "dmg-envs[lerobot]"'
                                 ) from error

    videos = _VideoWriter(out_dir, {name: sample[layout[name][0]].shape for name in cameras}, fps) if video else None
    (out_dir / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    (out_dir / "data" / "chunk-000").mkdir(parents=True)
    columns: dict[str, list[Any]] = {}
    stats = _RunningStats()
    episode_rows: list[dict[str, Any]] = []
    file_index, frames, rows_in_file = 0, 0, 0
    for episode_index, episode in enumerate(dataset.iterate_episodes()):
        length = len(episode.actions)
        if rows_in_file and rows_in_file + length > FRAMES_PER_FILE:
            _write_data(columns, out_dir, file_index, pa, pq)
            columns, file_index, rows_in_file = {}, file_index + 1, 0
        episode_columns = _episode_columns(episode, layout, length, encode_png=videos is None)
        episode_columns |= {"timestamp": np.arange(length, dtype=np.float32) / np.float32(fps),
                            "frame_index": np.arange(length, dtype=np.int64),
                            "episode_index": np.full(length, episode_index, dtype=np.int64),
                            "index": np.arange(frames, frames + length, dtype=np.int64),
                            "task_index": np.zeros(length, dtype=np.int64)}
        stats.update(episode_columns)
        row = {"episode_index": episode_index, "tasks": [task], "length": length,
               "data/chunk_index": 0, "data/file_index": file_index,
               "dataset_from_index": frames, "dataset_to_index": frames + length}
        if videos is not None:
            row |= videos.add({name: episode_columns.pop(name)[0] for name in cameras})
        row |= {"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
        for name, values in episode_columns.items():
            columns.setdefault(name, []).append(values)
        episode_rows.append(row)
        frames += length
        rows_in_file += length
    _write_data(columns, out_dir, file_index, pa, pq)
    if videos is not None:
        videos.close()

    def column_type(name: str) -> Any:
        if name == "tasks":
            return pa.list_(pa.string())
        return pa.float64() if name.endswith("_timestamp") else pa.int64()

    pq.write_table(pa.Table.from_pylist(episode_rows, schema=pa.schema(
        [(name, column_type(name)) for name in episode_rows[0]])),
        out_dir / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    _write_tasks([task], out_dir / "meta" / "tasks.parquet", pa, pq)
    features = _features(layout, sample, first.actions.shape[1], fps if video else None)
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": "panda", "total_episodes": len(episode_rows),
            "total_frames": frames, "total_tasks": 1, "chunks_size": 1000, "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200, "fps": fps, "splits": {"train": f"0:{len(episode_rows)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4" if video else None,
            "features": features}
    (out_dir / "meta" / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    (out_dir / "meta" / "stats.json").write_text(json.dumps(stats.result(), indent=2) + "\n")
    ours = {"dataset_id": dataset_id, "repo_id": repo_id, "env_id": env_id, "observation_keys": layout,
            **{key: generation.get(key) for key in ("generator", "dynamics", "content_hash", "package_version",
                                                     "source", "episode_seeds")}}
    (out_dir / "meta" / "dmg_envs.json").write_text(json.dumps(ours, indent=2) + "\n")
    return {"out_dir": str(out_dir), "episodes": len(episode_rows), "frames": frames, "fps": fps,
            "features": sorted(layout) + ["action"], "task": task}


def _control_rate(env_id: str) -> int:
    import gymnasium as gym

    import dmg_envs  # noqa: F401  (registers the ids)

    env = gym.make(env_id)
    try:
        return int(round(env.metadata["render_fps"]))
    finally:
        env.close()


def _episode_columns(episode: Any, layout: dict[str, list[str]], length: int,
                     encode_png: bool = True) -> dict[str, Any]:
    """One episode's feature columns: (length, D) float32 arrays, or (frames, their PNG encodings)."""
    from PIL import Image

    columns: dict[str, Any] = {}
    for name, keys in layout.items():
        if name.startswith("observation.images."):
            frames = np.asarray(episode.observations[keys[0]][:length], dtype=np.uint8)
            encoded = []
            for frame in frames if encode_png else ():
                buffer = io.BytesIO()
                Image.fromarray(frame).save(buffer, format="PNG")
                encoded.append({"bytes": buffer.getvalue(), "path": None})
            columns[name] = (frames, encoded)
        else:
            columns[name] = np.concatenate(
                [np.asarray(episode.observations[key][:length], dtype=np.float32).reshape(length, -1) for key in keys],
                axis=1)
    columns["action"] = np.asarray(episode.actions, dtype=np.float32).reshape(length, -1)
    return columns


def _write_data(columns: dict[str, list[Any]], out_dir: Path, file_index: int, pa: Any, pq: Any) -> None:
    arrays = {}
    for name, parts in columns.items():
        if name.startswith("observation.images."):
            arrays[name] = pa.array([item for _, encoded in parts for item in encoded],
                                    pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
            continue
        values = np.concatenate(parts)
        if values.ndim == 2:
            arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), values.shape[1])
        else:
            arrays[name] = pa.array(values)
    pq.write_table(pa.table(arrays), out_dir / "data" / "chunk-000" / f"file-{file_index:03d}.parquet")


def _write_tasks(tasks: list[str], path: Path, pa: Any, pq: Any) -> None:
    """tasks.parquet as pandas writes it: the task text is the index (LeRobot reads `tasks.iloc[i].name`)."""
    pandas = {"index_columns": ["__index_level_0__"], "column_indexes": [], "columns": [
        {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
         "metadata": None},
        {"name": None, "field_name": "__index_level_0__", "pandas_type": "unicode", "numpy_type": "object",
         "metadata": None}]}
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()),
                      "__index_level_0__": pa.array(tasks, pa.string())})
    pq.write_table(table.replace_schema_metadata({"pandas": json.dumps(pandas)}), path)


def _features(layout: dict[str, list[str]], sample: dict[str, np.ndarray], action_size: int,
              video_fps: int | None = None) -> dict[str, Any]:
    """info.json's features; cameras as videos at `video_fps` where given, else as images."""
    features: dict[str, Any] = {}
    for name, keys in layout.items():
        if name.startswith("observation.images."):
            frame = sample[keys[0]]
            features[name] = {"dtype": "image", "shape": list(frame.shape), "names": ["height", "width", "channel"]}
            if video_fps is not None:
                features[name] |= {"dtype": "video", "info": _VideoWriter.info(frame, video_fps)}
        else:
            names = element_names(keys, sample)
            features[name] = {"dtype": "float32", "shape": [len(names)], "names": names}
    features["action"] = {"dtype": "float32", "shape": [action_size],
                          "names": [f"action.{i}" for i in range(action_size)]}
    one = {"shape": [1], "names": None}
    features |= {"timestamp": {"dtype": "float32", **one}, "frame_index": {"dtype": "int64", **one},
                 "episode_index": {"dtype": "int64", **one}, "index": {"dtype": "int64", **one},
                 "task_index": {"dtype": "int64", **one}}
    return features


class _VideoWriter:
    """One AV1 video per camera, every episode's frames one after another (LeRobot's layout: an episode is
    the stretch from its `from_timestamp` to its `to_timestamp`)."""

    CODEC, PIXEL_FORMAT = "libsvtav1", "yuv420p"  # LeRobot's defaults

    def __init__(self, out_dir: Path, cameras: dict[str, tuple[int, ...]], fps: int):
        try:
            import av
        except ImportError as error:
            raise InvalidConfigError('video export needs PyAV, in the lerobot extra: pip install "dmg-envs[lerobot]"'
                                     ) from error
        self.fps, self.frames, self.outputs = fps, 0, {}
        for name, (height, width, _) in cameras.items():
            path = out_dir / "videos" / name / "chunk-000" / "file-000.mp4"
            path.parent.mkdir(parents=True)
            container = av.open(str(path), mode="w")
            stream = container.add_stream(self.CODEC, rate=fps, options={"g": "2", "crf": "30"})
            stream.pix_fmt, stream.width, stream.height = self.PIXEL_FORMAT, width, height
            self.outputs[name] = (container, stream)

    def add(self, frames: dict[str, np.ndarray]) -> dict[str, Any]:
        """Encode one episode's frames per camera; returns its episode-table columns."""
        import av

        row: dict[str, Any] = {}
        length = 0
        for name, episode_frames in frames.items():
            container, stream = self.outputs[name]
            for frame in episode_frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            length = len(episode_frames)
            row |= {f"videos/{name}/chunk_index": 0, f"videos/{name}/file_index": 0,
                    f"videos/{name}/from_timestamp": self.frames / self.fps,
                    f"videos/{name}/to_timestamp": (self.frames + length) / self.fps}
        self.frames += length
        return row

    def close(self) -> None:
        for container, stream in self.outputs.values():
            container.mux(stream.encode(None))
            container.close()

    @classmethod
    def info(cls, frame: np.ndarray, fps: int) -> dict[str, Any]:
        return {"video.height": int(frame.shape[0]), "video.width": int(frame.shape[1]), "video.codec": "av1",
                "video.pix_fmt": cls.PIXEL_FORMAT, "video.is_depth_map": False, "video.fps": fps,
                "video.channels": int(frame.shape[2]), "has_audio": False}


class _RunningStats:
    """Per-feature statistics over every frame: min, max, mean, std, quantiles (LeRobot's stats.json).
    Camera frames count per channel, scaled to [0, 1], from every 10th frame and every 4th pixel of a row
    and column (LeRobot, too, samples frames)."""

    def __init__(self):
        self.parts: dict[str, list[np.ndarray]] = {}
        self.counts: dict[str, int] = {}

    def update(self, columns: dict[str, Any]) -> None:
        for name, values in columns.items():
            if name.startswith("observation.images."):
                frames = values[0][::10, ::4, ::4]
                self.counts[name] = self.counts.get(name, 0) + len(frames)
                values = frames.reshape(-1, frames.shape[-1]).astype(np.float32) / 255.0
            else:
                self.counts[name] = self.counts.get(name, 0) + len(values)
            self.parts.setdefault(name, []).append(np.asarray(values, dtype=np.float64).reshape(len(values), -1))

    def result(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, parts in self.parts.items():
            values = np.concatenate(parts)
            figures = {"min": values.min(0), "max": values.max(0), "mean": values.mean(0), "std": values.std(0)}
            figures |= {f"q{round(q * 100):02d}": np.quantile(values, q, axis=0) for q in QUANTILES}
            shape = (-1, 1, 1) if name.startswith("observation.images.") else (-1,)
            out[name] = {key: value.reshape(shape).tolist() for key, value in figures.items()}
            out[name]["count"] = [self.counts[name]]
        return out
