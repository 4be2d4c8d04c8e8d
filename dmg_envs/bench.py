"""Speed benchmark of an environment against the raw physics limit of its own compiled model."""

from __future__ import annotations

import copy
import platform
import statistics
import time
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np


def benchmark_env(env_id: str = "dmg/Stack-v0", steps: int = 2000, resets: int = 200, rounds: int = 5,
                  seed: int = 0, **make_kwargs: Any) -> dict[str, Any]:
    """Env steps/s with random actions, the raw physics limit of the same model, their ratio, reset time.

    The physics limit replays, on a copy of the model and data taken at the start of each round, the
    controls the env applied, with one `mj_step(model, data, nstep=substeps)` per env step: the same
    contacts and the same C work, without any Python. Env and physics runs alternate in `rounds` so
    that load from other processes hits both alike; each figure is the median over rounds.

    Args:
        env_id: a registered id.
        steps: env steps per round.
        resets: timed resets (median reported).
        rounds: alternating env/physics rounds.
        seed: seeds the env and its action space.
    """
    env = gym.make(env_id, **make_kwargs)
    env.action_space.seed(seed)
    unwrapped = env.unwrapped
    env.reset(seed=seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    env_rates, physics_rates = [], []
    for _ in range(rounds):
        env.reset()
        model, data = copy.copy(unwrapped.model), copy.copy(unwrapped.data)
        controls = np.empty((steps, model.nu))
        references = np.empty((steps, model.na))
        start = time.perf_counter()
        for i, action in enumerate(actions):
            env.step(action)
            controls[i] = unwrapped.data.ctrl
            references[i] = unwrapped.data.act
        env_rates.append(steps / (time.perf_counter() - start))

        start = time.perf_counter()
        for ctrl, act in zip(controls, references):
            data.ctrl[:] = ctrl
            data.act[:] = act
            mujoco.mj_step(model, data, nstep=unwrapped.substeps)
        physics_rates.append(steps / (time.perf_counter() - start))

    reset_times = []
    for i in range(resets):
        start = time.perf_counter()
        env.reset(seed=seed + i)
        reset_times.append(time.perf_counter() - start)
    env.close()

    env_rate, physics_rate = statistics.median(env_rates), statistics.median(physics_rates)
    return {
        "env_id": env_id,
        "make_kwargs": make_kwargs,
        "steps_per_round": steps,
        "rounds": rounds,
        "substeps": unwrapped.substeps,
        "physics_timestep": unwrapped.model.opt.timestep,
        "env_steps_per_s": round(env_rate, 1),
        "physics_limit_env_steps_per_s": round(physics_rate, 1),
        "physics_steps_per_s": round(physics_rate * unwrapped.substeps, 1),
        "env_over_limit": round(env_rate / physics_rate, 3),
        "reset_median_ms": round(1e3 * statistics.median(reset_times), 3),
        "mujoco": mujoco.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
