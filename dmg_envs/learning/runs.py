"""Training runs as the protocol sees them: one run folder per training seed, their checkpoints, and the
leaderboard entry of a set of runs evaluated together."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dmg_envs.errors import InvalidConfigError
from dmg_envs.learning.evaluate import CONDITIONS, EPISODES_PER_CONDITION, evaluate_protocol
from dmg_envs.learning.leaderboard import SHA256, check_recipe, make_entry
from dmg_envs.learning.policy import BCPolicy, load_policy

_BEFORE_FIELD = {"quaternions": "raw"}  # TrainConfig fields whose default is not what runs did before them
ARCHITECTURE_NAMES = {"mlp": "BC-MLP", "rnn": "BC-RNN", "diffusion": "Diffusion Policy"}


def checkpoint_path(run: str | Path, checkpoint: str = "final") -> Path:
    """The checkpoint file of a run folder (a file path is returned as it is)."""
    if checkpoint not in ("final", "best"):
        raise InvalidConfigError(f"checkpoint={checkpoint!r} is not valid; choose 'final' or 'best'")
    run = Path(run)
    return run / "checkpoints" / f"{checkpoint}.safetensors" if run.is_dir() else run


def complete_recipe(recorded: dict[str, Any]) -> dict[str, Any]:
    """A run's every `TrainConfig` field but the seed, from its recorded config (`config.json`, a checkpoint's
    `recipe`), as JSON values. A field added since the run was trained counts at its default for the run's
    algorithm, or at the value that means what the code did before it existed (`_BEFORE_FIELD`): the run
    trained without it."""
    from dmg_envs.learning.recipe import TrainConfig

    recorded = {key: value for key, value in recorded.items() if key not in ("data", "seed")}
    defaults = asdict(TrainConfig(dataset=recorded["dataset"], algorithm=recorded.get("algorithm", "bc-rnn-gmm")))
    recipe = json.loads(json.dumps({**defaults, **_BEFORE_FIELD, **recorded}))
    recipe.pop("seed")
    return recipe


def trained_with(run: str | Path, config: Any, content_hashes: dict[str, str] | None = None) -> bool:
    """Whether the run folder holds a finished run of this `TrainConfig`: its final checkpoint, and a
    `config.json` that matches the config in every field (another budget or seed is another run) and
    records the data's content hashes, equal to `content_hashes` where given (data generated again with
    other content is other data)."""
    run = Path(run)
    if not (checkpoint_path(run, "final").is_file() and (run / "config.json").is_file()):
        return False
    recorded = json.loads((run / "config.json").read_text())
    trained_on = recorded.get("data", {}).get("content_hashes")
    return (recorded.get("seed") == config.seed and trained_on is not None
            and (content_hashes is None or trained_on == content_hashes)
            and complete_recipe(recorded) == complete_recipe(asdict(config)))


def run_recipe(policy: BCPolicy, run: str | Path) -> dict[str, Any]:
    """The recipe a policy was trained with: its checkpoint's, else its run folder's `config.json`."""
    if "recipe" in policy.info:
        return complete_recipe(policy.info["recipe"])
    config = Path(run) / "config.json"
    if not config.is_file():
        raise InvalidConfigError(f"{run} records no training recipe (a checkpoint from before recipes were "
                                 f"recorded, outside its run folder); a leaderboard entry needs one")
    return complete_recipe(json.loads(config.read_text()))


def budget(run: str | Path) -> str:
    """What a run trained for, from its `config.json` ("unknown" for a bare checkpoint)."""
    path = Path(run) / "config.json"
    if not path.is_file():
        return "unknown"
    config = json.loads(path.read_text())
    length = config["seq_length"]
    sequences = {0: "whole episodes", 1: "single steps"}.get(length, f"{length}-step windows")
    chunk, history = config.get("action_chunk", 1), config.get("obs_history", 1)
    return (f"{config['epochs']} epochs x {config['steps_per_epoch']} steps, "
            f"batches of {config['batch_size']} {sequences}" + (f", chunks of {chunk} actions" if chunk > 1 else "")
            + (f", {history}-step observation history" if history > 1 else ""))


def train_time(runs: Sequence[str | Path]) -> float:
    """The training time of all runs together [s], from their `summary.json` files."""
    paths = [Path(run) / "summary.json" for run in runs]
    return sum(json.loads(path.read_text())["train_time_s"] for path in paths if path.is_file())


def check_comparable(policies: Sequence[BCPolicy], recipes: Sequence[dict[str, Any]]) -> None:
    """Policies evaluated as one entry: distinct training seeds of one recipe (every hyperparameter) on one
    dataset and env, and one kind of checkpoint."""
    first = policies[0].info
    for policy, recipe in zip(policies[1:], recipes[1:]):
        for key in ("env_id", "data", "checkpoint"):
            if policy.info.get(key) != first.get(key):
                raise InvalidConfigError(f"the runs differ in {key}: {first.get(key)!r} and {policy.info.get(key)!r}; "
                                         f"one entry evaluates the training seeds of one recipe")
        differ = sorted(key for key in {*recipe, *recipes[0]} if recipe.get(key) != recipes[0].get(key))
        if differ:
            raise InvalidConfigError(
                "the runs' recipes differ in " + ", ".join(f"{key} ({recipes[0].get(key)!r} and {recipe.get(key)!r})"
                                                            for key in differ)
                + "; one entry evaluates the training seeds of one recipe")
        if policy.network.config != policies[0].network.config:
            raise InvalidConfigError(f"the runs differ in their networks: {policies[0].network.config} and "
                                     f"{policy.network.config}; one entry evaluates the training seeds of one recipe")
    seeds = [policy.info["training_seed"] for policy in policies]
    if len(set(seeds)) != len(seeds):
        raise InvalidConfigError(f"the runs repeat a training seed: {seeds}")
    if not first["data"].get("source_demos"):
        raise InvalidConfigError(f"dataset {first['data']['dataset_id']!r} records no source-demo count (it was not "
                                 f"written by `dmg generate`), which a leaderboard entry needs")


def _policy_name(policy: BCPolicy) -> str:
    """The learner's name from its network (a GMM head named as robomimic does), with its chunks, observation
    history and cameras where they are not its algorithm's defaults."""
    from dmg_envs.learning.recipe import ALGORITHMS

    config = policy.network.config
    name = ARCHITECTURE_NAMES[config.architecture] + ("-GMM" if config.gmm_modes else "")
    defaults = ALGORITHMS.get(policy.info["algorithm"], ALGORITHMS["bc-mlp"])
    details = ([f"{config.action_chunk}-action chunks"] if config.action_chunk != defaults.action_chunk else []) + (
        [f"{config.obs_history}-step observation history"] if config.obs_history != defaults.obs_history else []) + (
        [f"images: {', '.join(config.image_keys)}"] if config.image_keys else [])
    return f"{name} ({', '.join(details)})" if details else name


