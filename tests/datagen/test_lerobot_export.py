"""`dmg export lerobot`: a Minari dataset as a LeRobotDataset v3.0 folder, checked against the layout lerobot
0.4.4 reads (indices, timestamps, episode boundaries, stats, feature shapes and dtypes) without lerobot, its
frames equal to the dataset's, and bad input named. `tools/check_lerobot.py` loads exports with lerobot itself."""

import io
import json

import minari
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from dmg_envs.cli import app
from dmg_envs.datagen.config import GenerationConfig
from dmg_envs.datagen.generate import generate
from dmg_envs.datagen.lerobot import INSTRUCTIONS, LeRobotExportError, export_lerobot


@pytest.fixture
def image_dataset(isolated_datasets):
    return generate(GenerationConfig(num_demos=2, images=True), workers=1)["dataset_id"]


def read(out_dir):
    info = json.loads((out_dir / "meta" / "info.json").read_text())
    data = pq.read_table(sorted((out_dir / "data").glob("*/*.parquet"))[0])
    episodes = pq.read_table(out_dir / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    return info, data, episodes


def test_an_export_follows_lerobots_v3_layout_and_holds_the_datasets_frames(tmp_path, image_dataset):
    summary = export_lerobot(image_dataset, tmp_path / "out")
    info, data, episodes = read(tmp_path / "out")
    dataset = minari.load_dataset(image_dataset)
    lengths = [len(episode.actions) for episode in dataset.iterate_episodes()]
    assert info["codebase_version"] == "v3.0" and info["fps"] == 20 and summary["fps"] == 20
    assert info["total_episodes"] == 2 and info["total_frames"] == sum(lengths) == data.num_rows
    assert info["splits"] == {"train": "0:2"} and info["total_tasks"] == 1
    # every feature in info is a column and no column is not a feature (lerobot refuses extra columns)
    assert set(info["features"]) == set(data.column_names)
    assert set(info["features"]) >= {"observation.state", "observation.environment_state", "action",
                                     "observation.images.agentview", "observation.images.robot0_eye_in_hand"}
    state, environment = info["features"]["observation.state"], info["features"]["observation.environment_state"]
    assert state["names"][:3] == ["robot0_eef_pos.x", "robot0_eef_pos.y", "robot0_eef_pos.z"]
    assert all(name.split(".")[0].startswith("robot") for name in state["names"])
    assert not any(name.startswith("robot") for name in environment["names"])
    assert "cubeA_pos.x" in environment["names"]
    assert info["features"]["observation.images.agentview"] == {
        "dtype": "image", "shape": [84, 84, 3], "names": ["height", "width", "channel"]}
    columns = data.to_pydict()
    # indices: global rows, per-episode frames, timestamps frame / fps
    assert columns["index"] == list(range(sum(lengths)))
    assert columns["frame_index"] == [i for length in lengths for i in range(length)]
    assert columns["episode_index"] == [e for e, length in enumerate(lengths) for _ in range(length)]
    np.testing.assert_allclose(columns["timestamp"], np.array(columns["frame_index"]) / 20, atol=1e-6)
    assert [(e["dataset_from_index"], e["dataset_to_index"], e["length"]) for e in episodes] == [
        (0, lengths[0], lengths[0]), (lengths[0], sum(lengths), lengths[1])]
    assert episodes[0]["tasks"] == [INSTRUCTIONS["dmg/Stack-v0"]]
    # the task text is the pandas index of tasks.parquet: lerobot reads tasks.iloc[task_index].name
    tasks = pq.read_table(tmp_path / "out" / "meta" / "tasks.parquet")
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["__index_level_0__"]
    assert tasks.to_pydict() == {"task_index": [0], "__index_level_0__": [INSTRUCTIONS["dmg/Stack-v0"]]}
    # the frames: each row is the observation before its action, images decode to the stored pixels
    row = 0
    for episode in dataset.iterate_episodes():
        for t in range(len(episode.actions)):
            np.testing.assert_array_equal(columns["action"][row], episode.actions[t].astype(np.float32))
            expected = np.concatenate([np.ravel(episode.observations[name.rsplit(".", 1)[0]][t])
                                       for name in dict.fromkeys(n.rsplit(".", 1)[0] for n in state["names"])])
            np.testing.assert_array_equal(columns["observation.state"][row], expected.astype(np.float32))
            if t in (0, len(episode.actions) - 1):
                png = columns["observation.images.agentview"][row]["bytes"]
                np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))),
                                              episode.observations["agentview_image"][t])
            row += 1
    stats = json.loads((tmp_path / "out" / "meta" / "stats.json").read_text())
    actions = np.concatenate([episode.actions for episode in dataset.iterate_episodes()])
    np.testing.assert_allclose(stats["action"]["mean"], actions.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats["action"]["q50"], np.quantile(actions, 0.5, axis=0), rtol=1e-5, atol=1e-6)
    assert stats["action"]["count"] == [sum(lengths)]
    assert np.shape(stats["observation.images.agentview"]["mean"]) == (3, 1, 1)
    assert 0.0 <= stats["observation.images.agentview"]["min"][0][0][0] <= stats[
        "observation.images.agentview"]["max"][0][0][0] <= 1.0
    ours = json.loads((tmp_path / "out" / "meta" / "dmg_envs.json").read_text())
    generation = dataset.storage.metadata["dmg_generation"]
    assert ours["content_hash"] == generation["content_hash"] and ours["dynamics"] == "static"


