"""Leaderboard entries: the schema is enforced field by field, entries rank into one row per policy and training
data by the stated rule, and render as a table, a CSV, the robustness plot and a web page."""

import copy
import csv
import json

import pytest
from typer.testing import CliRunner

from dmg_envs.cli import app
from dmg_envs.learning.leaderboard import (
    LeaderboardEntryError,
    load_entries,
    make_entry,
    rank_entries,
    recipe_fields,
    validate_entry,
)
from dmg_envs.learning.leaderboard_site import write_leaderboard


def report(success: dict[str, list[float]]) -> dict:
    conditions = {}
    for name, rates in success.items():
        mean = sum(rates) / len(rates)
        conditions[name] = {"success_mean": mean, "success_std": 0.01, "success_at_end_mean": mean,
                            "success_at_end_std": 0.0, "success_per_seed": rates, "success_at_end_per_seed": rates,
                            "success_interval_95": [0.0, 1.0], "episodes": []}
    return {"env_id": "dmg/Stack-v0", "episodes_per_condition": 50,
            "evaluation_seeds": {"start": 2**31, "count": 50}, "wall_time_s": 61.0, "conditions": conditions}


BUDGET = "30 epochs x 100 steps, batches of 16 whole episodes"
DATASET = {"id": "dmg/stack/dmp-slow-v0", "generator": "dmp", "dynamics": "slow", "source_demos": 1,
           "generated_demos": 1000, "content_hashes": {"dmg/stack/dmp-slow-v0": "ab" * 32},
           "generated_with": {"dmg/stack/dmp-slow-v0": "0.1.0"}}
COMMAND = "python benchmarks/bench_leaderboard.py --task stack --rows dmp-slow"
ALL = ("static", "dmg-paper", "slow", "fast")


def recipe(dataset=DATASET["id"], **changes):
    from dataclasses import asdict

    from dmg_envs.learning.recipe import TrainConfig

    values = asdict(TrainConfig(dataset=dataset, algorithm=changes.pop("algorithm", "bc-rnn-gmm"), epochs=30))
    values.pop("seed")
    return {**values, **changes}


def an_entry(rates, policy="BC-RNN-GMM", dataset=DATASET, command=COMMAND, seeds=(0, 1, 2), **recipe_changes):
    return make_entry(report(rates), policy, dataset, list(seeds), 3600.0, BUDGET,
                      recipe(dataset["id"], **recipe_changes), command)


@pytest.fixture
def entry():
    rates = {"static": [0.96, 0.98, 1.0], "dmg-paper": [0.9, 0.92, 0.94], "slow": [0.9, 0.9, 0.92],
             "fast": [0.5, 0.6, 0.7]}
    return an_entry(rates)


@pytest.mark.parametrize("path, value, field", [
    ("policy", None, "policy"),
    ("policy", "", "policy"),
    ("schema_version", 1, "schema_version"),
    ("command", None, "command"),
    ("dataset.content_hashes", None, "dataset.content_hashes"),
    ("dataset.content_hashes", {}, "dataset.content_hashes"),
    ("dataset.content_hashes", {"dmg/stack/dmp-slow-v0": "unknown"}, "dataset.content_hashes"),
    ("dataset.generated_with", {}, "dataset.generated_with"),
    ("training.recipe", None, "training.recipe.algorithm"),
    ("training.recipe.learning_rate", None, "training.recipe.learning_rate"),
    ("training.recipe.ema", None, "training.recipe.ema"),
    ("evaluation.conditions.static.success_interval_95", [0.9, 0.1],
     "evaluation.conditions.static.success_interval_95"),
    ("dataset.source_demos", -1, "dataset.source_demos"),
    ("dataset.generated_demos", -1, "dataset.generated_demos"),
    ("training.seeds", [0, 0, 1], "training.seeds"),
    ("training.wall_time_s", "an hour", "training.wall_time_s"),
    ("evaluation.checkpoint", "last", "evaluation.checkpoint"),
    ("evaluation.conditions.slow.success_mean", 1.5, "evaluation.conditions.slow.success_mean"),
    ("evaluation.conditions.fast.success_per_seed", [0.5, 0.6], "evaluation.conditions.fast.success_per_seed"),
    ("evaluation.conditions.static", None, "evaluation.conditions"),
    ("versions", {}, "versions"),
])
def test_an_invalid_entry_is_rejected_naming_the_field(entry, path, value, field):
    broken = copy.deepcopy(entry)
    *parents, last = path.split(".")
    target = broken
    for part in parents:
        target = target[part]
    if value is None:
        del target[last]
    else:
        target[last] = value
    with pytest.raises(LeaderboardEntryError, match=f"'{field}'"):
        validate_entry(broken)


