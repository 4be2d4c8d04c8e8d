"""Generation runs: attempts on fresh seeds, successes kept, shards on disk, a Minari dataset at the end.

Every finished attempt is written at once to the run's work folder (one small file per episode and a
log line), so an interrupted run (Ctrl-C, a crash) loses nothing: `generate` writes a dataset from what
is there, and calling it again with the same arguments resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import pickle
import platform
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from dmg_envs.datagen.source import SourceDemo, load_source_demos
from dmg_envs.errors import DmgError, InvalidConfigError
from dmg_envs.registration import MAX_EPISODE_STEPS

TASKS = {"stack": "dmg/Stack-v0"}
GENERATORS = ("dmp", "mimicgen")
GENERATOR_NAMES = {"dmp": "DynaMimicGen DMP expert", "mimicgen": "MimicGen baseline"}
DEMOS_DIR = Path(__file__).resolve().parents[1] / "assets" / "demos"
SUCCESS_HOLD_STEPS = 5  # steps an episode goes on after the task is first solved
SEED_OFFSET = 10_000  # generation seeds start here, away from the seeds the source demos used


class GenerationError(DmgError, RuntimeError):
    """A generation run that cannot proceed (existing dataset, mismatched resume, ...)."""


@dataclass(frozen=True)
class GenerationConfig:
    """What a generation run makes. Two runs with the same config make the same dataset.

    Attributes:
        task: a key of `TASKS`.
        source: shipped source-demo file ("stack_1", "stack_10") or a path to one.
        source_index: which demo of the file to generate from.
        num_demos: successful episodes to keep.
        dynamics: a dynamics preset (`dmg_envs.wrappers.PRESETS`).
        generator: "dmp" (D-MG) or "mimicgen" (the baseline).
        seed: the first attempt's seed is SEED_OFFSET + seed; attempt i uses the next i.
        max_steps: an attempt that has not succeeded by then fails.
        reset_distribution: "D0" or "D1".
        max_attempts: the run stops after this many attempts even if short of `num_demos` (default
            10 x num_demos + 50), so a generator that cannot succeed does not run forever.
        keep_failures: also write the failed attempts, as the dataset `failures_dataset_id`.
    """

    task: str = "stack"
    source: str = "stack_1"
    source_index: int = 0
    num_demos: int = 20
    dynamics: str = "static"
    generator: str = "dmp"
    seed: int = 0
    max_steps: int = 300
    reset_distribution: str = "D0"
    max_attempts: int | None = None
    keep_failures: bool = False

    @property
    def attempt_limit(self) -> int:
        return self.max_attempts if self.max_attempts is not None else 10 * self.num_demos + 50

    def __post_init__(self):
        from dmg_envs.wrappers.presets import PRESETS

        if self.task not in TASKS:
            raise InvalidConfigError(f"task {self.task!r} is not valid; choose one of {', '.join(map(repr, TASKS))}")
        if self.generator not in GENERATORS:
            raise InvalidConfigError(f"generator {self.generator!r} is not valid; choose one of {GENERATORS}")
        if self.dynamics not in PRESETS:
            raise InvalidConfigError(f"dynamics {self.dynamics!r} is not a preset; choose one of {sorted(PRESETS)}")
        if self.num_demos < 1:
            raise InvalidConfigError(f"num_demos must be at least 1, got {self.num_demos}")
        if self.reset_distribution not in ("D0", "D1"):
            raise InvalidConfigError(
                f"reset_distribution {self.reset_distribution!r} is not valid; choose 'D0' or 'D1'")
        if not 1 <= self.max_steps <= MAX_EPISODE_STEPS[self.env_id]:
            raise InvalidConfigError(f"max_steps must lie in [1, {MAX_EPISODE_STEPS[self.env_id]}] (the env's time "
                                     f"limit), got {self.max_steps}")
        if self.max_attempts is not None and self.max_attempts < self.num_demos:
            raise InvalidConfigError(
                f"max_attempts ({self.max_attempts}) must be at least num_demos ({self.num_demos})")

    @property
    def env_id(self) -> str:
        return TASKS[self.task]

    @property
    def dataset_id(self) -> str:
        return f"dmg/{self.task}/{self.generator}-{self.dynamics}-v0"

    @property
    def failures_dataset_id(self) -> str:
        return f"dmg/{self.task}/{self.generator}-{self.dynamics}-failures-v0"

    def source_path(self) -> Path:
        shipped = DEMOS_DIR / f"{self.source}.hdf5"
        return shipped if shipped.exists() else Path(self.source)


@dataclass
class Episode:
    """One attempt's record (observations has one more row than actions)."""

    seed: int
    success: bool
    observations: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray


