"""stable-baselines3 with demonstrations, and the train -> eval -> leaderboard commands end to end."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dmg_envs.datagen.config import GenerationConfig
from dmg_envs.datagen.generate import generate
from dmg_envs.learning.leaderboard import validate_entry
from dmg_envs.learning.sb3 import demo_transitions, make_training_env, plot_curves, seed_replay_buffer, train_sb3

runner = CliRunner()


def test_demo_transitions_are_the_episodes_in_flat_observations_with_the_dense_reward():
    dataset_id = generate(GenerationConfig(num_demos=2, dynamics="slow"), workers=1)["dataset_id"]
    transitions = demo_transitions(dataset_id)
    import minari

    dataset = minari.load_dataset(dataset_id)
    episodes = list(dataset.iterate_episodes())
    steps = [len(episode.actions) for episode in episodes]
    assert len(transitions["actions"]) == sum(steps)
    np.testing.assert_array_equal(transitions["actions"][: steps[0]], episodes[0].actions)
    # The flat observation is the stored dict observation's keys side by side, in the env's key order.
    env = make_training_env("dmg/Stack-v0")
    first_flat = transitions["observations"][0]
    stored = episodes[0].observations
    import gymnasium as gym

    dict_env = gym.make("dmg/Stack-v0")
    flat_from_dict = np.concatenate([np.ravel(stored[key][0]) for key in dict_env.observation_space.keys()])
    dict_env.close()
    np.testing.assert_array_equal(first_flat, flat_from_dict)
    np.testing.assert_array_equal(transitions["next_observations"][0], transitions["observations"][1])
    rewards = transitions["rewards"][: steps[0]]
    assert 0.0 <= rewards.min() and rewards[-1] == 1.0 and len(np.unique(rewards)) > 3  # staged, ends solved

    from stable_baselines3 import SAC

    model = SAC("MlpPolicy", env, seed=0, device="cpu", buffer_size=1000)
    assert seed_replay_buffer(model, transitions) == sum(steps) == model.replay_buffer.pos
    stored_rewards = model.replay_buffer.rewards[: sum(steps), 0]
    np.testing.assert_array_equal(stored_rewards, transitions["rewards"].astype(np.float32))
    env.close()


def test_sac_seeded_with_demos_records_a_learning_curve(tmp_path):
    dataset_id = generate(GenerationConfig(num_demos=1), workers=1)["dataset_id"]
    summary = train_sb3("sac", "dmg/Stack-v0", 200, tmp_path / "sac", demos=dataset_id, eval_every=100,
                        eval_episodes=2)
    assert [point["steps"] for point in summary["curve"]] == [0, 100, 200]
    assert summary["demo_transitions"] == 87 and (tmp_path / "sac" / "model.zip").is_file()
    assert json.loads((tmp_path / "sac" / "curve.json").read_text())["curve"] == summary["curve"]
    assert plot_curves([summary], tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("options, policy, budget", [
    ([], "BC-MLP", "batches of 100 single steps"),
    (["--action-chunk", "4", "--max-grad-norm", "10", "--obs-history", "2"],
     "BC-MLP (4-action chunks, 2-step observation history)",
     "batches of 100 single steps, chunks of 4 actions, 2-step observation history")])
def test_train_then_eval_then_leaderboard_from_the_command_line(tmp_path, options, policy, budget):
    trained = runner.invoke(app_cli(), ["train", "bc-mlp", "stack_1", "--epochs", "1", "--steps-per-epoch", "20",
                                        "--eval-every", "0", *options, "--out", str(tmp_path / "run")])
    assert trained.exit_code == 0, trained.output
    evaluated = runner.invoke(app_cli(), ["eval", str(tmp_path / "run"), "--dynamics", "static,slow", "--episodes",
                                          "2", "--num-envs", "2", "--out", str(tmp_path / "entries" / "a.json")])
    assert evaluated.exit_code == 0, evaluated.output
    entry = validate_entry(json.loads((tmp_path / "entries" / "a.json").read_text()))
    assert entry["policy"] == policy and entry["dataset"]["id"] == "source:stack_1"
    assert entry["dataset"]["generated_demos"] == 0 and set(entry["evaluation"]["conditions"]) == {"static", "slow"}
    assert entry["training"]["budget"] == "1 epochs x 20 steps, " + budget
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert recorded["max_grad_norm"] == (10.0 if options else None)
    assert entry["training"]["wall_time_s"] > 0
    board = runner.invoke(app_cli(), ["leaderboard", str(tmp_path / "entries"), "--out-dir", str(tmp_path / "board")])
    assert board.exit_code == 0 and "1 source demo alone" in (tmp_path / "board" / "LEADERBOARD.md").read_text()
    missing = runner.invoke(app_cli(), ["eval", str(tmp_path / "nothing.safetensors")])
    assert missing.exit_code == 1 and "no checkpoint" in missing.output
    twice = runner.invoke(app_cli(), ["eval", str(tmp_path / "run"), str(tmp_path / "run")])
    assert twice.exit_code == 1 and "repeat a training seed" in twice.output
    unlabelled = runner.invoke(app_cli(), ["train", "bc-mlp", "stack_1", "--action-labels", "expert", "--out",
                                           str(tmp_path / "expert")])
    assert unlabelled.exit_code == 1 and "no expert actions" in unlabelled.output


def app_cli():
    from dmg_envs.cli import app

    return app