def test_the_leaderboard_command_names_the_bad_file_and_field(tmp_path, entry):
    (tmp_path / "entries").mkdir()
    entry["evaluation"]["conditions"]["slow"]["success_std"] = -0.1
    (tmp_path / "entries" / "bad.json").write_text(json.dumps(entry))
    result = CliRunner().invoke(app, ["leaderboard", str(tmp_path / "entries"), "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "bad.json" in result.output and "evaluation.conditions.slow.success_std" in result.output
    assert not (tmp_path / "out" / "LEADERBOARD.md").exists()


def test_a_missing_entries_folder_is_an_error(tmp_path):
    with pytest.raises(LeaderboardEntryError, match="no folder"):
        load_entries(tmp_path / "nothing")



RATES = {  # mean over the four conditions: 0.75, 0.85, 0.3875; fast sorts otherwise as text than as numbers
    "a": {"static": [1.0] * 3, "dmg-paper": [0.9] * 3, "slow": [0.8] * 3, "fast": [0.3] * 3},
    "b": {"static": [1.0] * 3, "dmg-paper": [1.0] * 3, "slow": [0.9] * 3, "fast": [0.5] * 3},
    "c": {"static": [0.6] * 3, "dmg-paper": [0.5] * 3, "slow": [0.4] * 3, "fast": [0.05] * 3},
}
MIMICGEN = {**DATASET, "id": "dmg/stack/mimicgen-static-v0", "generator": "mimicgen", "dynamics": "static",
            "content_hashes": {"dmg/stack/mimicgen-static-v0": "cd" * 32},
            "generated_with": {"dmg/stack/mimicgen-static-v0": "0.1.0"}}
MIMICGEN_COMMAND = "python benchmarks/bench_leaderboard.py --task stack --rows mimicgen-static"
DIFFUSION_COMMAND = "python benchmarks/bench_leaderboard.py --task stack --rows dmp-slow-diffusion"


@pytest.fixture
def board():
    """Three protocol rows of two learners on two datasets, one of them with a command `make leaderboard` does
    not run, one with fewer seeds; and the commands `make leaderboard` runs (one without an entry yet)."""
    entries = [an_entry(RATES["a"]), an_entry(RATES["b"], dataset=MIMICGEN, command=MIMICGEN_COMMAND),
               an_entry(RATES["c"], policy="Diffusion Policy", command=DIFFUSION_COMMAND, algorithm="diffusion"),
               an_entry(RATES["b"], command=COMMAND + " --epochs 50", epochs=50),
               an_entry({c: r[:1] for c, r in RATES["b"].items()}, policy="BC-RNN", seeds=[0])]
    commands = [COMMAND, MIMICGEN_COMMAND, DIFFUSION_COMMAND, "python benchmarks/bench_leaderboard.py --task "
                "stack --rows source"]
    return entries, commands


def test_the_ranked_table_has_one_row_per_policy_and_data_in_rank_order(tmp_path, board):
    entries, commands = board
    ranked, others = rank_entries(entries, commands)
    rows = ranked["dmg/Stack-v0"]
    assert [(e["policy"], e["dataset"]["id"]) for e in rows] == [
        ("BC-RNN-GMM", "dmg/stack/mimicgen-static-v0"), ("BC-RNN-GMM", "dmg/stack/dmp-slow-v0"),
        ("Diffusion Policy", "dmg/stack/dmp-slow-v0")]
    assert others == entries[3:]  # another budget's command; one seed
    table = write_leaderboard(entries, tmp_path, commands)["markdown"].read_text()
    lines = [line for line in table.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")
             or line.startswith("| 3 |")]
    # rank, policy, data, the mean with its pooled Wilson interval (bold: the best), each condition
    assert lines[0].startswith("| 1 | BC-RNN-GMM | 1000 MimicGen demos, static (from 1 source) | **85.0 (82–88)** | "
                               "**100.0 ± 1.0 (0–100)** |")
    assert lines[1].startswith("| 2 | BC-RNN-GMM | 1000 D-MG demos, slow (from 1 source) | 75.0 (71–78) | "
                               "**100.0 ± 1.0 (0–100)** | 90.0 ± 1.0 (0–100) |")
    assert lines[2].startswith("| 3 | Diffusion Policy | 1000 D-MG demos, slow (from 1 source) | 38.8 (35–43) |")
    assert f"1. {BUDGET}: `{MIMICGEN_COMMAND}`" in table
    unranked = table.split("## Unranked entries")[1]
    assert "its command is not one `make leaderboard` runs" in unranked and "1 training seed(s)" in unranked
    assert "`python benchmarks/bench_leaderboard.py --task stack --rows source`" in table.split("## Not yet run")[1]
    written = list(csv.DictReader((tmp_path / "leaderboard.csv").open()))
    assert [row["rank"] for row in written] == ["1", "2", "3", "", ""]
    assert (tmp_path / "robustness.png").read_bytes()[:4] == b"\x89PNG"
    # Without a list of commands, both recipes of BC-RNN-GMM on the D-MG data would be ranked: refused.
    with pytest.raises(LeaderboardEntryError, match="one row per policy and training data"):
        rank_entries(entries)


def test_an_outside_policy_states_its_algorithm_and_ours_record_every_hyperparameter(entry):
    outside = copy.deepcopy(entry)
    outside["training"]["recipe"] = {"algorithm": "scripted"}
    validate_entry(outside)  # an outside policy's recipe is what its authors state
    assert len(recipe_fields()) >= 20 and "seed" not in recipe_fields()
    for field in recipe_fields():
        broken = copy.deepcopy(entry)
        del broken["training"]["recipe"][field]
        with pytest.raises(LeaderboardEntryError, match=f"'training.recipe.{field}' is missing"):
            validate_entry(broken)


def test_the_web_page_loads_sorts_and_shows_its_entries_in_a_real_browser(tmp_path, board):
    import importlib.util
    from pathlib import Path

    from dmg_envs.learning.leaderboard_site import write_site

    spec = importlib.util.spec_from_file_location(
        "leaderboard_page", Path(__file__).resolve().parents[2] / "tools" / "leaderboard_page.py")
    page_tools = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(page_tools)
    assert page_tools.chromedriver(), "Debian's chromium-driver is needed (.ci/run and `make system-deps` install it)"
    entries, commands = board
    from PIL import Image

    (tmp_path / "entries" / "clips").mkdir(parents=True)
    Image.new("RGB", (16, 16), (200, 30, 30)).save(tmp_path / "entries" / "clips" / "a-slow-success.gif")
    entries[0]["evaluation"]["clips"] = {"success": "clips/a-slow-success.gif"}
    page = write_site(entries, tmp_path / "entries", tmp_path / "site", commands)
    assert "http" not in page.read_text().replace("hf://", "")  # nothing fetched at view time

    driver = page_tools.open_page(page)
    try:
        severe = [log for log in driver.get_log("browser") if log["level"] == "SEVERE"]
        assert severe == []
        table = driver.find_element("css selector", "table.ranked")

        def column(index):
            return [row.find_elements("tag name", "td")[index].text
                    for row in table.find_elements("css selector", "tbody tr")]

        assert column(1) == ["BC-RNN-GMM", "BC-RNN-GMM", "Diffusion Policy"]
        assert column(0) == ["1", "2", "3"]
        headers = table.find_elements("tag name", "th")
        fast = [h.text for h in headers].index("fast")
        headers[fast].click()  # ascending, as numbers (as text, "5.0" would come last)
        assert [cell.split(" ")[0] for cell in column(fast)] == ["5.0", "30.0", "50.0"]
        assert headers[fast].get_attribute("aria-sort") == "ascending"
        headers[fast].click()  # descending
        assert [cell.split(" ")[0] for cell in column(fast)] == ["50.0", "30.0", "5.0"]
        headers[1].click()  # as text, ascending
        assert column(1) == ["BC-RNN-GMM", "BC-RNN-GMM", "Diffusion Policy"]
        headers[1].click()  # descending
        assert column(1) == ["Diffusion Policy", "BC-RNN-GMM", "BC-RNN-GMM"]
        assert headers[fast].get_attribute("aria-sort") is None
        images = {image.get_attribute("src").rsplit("/", 1)[1]: image.get_property("naturalWidth")
                  for image in driver.find_elements("tag name", "img")}
        assert images["robustness.png"] > 0 and images["a-slow-success.gif"] == 16
        assert "Unranked entries" in driver.find_element("tag name", "body").text
        driver.save_screenshot(str(tmp_path / "page.png"))
        assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG"
        assert [log for log in driver.get_log("browser") if log["level"] == "SEVERE"] == []
    finally:
        driver.quit()


def test_bad_leaderboard_and_eval_arguments_are_named(tmp_path, entry):
    (tmp_path / "entries").mkdir()
    (tmp_path / "entries" / "a.json").write_text(json.dumps(entry))
    result = CliRunner().invoke(app, ["leaderboard", str(tmp_path / "entries"), "--out-dir", str(tmp_path / "out"),
                                      "--commands", str(tmp_path / "nothing.txt")])
    assert result.exit_code == 1 and "no file of leaderboard commands" in result.output
    (tmp_path / "entries" / "b.json").write_text("{not json")
    result = CliRunner().invoke(app, ["leaderboard", str(tmp_path / "entries"), "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 1 and "b.json: not valid JSON" in result.output
    from pathlib import Path

    example = str(Path(__file__).resolve().parents[2] / "examples" / "scripted_stack_policy.py") + ":ScriptedStack"
    result = CliRunner().invoke(app, ["eval", example, "--env", "dmg/Stack-v0", "--policy-name", "x", "--clips"])
    assert result.exit_code == 1 and "--clips writes the clips beside the entry: give --out" in result.output
    (tmp_path / "recipe.json").write_text('{"epochs": 3}')
    result = CliRunner().invoke(app, ["eval", example, "--env", "dmg/Stack-v0", "--policy-name", "x", "--recipe",
                                      str(tmp_path / "recipe.json")])
    assert result.exit_code == 1 and 'naming at least its "algorithm"' in result.output


def test_a_command_is_matched_whatever_its_spelling_and_ranks_once(board):
    from dmg_envs.learning.leaderboard import same_command

    line = "dmg eval examples/p.py:P --env dmg/Stack-v0 --policy-name 'My policy' --train-time-s 3600 --out a/b.json"
    assert same_command(line, "dmg eval examples/p.py:P --out=./a/b.json --policy-name 'My policy' --env "
                              "dmg/Stack-v0 --train-time-s 3600.0 --report r.json")
    assert not same_command(line, line.replace("3600", "60"))
    assert not same_command(line, line.replace("examples/p.py:P", "examples/p.py:Q"))
    entries, commands = board
    stale = copy.deepcopy(entries[0])
    stale["policy"] = "BC-RNN-GMM (an earlier recipe)"  # a renamed policy, its file left behind
    with pytest.raises(LeaderboardEntryError, match="two ranked entries record the command"):
        rank_entries([*entries, stale], commands)


@pytest.mark.parametrize("change, field", [
    (lambda e: e["training"]["recipe"].update(learning_rate=-1.0), "training.recipe"),
    (lambda e: e["training"]["recipe"].update(dataset="dmg/stack/other-v0"), "training.recipe.dataset"),
    (lambda e: e["training"]["recipe"].update(speed=3), "training.recipe"),
    (lambda e: e["evaluation"].update(clips={"success": "../../secret.gif"}), "evaluation.clips"),
    (lambda e: e["evaluation"].update(clips={"failure": "/tmp/x.gif"}), "evaluation.clips"),
    (lambda e: e["dataset"]["content_hashes"].update({"dmg/stack/other-v0": "ab" * 32}), "dataset.content_hashes"),
    (lambda e: e["dataset"]["generated_with"].update({"dmg/stack/dmp-slow-v0": None}), "dataset.generated_with"),
    (lambda e: e["training"].update(wall_time_s=float("inf")), "training.wall_time_s"),
    (lambda e: e["evaluation"]["conditions"].update({"a.b": e["evaluation"]["conditions"]["static"]}),
     "evaluation.conditions"),
])
def test_values_that_are_present_but_wrong_are_refused_naming_the_field(entry, change, field):
    broken = copy.deepcopy(entry)
    change(broken)
    with pytest.raises(LeaderboardEntryError, match=f"'{field}'"):
        validate_entry(broken)