# ---------------------------------------------------------------------------------------------- attempts
def make_env(config: GenerationConfig) -> gym.Env:
    import dmg_envs

    return dmg_envs.make(config.env_id, dynamics=config.dynamics, reset_distribution=config.reset_distribution)


def load_demo(config: GenerationConfig) -> SourceDemo:
    demos = load_source_demos(config.source_path())
    if not 0 <= config.source_index < len(demos):
        raise InvalidConfigError(f"source {config.source!r} has {len(demos)} demos; index {config.source_index} "
                                 f"is out of range")
    return demos[config.source_index]


class _Attempts:
    """A worker's env, demo and policy, built once per process."""

    def __init__(self, config: GenerationConfig):
        self.config = config
        self.env = make_env(config)
        self.demo = load_demo(config)
        if config.generator == "dmp":
            from dmg_envs.wrappers.dmp_expert import DMPExpert

            self.expert = DMPExpert(self.env, self.demo)

    def run(self, seed: int) -> Episode:
        config = self.config
        if config.generator == "dmp":
            env = self.expert
            obs, info = env.reset(seed=seed)
            policy: Callable[[Any], np.ndarray] = lambda observation: self.expert.predict(observation)[0]  # noqa: E731
        else:
            from dmg_envs.datagen.mimicgen import MimicGenPolicy

            env = self.env
            obs, info = env.reset(seed=seed)
            policy = MimicGenPolicy(env, self.demo, policy_rng(seed))
        observations, actions, rewards = [obs], [], []
        solved_for = 0
        for _ in range(config.max_steps):
            action = policy(obs)
            obs, reward, terminated, truncated, info = env.step(action)
            observations.append(obs)
            actions.append(action)
            rewards.append(reward)
            solved_for = solved_for + 1 if info["is_success"] else 0
            if solved_for > SUCCESS_HOLD_STEPS or terminated or truncated:
                break
        stacked = {key: np.array([o[key] for o in observations]) for key in observations[0]}
        return Episode(seed=seed, success=solved_for > SUCCESS_HOLD_STEPS or bool(info["is_success"]),
                       observations=stacked, actions=np.array(actions, dtype=np.float32),
                       rewards=np.array(rewards, dtype=np.float64))


