"""The leaderboard's entries: one JSON file per policy, training data and recipe evaluated with the protocol,
validated against a documented schema, and ranked (`rank_entries`); `leaderboard_site` renders them.

An entry is *ranked* when it follows the protocol (`follows_protocol`: three training seeds or more, the
protocol's 50 evaluation seeds in each of the four conditions, the protocol's checkpoint) and the command it
records is one that `make leaderboard` runs (a line of `leaderboard/commands.txt`): every ranked row can be
rebuilt. Ranked rows are ordered by `RANK_RULE`. Other valid entries (another recipe, fewer seeds, an ad-hoc
`dmg eval`) are listed beneath, unranked.

Entry schema (version 2); every field is required unless marked optional:

| field | type | meaning |
|---|---|---|
| `schema_version` | 2 | |
| `policy` | str | the policy's name, e.g. "BC-RNN-GMM" |
| `env_id` | str | the registered env it was evaluated in, e.g. "dmg/Stack-v0" |
| `command` | str | the one command that reproduces the entry, run from the repository's root |
| `dataset.id` | str | Minari dataset ids (comma-separated), "source:<file>" for source demos alone, "none" |
| `dataset.generator` | str | "dmp" (D-MG), "mimicgen", "none" (source demos) or another; details in parentheses |
| `dataset.dynamics` | str | the preset the data was generated under, or "mixed: ..." |
| `dataset.source_demos` | int >= 0 | source demos the data came from (0 with dataset "none": no demos) |
| `dataset.generated_demos` | int >= 0 | generated demos trained on |
| `dataset.content_hashes` | object | per dataset id, its SHA-256 (`datagen.shards.content_hash`; a source file's) |
| `dataset.generated_with` | object | per dataset id, the dmg-envs version that generated it |
| `training.seeds` | list of int, non-empty, distinct | one policy per training seed |
| `training.wall_time_s` | number >= 0 | training time of all seeds together |
| `training.budget` | str | what one run trained for, in words |
| `training.recipe` | object | every training hyperparameter; for our learners every `TrainConfig` field but the seed |
| `training.recipe.algorithm` | str | one of our learners (`train.ALGORITHMS`) or the outside policy's own name for it |
| `evaluation.checkpoint` | "final" or "best" | which checkpoint of each run ("best": picked on validation episodes) |
| `evaluation.episodes_per_condition` | int >= 1 | episodes per condition and training seed |
| `evaluation.seeds.start`, `.count` | int | the evaluation seeds: start, start + 1, ... |
| `evaluation.wall_time_s` | number >= 0 | evaluation time |
| `evaluation.num_envs` | int >= 1 | episodes run side by side (batch width of the policy) |
| `evaluation.conditions.<preset>` | object | per dynamics preset; "static" is required |
| `  .success_mean`, `.success_at_end_mean` | number in [0, 1] | mean over training seeds |
| `  .success_std`, `.success_at_end_std` | number >= 0 | standard deviation over training seeds |
| `  .success_per_seed` | list of numbers in [0, 1] | one per training seed |
| `  .success_interval_95` | [low, high] in [0, 1] | Wilson interval over every episode of every seed |
| `evaluation.clips` | object, optional | "success" / "failure": rollout clips (paths relative to the entries' folder) |
| `versions` | object of str | package versions (dmg-envs, mujoco, torch, ...) |
| `machine` | str | where the times were measured |
| `notes` | str, optional | |
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np

from dmg_envs.errors import DmgError
from dmg_envs.learning.evaluate import (
    CONDITIONS,
    EPISODES_PER_CONDITION,
    EVALUATION_SEED_START,
    TRAINING_SEEDS,
    wilson_interval,
)

SCHEMA_VERSION = 2
PROTOCOL_CHECKPOINT = "final"  # no selection at all: the last weights of each run
UNTRAINED = "scripted"  # a recipe's algorithm for a policy nobody trained: one "training seed" is all there is
RANK_RULE = ("ranked by the mean success over the four conditions (static, dmg-paper, slow, fast); ties by "
             "static success")
DATASET_FIELDS = ("id", "generator", "dynamics", "source_demos", "generated_demos", "content_hashes",
                  "generated_with")
SHA256 = re.compile(r"[0-9a-f]{64}")
_CONDITION = re.compile(r"[a-z0-9][a-z0-9_-]*")
_CLIP = re.compile(r"clips/[A-Za-z0-9_.-]+\.gif")


class LeaderboardEntryError(DmgError, ValueError):
    """An entry that does not follow the schema; the message names the field."""


def _require(entry: dict[str, Any], path: str, kind: type | tuple[type, ...] | None = None, check=None,
             why: str = "") -> Any:
    """The value at the dotted `path`; raises naming the field if it is missing, not of `kind` (None: any
    JSON value) or fails `check`."""
    value: Any = entry
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise LeaderboardEntryError(f"field '{path}' is missing")
        value = value[part]
    wrong_kind = kind is not None and (isinstance(value, bool) or not isinstance(value, kind))
    if wrong_kind or (check is not None and not check(value)):
        expected = why or getattr(kind, "__name__", "a number")
        raise LeaderboardEntryError(f"field '{path}' must be {expected}, got {value!r}")
    return value


def _fraction(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0


def _finite_nonnegative(x: Any) -> bool:
    return math.isfinite(x) and x >= 0


def _nonempty(value: str) -> bool:
    return value.strip() != ""


def recipe_fields() -> tuple[str, ...]:
    """The hyperparameters an entry of one of our learners records: every `TrainConfig` field but the seed."""
    from dataclasses import fields

    from dmg_envs.learning.recipe import TrainConfig

    return tuple(field.name for field in fields(TrainConfig) if field.name != "seed")


def validate_entry(entry: Any) -> dict[str, Any]:
    """`entry` if it follows the schema; otherwise a `LeaderboardEntryError` naming the first bad field."""
    if not isinstance(entry, dict):
        raise LeaderboardEntryError(f"an entry must be a JSON object, got {type(entry).__name__}")
    number = (int, float)
    _require(entry, "schema_version", int, lambda v: v == SCHEMA_VERSION, f"{SCHEMA_VERSION}")
    for path in ("policy", "env_id", "command", "dataset.id", "dataset.generator", "dataset.dynamics",
                 "training.budget", "training.recipe.algorithm", "machine"):
        _require(entry, path, str, _nonempty, "a non-empty string")
    _require(entry, "dataset.source_demos", int, lambda v: v >= 0, "an integer >= 0")
    _require(entry, "dataset.generated_demos", int, lambda v: v >= 0, "an integer >= 0")
    parts = [] if entry["dataset"]["id"] == "none" else entry["dataset"]["id"].split(",")
    for name in ("content_hashes", "generated_with"):
        recorded = _require(entry, f"dataset.{name}", dict)
        for part in parts:
            if part not in recorded:
                raise LeaderboardEntryError(f"field 'dataset.{name}' is missing dataset {part!r}")
        if set(recorded) - set(parts):
            raise LeaderboardEntryError(f"field 'dataset.{name}' names datasets not in dataset.id "
                                        f"{entry['dataset']['id']!r}: {sorted(set(recorded) - set(parts))}")
    for part in parts:
        if not (isinstance(entry["dataset"]["content_hashes"][part], str)
                and SHA256.fullmatch(entry["dataset"]["content_hashes"][part])):
            raise LeaderboardEntryError(f"field 'dataset.content_hashes' must give {part!r} a SHA-256 (64 hex "
                                        f"digits), got {entry['dataset']['content_hashes'][part]!r}")
        if not (isinstance(entry["dataset"]["generated_with"][part], str)
                and entry["dataset"]["generated_with"][part].strip()):
            raise LeaderboardEntryError(f"field 'dataset.generated_with' must give {part!r} a version string, got "
                                        f"{entry['dataset']['generated_with'][part]!r}")
    seeds = _require(entry, "training.seeds", list,
                     lambda v: v and all(isinstance(s, int) and not isinstance(s, bool) for s in v)
                     and len(set(v)) == len(v), "a non-empty list of distinct integers")
    _require(entry, "training.wall_time_s", number, _finite_nonnegative, "a finite number >= 0")
    check_recipe(entry["training"]["recipe"], entry["dataset"]["id"])
    _require(entry, "evaluation.checkpoint", str, lambda v: v in ("final", "best"), "'final' or 'best'")
    _require(entry, "evaluation.episodes_per_condition", int, lambda v: v >= 1, "an integer >= 1")
    _require(entry, "evaluation.seeds.start", int, lambda v: v >= 0, "an integer >= 0")
    _require(entry, "evaluation.seeds.count", int, lambda v: v >= 1, "an integer >= 1")
    _require(entry, "evaluation.wall_time_s", number, _finite_nonnegative, "a finite number >= 0")
    _require(entry, "evaluation.num_envs", int, lambda v: v >= 1, "an integer >= 1")
    conditions = _require(entry, "evaluation.conditions", dict, lambda v: "static" in v,
                          "an object with at least the 'static' condition")
    for name in conditions:
        if not _CONDITION.fullmatch(name):
            raise LeaderboardEntryError(f"field 'evaluation.conditions' has a condition named {name!r}; a condition "
                                        f"is a dynamics preset's name (lower-case letters, digits, '-', '_')")
        base = f"evaluation.conditions.{name}"
        for key in ("success_mean", "success_at_end_mean"):
            _require(entry, f"{base}.{key}", number, _fraction, "a number in [0, 1]")
        for key in ("success_std", "success_at_end_std"):
            _require(entry, f"{base}.{key}", number, lambda v: v >= 0, "a number >= 0")
        _require(entry, f"{base}.success_per_seed", list,
                 lambda v: len(v) == len(seeds) and all(_fraction(x) for x in v),
                 f"a list of {len(seeds)} numbers in [0, 1], one per training seed")
        _require(entry, f"{base}.success_interval_95", list,
                 lambda v: len(v) == 2 and all(_fraction(x) for x in v) and v[0] <= v[1], "[low, high] in [0, 1]")
    if "clips" in entry["evaluation"]:
        _require(entry, "evaluation.clips", dict, lambda v: set(v) <= {"success", "failure"}
                 and all(isinstance(x, str) and _CLIP.fullmatch(x) for x in v.values()),
                 "an object of 'success' / 'failure' paths clips/<name>.gif, relative to the entries' folder")
    _require(entry, "versions", dict, lambda v: v and all(isinstance(x, str) for x in v.values()),
             "a non-empty object of version strings")
    if "notes" in entry:
        _require(entry, "notes", str)
    return entry


def check_recipe(recipe: Any, dataset_id: str | None = None) -> dict[str, Any]:
    """`recipe` if it is a recipe an entry can record: a JSON object naming its algorithm; for one of our
    learners, every `TrainConfig` field but the seed, values `TrainConfig` accepts, trained on `dataset_id`.
    Otherwise a `LeaderboardEntryError` naming the field."""
    from dmg_envs.errors import InvalidConfigError
    from dmg_envs.learning.recipe import ALGORITHMS, TrainConfig

    entry = {"training": {"recipe": recipe}}
    _require(entry, "training.recipe", dict)
    _require(entry, "training.recipe.algorithm", str, _nonempty, "a non-empty string")
    try:
        json.dumps(recipe, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise LeaderboardEntryError(f"field 'training.recipe' must hold JSON values only: {error}") from error
    if recipe["algorithm"] not in ALGORITHMS:
        return recipe
    for field in recipe_fields():
        _require(entry, f"training.recipe.{field}")
    unknown = sorted(set(recipe) - set(recipe_fields()))
    if unknown:
        raise LeaderboardEntryError(f"field 'training.recipe' has fields {unknown} that no learner of ours has")
    trained_on = str(recipe["dataset"])
    if dataset_id is not None and dataset_id not in (trained_on, f"source:{Path(trained_on).stem}"):
        raise LeaderboardEntryError(f"field 'training.recipe.dataset' is {recipe['dataset']!r}, but the entry's "
                                    f"dataset.id is {dataset_id!r}")
    try:
        TrainConfig(**recipe)
    except (InvalidConfigError, TypeError, ValueError) as error:
        raise LeaderboardEntryError(f"field 'training.recipe' is not a valid recipe: {error}") from error
    return recipe


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


def load_commands(path: str | Path) -> list[str]:
    """The commands `make leaderboard` runs: the lines of `path` that are neither blank nor comments."""
    if not Path(path).is_file():
        raise LeaderboardEntryError(f"no file of leaderboard commands at {path}")
    lines = (line.strip() for line in Path(path).read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


FLAGS = frozenset({"--clips", "--no-clips", "--train-only"})  # options of ours that take no value
UNRECORDED = frozenset({"--report", "--device"})  # options that change no figure of an entry


def canonical_command(command: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """A command line as (its arguments in order, its options sorted), whatever the options' order,
    quoting, `--name=value` spelling, "./" in paths or "3600" for "3600.0"; `--report` and `--device` left
    out."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    words = [part for word in words for part in (word.split("=", 1) if word.startswith("--") else [word])]
    positional, options, index = [], [], 0
    while index < len(words):
        word = words[index]
        if not word.startswith("--"):  # an argument (a run, a policy), wherever it stands
            positional.append(_normal(word))
            index += 1
            continue
        takes_value = word not in FLAGS and index + 1 < len(words) and not words[index + 1].startswith("--")
        value = _normal(words[index + 1]) if takes_value else ""
        if word not in UNRECORDED:
            options.append((word, value))
        index += 2 if takes_value else 1
    return tuple(positional), tuple(sorted(options))


