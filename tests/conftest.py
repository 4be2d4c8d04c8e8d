import os
import sys
from pathlib import Path

# Rendering is tested headless: OSMesa works on any machine (EGL needs a GPU). Must precede `import mujoco`.
os.environ.setdefault("MUJOCO_GL", "osmesa")
sys.path.insert(0, str(Path(__file__).parent))  # the tests' own helpers (scripted_stack)

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402

import dmg_envs  # noqa: E402

gym.register_envs(dmg_envs)


@pytest.fixture
def stack_env():
    env = gym.make("dmg/Stack-v0")
    yield env
    env.close()


@pytest.fixture
def isolated_datasets(tmp_path, monkeypatch):
    """Datasets, generation work folders and recorded source demos go to a temporary directory, never to
    ~/.minari or ~/.cache; the working directory is a temporary one too, so that nothing can land in the
    checkout."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    monkeypatch.setenv("DMG_WORK_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # source demos recorded on first use
    monkeypatch.chdir(tmp_path)
    return tmp_path
