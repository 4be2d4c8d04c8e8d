"""One generation attempt: an episode of the generator from one seed, kept in a shard if wanted.

Each worker process builds its env, source demo and generator once (`AttemptRunner`) and then runs
attempts by index. An attempt's result depends only on (config, attempt seed), so a dataset is the same
whatever runs it and in whatever order.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from dmg_envs.datagen.config import GenerationConfig, attempt_seed
from dmg_envs.datagen.shards import AttemptResult, Episode, write_shard
from dmg_envs.datagen.source import SourceDemo, load_source_demos
from dmg_envs.errors import InvalidConfigError
from dmg_envs.registration import TASKS

SUCCESS_HOLD_STEPS = 5  # steps an episode goes on after the task is first solved


def make_env(config: GenerationConfig) -> gym.Env:
    """The (dynamic) env a run generates in."""
    import dmg_envs

    images = {"render_observations": config.image_cameras} if config.images else {}
    return dmg_envs.make(config.env_id, dynamics=config.dynamics, reset_distribution=config.reset_distribution,
                         **images)


def load_demo(config: GenerationConfig) -> SourceDemo:
    demos = load_source_demos(config.source_path())
    if not 0 <= config.source_index < len(demos):
        raise InvalidConfigError(f"source {config.source!r} has {len(demos)} demos; index {config.source_index} "
                                 f"is out of range")
    demo = demos[config.source_index]
    if demo.env_id != config.env_id:
        raise InvalidConfigError(f"source {config.source!r} was recorded in {demo.env_id}, not in {config.env_id}")
    return demo


def policy_rng(seed: int) -> np.random.Generator:
    """A policy's own generator for an episode seed: a stream independent of the env's (which
    `reset(seed=seed)` seeds with the same number)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))


def _with_noise(action: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """`action` with Gaussian noise on each arm's six motion commands (the gripper commands are kept)."""
    action = np.array(action, dtype=np.float32)
    per_arm = action.reshape(-1, 7)  # a view: 7 values per arm
    per_arm[:, :6] = np.clip(per_arm[:, :6] + rng.normal(0.0, noise, size=(len(per_arm), 6)), -1.0, 1.0)
    return action


class AttemptRunner:
    """A worker's env, demo and generator, built once per process.

    Args:
        config: the run.
        folder: where episodes are written (None: nowhere, for benchmarks that only count successes).
        env: the env to generate in; None: the run's (`make_env`).
        demo: the source demo; None: the run's (`load_demo`). A Ray actor gets the driver's, so that no node
            records demos of its own.
    """

    def __init__(self, config: GenerationConfig, folder: Path | None = None, env: gym.Env | None = None,
                 demo: SourceDemo | None = None):
        self.config, self.folder = config, folder
        self.env = make_env(config) if env is None else env
        self.demo = load_demo(config) if demo is None else demo
        if config.generator == "dmp":
            from dmg_envs.datagen.expert import DMPExpert

            self.expert = DMPExpert(self.env, self.demo, **TASKS[config.task].expert_kwargs)

    def run(self, seed: int) -> Episode:
        """The generator's episode from `seed`, until it has held success for `SUCCESS_HOLD_STEPS` steps or
        for `max_steps`. It succeeds if it held success that long, or if it is in success when its steps
        run out (then it could not be held longer); success reached and lost again is a failure."""
        config = self.config
        # The DMP expert acts in closed loop: with noise, its action before the noise is recorded too.
        noisy_expert = config.generator == "dmp" and config.action_noise > 0
        if config.generator == "dmp":
            env = self.expert
            obs, info = env.reset(seed=seed)
            policy: Callable[[Any], np.ndarray] = lambda observation: self.expert.predict(observation)[0]  # noqa: E731
            noise_rng = policy_rng(seed)
        else:
            from dmg_envs.datagen.mimicgen import MimicGenPolicy

            env = self.env
            obs, info = env.reset(seed=seed)
            policy = MimicGenPolicy(env, self.demo, policy_rng(seed), noise=config.action_noise)
        observations, actions, expert_actions, rewards = [obs], [], [], []
        solved_for = 0
        for _ in range(config.max_steps):
            action = policy(obs)
            if noisy_expert:
                expert_actions.append(np.array(action, dtype=np.float32))  # float32, as the executed actions
                action = _with_noise(action, config.action_noise, noise_rng)
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
                       rewards=np.array(rewards, dtype=np.float64),
                       expert_actions=np.array(expert_actions, dtype=np.float32) if noisy_expert else None)

    def attempt_episode(self, index: int) -> tuple[AttemptResult, Episode | None]:
        """Run attempt `index`; returns how it went and its episode if the run keeps it (a success, or any
        finished attempt with `keep_failures`), else None. An exception in the attempt is its failure,
        reported with the error, not the run's end."""
        seed = attempt_seed(self.config.seed, index)
        try:
            episode = self.run(seed)
        except Exception as error:  # noqa: BLE001 - one attempt's fault must not end a long run
            return AttemptResult(index, seed, False, 0, f"{type(error).__name__}: {error}"), None
        kept = episode.success or self.config.keep_failures
        return AttemptResult(index, seed, episode.success, len(episode.actions)), episode if kept else None

    def attempt(self, index: int) -> AttemptResult:
        """Run attempt `index`, write its shard if it is kept, and say how it went."""
        result, episode = self.attempt_episode(index)
        return result if self.folder is None else keep_episode(self.folder, result, episode)


def keep_episode(folder: Path, result: AttemptResult, episode: Episode | None) -> AttemptResult:
    """Write a kept attempt's shard; a shard that cannot be written fails the attempt (resume retries it)."""
    if episode is not None:
        try:
            write_shard(folder, episode)
        except Exception as error:  # noqa: BLE001 - a full disk fails this attempt, not the run
            return AttemptResult(result.index, result.seed, False, 0, f"{type(error).__name__}: {error}")
    return result


_RUNNER: AttemptRunner | None = None


def worker_init(config: GenerationConfig, folder: Path) -> None:
    """Process-pool initializer: die with the driver, build the runner; leave Ctrl-C to the driver, which
    lets running attempts finish and cancels the queued ones."""
    global _RUNNER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    _RUNNER = AttemptRunner(config, folder)


def die_with_parent() -> None:
    """End this worker process when its parent (the driver, or the forkserver that dies with it) ends, even
    by SIGKILL: an orphaned pool worker would otherwise wait for work forever, or run on beside the run
    that resumes. Linux: the kernel's parent-death signal; elsewhere a thread that watches the parent."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent ended before the signal was asked for
        os._exit(1)


def worker_attempt(index: int) -> AttemptResult:
    assert _RUNNER is not None, "worker_init has not run in this process"
    return _RUNNER.attempt(index)