def _normal(word: str) -> str:
    try:
        return repr(float(word))
    except ValueError:
        return os.path.normpath(word) if "/" in word and "://" not in word and ":" not in word else word


def same_command(a: str, b: str) -> bool:
    """Whether two command lines run the same thing (`canonical_command`)."""
    return canonical_command(a) == canonical_command(b)


def follows_protocol(entry: dict[str, Any]) -> bool:
    """Whether an entry was evaluated by the full protocol: at least three training seeds (one for a scripted
    policy), the protocol's evaluation seeds and episode count, every condition, the protocol's checkpoint."""
    evaluation = entry["evaluation"]
    untrained = entry["training"]["recipe"]["algorithm"] == UNTRAINED
    return (len(entry["training"]["seeds"]) >= (1 if untrained else len(TRAINING_SEEDS))
            and evaluation["seeds"] == {"start": EVALUATION_SEED_START, "count": EPISODES_PER_CONDITION}
            and evaluation["episodes_per_condition"] == EPISODES_PER_CONDITION
            and evaluation["checkpoint"] == PROTOCOL_CHECKPOINT
            and set(CONDITIONS) <= set(evaluation["conditions"]))


def mean_success(entry: dict[str, Any]) -> float:
    """The ranking score: the mean over the protocol's conditions of the mean success over training seeds."""
    conditions = entry["evaluation"]["conditions"]
    return float(np.mean([conditions[c]["success_mean"] for c in CONDITIONS if c in conditions]))


