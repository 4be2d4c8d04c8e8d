"""The leaderboard: one JSON entry per policy, training data, budget and checkpoint evaluated with the
protocol, validated against a documented schema, and rendered as LEADERBOARD.md, a CSV and the robustness
plot.

Entry schema (version 1); every field is required unless marked optional:

| field | type | meaning |
|---|---|---|
| `schema_version` | 1 | |
| `policy` | str | the policy's name, e.g. "BC-RNN-GMM" |
| `env_id` | str | the registered env it was evaluated in, e.g. "dmg/Stack-v0" |
| `dataset.id` | str | the Minari dataset id, "source:<file>" for source demos alone, "none" for none of ours |
| `dataset.generator` | str | "dmp" (D-MG), "mimicgen", "none" (source demos) or another; details in parentheses |
| `dataset.dynamics` | str | the preset the data was generated under, or "mixed" |
| `dataset.source_demos` | int >= 0 | source demos the data came from (0 with dataset "none": no demos) |
| `dataset.generated_demos` | int >= 0 | generated demos trained on |
| `training.seeds` | list of int, non-empty, distinct | one policy per training seed |
| `training.wall_time_s` | number >= 0 | training time of all seeds together |
| `training.budget` | str | what one run trained for, e.g. "60 epochs x 100 steps, batch 100" |
| `evaluation.checkpoint` | "final" or "best" | which checkpoint of each run ("best": picked on validation episodes) |
| `evaluation.episodes_per_condition` | int >= 1 | episodes per condition and training seed |
| `evaluation.seeds.start`, `.count` | int | the evaluation seeds: start, start + 1, ... |
| `evaluation.wall_time_s` | number >= 0 | evaluation time |
| `evaluation.num_envs` | int >= 1, optional | episodes run side by side (batch width of the policy) |
| `evaluation.conditions.<preset>` | object | per dynamics preset; "static" is required |
| `  .success_mean`, `.success_at_end_mean` | number in [0, 1] | mean over training seeds |
| `  .success_std`, `.success_at_end_std` | number >= 0 | standard deviation over training seeds |
| `  .success_per_seed` | list of numbers in [0, 1] | one per training seed |
| `versions` | object of str | package versions (dmg-envs, mujoco, torch, ...) |
| `machine` | str | where the times were measured |
| `notes` | str, optional | |
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from dmg_envs.errors import DmgError
from dmg_envs.learning.evaluate import CONDITIONS, EPISODES_PER_CONDITION, EVALUATION_SEED_START, TRAINING_SEEDS

SCHEMA_VERSION = 1
# Object speed of each condition [m/s], the robustness plot's x axis (dmg-paper moves one object at
# 5 cm/s in half the episodes, so it has no single speed and is left off the plot).
CONDITION_SPEEDS = {"static": 0.0, "slow": 0.02, "fast": 0.08}
DATASET_FIELDS = ("id", "generator", "dynamics", "source_demos", "generated_demos")


class LeaderboardEntryError(DmgError, ValueError):
    """An entry that does not follow the schema; the message names the field."""


def _require(entry: dict[str, Any], path: str, kind: type | tuple[type, ...], check=None, why: str = "") -> Any:
    value: Any = entry
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise LeaderboardEntryError(f"field '{path}' is missing")
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, kind) or (check is not None and not check(value)):
        expected = why or getattr(kind, "__name__", "a number")
        raise LeaderboardEntryError(f"field '{path}' must be {expected}, got {value!r}")
    return value


def _fraction(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0


def validate_entry(entry: Any) -> dict[str, Any]:
    """`entry` if it follows the schema; otherwise a `LeaderboardEntryError` naming the first bad field."""
    if not isinstance(entry, dict):
        raise LeaderboardEntryError(f"an entry must be a JSON object, got {type(entry).__name__}")
    number = (int, float)
    _require(entry, "schema_version", int, lambda v: v == SCHEMA_VERSION, f"{SCHEMA_VERSION}")
    for path in ("policy", "env_id", "dataset.id", "dataset.generator", "dataset.dynamics", "training.budget",
                 "machine"):
        _require(entry, path, str, lambda v: v.strip() != "", "a non-empty string")
    _require(entry, "dataset.source_demos", int, lambda v: v >= 0, "an integer >= 0")
    _require(entry, "dataset.generated_demos", int, lambda v: v >= 0, "an integer >= 0")
    seeds = _require(entry, "training.seeds", list,
                     lambda v: v and all(isinstance(s, int) and not isinstance(s, bool) for s in v)
                     and len(set(v)) == len(v), "a non-empty list of distinct integers")
    _require(entry, "training.wall_time_s", number, lambda v: v >= 0, "a number >= 0")
    _require(entry, "evaluation.checkpoint", str, lambda v: v in ("final", "best"), "'final' or 'best'")
    _require(entry, "evaluation.episodes_per_condition", int, lambda v: v >= 1, "an integer >= 1")
    _require(entry, "evaluation.seeds.start", int, lambda v: v >= 0, "an integer >= 0")
    _require(entry, "evaluation.seeds.count", int, lambda v: v >= 1, "an integer >= 1")
    _require(entry, "evaluation.wall_time_s", number, lambda v: v >= 0, "a number >= 0")
    conditions = _require(entry, "evaluation.conditions", dict, lambda v: "static" in v,
                          "an object with at least the 'static' condition")
    for name in conditions:
        base = f"evaluation.conditions.{name}"
        for key in ("success_mean", "success_at_end_mean"):
            _require(entry, f"{base}.{key}", number, _fraction, "a number in [0, 1]")
        for key in ("success_std", "success_at_end_std"):
            _require(entry, f"{base}.{key}", number, lambda v: v >= 0, "a number >= 0")
        _require(entry, f"{base}.success_per_seed", list,
                 lambda v: len(v) == len(seeds) and all(_fraction(x) for x in v),
                 f"a list of {len(seeds)} numbers in [0, 1], one per training seed")
    _require(entry, "versions", dict, lambda v: v and all(isinstance(x, str) for x in v.values()),
             "a non-empty object of version strings")
    if "num_envs" in entry["evaluation"]:
        _require(entry, "evaluation.num_envs", int, lambda v: v >= 1, "an integer >= 1")
    if "notes" in entry:
        _require(entry, "notes", str)
    return entry


def load_entries(directory: str | Path) -> list[dict[str, Any]]:
    """Every `*.json` entry in `directory`, validated; an invalid file raises naming the file and field."""
    if not Path(directory).is_dir():
        raise LeaderboardEntryError(f"no folder of leaderboard entries at {directory}")
    entries = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            entries.append(validate_entry(json.loads(path.read_text())))
        except json.JSONDecodeError as error:
            raise LeaderboardEntryError(f"{path}: not valid JSON ({error})") from error
        except LeaderboardEntryError as error:
            raise LeaderboardEntryError(f"{path}: {error}") from error
    return entries


def follows_protocol(entry: dict[str, Any]) -> bool:
    """Whether an entry was evaluated by the full protocol: at least three training seeds, the protocol's
    evaluation seeds and episode count, every condition."""
    evaluation = entry["evaluation"]
    return (len(entry["training"]["seeds"]) >= len(TRAINING_SEEDS)
            and evaluation["seeds"] == {"start": EVALUATION_SEED_START, "count": EPISODES_PER_CONDITION}
            and evaluation["episodes_per_condition"] == EPISODES_PER_CONDITION
            and set(CONDITIONS) <= set(evaluation["conditions"]))


def _rate(entry: dict[str, Any], condition: str) -> str:
    figures = entry["evaluation"]["conditions"].get(condition)
    if figures is None:
        return "-"
    return f"{100 * figures['success_mean']:.1f} ± {100 * figures['success_std']:.1f}"


def _data(entry: dict[str, Any]) -> str:
    data = entry["dataset"]
    if data["source_demos"] == 0 and data["generated_demos"] == 0:
        return "no demos of ours"
    if data["generated_demos"] == 0:
        return f"{data['source_demos']} source demo{'s' if data['source_demos'] > 1 else ''} alone"
    name, _, rest = data["generator"].partition(" ")
    generator = " ".join(filter(None, [{"dmp": "D-MG", "mimicgen": "MimicGen"}.get(name, name), rest]))
    return f"{data['generated_demos']} {generator} demos, {data['dynamics']} (from {data['source_demos']} source)"


def write_leaderboard(entries: list[dict[str, Any]], out_dir: str | Path) -> dict[str, Path]:
    """Write `LEADERBOARD.md`, `leaderboard.csv` and `robustness.png` in `out_dir`, one table per env."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["env_id", "policy", "data", "dataset_id", "budget", "checkpoint", "seeds", "episodes"]
    stats = ("success_mean", "success_std", "success_at_end_mean")
    columns += [f"{condition}_{stat}" for condition in CONDITIONS for stat in stats]
    columns += ["train_wall_time_s", "eval_wall_time_s", "machine"]
    rows = []
    for entry in entries:
        row = {"env_id": entry["env_id"], "policy": entry["policy"], "data": _data(entry),
               "dataset_id": entry["dataset"]["id"], "budget": entry["training"]["budget"],
               "checkpoint": entry["evaluation"]["checkpoint"],
               "seeds": len(entry["training"]["seeds"]), "episodes": entry["evaluation"]["episodes_per_condition"],
               "train_wall_time_s": round(entry["training"]["wall_time_s"], 1),
               "eval_wall_time_s": round(entry["evaluation"]["wall_time_s"], 1), "machine": entry["machine"]}
        for condition in CONDITIONS:
            figures = entry["evaluation"]["conditions"].get(condition, {})
            for stat in stats:
                row[f"{condition}_{stat}"] = figures.get(stat, "")
        rows.append(row)
    with (out_dir / "leaderboard.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

    lines = ["# Leaderboard", "",
             "Success rate (%) within the episode limit, mean ± std over training seeds, each seed evaluated on the "
             "same fixed evaluation episodes per condition (`dmg eval`; protocol in the README). Written by "
             "`dmg leaderboard` from `leaderboard/entries/`; do not edit by hand.", ""]
    for env_id in sorted({entry["env_id"] for entry in entries}):
        lines += [f"## {env_id}", "", "| policy | training data | budget | checkpoint | seeds x episodes | "
                  + " | ".join(CONDITIONS) + " | train time | eval time |",
                  "|---|---|---|---|---|" + "---|" * len(CONDITIONS) + "---|---|"]
        for entry in (e for e in entries if e["env_id"] == env_id):
            lines.append(f"| {entry['policy']}{'' if follows_protocol(entry) else ' †'} | {_data(entry)} | "
                         f"{entry['training']['budget']} | {entry['evaluation']['checkpoint']} | "
                         f"{len(entry['training']['seeds'])} x {entry['evaluation']['episodes_per_condition']} | "
                         + " | ".join(_rate(entry, c) for c in CONDITIONS)
                         + f" | {entry['training']['wall_time_s'] / 60:.1f} min | "
                         f"{entry['evaluation']['wall_time_s'] / 60:.1f} min |")
        machines = sorted({entry["machine"] for entry in entries if entry["env_id"] == env_id})
        lines += ["", f"Times measured on: {'; '.join(machines)}.", ""]
        if not all(follows_protocol(e) for e in entries if e["env_id"] == env_id):
            lines += [f"† evaluated with less than the full protocol ({len(TRAINING_SEEDS)} training seeds x "
                      f"{EPISODES_PER_CONDITION} episodes in each of {', '.join(CONDITIONS)}); not comparable.", ""]
    lines += ["![success against object speed](robustness.png)", ""]
    (out_dir / "LEADERBOARD.md").write_text("\n".join(lines))
    _plot_robustness(entries, out_dir / "robustness.png")
    return {"markdown": out_dir / "LEADERBOARD.md", "csv": out_dir / "leaderboard.csv",
            "plot": out_dir / "robustness.png"}


def robustness_lines(entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """The robustness plot's lines and their labels: one per policy, training data and budget, the final
    checkpoint's, or the best one's where only that was evaluated. Where one policy was trained on the same
    data for several budgets, a label names the parts of its budget that the others' lack."""
    def trained_on(e):  # one policy on one training data
        return e["env_id"], e["policy"], e["dataset"]["id"], _data(e)

    def line_key(e):
        return *trained_on(e), e["training"]["budget"]

    finals = {line_key(e) for e in entries if e["evaluation"]["checkpoint"] == "final"}
    shown = [e for e in entries if e["evaluation"]["checkpoint"] == "final" or line_key(e) not in finals]
    budgets = defaultdict(set)
    for e in shown:
        budgets[trained_on(e)].add(e["training"]["budget"])

    def budget_label(e):
        siblings = budgets[trained_on(e)]
        if len(siblings) == 1:
            return ""
        shared = set.intersection(*(set(budget.split(", ")) for budget in siblings))
        return "; " + ", ".join(part for part in e["training"]["budget"].split(", ") if part not in shared)

    return [(e, f"{e['policy']}: {_data(e)}{budget_label(e)}"
             + ("" if e["evaluation"]["checkpoint"] == "final" else " (best checkpoint)")) for e in shown]


def _plot_robustness(entries: list[dict[str, Any]], path: Path) -> None:
    from matplotlib import colormaps
    from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is

    env_ids = sorted({entry["env_id"] for entry in entries}) or ["(no entries)"]
    lines = robustness_lines(entries)
    # One env a row, its legend on the right: labels are long, and a task may have twenty lines.
    figure = Figure(figsize=(13, 3.6 * len(env_ids)))
    axes = figure.subplots(len(env_ids), 1, squeeze=False)
    figure.subplots_adjust(left=0.06, right=0.36, hspace=0.45)
    for axis, env_id in zip(axes[:, 0], env_ids):
        axis.set_prop_cycle(color=colormaps["tab20"].colors)
        for entry, label in ((e, label) for e, label in lines if e["env_id"] == env_id):
            conditions = entry["evaluation"]["conditions"]
            points = [(speed, conditions[c]) for c, speed in CONDITION_SPEEDS.items() if c in conditions]
            axis.errorbar([100 * s for s, _ in points], [100 * f["success_mean"] for _, f in points],
                          yerr=[100 * f["success_std"] for _, f in points], marker="o", capsize=3, label=label)
        axis.set_title(env_id)
        axis.set_xlabel("object speed [cm/s] (static, slow, fast)")
        axis.set_ylabel("success [%]")
        axis.set_ylim(-3, 103)
        axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), ncol=1, frameon=False)
    figure.savefig(path, dpi=100, bbox_inches="tight")


