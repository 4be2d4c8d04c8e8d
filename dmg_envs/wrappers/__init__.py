"""Gymnasium wrappers: dynamic perturbations of objects, scene geometry and the robot, presets, and
the DMP expert (loaded on first use: it brings the data-generation modules)."""

from dmg_envs.wrappers.object_perturbation import ObjectPerturbation
from dmg_envs.wrappers.presets import PRESETS, apply_dynamics
from dmg_envs.wrappers.robot_perturbation import RobotStatePerturbation
from dmg_envs.wrappers.scene_perturbation import SceneGeometryPerturbation

__all__ = [
    # perturbations
    "ObjectPerturbation", "SceneGeometryPerturbation", "RobotStatePerturbation",
    # named benchmark levels
    "PRESETS", "apply_dynamics",
    # experts
    "DMPExpert",
]


def __getattr__(name: str):
    if name == "DMPExpert":
        from dmg_envs.wrappers.dmp_expert import DMPExpert

        return DMPExpert
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
