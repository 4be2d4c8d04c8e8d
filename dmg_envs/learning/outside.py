"""Policies from outside dmg-envs on the leaderboard: a stable-baselines3 model file, or a Python object named
`module:attribute` (or `path/to/file.py:attribute`), evaluated with the same protocol as our checkpoints.

The object is a callable of one observation (one copy per env), an object with `reset(num_envs)` and
`act(observations) -> (N, A) actions` for a batch, or a class of either, which is instantiated with no
arguments. Its `obs_mode` attribute ("dict", the default, or "flat") picks the observations it gets; its
`recipe` attribute (a dict with at least "algorithm"; "scripted" for a policy nobody trained) goes into the
entry as its training recipe.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shlex
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dmg_envs.errors import DmgError, InvalidConfigError
from dmg_envs.learning.evaluate import CONDITIONS, EPISODES_PER_CONDITION, evaluate_protocol
from dmg_envs.learning.leaderboard import LeaderboardEntryError, check_recipe, make_entry

# stable-baselines3's algorithms by the module of the policy class a model file records
SB3_ALGORITHMS = {"a2c": "A2C", "ddpg": "DDPG", "dqn": "DQN", "ppo": "PPO", "sac": "SAC", "td3": "TD3"}


class OutsidePolicyError(DmgError, ValueError):
    """A policy specification that names nothing loadable."""


def is_outside_policy(spec: str) -> bool:
    """Whether a `dmg eval` argument names an outside policy (an SB3 `.zip`, or `module:attribute`) rather
    than one of our run folders or checkpoints."""
    return spec.endswith(".zip") or (":" in spec and not Path(spec).exists())


def load_outside_policy(spec: str) -> Any:
    """The policy `spec` names: an SB3 model file (`*.zip`), or `module:attribute` / `file.py:attribute`."""
    if spec.endswith(".zip"):
        return _load_sb3(Path(spec))
    module_name, _, attribute = spec.rpartition(":")
    if not module_name or not attribute:
        raise OutsidePolicyError(f"{spec!r} is not a policy: give a run folder, a checkpoint, an SB3 .zip, or "
                                 f"module:attribute")
    module = _import(module_name)
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise OutsidePolicyError(f"{module_name} has no attribute {attribute!r}")
        target = getattr(target, part)
    if isinstance(target, type):
        target = target()
    if not callable(target) and not (hasattr(target, "act") and hasattr(target, "reset")):
        raise OutsidePolicyError(f"{spec} is a {type(target).__name__}: a policy is a callable, an object with "
                                 f"reset(num_envs) and act(observations), or a class of either")
    return target


def _import(name: str):
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise OutsidePolicyError(f"no Python file at {path}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:  # a user's own module beside them imports
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise OutsidePolicyError(f"cannot import module {name!r}: {error}") from error


def _load_sb3(path: Path) -> Any:
    if not path.is_file():
        raise OutsidePolicyError(f"no stable-baselines3 model file at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
        module = data["policy_class"]["__module__"]  # e.g. stable_baselines3.sac.policies
    except (zipfile.BadZipFile, KeyError, TypeError, json.JSONDecodeError) as error:
        raise OutsidePolicyError(f"{path} is not a stable-baselines3 model file: {error}") from error
    name = SB3_ALGORITHMS.get(module.split(".")[1] if module.count(".") >= 2 else "")
    if name is None:
        raise OutsidePolicyError(f"{path}: its policy class comes from {module!r}, not one of stable-baselines3's "
                                 f"algorithms {sorted(SB3_ALGORITHMS)}")
    import stable_baselines3

    return getattr(stable_baselines3, name).load(path, device="cpu")


def training_data(dataset_id: str | None) -> dict[str, Any]:
    """The entry's `dataset` fields for a policy trained on the Minari dataset `dataset_id` (read from its
    generation metadata), or on none of ours (None: a scripted policy, RL from scratch, other data)."""
    if dataset_id is None:
        return {"id": "none", "generator": "none", "dynamics": "none", "source_demos": 0, "generated_demos": 0,
                "content_hashes": {}, "generated_with": {}}
    from dmg_envs.learning.data import open_dataset

    dataset = open_dataset(dataset_id)
    generation = dataset.storage.metadata.get("dmg_generation") or {}
    return {"id": dataset_id, "generator": generation.get("generator", "unknown"),
            "dynamics": generation.get("dynamics", "unknown"), "source_demos": 1 if generation else 0,
            "generated_demos": dataset.total_episodes if generation else 0,
            "content_hashes": {dataset_id: generation.get("content_hash", "unknown")},
            "generated_with": {dataset_id: generation.get("package_version", "unknown")}}


def evaluate_outside_policies(specs: Sequence[str], env_id: str, policy_name: str, trained_on: str | None = None,
                              training_seeds: Sequence[int] | None = None, budget: str = "not stated",
                              train_time_s: float = 0.0, conditions: Sequence[str] = CONDITIONS,
                              episodes: int = EPISODES_PER_CONDITION, num_envs: int = 10,
                              vectorization: str = "sync", recipe: dict[str, Any] | None = None,
                              command: str = "", clips_beside: str | Path | None = None
                              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate one outside policy per training seed with the protocol; returns (entry, full report).
    `recipe` is what its authors state about its training (at least its `algorithm`); `command` what
    reproduces the entry (default: the `dmg eval` of `specs`); `clips_beside` as in `runs.evaluate_runs`."""
    if not policy_name.strip():
        raise InvalidConfigError("an outside policy needs a name on the leaderboard (--policy-name)")
    seeds = list(range(len(specs)) if training_seeds is None else training_seeds)
    if len(seeds) != len(specs) or len(set(seeds)) != len(seeds):
        raise InvalidConfigError(f"give one distinct training seed per policy: {len(specs)} policies, seeds {seeds}")
    dataset = training_data(trained_on)  # checked before any episode runs
    policies = [load_outside_policy(spec) for spec in specs]
    # what its authors state about its training: the policy's own `recipe` attribute, then the one given
    recipe = {"algorithm": "not stated", **dict(getattr(policies[0], "recipe", None) or {}), **(recipe or {})}
    try:
        check_recipe(recipe, dataset["id"])
    except LeaderboardEntryError as error:
        raise InvalidConfigError(f"the outside policy's recipe: {error}") from error
    report = evaluate_protocol(policies, env_id, conditions, episodes=episodes, num_envs=num_envs,
                               vectorization=vectorization)
    command = command or shlex.join(["dmg", "eval", *specs, "--env", env_id, "--policy-name", policy_name])
    entry = make_entry(report, policy_name, dataset, seeds, train_time_s, budget, recipe, command,
                       checkpoint="final", notes=f"outside policy: {', '.join(specs)}")
    if clips_beside is not None:
        from dmg_envs.learning.clips import add_clips

        add_clips(entry, policies[0], report, clips_beside)
    return entry, report
