"""Generation attempts on Ray: one actor per worker, each holding an `AttemptRunner` (env, source demo and
generator built once), on this machine (`ray.init(num_cpus=workers)`, no cluster needed) or on a cluster
(`address`: `auto` or `ray://<head>:10001`).

An actor returns each kept episode to the driver, which writes the shard and the log line itself, as the
local pool's workers do: the work folder needs to be reachable by the driver only, never shared storage, and
the dataset is the same as the local pool's (same prefix rule, same shards). Ray is an optional dependency:
the `ray` extra.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from dmg_envs.datagen.attempts import AttemptRunner, load_demo
from dmg_envs.datagen.config import GenerationConfig
from dmg_envs.datagen.shards import AttemptResult, Episode
from dmg_envs.datagen.source import SourceDemo
from dmg_envs.errors import GenerationError

RAY_EXTRA = 'pip install "dmg-envs[ray]"'


def import_ray() -> Any:
    """The `ray` module, or `GenerationError` naming the extra that installs it."""
    try:
        import ray
    except ImportError as error:
        raise GenerationError(f"the ray backend needs Ray, the ray extra: {RAY_EXTRA}") from error
    return ray


class AttemptActor:
    """A Ray actor's runner (the class is wrapped by `ray.remote` when a run starts, so that importing this
    module needs no Ray)."""

    def __init__(self, config: GenerationConfig, demo: SourceDemo):
        try:  # Ctrl-C is the driver's: it lets running attempts finish (as the local pool's workers do)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread of the worker process
            pass
        self.runner = AttemptRunner(config, demo=demo)

    def ready(self) -> None:
        """Returns once the runner is built: the driver waits on it to know the workers started."""

    def attempt(self, index: int) -> tuple[AttemptResult, Episode | None]:
        return self.runner.attempt_episode(index)


def blas_threads() -> dict[str, str]:
    """The BLAS thread settings of a local pool worker, for the Ray actors: Ray sets OMP_NUM_THREADS=1 in
    its workers, and OpenBLAS before 0.3.2x (numpy 1.x wheels) sums a matrix product differently with another
    thread count, which changes the episodes. The driver's settings if it has any, else OpenBLAS's default,
    one thread per CPU of this machine (on a cluster of unlike nodes with old numpy, set OMP_NUM_THREADS)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    settings = {name: os.environ[name] for name in names if name in os.environ}
    return settings or {"OMP_NUM_THREADS": str(os.cpu_count() or 1)}


class RayWorkers:
    """`workers` actors that run one attempt each at a time; a dead actor is replaced.

    Args:
        config: the run.
        workers: actors (each takes one CPU).
        address: a Ray cluster to connect to (`auto`, `ray://<head>:10001`); None starts Ray on this machine
            with `workers` CPUs. A Ray already initialised in this process is used as it is.
    """

    def __init__(self, config: GenerationConfig, workers: int, address: str | None = None):
        self.ray = ray = import_ray()
        self.config, self.demo = config, load_demo(config)  # loaded here: the actors may run on other nodes
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            ray.init(address=address, num_cpus=workers if address is None else None, include_dashboard=False,
                     log_to_driver=True, configure_logging=False)
        self.actor_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0,
                                      runtime_env={"env_vars": blas_threads()})(AttemptActor)
        self.idle = [self._start() for _ in range(workers)]
        self.running: dict[Any, tuple[int, Any]] = {}  # object ref -> (attempt index, actor)
        try:
            ray.get([actor.ready.remote() for actor in self.idle])
        except ray.exceptions.RayError as error:
            self.close()
            raise GenerationError(f"the Ray workers could not start (is this dmg-envs installed on every node?): "
                                  f"{error}") from error

    def _start(self) -> Any:
        return self.actor_class.remote(self.config, self.demo)

    def submit(self, index: int) -> None:
        actor = self.idle.pop()
        self.running[actor.attempt.remote(index)] = (index, actor)

    @property
    def busy(self) -> set[int]:
        return {index for index, _ in self.running.values()}

    @property
    def free(self) -> int:
        return len(self.idle)

    def wait(self) -> list[tuple[int, tuple[AttemptResult, Episode | None] | None]]:
        """Wait for at least one running attempt; returns (index, outcome) of each
        finished one, the outcome None for an attempt whose actor died (the actor is replaced)."""
        ray = self.ray
        done, _ = ray.wait(list(self.running), num_returns=1)
        finished = []
        for ref in done:
            index, actor = self.running.pop(ref)
            try:
                finished.append((index, ray.get(ref)))
                self.idle.append(actor)
            except ray.exceptions.RayActorError:
                finished.append((index, None))
                ray.kill(actor, no_restart=True)
                self.idle.append(self._start())
        return finished

    def drain(self) -> list[tuple[int, tuple[AttemptResult, Episode | None] | None]]:
        """Wait for every running attempt; their outcomes as `wait` gives them."""
        finished = []
        while self.running:
            finished += self.wait()
        return finished

    def close(self) -> None:
        for actor in self.idle + [actor for _, actor in self.running.values()]:
            self.ray.kill(actor, no_restart=True)
        self.idle, self.running = [], {}
        if self.started_ray:
            self.ray.shutdown()

    def __enter__(self) -> RayWorkers:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