def policy_rng(seed: int) -> np.random.Generator:
    """A policy's own generator for an episode seed: a stream independent of the env's (which
    `reset(seed=seed)` seeds with the same number)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))


_WORKER: _Attempts | None = None


def _worker_init(config: GenerationConfig) -> None:
    global _WORKER
    _WORKER = _Attempts(config)


def _worker_run(seed: int) -> Episode:
    assert _WORKER is not None
    return _WORKER.run(seed)


# ---------------------------------------------------------------------------------------------- the run
@dataclass
class RunState:
    """What the work folder holds: every finished attempt's outcome, and the successes' episode files."""

    outcomes: dict[int, bool]
    folder: Path

    @classmethod
    def open(cls, folder: Path, config: GenerationConfig) -> RunState:
        folder.mkdir(parents=True, exist_ok=True)
        config_file = folder / "config.json"
        if config_file.exists():
            # The same run may ask for more (or fewer) demos; anything else is another run.
            previous = json.loads(config_file.read_text())
            if _run_identity(previous) != _run_identity(asdict(config)):
                raise GenerationError(f"{folder} holds a run with another configuration ({previous}); "
                                      f"remove it or use another --work-dir")
        config_file.write_text(json.dumps(asdict(config), indent=2))
        outcomes = {}
        log = folder / "attempts.jsonl"
        if log.exists():
            for line in log.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interruption: that attempt is simply run again
                if not entry["success"] or (folder / f"episode_{entry['seed']}.pkl").exists():
                    outcomes[int(entry["seed"])] = bool(entry["success"])
        return cls(outcomes, folder)

    def record(self, episode: Episode, keep_failures: bool = False) -> None:
        if episode.success or keep_failures:
            partial = self.folder / f"episode_{episode.seed}.pkl.partial"
            with open(partial, "wb") as file:
                pickle.dump(episode, file)
            partial.replace(self.folder / f"episode_{episode.seed}.pkl")
        with open(self.folder / "attempts.jsonl", "a") as log:
            entry = {"seed": episode.seed, "success": episode.success, "steps": len(episode.actions)}
            log.write(json.dumps(entry) + "\n")
        self.outcomes[episode.seed] = episode.success

    def kept_seeds(self, first_seed: int, num_demos: int, attempt_limit: int | None = None) -> tuple[list[int], int]:
        """The successes among the unbroken run of finished seeds from `first_seed` (at most `num_demos`,
        within `attempt_limit` attempts), and how many attempts that run took: what the dataset holds does
        not depend on worker timing."""
        kept, seed = [], first_seed
        while seed in self.outcomes and len(kept) < num_demos and (attempt_limit is None
                                                                   or seed - first_seed < attempt_limit):
            if self.outcomes[seed]:
                kept.append(seed)
            seed += 1
        return kept, seed - first_seed

    def load(self, seed: int) -> Episode:
        with open(self.folder / f"episode_{seed}.pkl", "rb") as file:
            return pickle.load(file)


def generate(config: GenerationConfig, work_dir: str | Path | None = None, workers: int = 2,
             overwrite: bool = False, progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run attempts until `config.num_demos` successes, then write the Minari dataset `config.dataset_id`.

    Returns a summary (dataset id and path, attempts, successes, success rate, seconds, demos/s,
    interrupted, exhausted). On KeyboardInterrupt the dataset is written from the successes so far (if
    any) and the summary says `interrupted`; run again to resume. If `config.attempt_limit` attempts give
    fewer than `num_demos` successes, the dataset holds those and the summary says `exhausted`.
    """
    import minari

    if not overwrite and config.dataset_id in minari.list_local_datasets() and not _same_run(config):
        raise GenerationError(f"dataset {config.dataset_id!r} exists; pass overwrite=True (--overwrite) to replace it")
    load_demo(config)  # fail early on a bad source
    folder = Path(work_dir) if work_dir is not None else Path("dmg-work") / config.dataset_id.replace("/", "_")
    state = RunState.open(folder, config)
    first_seed = SEED_OFFSET + config.seed
    start, interrupted = time.perf_counter(), False
    fresh = [0, 0]  # attempts and successes of this call
    try:
        kept, _ = state.kept_seeds(first_seed, config.num_demos)
        if len(kept) < config.num_demos:
            with ProcessPoolExecutor(workers, initializer=_worker_init, initargs=(config,)) as pool:
                pending, next_seed = set(), first_seed
                limit = first_seed + config.attempt_limit
                while True:
                    kept, attempts = state.kept_seeds(first_seed, config.num_demos, config.attempt_limit)
                    if len(kept) >= config.num_demos or attempts >= config.attempt_limit:
                        break
                    while len(pending) < 2 * workers:  # keep every worker busy, with one queued each
                        while next_seed in state.outcomes:
                            next_seed += 1
                        if next_seed >= limit:
                            break
                        pending.add(pool.submit(_worker_run, next_seed))
                        next_seed += 1
                    if not pending:
                        break
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        episode = future.result()
                        state.record(episode, config.keep_failures)
                        fresh[0] += 1
                        fresh[1] += episode.success
                    if progress is not None:
                        progress(_summary(config, state, first_seed, time.perf_counter() - start, fresh))
                for future in pending:
                    future.cancel()
    except KeyboardInterrupt:
        interrupted = True
    summary = _summary(config, state, first_seed, time.perf_counter() - start, fresh)
    summary["interrupted"] = interrupted
    kept, attempts = state.kept_seeds(first_seed, config.num_demos, config.attempt_limit)
    summary["exhausted"] = not interrupted and len(kept) < config.num_demos
    # The expert's reference score: the mean return of the successes (sparse reward: steps in success).
    reference = float(np.mean([state.load(seed).rewards.sum() for seed in kept])) if kept else 1.0
    if kept:
        summary["dataset_path"] = str(write_dataset(config, state, kept, attempts, reference))
    failed = [seed for seed in range(first_seed, first_seed + attempts) if not state.outcomes.get(seed, True)]
    if config.keep_failures and failed:
        summary["failures_dataset_path"] = str(write_dataset(config, state, failed, attempts, reference,
                                                             failures=True))
        summary["failures_dataset_id"] = config.failures_dataset_id
    return summary


