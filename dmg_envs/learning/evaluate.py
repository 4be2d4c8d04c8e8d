"""The evaluation protocol every policy on the leaderboard is held to.

Each training seed's policy runs `EPISODES_PER_CONDITION` episodes in every condition (a dynamics
preset), from the same fixed evaluation seeds; an episode succeeds if `is_success` holds at any step
before the env's time limit (`success`, ManiSkill's success_once) and we also report whether it holds at
the last step (`success_at_end`). Conditions report the mean and standard deviation over training seeds.

Evaluation seeds are disjoint from every other seed the project uses: source demos use small seeds,
generation uses seeds of 2**32 and above (`datagen.config.attempt_seed`), checkpoint selection during
training uses its own block.

Any policy can be evaluated: a `BCPolicy`, a stable-baselines3 model (`predict`), an object with
`reset(num_envs)` and `act(observations) -> actions` for a batch, or a plain callable mapping one
observation to one action. A policy's `obs_mode` attribute ("dict" or "flat") picks the env's
observations; SB3 models are read from their observation space.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np

from dmg_envs.errors import InvalidConfigError

EVALUATION_SEED_START = 2**31           # above the seeds of source demos, below every generation seed
VALIDATION_SEED_START = 2**31 + 2**30   # episodes that pick the best checkpoint while training
CONDITIONS = ("static", "dmg-paper", "slow", "fast")
EPISODES_PER_CONDITION = 50
TRAINING_SEEDS = (0, 1, 2)  # the protocol's minimum: three policies per recipe


def evaluation_seeds(episodes: int = EPISODES_PER_CONDITION, start: int = EVALUATION_SEED_START) -> list[int]:
    """The protocol's episode seeds: the same for every policy, condition and training seed."""
    return [start + index for index in range(episodes)]


class _BatchedCallable:
    """A callable of one observation, one copy per env (a callable with state, or a `reset()`, keeps its
    state per episode)."""

    def __init__(self, policy: Callable[[Any], Any], obs_mode: str):
        self.policy, self.obs_mode = policy, obs_mode
        self.copies: list[Callable[[Any], Any]] = []

    def reset(self, num_envs: int) -> None:
        self.copies = [copy.deepcopy(self.policy) for _ in range(num_envs)]
        for policy in self.copies:
            if hasattr(policy, "reset"):
                policy.reset()

    def act(self, observations: Any) -> np.ndarray:
        if isinstance(observations, dict):
            rows = [{key: value[i] for key, value in observations.items()} for i in range(len(self.copies))]
        else:
            rows = list(observations)
        return np.stack([np.asarray(policy(row), dtype=np.float64) for policy, row in zip(self.copies, rows)])


class _StableBaselines:
    def __init__(self, model: Any):
        self.model = model
        self.obs_mode = "dict" if isinstance(model.observation_space, gym.spaces.Dict) else "flat"

    def reset(self, num_envs: int) -> None:
        pass

    def act(self, observations: Any) -> np.ndarray:
        return self.model.predict(observations, deterministic=True)[0]


def _is_stable_baselines(policy: Any) -> bool:
    try:
        from stable_baselines3.common.base_class import BaseAlgorithm
    except ImportError:  # without stable-baselines3 nothing is one of its models
        return False
    return isinstance(policy, BaseAlgorithm)


def as_batch_policy(policy: Any) -> Any:
    """`policy` as an object with `reset(num_envs)` and `act(batch) -> (N, A) actions` (and, optionally,
    `obs_mode`; "dict" without it)."""
    if isinstance(policy, gym.Env):  # e.g. the DMP expert: its `predict` reads its own env, not the ones evaluated
        raise TypeError(f"cannot evaluate a {type(policy).__name__}: it is an env (wrapper) that acts on its own "
                        f"env's state, not on the observations of the evaluation envs")
    if _is_stable_baselines(policy):
        return _StableBaselines(policy)
    if hasattr(policy, "act") and hasattr(policy, "reset"):
        return policy
    if callable(policy):
        return _BatchedCallable(policy, getattr(policy, "obs_mode", "dict"))
    raise TypeError(f"cannot evaluate a {type(policy).__name__}: give a callable, an SB3 model or an object "
                    f"with reset(num_envs) and act(observations)")


def _make_env(env_id: str, dynamics: str, obs_mode: str, env_kwargs: dict[str, Any]) -> gym.Env:
    from dmg_envs.wrappers.presets import make

    return make(env_id, dynamics, obs_mode=obs_mode, **env_kwargs)