def mean_interval(entry: dict[str, Any]) -> tuple[float, float]:
    """The Wilson interval of the ranking score: every episode of every seed and condition pooled."""
    conditions = [entry["evaluation"]["conditions"][c] for c in CONDITIONS if c in entry["evaluation"]["conditions"]]
    episodes = entry["evaluation"]["episodes_per_condition"] * len(entry["training"]["seeds"])
    wins = round(sum(sum(c["success_per_seed"]) for c in conditions) * entry["evaluation"]["episodes_per_condition"])
    return wilson_interval(wins, episodes * len(conditions))


def training_data(entry: dict[str, Any]) -> str:
    """The entry's training data in words, e.g. "1000 D-MG demos, slow (from 1 source)"."""
    data = entry["dataset"]
    if data["source_demos"] == 0 and data["generated_demos"] == 0:
        return "no demos of ours"
    if data["generated_demos"] == 0:
        return f"{data['source_demos']} source demo{'s' if data['source_demos'] > 1 else ''} alone"
    name, _, rest = data["generator"].partition(" ")
    generator = " ".join(filter(None, [{"dmp": "D-MG", "mimicgen": "MimicGen"}.get(name, name), rest]))
    return f"{data['generated_demos']} {generator} demos, {data['dynamics']} (from {data['source_demos']} source)"