def _run_identity(config: dict[str, Any]) -> dict[str, Any]:
    """What makes two configurations the same run: everything but how many demos and attempts it asks for."""
    return {key: value for key, value in config.items() if key not in ("num_demos", "max_attempts")}


def _same_run(config: GenerationConfig) -> bool:
    """Whether the existing dataset was written by this run (being resumed, or extended to more demos):
    then the new dataset holds all of its episodes and replacing it loses nothing."""
    import minari

    written = minari.load_dataset(config.dataset_id).storage.metadata.get("dmg_generation", {})
    same = all(written.get(key) == value for key, value in _run_identity(asdict(config)).items())
    return same and config.num_demos >= written.get("num_demos", math.inf)


def _summary(config: GenerationConfig, state: RunState, first_seed: int, seconds: float,
             fresh: list[int]) -> dict[str, Any]:
    kept, attempts = state.kept_seeds(first_seed, config.num_demos, config.attempt_limit)
    finished = len(state.outcomes)
    successes = sum(state.outcomes.values())
    return {"dataset_id": config.dataset_id, "kept": len(kept), "num_demos": config.num_demos,
            "attempts": attempts, "finished_attempts": finished,
            "success_rate": successes / finished if finished else 0.0,
            "seconds": round(seconds, 2), "attempts_this_call": fresh[0],
            "demos_per_second": round(fresh[1] / seconds, 3) if seconds > 0 else 0.0}


# ---------------------------------------------------------------------------------------------- Minari
def write_dataset(config: GenerationConfig, state: RunState, seeds: list[int], attempts: int,
                  reference_score: float, failures: bool = False) -> Path:
    """Write the episodes of `seeds` as the Minari dataset `config.dataset_id` (or, with `failures`,
    `config.failures_dataset_id`), replacing an older one. Reference scores: 0 (random actions never
    stack) and `reference_score` (the generator's successes)."""
    import minari
    from minari.data_collector import EpisodeBuffer

    dataset_id = config.failures_dataset_id if failures else config.dataset_id
    if dataset_id in minari.list_local_datasets():
        minari.delete_dataset(dataset_id)
    buffers = []
    for index, seed in enumerate(seeds):
        episode = state.load(seed)
        steps = len(episode.actions)
        truncations = np.zeros(steps, dtype=bool)
        truncations[-1] = True  # generation stops the episode; the task itself never terminates it
        buffers.append(EpisodeBuffer(id=index, seed=seed, options=None,
                                     observations={k: list(v) for k, v in episode.observations.items()},
                                     actions=list(episode.actions), rewards=list(episode.rewards),
                                     terminations=list(np.zeros(steps, dtype=bool)), truncations=list(truncations)))
    env = make_env(config)
    demo = load_demo(config)
    dataset = minari.create_dataset_from_buffers(
        dataset_id=dataset_id, buffer=buffers, env=env.spec, eval_env=env.spec,
        algorithm_name=f"dmg-envs {config.generator} generator ({GENERATOR_NAMES[config.generator]})",
        author="dmg-envs", author_email="dmg-envs@users.noreply.github.com",
        code_permalink="https://pypi.org/project/dmg-envs/",
        ref_min_score=0.0, ref_max_score=reference_score,
        description=(f"{len(seeds)} {'failed' if failures else 'successful'} {config.task} demonstrations "
                     f"generated by the {config.generator} generator from source demo "
                     f"{config.source}[{config.source_index}] under the '{config.dynamics}' dynamics preset "
                     f"({attempts} attempts)."),
        requirements=_requirements())
    env.close()
    dataset.storage.update_metadata({"dmg_generation": {
        **asdict(config), "dataset_id": dataset_id, "failures": failures, "source_seed": demo.seed,
        "dynamics_wrappers": [asdict(wrapper) for wrapper in (env.spec.additional_wrappers or ())],
        "episode_seeds": seeds, "attempts": attempts,
        "successes": attempts - len(seeds) if failures else len(seeds),
        "success_rate": (attempts - len(seeds) if failures else len(seeds)) / attempts,
        "package_version": _version("dmg-envs"),
        "python": platform.python_version()}})
    return Path(dataset.storage.data_path).parent


def _version(package: str) -> str:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def _requirements() -> list[str]:
    return [f"{name}=={_version(name)}" for name in ("dmg-envs", "mujoco", "gymnasium", "minari", "numpy")]


