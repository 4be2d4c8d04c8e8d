"""Our envs against their robosuite 1.5.2 counterparts, measured side by side on this machine:
dmg/Stack-v0 against Stack, dmg/TwoArmTrayLift-v0 against TwoArmLift (parallel arms: the closest
two-arm lift robosuite has).

Per pair, runs our benchmark, then `../shared/tools/peer_robosuite_bench.py` in its own virtual
environment (.venv-robosuite with robosuite 1.5.2 and mujoco 3.9.0, created on first use), then ours
again, and writes benchmarks/results/vs_robosuite.json with every record and the speed-ups.

Run: .venv/bin/python benchmarks/bench_vs_robosuite.py   (or `make bench`)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import dmg_envs  # noqa: F401
from dmg_envs.bench import benchmark_env, write_merged

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
PEER_SCRIPT = ROOT.parent / "shared" / "tools" / "peer_robosuite_bench.py"
PEER_VENV = ROOT / ".venv-robosuite"


def ensure_peer_venv() -> Path:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "robosuite==1.5.2", "mujoco==3.9.0"],
                       check=True)
    return python


# robosuite env: ours
PAIRS = {"Stack": "dmg/Stack-v0", "TwoArmLift": "dmg/TwoArmTrayLift-v0"}


def run_peer(python: Path, peer_env: str, steps: int) -> dict:
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "osmesa")}
    result = subprocess.run([str(python), str(PEER_SCRIPT), "--env", peer_env, "--steps", str(steps)],
                            capture_output=True, text=True, check=True, env=env)
    line = next(line for line in result.stdout.splitlines() if line.startswith("JSON "))
    return json.loads(line[len("JSON "):])


def compare(python: Path, peer_env: str, env_id: str, steps: int) -> dict:
    ours_before = benchmark_env(env_id, steps=1000, rounds=3)
    peer = run_peer(python, peer_env, steps)
    ours_after = benchmark_env(env_id, steps=1000, rounds=3)
    ours_rate = statistics.mean([ours_before["env_steps_per_s"], ours_after["env_steps_per_s"]])
    record = {
        "dmg_envs": {"env_id": env_id, "before_peer": ours_before, "after_peer": ours_after,
                     "env_steps_per_s": round(ours_rate, 1)},
        "robosuite": peer,
        "speedup_env_steps": round(ours_rate / peer["env_steps_per_s"], 2),
        "speedup_reset": round(peer["reset_ms_median"] / statistics.mean(
            [ours_before["reset_median_ms"], ours_after["reset_median_ms"]]), 1),
    }
    print(f"{env_id} {ours_rate:.0f} env steps/s (env/limit {ours_before['env_over_limit']:.3f}, "
          f"{ours_after['env_over_limit']:.3f}); robosuite {peer_env} {peer['env_steps_per_s']:.0f} env steps/s "
          f"(env/limit {peer['env_over_physics_ratio']:.3f}); speed-up x{record['speedup_env_steps']}, "
          f"reset x{record['speedup_reset']}", flush=True)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS), help="robosuite envs")
    parser.add_argument("--out", type=Path, default=RESULTS / "vs_robosuite.json")
    args = parser.parse_args()
    if not PEER_SCRIPT.exists():
        sys.exit(f"peer benchmark not found at {PEER_SCRIPT}")
    python = ensure_peer_venv()
    record = {"command": "python benchmarks/bench_vs_robosuite.py",
              "pairs": {peer_env: compare(python, peer_env, PAIRS[peer_env], args.steps) for peer_env in args.pairs}}
    write_merged(args.out, record, per_task=("pairs",))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
