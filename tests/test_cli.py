"""The `dmg` command (typer's CliRunner)."""

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from dmg_envs.cli import app

runner = CliRunner()


def test_render_writes_an_animated_gif_and_says_where(tmp_path):
    out = tmp_path / "rollout.gif"
    result = runner.invoke(app, ["render", "dmg/Stack-v0", "--steps", "6", "--out", str(out),
                                 "--width", "96", "--height", "72"])
    assert result.exit_code == 0, result.output
    assert str(out.resolve()) in result.output
    with Image.open(out) as gif:
        assert gif.size == (96, 72) and gif.n_frames == 7  # the reset frame plus one per step


def test_render_rejects_an_unknown_suffix(tmp_path):
    result = runner.invoke(app, ["render", "--steps", "2", "--out", str(tmp_path / "rollout.avi")])
    assert result.exit_code != 0
    assert ".gif" in str(result.exception)


def test_render_rejects_an_unknown_env_id(tmp_path):
    result = runner.invoke(app, ["render", "dmg/Nope-v0", "--steps", "2", "--out", str(tmp_path / "x.gif")])
    assert result.exit_code != 0
    assert "Nope" in str(result.exception)


@pytest.mark.parametrize(("command", "missing"), [(["train", "bc-rnn"], "dataset"), (["eval"], "runs")])
def test_a_command_line_missing_an_argument_is_told_which(command, missing):
    """A usage error (exit code 2) naming the missing argument, not a crash inside typer or click, nor the
    command run without it."""
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert f"missing argument '{missing}" in result.output.lower()


def test_bench_prints_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    result = runner.invoke(app, ["bench", "--steps", "20", "--rounds", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["env_id"] == "dmg/Stack-v0"
    assert record["env_steps_per_s"] > 0 and record["physics_limit_env_steps_per_s"] > 0
    # the ratio is the env's rate over the physics limit's, measured in the same round
    assert record["env_over_limit"] == pytest.approx(
        record["env_steps_per_s"] / record["physics_limit_env_steps_per_s"], rel=0.01)
    assert 0 < record["env_over_limit"] < 1.5
    assert record["reset_median_ms"] > 0
