"""The DMP expert, the MimicGen baseline, generation runs, Minari output, replay and resuming."""

import json

import gymnasium as gym
import minari
import numpy as np
import pytest
from typer.testing import CliRunner

import dmg_envs
from dmg_envs.cli import app
from dmg_envs.datagen.generate import DEMOS_DIR, GenerationConfig, GenerationError, generate
from dmg_envs.datagen.mimicgen import MimicGenPolicy
from dmg_envs.datagen.replay import replay_dataset
from dmg_envs.datagen.source import load_source_demos
from dmg_envs.dmp import quaternion
from dmg_envs.errors import InvalidConfigError
from dmg_envs.sim.transforms import mat_to_quat
from dmg_envs.wrappers import DMPExpert

runner = CliRunner()


@pytest.fixture(scope="module")
def demo():
    return load_source_demos(DEMOS_DIR / "stack_1.hdf5")[0]


def run_expert(expert, seed, max_steps=250):
    obs, info = expert.reset(seed=seed)
    phases = []
    for _ in range(max_steps):
        action, _ = expert.predict(obs)
        obs, _, _, truncated, info = expert.step(action)
        phases.append((int(info["expert"]["subtask"]), float(info["expert"]["phase"])))
        if info["is_success"] and phases[-1][0] == 1 and phases[-1][1] < 0.05:
            break
    return bool(info["is_success"]), phases


@pytest.mark.parametrize("dynamics", ["static", "dmg-paper", "slow", "fast"])
def test_dmp_expert_solves_stack_from_one_demo(demo, dynamics):
    expert = DMPExpert(dmg_envs.make("dmg/Stack-v0", dynamics=dynamics), demo)
    results = [run_expert(expert, 500 + seed)[0] for seed in range(8)]
    assert sum(results) >= 7, results


def test_expert_adapts_the_goal_while_placing_too(demo):
    """cubeB drifts while the expert carries cubeA to it: it still lands on cubeB's new position."""
    from dmg_envs.wrappers import ObjectPerturbation

    env = ObjectPerturbation(gym.make("dmg/Stack-v0"), motion="drift", params={"speed": 0.04}, objects=["cubeB"])
    expert = DMPExpert(env, demo)
    success, phases = run_expert(expert, 7)
    assert success
    task = env.unwrapped
    assert np.linalg.norm(task.object_position("cubeB")[:2] - task.object_position("cubeA")[:2]) < 0.02


def test_expert_goes_through_the_subtasks_in_order_and_is_sb3_compatible(demo):
    from stable_baselines3.common.evaluation import evaluate_policy

    expert = DMPExpert(gym.make("dmg/Stack-v0"), demo)
    success, phases = run_expert(expert, 3)
    subtasks = [index for index, _ in phases]
    assert success and subtasks == sorted(subtasks) and subtasks[-1] == 1
    mean_reward, _ = evaluate_policy(expert, expert, n_eval_episodes=1, deterministic=True)
    assert mean_reward > 0  # sparse reward: it reached and held success


def test_symmetric_grasp_is_the_one_nearest_the_gripper(demo):
    """A cube looks the same every 90 degrees: of the four equivalent grasps the expert takes the one
    whose orientation is nearest the gripper's, so the wrist never turns more than 45 degrees (plus the
    few degrees of tilt and yaw noise the demonstration itself has)."""
    expert = DMPExpert(gym.make("dmg/Stack-v0"), demo)
    for seed in range(20):
        expert.reset(seed=seed)
        turn = expert._symmetry_turn
        assert min(abs(np.degrees(np.arctan2(turn[1, 0], turn[0, 0])) - k) for k in (-180, -90, 0, 90, 180)) < 1e-6
        goal_quat = expert._goal(expert._plans[0])[1]
        current = mat_to_quat(expert.unwrapped.eef_pose()[:3, :3])
        assert np.degrees(np.linalg.norm(quaternion.rotation_between(goal_quat, current))) < 45 + 10


def test_expert_rejects_absolute_control(demo):
    with pytest.raises(InvalidConfigError, match="delta"):
        DMPExpert(gym.make("dmg/Stack-v0", control_mode="absolute"), demo)


