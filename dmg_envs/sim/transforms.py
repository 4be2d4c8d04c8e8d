"""Pose math: 4x4 homogeneous transforms, rotation matrices, quaternions (w, x, y, z as MuJoCo).

Rotation vectors (axis-angle) are 3-vectors whose norm is the angle [rad].
"""

from __future__ import annotations

import mujoco
import numpy as np
import numpy.typing as npt


def quat_to_mat(quat: npt.ArrayLike) -> np.ndarray:
    """Rotation matrix (3, 3) of a unit quaternion (w, x, y, z)."""
    mat = np.empty(9)
    mujoco.mju_quat2Mat(mat, np.asarray(quat, dtype=np.float64))
    return mat.reshape(3, 3)


def mat_to_quat(mat: npt.ArrayLike) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix (3, 3)."""
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.asarray(mat, dtype=np.float64).reshape(9))
    return quat


def rotvec_to_quat(rotvec: npt.ArrayLike) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation vector [rad]."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.array([1.0, 0.0, 0.0, 0.0])
    quat = np.empty(4)
    mujoco.mju_axisAngle2Quat(quat, rotvec / angle, angle)
    return quat


def rotvec_to_mat(rotvec: npt.ArrayLike) -> np.ndarray:
    """Rotation matrix (3, 3) of a rotation vector [rad]."""
    return quat_to_mat(rotvec_to_quat(rotvec))


def mat_to_rotvec(mat: npt.ArrayLike) -> np.ndarray:
    """Rotation vector [rad] of a rotation matrix (3, 3); the angle lies in [0, pi]."""
    rotvec = np.empty(3)
    mujoco.mju_quat2Vel(rotvec, mat_to_quat(mat), 1.0)
    return rotvec


def rotation_error(mat_target: npt.ArrayLike, mat_current: npt.ArrayLike) -> np.ndarray:
    """World-frame rotation vector that turns `mat_current` into `mat_target` [rad]."""
    mat_current = np.asarray(mat_current, dtype=np.float64).reshape(3, 3)
    local = np.empty(3)
    # mju_subQuat gives the velocity in the current (local) frame; rotate it into the world frame.
    mujoco.mju_subQuat(local, mat_to_quat(mat_target), mat_to_quat(mat_current))
    return mat_current @ local


def angle_between(mat_a: npt.ArrayLike, mat_b: npt.ArrayLike) -> float:
    """Geodesic angle between two rotations [rad]."""
    return float(np.linalg.norm(rotation_error(mat_a, mat_b)))


def make_pose(pos: npt.ArrayLike, mat: npt.ArrayLike) -> np.ndarray:
    """4x4 transform from a position (3,) and a rotation matrix (3, 3)."""
    pose = np.eye(4)
    pose[:3, :3] = np.asarray(mat, dtype=np.float64).reshape(3, 3)
    pose[:3, 3] = pos
    return pose


def pose_from_pos_quat(pos: npt.ArrayLike, quat: npt.ArrayLike) -> np.ndarray:
    """4x4 transform from a position (3,) and a quaternion (w, x, y, z)."""
    return make_pose(pos, quat_to_mat(quat))


def invert_pose(pose: npt.ArrayLike) -> np.ndarray:
    """Inverse of a 4x4 rigid transform."""
    pose = np.asarray(pose, dtype=np.float64)
    inv = np.eye(4)
    inv[:3, :3] = pose[:3, :3].T
    inv[:3, 3] = -pose[:3, :3].T @ pose[:3, 3]
    return inv