def evaluate_policy(policy: Any, env_id: str, dynamics: str = "static", episodes: int = EPISODES_PER_CONDITION,
                    seeds: Sequence[int] | None = None, num_envs: int = 10, vectorization: str = "sync",
                    env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run `policy` for `episodes` episodes of `env_id` under one dynamics preset, `num_envs` at a time in a
    Gymnasium vector env ("sync" or "async"), and report every episode and the rates."""
    import dmg_envs  # noqa: F401  (registers the ids)

    if num_envs < 1:
        raise InvalidConfigError(f"num_envs must be at least 1, got {num_envs}")
    if vectorization not in ("sync", "async"):
        raise InvalidConfigError(f"vectorization={vectorization!r} is not valid; choose 'sync' or 'async'")
    seeds = list(evaluation_seeds(episodes) if seeds is None else seeds)
    if not seeds:
        raise InvalidConfigError("evaluation needs at least one episode")
    batch_policy = as_batch_policy(policy)
    make_one = partial(_make_env, env_id, dynamics, getattr(batch_policy, "obs_mode", "dict"), dict(env_kwargs or {}))
    vector_class = gym.vector.SyncVectorEnv if vectorization == "sync" else gym.vector.AsyncVectorEnv
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    envs, width = None, 0
    try:
        for start in range(0, len(seeds), num_envs):
            batch = seeds[start:start + num_envs]
            if len(batch) != width:  # the last batch may be narrower
                if envs is not None:
                    envs.close()
                envs, width = vector_class([make_one] * len(batch)), len(batch)
            results += _run_batch(batch_policy, envs, batch)
    finally:
        if envs is not None:
            envs.close()
    successes = [r["success"] for r in results]
    return {"env_id": env_id, "dynamics": dynamics, "episodes": results,
            "success": float(np.mean(successes)),
            "success_at_end": float(np.mean([r["success_at_end"] for r in results])),
            "wall_time_s": time.perf_counter() - started}


def _run_batch(policy: Any, envs: gym.vector.VectorEnv, seeds: list[int]) -> list[dict[str, Any]]:
    """Episodes from `seeds`, in lockstep until each one ends; an env that ends early is ignored after."""
    count = len(seeds)
    observations, _ = envs.reset(seed=list(seeds))
    policy.reset(count)
    done = np.zeros(count, dtype=bool)
    success = np.zeros(count, dtype=bool)
    success_at_end = np.zeros(count, dtype=bool)
    first_success = np.full(count, -1)
    returns = np.zeros(count)
    steps = np.zeros(count, dtype=int)
    while not done.all():
        actions = np.asarray(policy.act(observations))
        observations, rewards, terminated, truncated, info = envs.step(actions)
        running = ~done
        is_success = np.asarray(info["is_success"], dtype=bool)
        returns[running] += rewards[running]
        steps[running] += 1
        first = running & is_success & ~success
        first_success[first] = steps[first]
        success |= first
        ended = running & (terminated | truncated)
        success_at_end[ended] = is_success[ended]
        done |= ended
    return [{"seed": int(seed), "success": bool(success[i]), "success_at_end": bool(success_at_end[i]),
             "steps_to_success": int(first_success[i]) if first_success[i] >= 0 else None,
             "return": float(returns[i]), "steps": int(steps[i])} for i, seed in enumerate(seeds)]


def evaluate_protocol(policies: Sequence[Any], env_id: str, conditions: Sequence[str] = CONDITIONS,
                      episodes: int = EPISODES_PER_CONDITION, num_envs: int = 10, vectorization: str = "sync",
                      env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The protocol: each policy (one per training seed) in each condition on the same evaluation seeds.
    Per condition: the mean and standard deviation over policies of `success` and `success_at_end`, each
    policy's rates, and a 95 % Wilson interval over all episodes. The numbers depend on the seeds and on
    `num_envs` only (a batched forward pass may round differently at another batch width)."""
    if not policies:
        raise InvalidConfigError("evaluation needs at least one policy (one per training seed)")
    seeds = evaluation_seeds(episodes)
    report: dict[str, Any] = {"env_id": env_id, "episodes_per_condition": episodes,
                              "evaluation_seeds": {"start": seeds[0], "count": len(seeds)},
                              "num_envs": num_envs, "conditions": {}}
    started = time.perf_counter()
    for dynamics in conditions:
        runs = [evaluate_policy(policy, env_id, dynamics, seeds=seeds, num_envs=num_envs,
                                vectorization=vectorization, env_kwargs=env_kwargs) for policy in policies]
        report["conditions"][dynamics] = summarize(runs)
    report["wall_time_s"] = time.perf_counter() - started
    return report


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One condition's figures from one `evaluate_policy` result per training seed."""
    success = [run["success"] for run in runs]
    at_end = [run["success_at_end"] for run in runs]
    wins = sum(episode["success"] for run in runs for episode in run["episodes"])
    total = sum(len(run["episodes"]) for run in runs)
    # Standard deviations are over training seeds, population form (ddof=0, NumPy's default).
    return {"success_mean": float(np.mean(success)), "success_std": float(np.std(success)),
            "success_at_end_mean": float(np.mean(at_end)), "success_at_end_std": float(np.std(at_end)),
            "success_per_seed": success, "success_at_end_per_seed": at_end,
            "success_interval_95": list(wilson_interval(wins, total)),
            "episodes": [[(episode["seed"], episode["success"]) for episode in run["episodes"]] for run in runs]}


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate (sound at 0 % and 100 %, unlike the normal one)."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)
