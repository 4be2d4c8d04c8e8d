"""Dynamics presets on a task (default dmg/Stack-v0): stability under random actions, wrapper overhead, and
(Stack only) how much the open-loop scripted policy of the tests suffers. Writes
benchmarks/results/dynamics.json (Stack) or dynamics_<task>.json.

Run: .venv/bin/python benchmarks/bench_dynamics.py [--env-id dmg/MugDrawer-v0] [--episodes 1000] [--workers 2]
(or `make bench`)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import gymnasium as gym
import numpy as np

import dmg_envs
from dmg_envs.wrappers import PRESETS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
PARTS = ("overhead", "scripted", "stability")


def presets_for(env_id: str) -> list[str]:
    """The presets that apply to a task (`cabinet` needs fixtures)."""
    task = gym.make(env_id).unwrapped
    return [preset for preset in sorted(PRESETS) if preset != "cabinet" or task.fixtures]


def stability(env_id: str, preset: str, seeds: list[int]) -> dict:
    """Random-action episodes to the time limit: count non-finite observations, divergences, exceptions."""
    env = dmg_envs.make(env_id, dynamics=preset)
    counts = {"episodes": 0, "steps": 0, "non_finite": 0, "sim_unstable": 0, "exceptions": []}
    for seed in seeds:
        try:
            env.reset(seed=seed)
            env.action_space.seed(seed)
            truncated = terminated = False
            while not (truncated or terminated):
                obs, _, terminated, truncated, info = env.step(env.action_space.sample())
                counts["steps"] += 1
                counts["non_finite"] += not all(np.all(np.isfinite(v)) for v in obs.values())
                counts["sim_unstable"] += bool(info["sim_unstable"])
            counts["episodes"] += 1
        except Exception as error:  # noqa: BLE001  (counted and reported, not hidden)
            counts["exceptions"].append(f"seed {seed}: {type(error).__name__}: {error}")
    return counts


class _TimedStep(gym.Wrapper):
    """Times the env steps beneath a perturbation wrapper."""

    def __init__(self, env):
        super().__init__(env)
        self.seconds = 0.0

    def step(self, action):
        start = time.perf_counter()
        result = self.env.step(action)
        self.seconds += time.perf_counter() - start
        return result


def overhead(env_id: str, preset: str, steps: int = 3000, rounds: int = 5) -> dict:
    """Time spent in the preset's wrappers, as a fraction of the step time of the env beneath them."""
    timed = _TimedStep(gym.make(env_id))
    env = PRESETS[preset](timed)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(steps, 7)).astype(np.float32)
    fractions = []
    for round_index in range(rounds):
        env.reset(seed=round_index)
        timed.seconds = 0.0
        start = time.perf_counter()
        for action in actions:
            env.step(action)
        total = time.perf_counter() - start
        fractions.append((total - timed.seconds) / timed.seconds)
    return {"wrapper_over_env_step": round(statistics.median(fractions), 4),
            "per_round": [round(f, 4) for f in fractions]}


def scripted_success(preset: str, seeds: int) -> float:
    """The tests' open-loop Stack oracle under a preset (Stack only)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from scripted_stack import run_episode

    env = dmg_envs.make("dmg/Stack-v0", dynamics=preset)
    return float(np.mean([run_episode(env, seed)[0] for seed in range(seeds)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=1000, help="random-action episodes per preset")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scripted-seeds", type=int, default=100)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="what to measure; other parts of an existing result file are kept")
    parser.add_argument("--env-id", default="dmg/Stack-v0")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: results/dynamics.json for Stack, results/dynamics_<name>.json otherwise")
    args = parser.parse_args()
    env_id = args.env_id
    if args.out is None:
        name = env_id.split("/")[-1].split("-")[0].lower()
        args.out = RESULTS / ("dynamics.json" if name == "stack" else f"dynamics_{name}.json")
    if env_id != "dmg/Stack-v0" and "scripted" in args.parts:
        args.parts = [part for part in args.parts if part != "scripted"]  # the oracle knows Stack only
    presets = presets_for(env_id)
    record = json.loads(args.out.read_text()) if args.out.exists() and set(args.parts) != set(PARTS) else {}
    command = "python benchmarks/bench_dynamics.py" + ("" if env_id == "dmg/Stack-v0" else f" --env-id {env_id}")
    record.update({"command": command, "env_id": env_id})
    for preset in presets:
        record.setdefault("presets", {}).setdefault(preset, {})
    if "overhead" in args.parts:
        for preset in presets:
            record["presets"][preset]["overhead"] = overhead(env_id, preset)
            print(f"{preset}: wrapper overhead {record['presets'][preset]['overhead']['wrapper_over_env_step']:.2%}",
                  flush=True)
    if "scripted" in args.parts:
        for preset in presets:
            rate = scripted_success(preset, args.scripted_seeds)
            record["presets"][preset]["scripted_policy_success"] = rate
            print(f"{preset}: scripted open-loop policy success {rate:.0%} over {args.scripted_seeds} seeds",
                  flush=True)
    if "stability" in args.parts:
        record["stability_seconds"] = stability_all(env_id, presets, args.episodes, args.workers, record)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"-> {args.out}")


def stability_all(env_id: str, presets: list[str], episodes: int, workers: int, record: dict) -> float:
    """Run `stability` for every preset on `workers` processes; fills `record`; returns the seconds taken."""
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        chunks = {preset: [pool.submit(stability, env_id, preset, list(range(i, episodes, workers)))
                           for i in range(workers)] for preset in presets}
        for preset, futures in chunks.items():
            parts = [future.result() for future in futures]
            keys = ("episodes", "steps", "non_finite", "sim_unstable")
            merged = {key: sum(part[key] for part in parts) for key in keys}
            merged["exceptions"] = [e for part in parts for e in part["exceptions"]]
            record["presets"][preset]["stability"] = merged
            print(f"{preset}: {merged['episodes']} episodes, {merged['steps']} steps, "
                  f"non-finite {merged['non_finite']}, sim_unstable {merged['sim_unstable']}, "
                  f"exceptions {len(merged['exceptions'])}", flush=True)
    return round(time.perf_counter() - start, 1)


if __name__ == "__main__":
    main()
