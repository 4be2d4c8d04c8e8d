"""Dynamic movement primitives in NumPy (no MuJoCo): phase, basis, position and orientation DMPs."""

from dmg_envs.dmp.basis import CanonicalSystem, GaussianBasis
from dmg_envs.dmp.cartesian import CartesianDMP
from dmg_envs.dmp.transformation import PositionDMP, QuaternionDMP, TransformationSystem

__all__ = ["CanonicalSystem", "GaussianBasis", "TransformationSystem", "PositionDMP", "QuaternionDMP",
           "CartesianDMP"]
