"""Generation throughput by backend and worker count: a real `generate` run (shards, dataset written) with 1
and 2 local workers and with Ray at 2 workers, demos/s each, `--repeats` rounds in turn (ratios per round
and their median), and whether their content hashes agree. Writes benchmarks/results/scaling.json.
`--soak N` adds one run of N demos that records the driver's and the workers' resident memory every
`--interval` seconds (a leak shows as a climb); a run without it keeps the file's last soak.

Run: .venv/bin/python benchmarks/bench_scaling.py [--demos 200] [--repeats 3] [--task stack] [--dynamics slow]
     [--no-ray] [--soak 10000 --soak-backend local]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

from dmg_envs.bench import write_merged

RESULTS = Path(__file__).parent / "results"


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process [MiB] (from /proc), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_pids(backend: str) -> list[int]:
    """The run's worker processes: the driver's children (local pool) or the Ray actors' processes."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if backend == "ray":
                if b"AttemptActor" in (stat.parent / "cmdline").read_bytes():
                    pids.append(int(stat.parent.name))
            elif int(stat.read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


class MemorySampler:
    """Samples the driver's and the workers' RSS every `interval` seconds in a thread."""

    def __init__(self, backend: str, interval: float):
        self.backend, self.interval, self.samples = backend, interval, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.perf_counter()

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            workers = [rss for rss in map(rss_mb, worker_pids(self.backend)) if rss is not None]
            self.samples.append({"seconds": round(time.perf_counter() - self.started, 1),
                                 "driver_mb": round(rss_mb(os.getpid()) or 0.0, 1),
                                 "workers_mb": [round(rss, 1) for rss in sorted(workers)]})

    def __enter__(self) -> MemorySampler:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join()


def run(config, backend: str, workers: int, root: Path) -> dict:
    from dmg_envs.datagen.generate import generate

    folder = Path(tempfile.mkdtemp(dir=root))
    start = time.perf_counter()
    summary = generate(config, work_dir=folder, workers=workers, overwrite=True, backend=backend)
    seconds = time.perf_counter() - start
    return {"backend": backend, "workers": workers, "demos": summary["kept"], "attempts": summary["attempts"],
            "seconds": round(seconds, 2), "demos_per_second": round(summary["kept"] / seconds, 3),
            "content_hash": summary["content_hash"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demos", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of 1 and 2 local workers and Ray")
    parser.add_argument("--task", default="stack")
    parser.add_argument("--dynamics", default="slow")
    parser.add_argument("--no-ray", action="store_true", help="local workers only")
    parser.add_argument("--soak", type=int, default=0, help="also a run of this many demos, memory sampled")
    parser.add_argument("--soak-backend", default="local", choices=("local", "ray"))
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between memory samples")
    parser.add_argument("--out", type=Path, default=RESULTS / "scaling.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.environ["MINARI_DATASETS_PATH"] = str(root / "datasets")  # never the user's datasets
        from dmg_envs.datagen.config import GenerationConfig

        config = GenerationConfig(task=args.task, num_demos=args.demos, dynamics=args.dynamics)
        record = {"command": "python benchmarks/bench_scaling.py " + " ".join(
                      f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out",)),
                  "task": args.task, "dynamics": args.dynamics, "demos": args.demos, "cpus": os.cpu_count(),
                  "python": platform.python_version()}
        if not args.no_ray:
            import ray

            start = time.perf_counter()
            ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
            record["ray_version"], record["ray_start_seconds"] = ray.__version__, round(time.perf_counter() - start, 2)
        runs, speedups, ray_ratios = [], [], []
        for _ in range(args.repeats):  # in turn, so that every setting sees the same machine load
            one, two = (run(config, "local", workers, root) for workers in (1, 2))
            runs += [one, two]
            speedups.append(round(two["demos_per_second"] / one["demos_per_second"], 3))
            if not args.no_ray:
                runs.append(run(config, "ray", 2, root))
                ray_ratios.append(round(runs[-1]["demos_per_second"] / two["demos_per_second"], 3))
        record["runs"] = runs
        record["same_content_hash"] = len({entry["content_hash"] for entry in runs}) == 1
        record["speedup_2_vs_1_local"], record["speedup_2_vs_1_local_median"] = speedups, statistics.median(speedups)
        if not args.no_ray:
            record["ray_vs_local_2"], record["ray_vs_local_2_median"] = ray_ratios, statistics.median(ray_ratios)
        if args.soak:
            soak_config = GenerationConfig(task=args.task, num_demos=args.soak, dynamics=args.dynamics)
            with MemorySampler(args.soak_backend, args.interval) as sampler:
                soak = run(soak_config, args.soak_backend, 2, root)
            record["soak"] = {**soak, "memory": sampler.samples}
        if not args.no_ray:
            ray.shutdown()
    write_merged(args.out, record, per_task=(), carry=("soak",))  # a run without --soak keeps the last soak
    print(json.dumps({key: value for key, value in record.items() if key != "soak"}, indent=2))


if __name__ == "__main__":
    main()