def evaluate_runs(runs: Sequence[str | Path], checkpoint: str = "final", conditions: Sequence[str] = CONDITIONS,
                  episodes: int = EPISODES_PER_CONDITION, env_id: str | None = None, num_envs: int = 10,
                  vectorization: str = "sync", policy_name: str | None = None, device: str = "cpu",
                  command: str = "", clips_beside: str | Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate one run per training seed with the protocol; returns (leaderboard entry, full report with
    every episode). `command` is what reproduces the entry (default: the `dmg eval` of these runs);
    `clips_beside`: the entry's file, beside which a won and a lost episode are rendered (`clips`).
    Everything that could make the entry invalid is checked before any episode runs."""
    policies = [load_policy(checkpoint_path(run, checkpoint), device) for run in runs]
    recipes = [run_recipe(policy, run) for policy, run in zip(policies, runs)]
    check_comparable(policies, recipes)
    info = policies[0].info
    data = {**info["data"], "id": info["data"]["dataset_id"]}
    check_recipe(recipes[0], data["id"])
    for field in ("content_hashes", "generated_with"):
        if field not in data:
            raise InvalidConfigError(f"{runs[0]} records no dataset {field.replace('_', ' ')} (trained before "
                                     f"they were recorded); a leaderboard entry needs them: train it again")
    unhashed = [name for name, digest in data["content_hashes"].items() if not SHA256.fullmatch(str(digest))]
    if unhashed:
        raise InvalidConfigError(f"{runs[0]} was trained on data without a content hash ({unhashed}: written "
                                 f"before `dmg generate` recorded one); a leaderboard entry needs it: generate the "
                                 f"data again and train on it")
    report = evaluate_protocol(policies, env_id or info["env_id"], conditions, episodes=episodes, num_envs=num_envs,
                               vectorization=vectorization, env_kwargs=info.get("env_kwargs"))
    command = command or shlex.join(["dmg", "eval", *map(str, runs), "--checkpoint", checkpoint])
    entry = make_entry(report, policy_name or _policy_name(policies[0]), data,
                       [policy.info["training_seed"] for policy in policies], train_time(runs), budget(runs[0]),
                       recipes[0], command, checkpoint=info.get("checkpoint", checkpoint))
    if clips_beside is not None:
        from dmg_envs.learning.clips import add_clips

        add_clips(entry, policies[0], report, clips_beside, info.get("env_kwargs"))
    return entry, report