def test_mimicgen_baseline_replays_open_loop_and_suffers_from_motion(demo):
    results = {}
    for dynamics in ("static", "fast"):
        env = dmg_envs.make("dmg/Stack-v0", dynamics=dynamics)
        successes = 0
        for seed in range(6):
            obs, info = env.reset(seed=600 + seed)
            policy = MimicGenPolicy(env, demo, np.random.default_rng(seed))
            for _ in range(200):
                obs, _, _, _, info = env.step(policy(obs))
            successes += info["is_success"]
        results[dynamics] = successes
    assert results["static"] >= 3 and results["fast"] <= 1, results


def test_generate_cli_end_to_end_with_minari(isolated_datasets):
    result = runner.invoke(app, ["generate", "stack", "--source", "1", "--num-demos", "20", "--dynamics", "slow"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["kept"] == 20 and summary["dataset_id"] == "dmg/stack/dmp-slow-v0"
    dataset = minari.load_dataset("dmg/stack/dmp-slow-v0")
    assert dataset.total_episodes == 20
    meta = dataset.storage.metadata
    generation = meta["dmg_generation"]
    assert generation["generator"] == "dmp" and generation["dynamics"] == "slow" and generation["source"] == "stack_1"
    assert generation["attempts"] >= 20 and generation["success_rate"] == 20 / generation["attempts"]
    assert meta["ref_min_score"] == 0.0 and meta["ref_max_score"] > 0
    assert any(req.startswith("mujoco==") for req in meta["requirements"])
    env = dataset.recover_environment(eval_env=True)
    assert type(env).__name__ == "ObjectPerturbation"
    assert env.spec.additional_wrappers[0].kwargs["params"] == {"speed": 0.02}
    from minari.cli import app as minari_app

    shown = runner.invoke(minari_app, ["show", "dmg/stack/dmp-slow-v0"])
    assert shown.exit_code == 0 and "20" in shown.output and "dmp" in shown.output
    # every stored episode is an honest success
    replayed = runner.invoke(app, ["replay", "dmg/stack/dmp-slow-v0"])
    assert replayed.exit_code == 0 and "20/20 episodes end in success" in replayed.output
    assert "observations match the stored ones: True" in replayed.output


def test_replay_catches_a_dishonest_episode(isolated_datasets):
    summary = generate(GenerationConfig(num_demos=2), workers=1)
    dataset = minari.load_dataset(summary["dataset_id"])
    assert replay_dataset(summary["dataset_id"])["successes"] == 2
    # the same actions from another start do not stack the cubes
    import h5py

    with h5py.File(dataset.storage.data_path / "main_data.hdf5", "r+") as file:
        file["episode_1"].attrs["seed"] = 123
    report = replay_dataset(summary["dataset_id"])
    assert report["failed_episodes"] == [1] and not report["observations_match"]


class _InterruptAfter:
    def __init__(self, count):
        self.count = count

    def __call__(self, progress):
        if progress["attempts_this_call"] >= self.count:
            raise KeyboardInterrupt


def test_interrupted_run_keeps_its_demos_and_resumes_to_the_same_dataset(isolated_datasets):
    config = GenerationConfig(num_demos=6, dynamics="fast")
    partial = generate(config, workers=1, progress=_InterruptAfter(3))
    assert partial["interrupted"] and 1 <= partial["kept"] < 6
    readable = minari.load_dataset(config.dataset_id)
    assert readable.total_episodes == partial["kept"]
    resumed = generate(config, workers=2)  # the same call resumes, and replaces its own partial dataset
    assert not resumed["interrupted"] and resumed["kept"] == 6
    resumed_seeds = minari.load_dataset(config.dataset_id).storage.metadata["dmg_generation"]["episode_seeds"]
    # the same dataset as a run that was never interrupted
    fresh = generate(config, work_dir=isolated_datasets / "fresh", workers=2, overwrite=True)
    assert fresh["kept"] == 6
    assert minari.load_dataset(config.dataset_id).storage.metadata["dmg_generation"]["episode_seeds"] == resumed_seeds


def test_generation_refuses_to_overwrite_and_to_mix_runs(isolated_datasets):
    config = GenerationConfig(num_demos=1)
    generate(config, workers=1)
    assert generate(config, workers=1)["kept"] == 1  # the same run again: nothing to do, same dataset
    with pytest.raises(GenerationError, match="exists"):  # another run (seed) would replace its dataset
        generate(GenerationConfig(num_demos=1, seed=5), workers=1)
    with pytest.raises(GenerationError, match="another configuration"):
        generate(GenerationConfig(num_demos=1, seed=5), work_dir="dmg-work/dmg_stack_dmp-static-v0", workers=1,
                 overwrite=True)
    with pytest.raises(InvalidConfigError, match="choose one of"):
        GenerationConfig(generator="gan")


def test_view_renders_a_generated_episode(isolated_datasets):
    from PIL import Image

    summary = generate(GenerationConfig(num_demos=1, dynamics="slow"), workers=1)
    out = isolated_datasets / "episode.gif"
    result = runner.invoke(app, ["view", summary["dataset_id"], "--out", str(out), "--width", "80", "--height", "60"])
    assert result.exit_code == 0, result.output
    steps = len(minari.load_dataset(summary["dataset_id"])[0].actions)
    with Image.open(out) as gif:
        assert gif.n_frames == steps + 1 and gif.size == (80, 60)
    assert "success True" in result.output


def test_upright_frame_of_a_resting_cube_does_not_flip():
    """A cube at rest has two horizontal axes: the heading must not jump between them step to step."""
    from dmg_envs.wrappers.dmp_expert import upright_frame

    env = gym.make("dmg/Stack-v0")
    for seed in range(5):
        env.reset(seed=seed)
        yaws = []
        for _ in range(40):
            env.step(np.array([0, 0, 0, 0, 0, 0, -1.0], dtype=np.float32))
            frame = upright_frame(env.unwrapped.object_poses()["cubeA"])
            yaws.append(np.arctan2(frame[1, 0], frame[0, 0]))
        jumps = np.abs(np.angle(np.exp(1j * np.diff(yaws))))
        assert jumps.max() < 0.01


def test_a_run_can_ask_for_more_demos_and_stops_at_its_attempt_limit(isolated_datasets):
    generate(GenerationConfig(num_demos=2), workers=1)
    more = generate(GenerationConfig(num_demos=4), workers=1)  # same run, more demos: extends it
    assert more["kept"] == 4 and more["attempts_this_call"] == 2
    with pytest.raises(GenerationError, match="exists"):  # a smaller run would replace the larger dataset
        generate(GenerationConfig(num_demos=1), work_dir="elsewhere", workers=1)
    hopeless = generate(GenerationConfig(num_demos=5, generator="mimicgen", dynamics="fast", max_attempts=6),
                        workers=2)
    assert hopeless["exhausted"] and hopeless["kept"] < 5 and hopeless["attempts"] == 6


@pytest.mark.parametrize("kwargs, message", [({"reset_distribution": "D2"}, "reset_distribution"),
                                             ({"max_steps": 500}, "time limit"),
                                             ({"num_demos": 5, "max_attempts": 2}, "max_attempts")])
def test_generation_config_is_checked_up_front(kwargs, message):
    with pytest.raises(InvalidConfigError, match=message):
        GenerationConfig(**kwargs)


def test_policy_noise_is_independent_of_the_env_reset_noise():
    from dmg_envs.datagen.generate import policy_rng

    env = gym.make("dmg/Stack-v0")
    env.reset(seed=10003)
    assert not np.allclose(policy_rng(10003).normal(size=8), np.random.default_rng(10003).normal(size=8))
    np.testing.assert_array_equal(policy_rng(10003).normal(size=8), policy_rng(10003).normal(size=8))


def test_failures_can_be_kept_in_their_own_dataset(isolated_datasets):
    config = GenerationConfig(num_demos=2, generator="mimicgen", dynamics="fast", max_attempts=3, keep_failures=True)
    summary = generate(config, workers=1)
    assert summary["failures_dataset_id"] == "dmg/stack/mimicgen-fast-failures-v0"
    failures = minari.load_dataset(config.failures_dataset_id)
    meta = failures.storage.metadata["dmg_generation"]
    assert failures.total_episodes == 3 - summary["kept"] and meta["failures"]
    report = replay_dataset(config.failures_dataset_id)
    assert report["successes"] == 0 and report["observations_match"]  # honest failures, replayed exactly
