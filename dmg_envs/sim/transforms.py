"""Pose math: 4x4 homogeneous transforms, rotation matrices, quaternions (w, x, y, z as MuJoCo).

Rotation vectors (axis-angle) are 3-vectors whose norm is the angle [rad].
"""

from __future__ import annotations

import math

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


def yaw_of(mat: npt.ArrayLike) -> float:
    """The heading [rad] of a rotation (3, 3): the angle of its x axis in the table plane."""
    mat = np.asarray(mat, dtype=np.float64)
    return math.atan2(float(mat[1, 0]), float(mat[0, 0]))


def yaw_pose(yaw: float) -> np.ndarray:
    """4x4 turn by `yaw` [rad] about the z axis."""
    return make_pose(np.zeros(3), rotvec_to_mat([0.0, 0.0, yaw]))


def upright_frame(pose: npt.ArrayLike) -> np.ndarray:
    """The pose with its tilt removed: its position, and a yaw from the axis that follows the one nearest
    the vertical.

    Table-top things are placed relative to gravity: a cube knocked onto another face is still "a cube
    here, turned by this much", and a goal above it must stay above it. (Choosing the most horizontal axis
    instead would tie between the two horizontal axes of an upright box and flip by 90 degrees.)
    """
    pose = np.asarray(pose, dtype=np.float64)
    rotation = pose[:3, :3]
    up = int(np.argmax(np.abs(rotation[2])))
    axis = rotation[:, (up + 1) % 3]
    return make_pose(pose[:3, 3], rotvec_to_mat([0.0, 0.0, np.arctan2(axis[1], axis[0])]))


def best_yaw(target: npt.ArrayLike, rotation: npt.ArrayLike) -> float:
    """The yaw phi [rad] for which Rz(phi) @ rotation is closest to `target` (3x3 each): the least-squares
    rotation about z between the two."""
    m = np.asarray(target, dtype=np.float64) @ np.asarray(rotation, dtype=np.float64).T
    return float(np.arctan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1]))


def nearest_equivalent(frame: np.ndarray, local_goal: np.ndarray, current: np.ndarray, symmetry: int,
                       tool_turns: tuple[np.ndarray, ...] = (np.eye(4),), continuous_yaw: float | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Of the poses `frame . turn . local_goal . tool_turn` that look the same (a reference with yaw
    `symmetry` k maps onto itself every 2 pi / k; 0: at any yaw; a tool may look the same turned by
    `tool_turns`), the `(turn, tool_turn)` whose orientation is nearest the `current` pose's (4x4 each).
    `continuous_yaw` [rad], for a reference that looks the same at any yaw: the world yaw its turned frame
    takes (the source demo's), so that motions relative to it keep their demonstrated headings (a pour
    keeps its direction, a side grasp its side) instead of being turned towards the gripper; the tool then
    keeps its first turn, the demo's roll, which the demo's arm could reach (a hand turned half a turn
    about its axis may ask the wrist for more than its joint range)."""
    if symmetry == 0 and continuous_yaw is not None:
        return yaw_pose(continuous_yaw - yaw_of(frame[:3, :3])), tool_turns[0]
    best, best_angle = (np.eye(4), tool_turns[0]), np.inf
    for tool_turn in tool_turns:
        oriented = local_goal @ tool_turn
        if symmetry == 0:  # continuous: the best yaw directly
            yaw = best_yaw(current[:3, :3], frame[:3, :3] @ oriented[:3, :3])
            turns = [yaw_pose(yaw)]
        else:
            turns = [yaw_pose(2.0 * np.pi * k / symmetry) for k in range(symmetry)]
        for turn in turns:
            angle = angle_between((frame @ turn @ oriented)[:3, :3], current[:3, :3])
            if angle < best_angle - 1e-9:
                best, best_angle = (turn, tool_turn), angle
    return best
