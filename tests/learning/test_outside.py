"""Outside policies enter the leaderboard through `dmg eval`: a Python object named module:attribute (the
example's scripted policy), a stable-baselines3 model file, with the data they learned from, or none."""

import copy
import json
import shlex
from pathlib import Path

import gymnasium as gym
from typer.testing import CliRunner

from dmg_envs.cli import app
from dmg_envs.learning.leaderboard import load_entries
from dmg_envs.learning.leaderboard_site import write_leaderboard

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
    assert entry["training"]["recipe"] == {"algorithm": "scripted"}  # the policy's own `recipe` attribute
    # The scripted policy stacks in closed loop, also while the cubes drift.
    assert entry["evaluation"]["conditions"]["static"]["success_mean"] == 1.0
    assert entry["evaluation"]["conditions"]["slow"]["success_mean"] == 1.0
    assert "scripted_stack_policy.py:ScriptedStack" in entry["notes"]
    assert entry["command"] == shlex.join(["dmg", "eval", f"{EXAMPLE}:ScriptedStack", "--env", "dmg/Stack-v0",
                                           "--dynamics", "static,slow", "--episodes", "2", "--num-envs", "2",
                                           "--policy-name", "Scripted (example)", "--out",
                                           str(entries / "scripted.json")])
    # Its command is one `make leaderboard` runs: ranked, were it evaluated by the whole protocol.
    table = write_leaderboard(load_entries(entries), tmp_path, [entry["command"]])["markdown"].read_text()
    assert "| dmg/Stack-v0 | Scripted (example) | no demos of ours | not stated | 100.0 | 2 episodes a condition; " \
           "no dmg-paper, fast |" in table
    full = copy.deepcopy(entry)
    full["evaluation"].update(episodes_per_condition=50, seeds={"start": 2**31, "count": 50},
                              conditions={c: entry["evaluation"]["conditions"]["static"]
                                          for c in ("static", "dmg-paper", "slow", "fast")})
    (entries / "scripted.json").write_text(json.dumps(full))
    table = write_leaderboard(load_entries(entries), tmp_path, [entry["command"]])["markdown"].read_text()
    assert "| 1 | Scripted (example) | no demos of ours | **100.0 (98–100)** |" in table


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
    from dmg_envs.datagen.writer import dataset_content_hash

    assert entry["dataset"] == {"id": dataset_id, "generator": "dmp", "dynamics": "static", "source_demos": 1,
                                "generated_demos": 2, "content_hashes": {dataset_id: dataset_content_hash(dataset_id)},
                                "generated_with": {dataset_id: entry["versions"]["dmg-envs"]}}
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


def test_clips_show_a_won_and_a_lost_evaluation_episode_named_by_what_they_show(tmp_path):
    from PIL import Image

    from dmg_envs.learning.clips import CLIP_SIZE, write_clips
    from dmg_envs.learning.outside import load_outside_policy

    seed = 2**31
    # the report says the scripted policy lost this episode; replayed alone it wins, so no clip calls it lost
    report = {"env_id": "dmg/Stack-v0", "conditions": {"static": {"episodes": [[(seed, False), (seed + 1, True)]]}}}
    clips = write_clips(load_outside_policy(f"{EXAMPLE}:ScriptedStack"), report, tmp_path, "scripted")
    assert clips == {"success": "clips/scripted-static-success.gif"}

    def stand_still(observation):
        return [0.0] * 7

    report["conditions"]["slow"] = {"episodes": [[(seed, False)]]}
    clips = write_clips(stand_still, report, tmp_path, "still")
    assert clips == {"failure": "clips/still-slow-failure.gif"}  # slow is shown before static
    with Image.open(tmp_path / clips["failure"]) as gif:
        assert gif.size == (CLIP_SIZE, CLIP_SIZE) and gif.n_frames > 20
