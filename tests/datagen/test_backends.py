"""Backends and crash safety: the Ray backend makes the local pool's dataset (same content hash); a worker
or the driver killed with SIGKILL mid-run still ends, once the same command runs again, in exactly the
requested demos, no episode twice, and the content hash of an uninterrupted run."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import minari
import pytest
from typer.testing import CliRunner

from dmg_envs.cli import app
from dmg_envs.datagen.config import GenerationConfig
from dmg_envs.datagen.generate import generate
from dmg_envs.errors import GenerationError, InvalidConfigError

ROOT = Path(__file__).resolve().parents[2]
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds processes through /proc")


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kept_seeds(dataset_id: str) -> list[int]:
    return minari.load_dataset(dataset_id).storage.metadata["dmg_generation"]["episode_seeds"]


@pytest.fixture
def reference(isolated_datasets):
    """The content hash of an uninterrupted local run of `config`, in a work folder of its own."""
    def run(config: GenerationConfig) -> str:
        summary = generate(config, work_dir=isolated_datasets / "reference", workers=2, overwrite=True)
        assert summary["kept"] == config.num_demos
        return summary["content_hash"]

    return run


def test_backend_and_address_are_checked(isolated_datasets):
    with pytest.raises(InvalidConfigError, match="choose one of local, ray"):
        generate(GenerationConfig(num_demos=1), backend="dask")
    with pytest.raises(InvalidConfigError, match="needs backend='ray'"):
        generate(GenerationConfig(num_demos=1), address="auto")


def test_a_missing_ray_names_the_extra(isolated_datasets, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(GenerationError, match=r"dmg-envs\[ray\]"):
        generate(GenerationConfig(num_demos=1), backend="ray")


@pytest.fixture
def ray_two_cpus():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_backend_makes_the_local_pools_dataset(isolated_datasets, reference, ray_two_cpus):
    config = GenerationConfig(num_demos=3, dynamics="slow")
    local = reference(config)
    summary = generate(config, work_dir=isolated_datasets / "ray", workers=2, overwrite=True, backend="ray")
    assert summary["kept"] == 3 and summary["content_hash"] == local
    assert minari.load_dataset(config.dataset_id).storage.metadata["dmg_generation"]["content_hash"] == local
    assert ray_two_cpus.is_initialized()  # a Ray the caller started is left to the caller


@needs_proc
def test_ray_actor_killed_mid_run_is_replaced_and_the_dataset_unchanged(isolated_datasets, reference, ray_two_cpus):
    config = GenerationConfig(num_demos=4, dynamics="slow")
    killed = []

    def kill_an_actor(progress):
        if not killed and progress["attempts_this_call"] >= 1:
            actors = [int(p.parent.name) for p in Path("/proc").glob("[0-9]*/cmdline")
                      if b"AttemptActor" in _read(p)]
            os.kill(actors[0], signal.SIGKILL)
            killed.append(actors[0])

    summary = generate(config, work_dir=isolated_datasets / "ray", workers=2, overwrite=True, backend="ray",
                       progress=kill_an_actor)
    assert killed and summary["kept"] == 4 and summary["errors"] == 0
    seeds = kept_seeds(config.dataset_id)
    assert len(seeds) == len(set(seeds)) == 4
    assert summary["content_hash"] == reference(config)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


@needs_proc
@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="finds the pool's workers as children")
def test_a_worker_killed_mid_run_is_replaced_and_the_dataset_unchanged(isolated_datasets, reference):
    config = GenerationConfig(num_demos=6, dynamics="slow")
    killed = []

    def kill_a_worker(progress):
        if len(killed) < 2 and progress["attempts_this_call"] >= 2 * len(killed) + 1:
            workers = [process.pid for process in multiprocessing.active_children()]
            os.kill(workers[0], signal.SIGKILL)  # busy with an attempt: each worker always has one
            killed.append(workers[0])

    summary = generate(config, work_dir=isolated_datasets / "run", workers=2, progress=kill_a_worker)
    assert len(killed) == 2 and summary["kept"] == 6 and summary["errors"] == 0
    seeds = kept_seeds(config.dataset_id)
    assert len(seeds) == len(set(seeds)) == 6
    assert summary["content_hash"] == reference(config)


@needs_proc
def test_a_driver_killed_mid_run_resumes_to_the_uninterrupted_dataset(isolated_datasets, reference):
    """`dmg generate` killed with SIGKILL once some episodes are on disk, then run again: the requested demos,
    none twice, the content hash of a run never interrupted, and no worker left behind by the killed one."""
    work_dir = isolated_datasets / "killed"
    command = [sys.executable, "-m", "dmg_envs.cli", "generate", "stack", "--num-demos", "40", "--dynamics",
               "slow", "--workers", "2", "--work-dir", str(work_dir)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    log = work_dir / "attempts.jsonl"
    # Episodes the driver has recorded: a shard a worker wrote but the driver had not yet logged when killed
    # is run again on resume, and with none logged the resume would redo every attempt.
    while not log.exists() or len(log.read_text().splitlines()) < 3:
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no episode files appeared"
        time.sleep(0.02)
    workers = children(driver.pid)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert workers and len(list(work_dir.glob("episode_*.npz"))) < 40  # killed mid-run
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers), "workers outlived their driver"
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    summary = json.loads(again.stdout[again.stdout.index("{"):])
    assert summary["kept"] == 40 and 0 < summary["attempts_this_call"] < summary["attempts"]
    seeds = kept_seeds("dmg/stack/dmp-slow-v0")
    assert len(seeds) == len(set(seeds)) == 40
    assert summary["content_hash"] == reference(GenerationConfig(num_demos=40, dynamics="slow"))


def test_cli_takes_the_backend(isolated_datasets):
    result = CliRunner().invoke(app, ["generate", "stack", "--num-demos", "1", "--backend", "nope"])
    assert result.exit_code == 1 and "choose one of local, ray" in result.output
