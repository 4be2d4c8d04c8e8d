"""Source demos (recorder, HDF5 files, the shipped demos) and their segmentation."""

import json

import gymnasium as gym
import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from dmg_envs.cli import app
from dmg_envs.datagen import (
    SegmentationError,
    SourceDemoError,
    load_annotation,
    load_source_demos,
    record_episode,
    save_source_demos,
    segment_demo,
    sources,
)
from dmg_envs.datagen.config import DEMOS_DIR, GenerationConfig
from dmg_envs.datagen.demonstrators import StackDemonstrator
from dmg_envs.datagen.sources import make_source_demos, record_demo, source_file
from dmg_envs.errors import InvalidConfigError


@pytest.fixture(scope="module")
def shipped():
    return load_source_demos(DEMOS_DIR / "stack_10.hdf5")


def test_shipped_demos_are_successful_and_complete(shipped):
    assert len(shipped) == 10 and len(load_source_demos(DEMOS_DIR / "stack_1.hdf5")) == 1
    for demo in shipped:
        assert demo.success and demo.env_id == "dmg/Stack-v0"
        steps = demo.num_steps
        assert demo.actions.shape == (steps, 7) and demo.states.shape[0] == steps + 1
        assert demo.eef_poses["robot0"].shape == (steps + 1, 4, 4)
        assert set(demo.object_poses) == {"cubeA", "cubeB"} and set(demo.signals) == {"grasp_cubeA", "cubeA_on_cubeB"}
        assert set(demo.reference_poses) == {"cubeA", "cubeB"} and set(demo.touches["robot0"]) == {"cubeA", "cubeB"}
        # the pick's reference is touched from the grasp until the release
        touched = demo.touches["robot0"]["cubeA"]
        first, last = np.flatnonzero(touched)[[0, -1]]
        assert touched[first:last + 1].all() and last - first > 20 and not touched[-1]
        assert not touched[0]
        assert demo.attrs["demonstrator"] == "StackDemonstrator"


@pytest.fixture(scope="module")
def regenerated():
    return make_source_demos("stack", 2)


def test_shipped_demos_are_bit_for_bit_what_dmg_source_regenerates(shipped, regenerated):
    """On the MuJoCo version that made them (the one CI installs), `dmg source` gives the shipped demos
    exactly. Another version simulates slightly differently: the test then says so instead of passing."""
    import mujoco

    made_with = shipped[0].attrs["mujoco"]
    if made_with != mujoco.__version__:
        pytest.skip(f"the shipped demos were made with MuJoCo {made_with}; this is {mujoco.__version__}")
    for a, b in zip(regenerated, shipped[:2]):
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.states, b.states)


def test_shipped_demos_regenerate_from_the_same_seeds_on_any_mujoco(shipped, regenerated):
    for a, b in zip(regenerated, shipped[:2]):
        assert a.seed == b.seed and a.success
        assert abs(a.num_steps - b.num_steps) <= 5


