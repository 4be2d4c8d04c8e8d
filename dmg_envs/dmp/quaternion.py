"""Unit-quaternion algebra (w, x, y, z as MuJoCo) for orientation DMPs, in plain NumPy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def multiply(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    """Hamilton product a * b of quaternions (..., 4)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def conjugate(q: npt.ArrayLike) -> np.ndarray:
    """Conjugate (the inverse of a unit quaternion) (..., 4)."""
    q = np.array(q, dtype=np.float64)
    q[..., 1:] *= -1.0
    return q


def log(q: npt.ArrayLike) -> np.ndarray:
    """Logarithm of unit quaternions (..., 4) -> (..., 3): half the rotation vector, on the short way."""
    q = np.asarray(q, dtype=np.float64)
    q = np.where(q[..., :1] < 0.0, -q, q)  # q and -q are the same rotation: take the angle <= pi
    norm = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = np.arctan2(norm, q[..., :1])  # half the rotation angle
    scale = np.where(norm > 1e-12, angle / np.maximum(norm, 1e-300), 1.0)
    return q[..., 1:] * scale


def exp(v: npt.ArrayLike) -> np.ndarray:
    """Exponential (..., 3) -> unit quaternions (..., 4); exp(log(q)) = q (up to sign)."""
    v = np.asarray(v, dtype=np.float64)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    sinc = np.where(norm > 1e-12, np.sin(norm) / np.maximum(norm, 1e-300), 1.0)
    return np.concatenate([np.cos(norm), v * sinc], axis=-1)


def rotation_between(target: npt.ArrayLike, current: npt.ArrayLike) -> np.ndarray:
    """World-frame rotation vector (..., 3) [rad] turning `current` into `target`: 2 log(target * current^-1)."""
    return 2.0 * log(multiply(target, conjugate(current)))


def normalize(q: npt.ArrayLike) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)
