"""robomimic interop: export a dataset, check the layout, import it as a source demo, generate from it;
errors for files that are not robomimic-shaped, not ours, or do not replay."""

import json
import shutil
from pathlib import Path

import h5py
import minari
import mujoco
import numpy as np
import pytest
from typer.testing import CliRunner

from dmg_envs.cli import app
from dmg_envs.datagen.config import GenerationConfig
from dmg_envs.datagen.generate import generate
from dmg_envs.datagen.robomimic import export_robomimic, read_robomimic, split_train_valid
from dmg_envs.datagen.source import load_source_demos
from dmg_envs.errors import RobomimicFormatError

runner = CliRunner()


def exported(tmp_path, dynamics="slow"):
    """A two-demo Stack dataset (objects drifting: the wrappers must be rebuilt) and its robomimic file."""
    summary = generate(GenerationConfig(num_demos=2, dynamics=dynamics), workers=1)
    path = tmp_path / "stack.hdf5"
    export_robomimic(summary["dataset_id"], path)
    return summary["dataset_id"], path


def test_export_import_round_trip_generates_again(isolated_datasets):
    dataset_id = generate(GenerationConfig(num_demos=2, dynamics="slow"), workers=1)["dataset_id"]
    result = runner.invoke(app, ["export", "robomimic", dataset_id, "stack.hdf5"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 demos" in result.output
    dataset = minari.load_dataset(dataset_id)
    episodes = list(dataset.iterate_episodes())
    env = dataset.recover_environment(eval_env=True)
    task = env.unwrapped
    with h5py.File(isolated_datasets / "stack.hdf5", "r") as file:
        data = file["data"]
        assert sorted(data) == ["demo_0", "demo_1"]
        env_args = json.loads(data.attrs["env_args"])
        assert env_args["env_name"] == "dmg/Stack-v0" and env_args["type"] == 2
        assert env_args["env_kwargs"] == {"reset_distribution": "D0"}
        assert [w["name"] for w in env_args["wrappers"]] == ["ObjectPerturbation"]
        assert env_args["wrappers"][0]["kwargs"]["params"] == {"speed": 0.02}
        assert env_args["dmg_envs"]["dataset_id"] == dataset_id
        assert data.attrs["total"] == sum(len(episode.actions) for episode in episodes)
        masks = {name: np.char.decode(file[f"mask/{name}"][()]).tolist() for name in ("train", "valid")}
        assert masks == {"train": ["demo_0", "demo_1"], "valid": []}  # int(0.1 * 2) valid demos, as robomimic
        for index, episode in enumerate(episodes):
            demo = data[f"demo_{index}"]
            steps = len(episode.actions)
            assert demo.attrs["num_samples"] == steps
            model = mujoco.MjModel.from_xml_string(demo.attrs["model_file"])
            assert (model.nq, model.nbody) == (task.model.nq, task.model.nbody)
            assert set(demo["obs"]) == set(demo["next_obs"]) == set(episode.observations)
            for key, stored in episode.observations.items():
                np.testing.assert_array_equal(demo["obs"][key][()], stored[:-1])
                # obs[t + 1] == next_obs[t]
                np.testing.assert_array_equal(demo["obs"][key][1:], demo["next_obs"][key][:-1])
                np.testing.assert_array_equal(demo["next_obs"][key][-1], stored[-1])
            np.testing.assert_array_equal(demo["actions"][()], episode.actions)
            np.testing.assert_array_equal(demo["rewards"][()], episode.rewards)
            assert demo["dones"][()].tolist() == [0] * (steps - 1) + [1]
            states = demo["states"][()]
            assert states.shape == (steps, task.get_state().shape[0])
            info = demo["datagen_info"]
            assert info["eef_pose"].shape == info["target_pose"].shape == (steps, 4, 4)
            assert info["gripper_action"].shape == (steps, 1)
            assert set(info["object_poses"]) == {"cubeA", "cubeB"}
            assert set(info["subtask_term_signals"]) == {"grasp_cubeA", "cubeA_on_cubeB"}
            assert info["subtask_term_signals/grasp_cubeA"][()].any()  # the demo grasps the cube
            # Each stored state reproduces its stored observation and datagen_info.
            for step in range(steps):
                task.set_state(states[step])
                observation = task._observation()  # the env's observation of the state it is in
                for key in observation:
                    np.testing.assert_array_equal(observation[key], demo["obs"][key][step])
                np.testing.assert_allclose(task.eef_pose(), info["eef_pose"][step], atol=1e-12)
                np.testing.assert_allclose(task.object_poses()["cubeA"], info["object_poses/cubeA"][step], atol=1e-12)
            # The target pose: the TCP pose moved by the scaled delta action.
            moved = info["eef_pose"][:, :3, 3] + 0.05 * np.clip(episode.actions[:, :3], -1, 1)
            np.testing.assert_allclose(info["target_pose"][:, :3, 3], moved, atol=1e-9)
    env.close()

    result = runner.invoke(app, ["import", "robomimic", "stack.hdf5", "stack_source.hdf5"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 dmg/Stack-v0 source demos" in result.output
    demos = load_source_demos(isolated_datasets / "stack_source.hdf5")
    with h5py.File(isolated_datasets / "stack.hdf5", "r") as file:
        for index, demo in enumerate(demos):
            group = file[f"data/demo_{index}"]
            assert demo.env_id == "dmg/Stack-v0" and demo.success and demo.attrs["seed_known"]
            (meta,) = dataset.storage.get_episode_metadata([index])
            assert demo.seed == group.attrs["seed"] == int(meta["seed"])
            np.testing.assert_array_equal(demo.states[:-1], group["states"][()])
            np.testing.assert_array_equal(demo.eef_poses["robot0"][:-1], group["datagen_info/eef_pose"][()])
            np.testing.assert_array_equal(demo.signals["grasp_cubeA"][:-1],
                                          group["datagen_info/subtask_term_signals/grasp_cubeA"][()].astype(bool))
            assert set(demo.reference_poses) == {"cubeA", "cubeB"} and demo.touches["robot0"]["cubeA"].any()
    summary = generate(GenerationConfig(source=str(isolated_datasets / "stack_source.hdf5"), num_demos=2),
                       workers=1, overwrite=True)
    assert summary["kept"] == 2 and summary["errors"] == 0


def test_static_dataset_round_trips_and_states_replay_without_a_seed(isolated_datasets):
    _, path = exported(isolated_datasets, dynamics="static")
    with h5py.File(path, "a") as file:
        for name in file["data"]:
            del file["data"][name].attrs["seed"]  # a file from another recorder: states are all there is
    demos = read_robomimic(path)
    assert len(demos) == 2 and all(demo.success and not demo.attrs["seed_known"] for demo in demos)


def test_train_valid_split_is_robomimics_and_deterministic():
    train, valid = split_train_valid(20)
    assert len(valid) == 2 and len(train) == 18 and not set(train) & set(valid)
    assert split_train_valid(20) == (train, valid)
    assert split_train_valid(2) == (["demo_0", "demo_1"], [])


def corrupted(path, tmp_path, change):
    copy = tmp_path / "corrupt.hdf5"
    shutil.copy(path, copy)
    with h5py.File(copy, "a") as file:
        change(file)
    return copy


def set_env_args(file, **changes):
    env_args = json.loads(file["data"].attrs["env_args"])
    env_args.update(changes)
    file["data"].attrs["env_args"] = json.dumps(env_args)


def two_armed_actions(file):
    del file["data/demo_0/actions"]
    file["data/demo_0"].create_dataset("actions", data=np.zeros((3, 14)))


def tamper_state(file):
    states = file["data/demo_1/states"]
    states[5, 10] += 0.01  # a joint angle of the arm


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.__delitem__("data"), "has no 'data' group"),
    (lambda f: [f["data"].__delitem__(name) for name in list(f["data"])], "has no demo_<i> groups"),
    (lambda f: f["data"].attrs.__delitem__("env_args"), "has no env_args attribute"),
    (lambda f: f["data"].attrs.__setitem__("env_args", "{not json"), "is not JSON"),
    (lambda f: set_env_args(f, env_name="Lift", type=1), "recorded in env 'Lift', which is not a dmg-envs env"),
    (lambda f: set_env_args(f, wrappers=[{"name": "x", "entry_point": "os:system", "kwargs": {}}]),
     "only dmg-envs wrappers"),
    (lambda f: set_env_args(f, env_kwargs={"reset_distribution": "D7"}), "cannot build dmg/Stack-v0"),
    (lambda f: f["data/demo_0"].__delitem__("states"), "data/demo_0 has no 'states' dataset"),
    (two_armed_actions, "actions have shape (3, 14)"),
    (tamper_state, "data/demo_1: states[5] differs from the replay"),
])
def test_import_names_the_file_and_what_is_wrong(isolated_datasets, change, message):
    _, path = exported(isolated_datasets)
    bad = corrupted(path, isolated_datasets, change)
    with pytest.raises(RobomimicFormatError, match="corrupt.hdf5") as error:
        read_robomimic(bad)
    assert message in str(error.value)


def test_import_refuses_missing_and_non_hdf5_files(isolated_datasets):
    with pytest.raises(RobomimicFormatError, match="does not exist"):
        read_robomimic(isolated_datasets / "missing.hdf5")
    text = isolated_datasets / "notes.hdf5"
    text.write_text("not an HDF5 file")
    with pytest.raises(RobomimicFormatError, match="notes.hdf5.*is not an HDF5 file"):
        read_robomimic(text)
    result = runner.invoke(app, ["import", "robomimic", str(text), "out.hdf5"])
    assert result.exit_code == 1 and "is not an HDF5 file" in result.output
    assert not (isolated_datasets / "out.hdf5").exists()


def test_export_refuses_an_episode_that_does_not_replay(isolated_datasets):
    dataset_id = generate(GenerationConfig(num_demos=2), workers=1)["dataset_id"]
    data_path = Path(minari.load_dataset(dataset_id).storage.data_path) / "main_data.hdf5"
    with h5py.File(data_path, "a") as file:
        file["episode_1/observations/cubeA_pos"][4, 0] += 0.01
    with pytest.raises(RobomimicFormatError, match=r"episode 1 of dmg/stack/dmp-static-v0 does not replay: at step 4"):
        export_robomimic(dataset_id, isolated_datasets / "out.hdf5")
    assert not list(isolated_datasets.glob("out.hdf5*"))  # nothing written, no partial file left
    result = runner.invoke(app, ["export", "robomimic", "dmg/stack/none-v0", "out.hdf5"])
    assert result.exit_code == 1 and "no local Minari dataset 'dmg/stack/none-v0'" in result.output


def test_a_corrupt_state_is_caught_before_the_source_file_is_written(isolated_datasets):
    _, path = exported(isolated_datasets)
    bad = corrupted(path, isolated_datasets, tamper_state)
    result = runner.invoke(app, ["import", "robomimic", str(bad), "source.hdf5"])
    assert result.exit_code == 1 and "states[5] differs" in result.output
    assert not (isolated_datasets / "source.hdf5").exists()
