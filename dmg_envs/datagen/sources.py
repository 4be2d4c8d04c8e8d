"""Making source-demo files with the tasks' scripted demonstrators (what `dmg source` runs)."""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path

import gymnasium as gym
import mujoco

from dmg_envs.datagen.attempts import policy_rng
from dmg_envs.datagen.config import DEMOS_DIR, SOURCE_NAME, dmg_cache_dir
from dmg_envs.datagen.source import SourceDemo, SourceDemoError, record_episode, save_source_demos
from dmg_envs.errors import GenerationError, InvalidConfigError
from dmg_envs.registration import TASKS, load_object


def record_demo(env: gym.Env, task: str, seed: int) -> SourceDemo:
    """One episode of `task`'s scripted demonstrator in `env` (an env of that task) from episode `seed`,
    recorded as `dmg source` records it (successful or not)."""
    if task not in TASKS:
        raise InvalidConfigError(f"task {task!r} is not valid; choose one of {', '.join(map(repr, TASKS))}")
    entry = TASKS[task]
    if env.spec is None or env.spec.id != entry.env_id:
        raise InvalidConfigError(f"record_demo({task!r}) needs an env made as {entry.env_id!r}, got "
                                 f"{None if env.spec is None else env.spec.id!r}")
    demonstrator = load_object(entry.demonstrator)
    demo = record_episode(env, demonstrator(policy_rng(seed)), seed=seed, max_steps=entry.max_episode_steps,
                          until_done=entry.demos_let_go)
    demo.attrs.update(demonstrator=demonstrator.__name__, mujoco=mujoco.__version__)
    return demo


def make_source_demos(task: str, count: int, seed: int = 0, max_tries: int = 100,
                      reset_distribution: str = "D0") -> list[SourceDemo]:
    """`count` successful demos of `task` from consecutive episode seeds starting at `seed` (failed tries
    are skipped); the demonstrator's noise comes from its own stream of the episode seed (`policy_rng`):
    same arguments, same demos."""
    if task not in TASKS:  # before an env is made for it
        raise InvalidConfigError(f"task {task!r} is not valid; choose one of {', '.join(map(repr, TASKS))}")
    env = gym.make(TASKS[task].env_id, reset_distribution=reset_distribution)
    demos, episode_seed = [], seed
    while len(demos) < count:
        if episode_seed - seed >= max_tries + count:
            raise GenerationError(f"the {task} demonstrator failed too often ({episode_seed - seed} tries)")
        demo = record_demo(env, task, episode_seed)
        if demo.success:
            demos.append(demo)
        episode_seed += 1
    env.close()
    return demos


def write_source_demos(task: str, count: int, path: str | Path, seed: int = 0) -> Path:
    return save_source_demos(path, make_source_demos(task, count, seed))


@functools.cache
def _code_digest() -> str:
    """A short hash of dmg-envs' code and models, on which recorded demos depend."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".xml")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def source_file(name: str) -> Path | None:
    """The file a source-demo name stands for.

    Args:
        name: "<task>_<n>" (`SOURCE_NAME`): the first n successful demos of the task's demonstrator from episode
            seed 0, what `dmg source <task> -n <n>` writes.

    Returns:
        The shipped `<name>.hdf5` if there is one; else, for a registered task, the file recorded on first use
        (announced by a logged warning) into `dmg_cache_dir()/source-demos/mujoco-<version>-<code hash>/`
        (the demos depend on both; Pouring's 10, 5.7 MB of MuJoCo states, come this way instead of being
        shipped); None if `name` is no such name.

    Raises:
        SourceDemoError: the demos could not be written to the cache.
        GenerationError: the demonstrator failed too often to make n successful demos.
    """
    shipped = DEMOS_DIR / f"{name}.hdf5"
    if shipped.exists():
        return shipped
    match = SOURCE_NAME.fullmatch(name)
    if match is None or match["task"] not in TASKS:
        return None
    path = dmg_cache_dir() / "source-demos" / f"mujoco-{mujoco.__version__}-{_code_digest()}" / f"{name}.hdf5"
    if not path.exists():
        # a warning, so that it shows without any logging set up: a first use that takes seconds says why
        logging.getLogger(__name__).warning("recording the %s source demos into %s (first use)", name, path)
        try:
            write_source_demos(match["task"], int(match["count"]), path)
        except OSError as error:
            raise SourceDemoError(f"could not write the {name} source demos to {str(path)!r}: {error}") from error
    return path