def rank_entries(entries: list[dict[str, Any]], commands: list[str] | None = None
                 ) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """(ranked rows per env id, in rank order; the other entries). An entry is ranked if it follows the
    protocol and, where `commands` is given, records one of them. Two ranked entries of one policy on one
    training data are refused: the table has one row per (policy, data)."""
    ranked: dict[str, list[dict[str, Any]]] = {}
    others = []
    for entry in entries:
        if follows_protocol(entry) and (commands is None or any(same_command(entry["command"], c) for c in commands)):
            ranked.setdefault(entry["env_id"], []).append(entry)
        else:
            others.append(entry)
    by_command: dict[tuple, dict[str, Any]] = {}
    for entry in (e for rows in ranked.values() for e in rows):
        key = canonical_command(entry["command"])
        if key in by_command:
            raise LeaderboardEntryError(f"two ranked entries record the command {entry['command']!r} "
                                        f"({by_command[key]['policy']} and {entry['policy']}); a stale entry "
                                        f"of an earlier recipe is still in the entries folder")
        by_command[key] = entry
    for env_id, rows in ranked.items():
        seen: dict[tuple[str, str, str], dict[str, Any]] = {}
        for entry in rows:
            key = (entry["policy"], entry["dataset"]["id"], training_data(entry))
            if key in seen:
                raise LeaderboardEntryError(
                    f"two ranked entries of {entry['policy']} on {training_data(entry)} in {env_id}: "
                    f"{seen[key]['command']!r} and {entry['command']!r}; the table has one row per policy and "
                    f"training data (keep one recipe's entry in the entries folder)")
            seen[key] = entry
        rows.sort(key=lambda e: (-mean_success(e), -e["evaluation"]["conditions"]["static"]["success_mean"],
                                 e["policy"], training_data(e)))
    return dict(sorted(ranked.items())), others


