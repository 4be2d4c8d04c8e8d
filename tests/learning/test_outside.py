"""Outside policies enter the leaderboard through `dmg eval`: a Python object named module:attribute (the
example's scripted policy), a stable-baselines3 model file, with the data they learned from, or none."""

import json
from pathlib import Path

import gymnasium as gym
from typer.testing import CliRunner

from dmg_envs.cli import app
from dmg_envs.learning.leaderboard import load_entries, write_leaderboard

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "scripted_stack_policy.py")


def run_eval(*args):
    return CliRunner().invoke(app, ["eval", *map(str, args)])


def test_the_examples_scripted_policy_is_evaluated_and_ranked_end_to_end(tmp_path):
    entries = tmp_path / "entries"
    result = run_eval(f"{EXAMPLE}:ScriptedStack", "--env", "dmg/Stack-v0", "--policy-name", "Scripted (example)",
                      "--dynamics", "static,slow", "--episodes", "2", "--num-envs", "2",
                      "--out", entries / "scripted.json")
    assert result.exit_code == 0, result.output
    entry = json.loads((entries / "scripted.json").read_text())
    assert entry["policy"] == "Scripted (example)" and entry["dataset"]["id"] == "none"
    # The scripted policy stacks in closed loop, also while the cubes drift.
    assert entry["evaluation"]["conditions"]["static"]["success_mean"] == 1.0
    assert entry["evaluation"]["conditions"]["slow"]["success_mean"] == 1.0
    assert "scripted_stack_policy.py:ScriptedStack" in entry["notes"]
    written = write_leaderboard(load_entries(entries), tmp_path)
    table = written["markdown"].read_text()
    assert "| Scripted (example) † | no demos of ours |" in table  # † less than the full protocol


def test_a_stable_baselines3_model_file_and_the_data_it_learned_from_enter_the_same_way(tmp_path):
    import stable_baselines3 as sb3

    from dmg_envs.datagen.config import GenerationConfig
    from dmg_envs.datagen.generate import generate

    dataset_id = generate(GenerationConfig(num_demos=2), workers=1)["dataset_id"]
    env = gym.make("dmg/Stack-v0", obs_mode="flat")
    sb3.SAC("MlpPolicy", env, buffer_size=10, seed=0, device="cpu").save(tmp_path / "model.zip")
    env.close()
    result = run_eval(tmp_path / "model.zip", "--env", "dmg/Stack-v0", "--policy-name", "SAC (untrained)",
                      "--trained-on", dataset_id, "--training-seeds", "7", "--budget", "0 steps",
                      "--dynamics", "static", "--episodes", "1", "--num-envs", "1", "--out", tmp_path / "sac.json")
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "sac.json").read_text())
    assert entry["dataset"] == {"id": dataset_id, "generator": "dmp", "dynamics": "static", "source_demos": 1,
                                "generated_demos": 2}
    assert entry["training"]["seeds"] == [7] and entry["training"]["budget"] == "0 steps"


def test_bad_outside_policies_are_named(tmp_path):
    result = run_eval(f"{EXAMPLE}:NoSuchPolicy", "--env", "dmg/Stack-v0", "--policy-name", "x")
    assert result.exit_code == 1 and "has no attribute 'NoSuchPolicy'" in result.output
    result = run_eval("no_such_module_here:policy", "--env", "dmg/Stack-v0", "--policy-name", "x")
    assert result.exit_code == 1 and "cannot import module 'no_such_module_here'" in result.output
    result = run_eval(f"{EXAMPLE}:ScriptedStack", "--policy-name", "x")
    assert result.exit_code == 1 and "need --env" in result.output
    result = run_eval(f"{EXAMPLE}:ScriptedStack", tmp_path, "--env", "dmg/Stack-v0", "--policy-name", "x")
    assert result.exit_code == 1 and "not both" in result.output
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    result = run_eval(tmp_path / "broken.zip", "--env", "dmg/Stack-v0", "--policy-name", "x")
    assert result.exit_code == 1 and "not a stable-baselines3 model file" in result.output
    result = run_eval(f"{EXAMPLE}:ScriptedStack", f"{EXAMPLE}:ScriptedStack", "--env", "dmg/Stack-v0",
                      "--policy-name", "x", "--training-seeds", "1,1")
    assert result.exit_code == 1 and "distinct training seed" in result.output
