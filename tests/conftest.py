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