def test_bad_exports_are_named(tmp_path, isolated_datasets):
    with pytest.raises(Exception, match="no Minari dataset 'dmg/stack/nothing-v0'"):
        export_lerobot("dmg/stack/nothing-v0", tmp_path / "a")
    assert not (tmp_path / "a").exists()
    (tmp_path / "exists").mkdir()
    result = CliRunner().invoke(app, ["export", "lerobot", "dmg/stack/dmp-slow-v0", str(tmp_path / "exists")])
    assert result.exit_code == 1 and "exists; LeRobot datasets are written into a new folder" in result.output
    assert not any((tmp_path / "exists").iterdir())  # nothing written into it
    assert issubclass(LeRobotExportError, ValueError)


def test_lerobot_eval_sees_our_env_split_as_the_export_splits_the_data(tmp_path, isolated_datasets):
    """`gym_dmg/<Task>-v0` (what `lerobot-eval --env.type=dmg` makes) observes agent_pos, environment_state
    and pixels/<camera>, each the export's feature of the same observation; importing it needs no lerobot."""
    import gymnasium as gym

    from dmg_envs.integrations import lerobot as integration

    dataset_id = generate(GenerationConfig(num_demos=1, images=True), workers=1)["dataset_id"]
    export_lerobot(dataset_id, tmp_path / "out")
    info, data, _ = read(tmp_path / "out")
    env = gym.make("gym_dmg/Stack-v0", cameras=("agentview", "robot0_eye_in_hand"))
    episode = next(minari.load_dataset(dataset_id).iterate_episodes())
    seed = minari.load_dataset(dataset_id).storage.metadata["dmg_generation"]["episode_seeds"][0]
    observation, _ = env.reset(seed=seed)
    assert set(observation) == {"agent_pos", "environment_state", "pixels"}
    assert set(observation["pixels"]) == {"agentview", "robot0_eye_in_hand"}
    assert observation["agent_pos"].shape == tuple(info["features"]["observation.state"]["shape"])
    assert observation["environment_state"].shape == tuple(info["features"]["observation.environment_state"]["shape"])
    assert env.observation_space.contains(observation)
    # the generated episode's first observation, replayed from its seed, is the export's first row
    row = data.slice(0, 1).to_pydict()
    np.testing.assert_allclose(observation["agent_pos"], row["observation.state"][0], atol=1e-6)
    np.testing.assert_allclose(observation["environment_state"], row["observation.environment_state"][0], atol=1e-6)
    np.testing.assert_array_equal(observation["pixels"]["agentview"], episode.observations["agentview_image"][0])
    _, _, _, _, step_info = env.step(episode.actions[0])
    assert "is_success" in step_info
    env.close()
    assert integration.lerobot_task("dmg/TwoArmPouring-v0") == "TwoArmPouring-v0"


def test_a_video_export_decodes_to_the_datasets_frames_within_the_codecs_loss(tmp_path, image_dataset):
    import av

    export_lerobot(image_dataset, tmp_path / "out", video=True)
    info, data, episodes = read(tmp_path / "out")
    camera = "observation.images.agentview"
    assert info["features"][camera]["dtype"] == "video" and info["features"][camera]["info"]["video.fps"] == 20
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    assert camera not in data.column_names and set(data.column_names) == {
        name for name, feature in info["features"].items() if feature["dtype"] != "video"}
    lengths = [episode["length"] for episode in episodes]
    # an episode is the stretch [from_timestamp, to_timestamp) of one video of all episodes
    assert [(e[f"videos/{camera}/from_timestamp"], e[f"videos/{camera}/to_timestamp"]) for e in episodes] == [
        (0.0, lengths[0] / 20), (lengths[0] / 20, sum(lengths) / 20)]
    with av.open(str(tmp_path / "out" / "videos" / camera / "chunk-000" / "file-000.mp4")) as container:
        decoded = [(float(frame.pts * frame.time_base), frame.to_ndarray(format="rgb24"))
                   for frame in container.decode(video=0)]
    np.testing.assert_allclose([t for t, _ in decoded], np.arange(sum(lengths)) / 20, atol=1e-4)
    stored = np.concatenate([episode.observations["agentview_image"][:len(episode.actions)]
                             for episode in minari.load_dataset(image_dataset).iterate_episodes()])
    error = np.abs(np.stack([frame for _, frame in decoded]).astype(int) - stored.astype(int))
    assert error.mean() < 4.0  # AV1 at LeRobot's quality (crf 30) is lossy: measured 1.9 levels of 255
    with pytest.raises(LeRobotExportError, match="no camera frames"):
        export_lerobot(generate(GenerationConfig(num_demos=1, dynamics="slow"), workers=1)["dataset_id"],
                       tmp_path / "flat", video=True)
