"""Gymnasium wrappers: dynamic perturbations of objects, scene fixtures and the robot, and the named
presets built from them. (The DMP expert is a generator: `dmg_envs.datagen.DMPExpert`.)"""

from dmg_envs.wrappers.object_perturbation import ObjectPerturbation
from dmg_envs.wrappers.presets import PRESETS, apply_dynamics
from dmg_envs.wrappers.robot_perturbation import RobotStatePerturbation
from dmg_envs.wrappers.scene_perturbation import SceneGeometryPerturbation

__all__ = [
    # perturbations
    "ObjectPerturbation", "SceneGeometryPerturbation", "RobotStatePerturbation",
    # named benchmark levels
    "PRESETS", "apply_dynamics",
]
