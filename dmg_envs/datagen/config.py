"""What a generation run makes (`GenerationConfig`) and how its attempts are seeded."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmg_envs.errors import InvalidConfigError
from dmg_envs.registration import TASKS, load_object

GENERATORS = ("dmp", "mimicgen")
GENERATOR_NAMES = {"dmp": "DynaMimicGen DMP expert", "mimicgen": "MimicGen baseline"}
DEFAULT_ACTION_NOISE = {"dmp": 0.0, "mimicgen": 0.05}  # MimicGen replays with noise 0.05, as published
DEMOS_DIR = Path(__file__).resolve().parents[1] / "assets" / "demos"
# "<task>_<n>": the first n successful demos of the task's demonstrator from episode seed 0, what
# `dmg source <task> -n <n>` writes (`dmg_envs.datagen.sources.source_file`)
SOURCE_NAME = re.compile(r"(?P<task>\w+?)_(?P<count>[1-9][0-9]*)")
MAX_RUN_SEED = 2**31 - 2  # so that every attempt seed fits a signed 64-bit integer (Minari, NumPy)
# Attempt seeds of different runs never meet, nor meet the small seeds that source demos and evaluation
# use: each run seed owns a block of 2**32 attempt seeds above 2**32.
SEED_DERIVATION = "episode seed = (run seed + 1) * 2**32 + attempt index"


def dmg_cache_dir() -> Path:
    """dmg-envs' folder in the user's cache: `$XDG_CACHE_HOME/dmg-envs`, else ~/.cache/dmg-envs."""
    root = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(root) if os.path.isabs(root) else Path.home() / ".cache") / "dmg-envs"


def attempt_seed(run_seed: int, index: int) -> int:
    """The episode seed of attempt `index` of the run with seed `run_seed` (`SEED_DERIVATION`)."""
    return (run_seed + 1) * 2**32 + index


@dataclass(frozen=True)
class GenerationConfig:
    """What a generation run makes. Two runs with the same config make the same dataset.

    Attributes:
        task: a key of the task table (`dmg_envs.registration.TASKS`): "stack", "mug_drawer", "tray_lift", "pouring".
        source: a source-demo name "<task>_<n>" (`dmg_envs.datagen.sources.source_file`: shipped, or recorded
            on first use) or a path to a source-demo file; None: "<task>_1".
        source_index: which demo of the file to generate from.
        num_demos: successful episodes to keep.
        dynamics: a dynamics preset (`dmg_envs.wrappers.PRESETS`).
        generator: "dmp" (D-MG) or "mimicgen" (the baseline).
        seed: the run's seed, in [0, 2**31); attempt i uses `attempt_seed(seed, i)`.
        max_steps: an attempt that has not succeeded by then fails; None: the task's episode limit.
        reset_distribution: "D0" or "D1".
        max_attempts: the run stops after this many attempts even if short of `num_demos` (default
            10 x num_demos + 50), so a generator that cannot succeed does not run forever.
        keep_failures: also write the failed attempts, as the dataset `failures_dataset_id`.
        action_noise: standard deviation of Gaussian noise added to the arm's actions (a multiple of 0.01);
            None: the generator's own (D-MG 0, MimicGen 0.05). The DMP expert corrects its noise in closed
            loop, so its demos cover states around the path. Another value is named in the dataset id.
        images: also record camera frames (`image_cameras`: the front camera and each arm's eye-in-hand,
            84x84 uint8) in the observations; named in the dataset id (`-images`).
    """

    task: str = "stack"
    source: str | None = None
    source_index: int = 0
    num_demos: int = 20
    dynamics: str = "static"
    generator: str = "dmp"
    seed: int = 0
    max_steps: int | None = None
    reset_distribution: str = "D0"
    max_attempts: int | None = None
    keep_failures: bool = False
    action_noise: float | None = None
    images: bool = False

    def __post_init__(self):
        from dmg_envs.wrappers.presets import PRESETS

        if self.task not in TASKS:
            raise InvalidConfigError(f"task {self.task!r} is not valid; choose one of {', '.join(map(repr, TASKS))}")
        limit = TASKS[self.task].max_episode_steps
        # Defaults resolved here, so that a config records what it ran with.
        object.__setattr__(self, "source", f"{self.task}_1" if self.source is None else os.fspath(self.source))
        object.__setattr__(self, "max_steps", limit if self.max_steps is None else self.max_steps)
        named = SOURCE_NAME.fullmatch(self.source)
        if named and named["task"] in TASKS and named["task"] != self.task:
            raise InvalidConfigError(f"source {self.source!r} holds {named['task']} demos, not {self.task} ones")
        if self.generator not in GENERATORS:
            raise InvalidConfigError(f"generator {self.generator!r} is not valid; choose one of {GENERATORS}")
        if self.dynamics not in PRESETS:
            raise InvalidConfigError(f"dynamics {self.dynamics!r} is not a preset; choose one of {sorted(PRESETS)}")
        if self.num_demos < 1:
            raise InvalidConfigError(f"num_demos must be at least 1, got {self.num_demos}")
        if not 0 <= self.seed <= MAX_RUN_SEED:
            raise InvalidConfigError(f"seed must lie in [0, {MAX_RUN_SEED}], got {self.seed}")
        if self.reset_distribution not in ("D0", "D1"):
            raise InvalidConfigError(
                f"reset_distribution {self.reset_distribution!r} is not valid; choose 'D0' or 'D1'")
        if not 1 <= self.max_steps <= limit:
            raise InvalidConfigError(f"max_steps must lie in [1, {limit}] (the env's time limit), got {self.max_steps}")
        default_noise = DEFAULT_ACTION_NOISE[self.generator]
        object.__setattr__(self, "action_noise", default_noise if self.action_noise is None else self.action_noise)
        if not 0 <= self.action_noise <= 0.5 or abs(self.action_noise * 100 - round(self.action_noise * 100)) > 1e-9:
            raise InvalidConfigError(f"action_noise must be a multiple of 0.01 in [0, 0.5], got {self.action_noise}")
        if self.max_attempts is not None and self.max_attempts < self.num_demos:
            raise InvalidConfigError(
                f"max_attempts ({self.max_attempts}) must be at least num_demos ({self.num_demos})")

    @property
    def attempt_limit(self) -> int:
        return self.max_attempts if self.max_attempts is not None else 10 * self.num_demos + 50

    @property
    def env_id(self) -> str:
        return TASKS[self.task].env_id

    @property
    def _name(self) -> str:
        noise = "" if self.action_noise == DEFAULT_ACTION_NOISE[self.generator] else \
            f"-noise{round(self.action_noise * 100):02d}"
        return f"dmg/{self.task}/{self.generator}-{self.dynamics}{noise}{'-images' if self.images else ''}"

    @property
    def dataset_id(self) -> str:
        return f"{self._name}-v0"

    @property
    def failures_dataset_id(self) -> str:
        return f"{self._name}-failures-v0"

    def source_path(self) -> Path:
        """The source-demo file: the one `source` names (shipped, or recorded on first use, which takes
        seconds), else the path; raises `InvalidConfigError` if it is neither."""
        from dmg_envs.datagen.sources import source_file  # it imports this module

        path = source_file(self.source) or Path(self.source)
        if not path.is_file():
            raise InvalidConfigError(f"source {self.source!r}: no such file, and not a source-demo name '<task>_<n>' "
                                     f"(n >= 1) of a task in {list(TASKS)}")
        return path

    def identity(self) -> dict[str, Any]:
        """What makes two configurations the same run: everything but how many demos and attempts it asks for."""
        from dataclasses import asdict

        identity = {key: value for key, value in asdict(self).items() if key not in ("num_demos", "max_attempts")}
        if not self.images:
            del identity["images"]  # runs and datasets made before image observations existed stay the same
        return identity

    @property
    def image_cameras(self) -> tuple[str, ...]:
        """The cameras an `images` run records: the front camera and one eye-in-hand camera per arm."""
        if not self.images:
            return ()
        arms = load_object(TASKS[self.task].entry_point).NUM_ARMS
        return ("agentview", *(f"robot{index}_eye_in_hand" for index in range(arms)))
