"""Task environments; each module holds one versioned task."""

from dmg_envs.envs.base import ManipulationEnv
from dmg_envs.envs.mug_drawer import MugDrawerEnv
from dmg_envs.envs.stack import StackEnv
from dmg_envs.envs.task import Subtask

__all__ = ["ManipulationEnv", "MugDrawerEnv", "StackEnv", "Subtask"]
