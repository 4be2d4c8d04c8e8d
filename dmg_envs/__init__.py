"""dmg-envs: fast Gymnasium manipulation environments on MuJoCo for dynamic data generation.

Importing the package registers every environment id (`dmg/Stack-v0`, ...) and, on a Linux machine without
a display, sets `MUJOCO_GL=osmesa` where it is unset (`dmg_envs.headless`). `dmg_envs.make(env_id,
dynamics="slow")` makes an env wrapped with a dynamics preset (`dmg_envs.wrappers.PRESETS`).
"""

from typing import Any

from dmg_envs.headless import default_headless_gl
from dmg_envs.registration import register_envs

__version__ = "0.2.0"

default_headless_gl()  # before anything imports MuJoCo (`dmg_envs.headless`)
register_envs()


def make(env_id: str, dynamics: str = "static", **kwargs: Any):
    """`gym.make(env_id, **kwargs)` wrapped with the dynamics preset `dynamics`."""
    from dmg_envs.wrappers.presets import make as make_with_dynamics  # imports MuJoCo: only when asked

    return make_with_dynamics(env_id, dynamics, **kwargs)


__all__ = ["__version__", "make", "register_envs"]
