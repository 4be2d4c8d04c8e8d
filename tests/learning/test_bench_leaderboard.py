"""`make leaderboard` rebuilds every ranked entry: each committed entry records a command it runs, and the
benchmark behind those commands keeps recipes apart (an override writes an entry of its own)."""

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from dmg_envs.learning.leaderboard import load_commands, load_entries, same_command

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_leaderboard", ROOT / "benchmarks" / "bench_leaderboard.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_each_committed_entry_records_a_command_that_make_leaderboard_runs():
    commands = load_commands(ROOT / "leaderboard" / "commands.txt")
    entries = load_entries(ROOT / "leaderboard" / "entries")
    assert entries, "the leaderboard has no committed entries"
    for entry in entries:
        assert any(same_command(entry["command"], command) for command in commands), entry["command"]
        for clip in entry["evaluation"].get("clips", {}).values():
            assert (ROOT / "leaderboard" / "entries" / clip).is_file(), clip
    # `make leaderboard` runs every line of that file (a dry run prints the recipe without running it)
    dry_run = subprocess.run(["make", "-n", "leaderboard"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "leaderboard/commands.txt" in dry_run.stdout and 'sh -c "$command"' in dry_run.stdout
    # and each line is a command that can run: the benchmark's own options and rows, or `dmg eval` of a file here
    for command in commands:
        words = shlex.split(command)
        if words[:2] == ["python", "benchmarks/bench_leaderboard.py"]:
            args = bench.parser().parse_args(words[2:])
            assert set(args.rows.split(",")) <= set(bench.ROWS), command
            assert bench.row_command(args.task, args.rows, args) == command  # what the entry will record
        else:
            assert words[:2] == ["dmg", "eval"], command
            assert (ROOT / words[2].rpartition(":")[0]).is_file(), command


def test_every_tasks_ranked_rows_are_in_the_commands_make_leaderboard_runs():
    commands = load_commands(ROOT / "leaderboard" / "commands.txt")
    for task, rows in bench.TASK_ROWS.items():
        for row in rows:
            expected = f"python benchmarks/bench_leaderboard.py --task {task} --rows {row}"
            assert any(same_command(expected, command) for command in commands), expected


def test_an_epochs_override_writes_an_entry_of_its_own(tmp_path):
    def run(*options):
        arguments = ["--task", "stack", "--rows", "source", "--seeds", "0", "--steps-per-epoch", "2", "--episodes",
                     "1", "--conditions", "static", "--eval-every", "0", "--no-clips", "--entries",
                     str(tmp_path / "entries"), "--work-dir", str(tmp_path / "work"), *options]
        result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_leaderboard.py"), *arguments],
                                cwd=tmp_path, capture_output=True, text=True,
                                env={**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "osmesa")})
        assert result.returncode == 0, result.stderr[-3000:]

    run("--epochs", "1")
    first = {path.name: path.read_text() for path in (tmp_path / "entries").glob("*.json")}
    run("--epochs", "2")
    both = {path.name: path.read_text() for path in (tmp_path / "entries").glob("*.json")}
    assert len(first) == 1 and len(both) == 2
    run("--epochs", "2", "--episodes", "2")  # the same runs (reused), evaluated otherwise: a third entry
    assert len(list((tmp_path / "entries").glob("*.json"))) == 3
    assert {path.name: path.read_text() for path in (tmp_path / "entries").glob("*.json") if path.name in both} == both
    name, = first
    assert both[name] == first[name]  # the first recipe's entry is untouched
    other, = set(both) - {name}
    assert "1ep2x16" in name and "2ep2x16" in other
    entries = {key: json.loads(value) for key, value in both.items()}
    assert "--epochs 1" in entries[name]["command"] and "--epochs 2" in entries[other]["command"]
    assert entries[name]["training"]["recipe"]["epochs"] == 1 and entries[other]["training"]["recipe"]["epochs"] == 2
    # the table lists both, unranked (one seed, one condition), with the command that made each
    table = (tmp_path / "LEADERBOARD.md").read_text()
    assert table.count("| dmg/Stack-v0 | BC-RNN-GMM | 1 source demo alone |") == 3
