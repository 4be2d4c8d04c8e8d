"""Generation runs: attempts in worker processes, successes kept, shards on disk, a Minari dataset at the end.

Every finished attempt is written at once to the run's work folder (its episode file and a log line),
so an interrupted run (Ctrl-C, a crash) loses nothing: `generate` writes a dataset from what is there,
and calling it again with the same arguments resumes where it stopped. An attempt that raises is a
failed attempt with its error; a worker process that dies is replaced; a shard found unreadable is
reported by name and its attempt run again.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from dmg_envs.datagen.attempts import AttemptRunner, keep_episode, load_demo, worker_attempt, worker_init
from dmg_envs.datagen.config import GenerationConfig, attempt_seed, dmg_cache_dir
from dmg_envs.datagen.shards import (
    AttemptResult,
    Episode,
    RunState,
    ShardEpisodes,
    ShardError,
    content_hash,
)
from dmg_envs.datagen.writer import success_rate, write_dataset
from dmg_envs.errors import GenerationError, InvalidConfigError

ERROR_STOP_FRACTION = 0.5  # a run stops when more than this fraction of its attempts raise
ERROR_STOP_MIN_ATTEMPTS = 10  # ... once it has finished at least this many


def default_work_dir(config: GenerationConfig) -> Path:
    """Where a run keeps its finished attempts unless told: `<root>/<dataset id>/<run hash>`, the root being
    `$DMG_WORK_DIR`, else the user's cache (`$XDG_CACHE_HOME` or ~/.cache)/dmg-envs/runs; never the working
    directory. The hash of the run's identity keeps runs that write the same dataset id (another seed,
    source or reset distribution) apart."""
    root = os.environ.get("DMG_WORK_DIR") or dmg_cache_dir() / "runs"
    digest = hashlib.sha256(json.dumps(config.identity(), sort_keys=True).encode()).hexdigest()[:12]
    return Path(root) / config.dataset_id.replace("/", "_") / digest


BACKENDS = ("local", "ray")


def generate(config: GenerationConfig, work_dir: str | Path | None = None, workers: int | None = None,
             overwrite: bool = False, progress: Callable[[dict[str, Any]], None] | None = None,
             backend: str = "local", address: str | None = None) -> dict[str, Any]:
    """Run attempts until `config.num_demos` successes, then write the Minari dataset `config.dataset_id`.

    `backend` runs the attempts in a local process pool (`local`) or on Ray actors (`ray`, the `ray` extra:
    on this machine, or on the cluster at `address`, `auto` or `ray://<head>:10001`); the dataset is the
    same whatever the backend and the number of `workers` (processes or actors; None: one per CPU core).

    Returns a summary (dataset id and path, attempts, successes, success rate, errors, seconds, demos/s,
    interrupted, exhausted, regenerated and unreadable failure shards, the kept episodes' `content_hash`).
    Each worker has one attempt at a time, none queued: on KeyboardInterrupt the running attempts finish and
    are kept, the dataset is written from the successes so far (if any) and the summary says `interrupted`;
    run again to resume.
    If `config.attempt_limit` attempts give fewer than `num_demos` successes, the dataset holds those and
    the summary says `exhausted`. If most attempts raise, the dataset of what succeeded is written and
    `GenerationError` says why.
    """
    import minari

    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise InvalidConfigError(f"workers must be at least 1, got {workers}")
    if backend not in BACKENDS:
        raise InvalidConfigError(f"backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise InvalidConfigError("address names a Ray cluster: it needs backend='ray' (--backend ray)")
    if not overwrite and config.dataset_id in minari.list_local_datasets() and not _same_run(config):
        raise GenerationError(f"dataset {config.dataset_id!r} exists; pass overwrite=True (--overwrite) to replace it")
    load_demo(config)  # fail early on a bad source
    folder = Path(work_dir) if work_dir is not None else default_work_dir(config)
    state = RunState(folder, config.identity(), asdict(config))
    run = _RayRun(config, state, workers, progress, address) if backend == "ray" else \
        _Run(config, state, workers, progress)
    interrupted, stop_reason, regenerated = False, None, []
    try:
        while True:
            stop_reason = run.attempt_until_done()
            episodes, unreadable = _load_kept(config, state)
            regenerated += unreadable
            if not unreadable or stop_reason is not None:
                break  # else the forgotten attempts run again
    except KeyboardInterrupt:
        interrupted = True
        episodes, unreadable = _load_kept(config, state)
        regenerated += unreadable
    summary = _summary(config, state, run)
    summary.update(interrupted=interrupted, regenerated=regenerated, work_dir=str(folder),
                   content_hash=content_hash(episodes),
                   exhausted=not interrupted and stop_reason is None and summary["kept"] < config.num_demos)
    # The generator's reference score: the mean return of its successes (sparse reward: steps in success).
    reference = float(np.mean([episode.rewards.sum() for episode in episodes])) if episodes else 1.0
    stats = {key: summary[key] for key in ("attempts", "successes", "errors")}
    if episodes:
        summary["dataset_path"] = str(write_dataset(config, episodes, stats, reference))
    if config.keep_failures:
        failed, summary["unreadable_failures"] = _load_failures(config, state)
        if failed:
            summary["failures_dataset_path"] = str(write_dataset(config, failed, stats, reference, failures=True))
            summary["failures_dataset_id"] = config.failures_dataset_id
    if stop_reason is not None:
        raise GenerationError(f"{stop_reason}; {summary['kept']} demos were kept and written. The run log is "
                              f"{folder / 'attempts.jsonl'}")
    return summary


class _Run:
    """The attempts of one `generate` call, on a process pool that is replaced if a worker dies."""

    def __init__(self, config: GenerationConfig, state: RunState, workers: int,
                 progress: Callable[[dict[str, Any]], None] | None):
        self.config, self.state, self.workers, self.progress = config, state, workers, progress
        self.started = time.perf_counter()
        self.fresh = Counter()  # attempts and successes of this call
        # Attempts pending when a worker died: run one at a time until the one that kills workers is found.
        self.suspects: set[int] = set()
        self.deaths = Counter()  # worker deaths by attempt index, while it ran alone (Ray: any)
        # Build env, demo and generator once here, so that a configuration error (a demo that does not
        # segment, say) is raised as it is, not as a worker that failed to start.
        AttemptRunner(config).env.close()

    def attempt_until_done(self) -> str | None:
        """Run attempts until the prefix of finished attempts holds `num_demos` successes or the attempt
        limit; returns why the run must stop early (most attempts raise), else None."""
        while True:
            try:
                return self._attempt_on_a_pool()
            except BrokenProcessPool:
                continue  # a worker died: its pending attempts were charged; a new pool takes over

    def _attempt_on_a_pool(self) -> str | None:
        config, state = self.config, self.state
        # Workers that render start from a fresh process: one forked from a process that has rendered with
        # OSMesa (a notebook, a benchmark) hangs in its first frame.
        context = multiprocessing.get_context("forkserver") if config.images else None
        with ProcessPoolExecutor(self.workers, mp_context=context, initializer=worker_init,
                                 initargs=(config, state.folder)) as pool:
            pending: dict[Future, int] = {}
            try:
                while True:
                    done, reason = self._done()
                    if done:
                        self._finish(pool, pending)
                        return reason
                    if self.suspects:
                        if not pending:
                            index = min(self.suspects)
                            pending[pool.submit(worker_attempt, index)] = index
                    else:
                        for index in self._next(set(pending.values()), self.workers - len(pending)):
                            pending[pool.submit(worker_attempt, index)] = index
                    if not pending:
                        return None
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        result = future.result()
                        del pending[future]
                        self._record(result)
                    if self.progress is not None:
                        self.progress(_summary(config, state, self))
            except KeyboardInterrupt:
                self._finish(pool, pending)  # running attempts finish and are kept: nothing is thrown away
                raise
            except BrokenProcessPool:
                lost = [index for future, index in pending.items() if not _finished(future)]
                for future in pending:
                    if _finished(future):
                        self._record(future.result())
                if len(lost) == 1 and lost[0] in self.suspects:  # it ran alone: it killed its worker
                    self._died(lost[0])
                else:
                    self.suspects.update(lost)
                raise

    def _done(self) -> tuple[bool, str | None]:
        """Whether the run is done (enough successes in the prefix, the attempt limit, or most attempts
        raised), and why it must stop early if so."""
        kept, attempts = self.state.prefix(self.config.num_demos, self.config.attempt_limit)
        reason = self._error_stop()
        return len(kept) >= self.config.num_demos or attempts >= self.config.attempt_limit or reason is not None, \
            reason

    def _next(self, busy: set[int], free: int) -> list[int]:
        """The next attempts to start on `free` idle workers: the lowest indices after the finished prefix
        that are neither finished nor running. One attempt per worker and none queued, so that an
        interruption leaves no attempt run for nothing."""
        _, index = self.state.prefix(self.config.num_demos, self.config.attempt_limit)
        chosen = []
        while len(chosen) < free and index < self.config.attempt_limit:
            if index not in self.state.results and index not in busy:
                chosen.append(index)
            index += 1
        return chosen

    def _finish(self, pool: ProcessPoolExecutor, pending: dict[Future, int]) -> None:
        """Cancel what has not started, wait for the running attempts and record them."""
        pool.shutdown(wait=True, cancel_futures=True)
        for future in list(pending):
            if _finished(future):
                result = future.result()
                del pending[future]
                self._record(result)

    def _died(self, index: int) -> None:
        """Attempt `index` killed its worker: it fails the second time (once may be a kill from outside)."""
        self.deaths[index] += 1
        if self.deaths[index] >= 2:
            self._record(AttemptResult(index, attempt_seed(self.config.seed, index), False, 0,
                                       "the worker process died during this attempt"))

    def _record(self, result: AttemptResult) -> None:
        self.suspects.discard(result.index)
        self.state.record(result)
        self.fresh["attempts"] += 1
        self.fresh["successes"] += result.success

    def _error_stop(self) -> str | None:
        results = self.state.results.values()
        errors = [result.error for result in results if result.error is not None]
        if len(results) >= ERROR_STOP_MIN_ATTEMPTS and len(errors) > ERROR_STOP_FRACTION * len(results):
            return f"{len(errors)} of {len(results)} attempts raised an error (first: {errors[0]})"
        return None


class _RayRun(_Run):
    """The attempts of one `generate` call on Ray actors (`ray_backend.RayWorkers`), same prefix rule. The
    actors return kept episodes and the driver writes their shards, so the work folder need not be shared
    with the cluster. An actor that dies is replaced and its attempt run again; an attempt whose actor dies
    twice is recorded as failed (Ray says which attempt each dead actor was running)."""

    def __init__(self, config: GenerationConfig, state: RunState, workers: int,
                 progress: Callable[[dict[str, Any]], None] | None, address: str | None):
        super().__init__(config, state, workers, progress)
        self.address = address

    def attempt_until_done(self) -> str | None:
        from dmg_envs.datagen.ray_backend import RayWorkers

        with RayWorkers(self.config, self.workers, self.address) as workers:
            try:
                while True:
                    done, reason = self._done()
                    if done:
                        self._take(workers.drain())
                        return reason
                    for index in self._next(workers.busy, workers.free):
                        workers.submit(index)
                    if not workers.running:
                        return None
                    self._take(workers.wait())
                    if self.progress is not None:
                        self.progress(_summary(self.config, self.state, self))
            except KeyboardInterrupt:
                self._take(workers.drain())  # running attempts finish and are kept
                raise

    def _take(self, finished: list[tuple[int, tuple[AttemptResult, Episode | None] | None]]) -> None:
        for index, outcome in finished:
            if outcome is None:
                self._died(index)  # until then it is simply run again
            else:
                self._record(keep_episode(self.state.folder, *outcome))


def _finished(future: Future) -> bool:
    """Whether an attempt's future holds its result (not cancelled, not broken with its pool)."""
    return future.done() and not future.cancelled() and future.exception() is None


def _load(state: RunState, results: list[AttemptResult]) -> tuple[ShardEpisodes, dict[int, str]]:
    """The episodes of `results` (read again from their shards when used, so that none is held), and why
    each unreadable one could not be read, by attempt index."""
    readable, unreadable = [], {}
    for result in results:
        try:
            state.load(result)
            readable.append(result)
        except ShardError as error:
            unreadable[result.index] = str(error)
    return ShardEpisodes(state.folder, readable), unreadable


def _load_kept(config: GenerationConfig, state: RunState) -> tuple[ShardEpisodes, list[str]]:
    """The kept attempts' episodes, and the unreadable shards found on the way: those are named and
    forgotten, so that their attempts run again (the kept prefix then ends before them)."""
    named = []
    while True:
        episodes, unreadable = _load(state, state.prefix(config.num_demos, config.attempt_limit)[0])
        if not unreadable:
            return episodes, named
        for index, message in unreadable.items():
            state.forget(index)
            named.append(message)


def _load_failures(config: GenerationConfig, state: RunState) -> tuple[ShardEpisodes, list[str]]:
    """The failed attempts' episodes, and the unreadable ones (a failure is not run again: it is left out,
    and said)."""
    _, attempts = state.prefix(config.num_demos, config.attempt_limit)
    failed = [state.results[i] for i in range(attempts)
              if not state.results[i].success and state.results[i].error is None]
    episodes, unreadable = _load(state, failed)
    return episodes, list(unreadable.values())


def _same_run(config: GenerationConfig) -> bool:
    """Whether the existing dataset was written by this run (being resumed, or extended to more demos):
    then the new dataset holds all of its episodes and replacing it loses nothing."""
    import minari

    written = minari.load_dataset(config.dataset_id).storage.metadata.get("dmg_generation", {})
    same = all(written.get(key) == value for key, value in config.identity().items())
    return same and config.num_demos >= written.get("num_demos", math.inf)


def _summary(config: GenerationConfig, state: RunState, run: _Run) -> dict[str, Any]:
    kept, attempts = state.prefix(config.num_demos, config.attempt_limit)
    in_run = [state.results[index] for index in range(attempts)]
    errors = [result.error for result in in_run if result.error is not None]
    seconds = time.perf_counter() - run.started
    return {"dataset_id": config.dataset_id, "kept": len(kept), "num_demos": config.num_demos,
            "attempts": attempts, "successes": len(kept), "success_rate": success_rate(len(kept), attempts),
            "errors": len(errors), "error_examples": sorted(set(errors))[:3],
            "finished_attempts": len(state.results), "seconds": round(seconds, 2),
            "attempts_this_call": run.fresh["attempts"], "workers": run.workers,
            "demos_per_second": round(run.fresh["successes"] / seconds, 3) if seconds > 0 else 0.0}
