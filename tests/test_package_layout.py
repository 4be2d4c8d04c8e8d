"""The package's shape (DESIGN.md): dependencies point one way, and modules stay small."""

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dmg_envs"
MAX_MODULE_LINES = 400


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize("module", sorted(p.stem for p in (PACKAGE / "wrappers").glob("*.py")))
def test_wrappers_do_not_import_data_generation(module):
    """datagen drives envs through the wrappers (the presets); the wrappers never reach back."""
    modules = imported_after(f"import dmg_envs.wrappers.{module}")
    assert not {name for name in modules if name.startswith("dmg_envs.datagen")}


def test_dmp_mathematics_needs_no_simulator():
    modules = imported_after("import dmg_envs.dmp")
    assert "mujoco" not in modules and not {name for name in modules if name.startswith("dmg_envs.envs")}


def test_envs_know_nothing_of_dmps_or_datasets():
    modules = imported_after("import dmg_envs.envs")
    assert not {name for name in modules if name.startswith(("dmg_envs.dmp", "dmg_envs.datagen", "minari"))}


@pytest.mark.parametrize("module", ["evaluate", "leaderboard"])
def test_evaluation_and_the_leaderboard_need_no_torch(module):
    """Outside policies are evaluated, and the leaderboard built, without the learning stack."""
    modules = imported_after(f"import dmg_envs.learning.{module}")
    assert not {name for name in modules if name.split(".")[0] in ("torch", "stable_baselines3")}


def test_nothing_below_learning_imports_it():
    modules = imported_after("import dmg_envs.datagen.generate, dmg_envs.wrappers, dmg_envs.envs")
    assert not {name for name in modules if name.startswith("dmg_envs.learning")}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES
