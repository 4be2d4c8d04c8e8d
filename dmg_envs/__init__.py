"""dmg-envs: fast Gymnasium manipulation environments on MuJoCo for dynamic data generation.

Importing the package registers every environment id (`dmg/Stack-v0`, ...).
"""

from dmg_envs.registration import register_envs

__version__ = "0.1.0"

register_envs()

__all__ = ["__version__", "register_envs"]
