"""Benchmark helpers: an environment's speed against the raw physics limit of its own compiled model, and
writing a benchmark's results file when it ran for some tasks only."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np


def benchmark_env(env_id: str = "dmg/Stack-v0", steps: int = 1000, resets: int = 200, rounds: int = 5,
                  seed: int = 0, **make_kwargs: Any) -> dict[str, Any]:
    """Env steps/s with random actions, the raw physics limit of the same model, their ratio, reset time.

    The physics limit is measured step by step beside the env: after each timed `env.step`, a shadow
    `MjData` of the same compiled model receives the controls the env just applied and makes one timed
    `mj_step(model, data, nstep=substeps)` (same contacts, same C work, no Python). Timing the two in
    alternation, microseconds apart, makes the ratio robust to other load on a shared machine. Rates are
    medians over rounds; the ratio is the median of the per-round ratios.

    Args:
        env_id: a registered id.
        steps: env steps per round (uniform random actions, seeded).
        resets: timed resets (median reported).
        rounds: rounds, each from a fresh reset.
        seed: seeds the env and the actions.
    """
    env = gym.make(env_id, **make_kwargs)
    unwrapped = env.unwrapped
    model, data, substeps = unwrapped.model, unwrapped.data, unwrapped.substeps
    space = env.action_space
    actions = np.random.default_rng(seed).uniform(space.low, space.high, size=(steps, *space.shape)).astype(space.dtype)
    # The env writes each arm's joint reference (activation) from qpos before stepping; the shadow does the same.
    reference_slices = [(arm.reference_slice, arm.qpos_slice) for arm in unwrapped._arms]
    env_rates, physics_rates, ratios = [], [], []
    for round_index in range(rounds):
        env.reset(seed=seed + round_index)
        shadow = mujoco.MjData(model)
        mujoco.mj_copyData(shadow, model, data)
        env_time = physics_time = 0.0
        for action in actions:
            start = time.perf_counter()
            env.step(action)
            env_time += time.perf_counter() - start
            shadow.ctrl[:] = data.ctrl
            for reference, qpos in reference_slices:
                shadow.act[reference] = shadow.qpos[qpos]
            start = time.perf_counter()
            mujoco.mj_step(model, shadow, nstep=substeps)
            physics_time += time.perf_counter() - start
        env_rates.append(steps / env_time)
        physics_rates.append(steps / physics_time)
        ratios.append(physics_time / env_time)

    reset_times = []
    for i in range(resets):
        start = time.perf_counter()
        env.reset(seed=seed + i)
        reset_times.append(time.perf_counter() - start)
    env.close()

    return {
        "env_id": env_id,
        "make_kwargs": make_kwargs,
        "steps_per_round": steps,
        "rounds": rounds,
        "substeps": substeps,
        "physics_timestep": model.opt.timestep,
        "env_steps_per_s": round(statistics.median(env_rates), 1),
        "physics_limit_env_steps_per_s": round(statistics.median(physics_rates), 1),
        "physics_steps_per_s": round(statistics.median(physics_rates) * substeps, 1),
        "env_over_limit": round(statistics.median(ratios), 3),
        "env_over_limit_per_round": [round(r, 3) for r in ratios],
        "reset_median_ms": round(1e3 * statistics.median(reset_times), 3),
        "mujoco": mujoco.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def write_merged(path: Path, record: dict[str, Any], per_task: tuple[str, ...], same: tuple[str, ...] = (),
                 carry: tuple[str, ...] = ()) -> None:
    """Write `record` to `path`; in each of its `per_task` sections (dicts keyed by task), the tasks this run
    did not measure keep the record they have in the existing file, and the `carry` sections this run did not
    make are kept whole. The settings named in `same` must be those of the existing file, or the older
    records would be mislabelled: then run every task."""
    if path.exists():
        previous = json.loads(path.read_text())
        for key in same:
            if key in previous and previous[key] != record.get(key):
                raise SystemExit(f"{path} was made with {key}={previous[key]!r}, this run has {record.get(key)!r}: "
                                 f"run every task to replace it")
        for section in per_task:
            record[section] = {**previous.get(section, {}), **record.get(section, {})}
        for section in carry:
            if section in previous:
                record.setdefault(section, previous[section])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
