"""Task environments; each module holds one versioned task."""

from dmg_envs.envs.base import ManipulationEnv
from dmg_envs.envs.stack import StackEnv

__all__ = ["ManipulationEnv", "StackEnv"]
