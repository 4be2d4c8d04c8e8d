"""Scripted, human-like source demonstrators (one per task), used to record source demos.

They are not the DMP expert: they re-plan like a person at the start of each phase from what they see,
move along minimum-jerk profiles, pause, and are slightly imprecise (seeded noise on heights, offsets,
yaw and durations), so generated data inherits natural motion rather than a controller's signature.
"""

from dmg_envs.datagen.demonstrators.base import (
    GRIPPER_DOWN,
    Move,
    ScriptedDemonstrator,
    min_jerk,
    nearest_turn,
    tcp_yaw,
)
from dmg_envs.datagen.demonstrators.one_arm import MugDrawerDemonstrator, StackDemonstrator
from dmg_envs.datagen.demonstrators.two_arm import PouringDemonstrator, TrayLiftDemonstrator

__all__ = [
    # the base
    "ScriptedDemonstrator", "Move", "GRIPPER_DOWN", "min_jerk", "nearest_turn", "tcp_yaw",
    # one per task
    "StackDemonstrator", "MugDrawerDemonstrator", "TrayLiftDemonstrator", "PouringDemonstrator",
]
