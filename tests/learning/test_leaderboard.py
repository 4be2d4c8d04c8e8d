"""Leaderboard entries: the schema is enforced field by field, and valid entries render as a table, a CSV
and the robustness plot."""

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
    robustness_lines,
    validate_entry,
    write_leaderboard,
)


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
           "generated_demos": 1000}


@pytest.fixture
def entry():
    rates = {"static": [0.96, 0.98, 1.0], "dmg-paper": [0.9, 0.92, 0.94], "slow": [0.9, 0.9, 0.92],
             "fast": [0.5, 0.6, 0.7]}
    return make_entry(report(rates), "BC-RNN-GMM", DATASET, [0, 1, 2], 3600.0, BUDGET)


@pytest.mark.parametrize("path, value, field", [
    ("policy", None, "policy"),
    ("policy", "", "policy"),
    ("schema_version", 2, "schema_version"),
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


def test_valid_entries_render_as_table_csv_and_plot(tmp_path, entry):
    source_only = make_entry(report({"static": [0.02, 0.0, 0.04], "slow": [0.0, 0.0, 0.0]}), "BC-RNN-GMM",
                             {**DATASET, "id": "source:stack_1", "generator": "none", "dynamics": "static",
                              "generated_demos": 0}, [0, 1, 2], 120.0, BUDGET)
    (tmp_path / "entries").mkdir()
    for name, item in (("a", entry), ("b", source_only)):
        (tmp_path / "entries" / f"{name}.json").write_text(json.dumps(item))
    written = write_leaderboard(load_entries(tmp_path / "entries"), tmp_path / "out")
    table = written["markdown"].read_text()
    assert f"| BC-RNN-GMM | 1000 D-MG demos, slow (from 1 source) | {BUDGET} | final | 3 x 50 | 98.0 ± 1.0 |" in table
    # The source-only entry skipped two conditions: marked as off-protocol.
    assert (f"| BC-RNN-GMM † | 1 source demo alone | {BUDGET} | final | 3 x 50 | 2.0 ± 1.0 | - | 0.0 ± 1.0 | - |"
            in table)
    assert "† evaluated with less than the full protocol" in table
    rows = list(csv.DictReader(written["csv"].open()))
    assert [row["dataset_id"] for row in rows] == ["dmg/stack/dmp-slow-v0", "source:stack_1"]
    assert rows[0]["budget"] == BUDGET
    assert float(rows[0]["fast_success_mean"]) == pytest.approx(0.6) and rows[1]["fast_success_mean"] == ""
    assert written["plot"].read_bytes()[:4] == b"\x89PNG"


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


def test_a_generator_with_its_own_action_noise_is_named_so(tmp_path):
    noisy = make_entry(report({"static": [1.0, 1.0, 1.0]}), "BC-RNN-GMM",
                       {**DATASET, "generator": "dmp (action noise 0.05)"}, [0, 1, 2], 60.0, BUDGET)
    table = write_leaderboard([noisy], tmp_path)["markdown"].read_text()
    assert "| 1000 D-MG (action noise 0.05) demos, slow (from 1 source) |" in table


def test_the_robustness_plot_draws_a_line_per_budget_and_names_budgets_where_they_differ(entry):
    def evaluated(item, checkpoint, budget=BUDGET):
        item = copy.deepcopy(item)
        item["evaluation"]["checkpoint"], item["training"]["budget"] = checkpoint, budget
        return item

    longer = "60 epochs x 100 steps, batches of 16 whole episodes"
    static = make_entry(report({"static": [1.0, 1.0, 1.0]}), "BC-RNN-GMM", {**DATASET, "dynamics": "static"},
                        [0, 1, 2], 60.0, BUDGET)
    entries = [evaluated(entry, "final"), evaluated(entry, "best"), evaluated(entry, "best", longer),
               evaluated(static, "best")]
    labels = [label for _, label in robustness_lines(entries)]
    # A best checkpoint is drawn only where its policy, data and budget have no final one.
    assert labels == ["BC-RNN-GMM: 1000 D-MG demos, slow (from 1 source); 30 epochs x 100 steps",
                      "BC-RNN-GMM: 1000 D-MG demos, slow (from 1 source); 60 epochs x 100 steps (best checkpoint)",
                      "BC-RNN-GMM: 1000 D-MG demos, static (from 1 source) (best checkpoint)"]