def make_entry(report: dict[str, Any], policy: str, dataset: dict[str, Any], training_seeds: list[int],
               training_wall_time_s: float, budget: str, recipe: dict[str, Any], command: str,
               checkpoint: str = "final", versions: dict[str, str] | None = None,
               notes: str | None = None) -> dict[str, Any]:
    """A leaderboard entry from an `evaluate_protocol` report, validated."""
    import platform

    from dmg_envs.versions import version

    conditions = {name: {key: value for key, value in figures.items() if key != "episodes"}
                  for name, figures in report["conditions"].items()}
    entry = {"schema_version": SCHEMA_VERSION, "policy": policy, "env_id": report["env_id"], "command": command,
             "dataset": {key: dataset[key] for key in DATASET_FIELDS},
             "training": {"seeds": list(training_seeds), "wall_time_s": float(training_wall_time_s), "budget": budget,
                          "recipe": recipe},
             "evaluation": {"checkpoint": checkpoint, "episodes_per_condition": report["episodes_per_condition"],
                            "seeds": report["evaluation_seeds"], "wall_time_s": report["wall_time_s"],
                            "num_envs": report.get("num_envs", 1),
                            "conditions": conditions},
             "versions": versions or {name: version(name) for name in
                                      ("dmg-envs", "mujoco", "gymnasium", "minari", "numpy", "torch",
                                       "stable-baselines3", "diffusers")},
             "machine": f"{platform.machine()}, {_cpu_count()} CPU cores, no GPU used"}
    if notes:
        entry["notes"] = notes
    return validate_entry(entry)


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