def test_a_source_name_that_is_not_shipped_is_recorded_once_into_the_cache(regenerated, tmp_path, monkeypatch):
    """"stack_2" is what `dmg source stack -n 2` writes, recorded on first use under $XDG_CACHE_HOME and
    read from there afterwards; shipped names are the package's files, and other names are not source names."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = source_file("stack_2")
    assert path.parent.parent == tmp_path / "dmg-envs" / "source-demos"
    cached = load_source_demos(path)
    assert [demo.seed for demo in cached] == [demo.seed for demo in regenerated]
    for a, b in zip(cached, regenerated):
        np.testing.assert_array_equal(a.states, b.states)

    def record_again(*args):
        raise AssertionError("recorded a second time")

    monkeypatch.setattr(sources, "write_source_demos", record_again)
    assert source_file("stack_2") == path
    assert source_file("stack_1") == DEMOS_DIR / "stack_1.hdf5"
    assert source_file("juggling_3") is None and source_file("stack") is None and source_file("stack_0") is None
    assert not list(path.parent.glob("*.partial"))


def test_a_source_of_another_task_or_of_no_kind_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(InvalidConfigError, match="'stack_7' holds stack demos, not pouring"):
        GenerationConfig(task="pouring", source="stack_7")
    with pytest.raises(InvalidConfigError, match="'stak_10': no such file, and not a source-demo name"):
        GenerationConfig(task="stack", source="stak_10").source_path()
    assert not (tmp_path / "dmg-envs").exists()  # nothing was recorded for either
    generated = CliRunner().invoke(app, ["generate", "pouring", "--source", "stack_7"])
    assert generated.exit_code == 1 and "error: source 'stack_7' holds stack demos" in generated.output
    assert GenerationConfig(task="stack", source=DEMOS_DIR / "stack_1.hdf5").source == str(DEMOS_DIR / "stack_1.hdf5")


def test_demonstrator_moves_like_a_person(shipped):
    """Smooth (bounded jerk), with pauses and varied timing across demos: not a fixed controller."""
    lengths = {demo.num_steps for demo in shipped}
    assert len(lengths) > 3
    for demo in shipped:
        speeds = np.linalg.norm(np.diff(demo.eef_poses["robot0"][:, :3, 3], axis=0), axis=1) / 0.05
        assert speeds.max() < 0.8  # [m/s]
        assert (speeds < 0.01).sum() >= 3  # pauses: a look before committing, waiting for the grip


def test_recorded_states_restore_the_episode(shipped):
    demo = shipped[0]
    env = gym.make(demo.env_id, **demo.env_kwargs)
    env.reset(seed=demo.seed)
    task = env.unwrapped
    np.testing.assert_array_equal(task.get_state(), demo.states[0])
    task.set_state(demo.states[40])
    np.testing.assert_allclose(task.eef_pose(), demo.eef_poses["robot0"][40], atol=1e-9)


def test_any_policy_is_recorded_and_round_trips(tmp_path):
    env = gym.make("dmg/Stack-v0")
    rng = np.random.default_rng(0)
    demo = record_episode(env, lambda obs: rng.uniform(-1, 1, 7), seed=3, max_steps=25)
    assert demo.num_steps == 25 and not demo.success
    path = save_source_demos(tmp_path / "random.hdf5", [demo])
    (loaded,) = load_source_demos(path)
    np.testing.assert_array_equal(loaded.actions, demo.actions)
    np.testing.assert_array_equal(loaded.object_poses["cubeA"], demo.object_poses["cubeA"])
    assert loaded.seed == 3 and loaded.env_kwargs == demo.env_kwargs


def test_bad_source_files_are_named(tmp_path):
    with pytest.raises(SourceDemoError, match="does not exist"):
        load_source_demos(tmp_path / "missing.hdf5")
    (tmp_path / "junk.hdf5").write_bytes(b"not hdf5 at all")
    with pytest.raises(SourceDemoError, match="corrupt"):
        load_source_demos(tmp_path / "junk.hdf5")
    with h5py.File(tmp_path / "other.hdf5", "w") as file:
        file.attrs["format"] = "something else"
    with pytest.raises(SourceDemoError, match="not a dmg-envs source demo file"):
        load_source_demos(tmp_path / "other.hdf5")


def test_segments_end_where_the_signals_fire(shipped):
    for demo in shipped:
        (pick, place) = segment_demo(demo, _spec())["robot0"]
        assert (pick.name, pick.reference, pick.start) == ("pick_cubeA", "cubeA", 0)
        assert demo.signals["grasp_cubeA"][pick.end] and not demo.signals["grasp_cubeA"][:pick.end].any()
        assert (place.start, place.end, place.reference) == (pick.end, demo.num_steps, "cubeB")
        assert demo.gripper_actions["robot0"][pick.end - 1] > 0  # closing when the grasp registers


def _spec():
    env = gym.make("dmg/Stack-v0")
    return env.unwrapped.subtask_spec


def test_segmentation_errors_are_clear(shipped):
    demo = shipped[0]
    never = {**demo.signals, "grasp_cubeA": np.zeros_like(demo.signals["grasp_cubeA"])}
    broken = type(demo)(**{**demo.__dict__, "signals": never})
    with pytest.raises(SegmentationError, match="never turns true"):
        segment_demo(broken, _spec())


def test_hand_annotation_overrides_and_is_checked(shipped, tmp_path):
    demo = shipped[0]
    path = tmp_path / "annotation.json"
    path.write_text(json.dumps({"robot0": [{"name": "pick_cubeA", "reference": "cubeA", "end": 30},
                                           {"name": "place_on_cubeB", "reference": "cubeB"}]}))
    pick, place = load_annotation(path, demo, _spec())["robot0"]
    assert (pick.end, place.start, place.end) == (30, 30, demo.num_steps)
    path.write_text(json.dumps({"robot0": [{"name": "pick_cubeA", "reference": "cubeB", "end": 30}]}))
    with pytest.raises(SegmentationError, match="not a subtask of this task"):
        load_annotation(path, demo, _spec())
    path.write_text(json.dumps({"robot0": [{"name": "pick_cubeA", "reference": "cubeA", "end": 30}]}))
    with pytest.raises(SegmentationError, match="stops at step 30"):
        load_annotation(path, demo, _spec())
    path.write_text("{not json")
    with pytest.raises(SegmentationError, match="cannot read"):
        load_annotation(path, demo, _spec())


def test_until_done_records_past_success_until_the_policy_is_done():
    """`until_done` keeps recording after the success settles until the demonstrator is done (Stack's lets
    go and backs away); a policy without `done` is refused before the episode, and one never done by
    `max_steps` makes an unsuccessful demo."""
    env = gym.make("dmg/Stack-v0")
    stopped = record_episode(env, StackDemonstrator(np.random.default_rng(5)), seed=5)
    demonstrator = StackDemonstrator(np.random.default_rng(5))
    finished = record_episode(env, demonstrator, seed=5, until_done=True)
    assert stopped.success and finished.success and demonstrator.done
    assert finished.num_steps > stopped.num_steps
    np.testing.assert_array_equal(finished.actions[:stopped.num_steps], stopped.actions)
    assert finished.gripper_actions["robot0"][-1] < 0  # let go

    with pytest.raises(InvalidConfigError, match="`done` attribute"):
        record_episode(env, lambda obs: np.zeros(7), seed=5, until_done=True)
    cut_short = record_episode(env, StackDemonstrator(np.random.default_rng(5)), seed=5, until_done=True,
                               max_steps=stopped.num_steps)
    assert not cut_short.success


def test_record_demo_refuses_an_unknown_task_or_another_tasks_env():
    with pytest.raises(InvalidConfigError, match="'stak' is not valid"):
        record_demo(gym.make("dmg/Stack-v0"), "stak", 0)
    with pytest.raises(InvalidConfigError, match="dmg/TwoArmPouring-v0"):
        record_demo(gym.make("dmg/Stack-v0"), "pouring", 0)


def test_demonstrator_is_seeded():
    env = gym.make("dmg/Stack-v0")
    a = record_episode(env, StackDemonstrator(np.random.default_rng(5)), seed=5)
    b = record_episode(env, StackDemonstrator(np.random.default_rng(5)), seed=5)
    np.testing.assert_array_equal(a.actions, b.actions)