def make_entry(report: dict[str, Any], policy: str, dataset: dict[str, Any], training_seeds: list[int],
               training_wall_time_s: float, budget: str, checkpoint: str = "final",
               versions: dict[str, str] | None = None, notes: str | None = None) -> dict[str, Any]:
    """A leaderboard entry from an `evaluate_protocol` report, validated."""
    import platform

    from dmg_envs.datagen.writer import version

    conditions = {name: {key: value for key, value in figures.items() if key != "episodes"}
                  for name, figures in report["conditions"].items()}
    entry = {"schema_version": SCHEMA_VERSION, "policy": policy, "env_id": report["env_id"],
             "dataset": {key: dataset[key] for key in DATASET_FIELDS},
             "training": {"seeds": list(training_seeds), "wall_time_s": float(training_wall_time_s), "budget": budget},
             "evaluation": {"checkpoint": checkpoint, "episodes_per_condition": report["episodes_per_condition"],
                            "seeds": report["evaluation_seeds"], "wall_time_s": report["wall_time_s"],
                            "num_envs": report.get("num_envs", 1),
                            "conditions": conditions},
             "versions": versions or {name: version(name) for name in
                                      ("dmg-envs", "mujoco", "gymnasium", "minari", "numpy", "torch",
                                       "stable-baselines3")},
             "machine": f"{platform.machine()}, {_cpu_count()} CPU cores, no GPU used"}
    if notes:
        entry["notes"] = notes
    return validate_entry(entry)


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
