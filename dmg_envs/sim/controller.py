"""Differential inverse kinematics: end-effector pose errors to joint velocity references."""

from __future__ import annotations

import operator

import mujoco
import numpy as np

from dmg_envs.sim.arm import ArmHandles


class DiffIKController:
    """Damped-least-squares IK whose damping pulls towards the home posture instead of towards zero.

    Called once per control step. It returns the joint velocity that covers the joint step dq over one
    control period; the arm's actuators ramp their position reference at that rate and track it in C
    at the physics rate (see panda.xml). The joint step minimises

        |J dq - e|^2 + lambda^2 |dq - p|^2,   p = k (q_home - q),

    i.e. (J^T J + lambda^2 I) dq = J^T e + lambda^2 p, one 7x7 Cholesky solve. Along directions J
    cannot move (its null space) dq = p, the posture step; elsewhere dq is the damped least-squares
    step towards the pose error e, biased by p in proportion to lambda^2 / sigma^2 (sigma: J's singular
    values). The step is then scaled down uniformly (keeping its direction) so that no joint exceeds its
    velocity limit over one control period.

    Both sides of the normal equations come from one product: with the stacked matrix
    S = [[e, J], [lambda p, lambda I]] (13 x 8), S^T S holds J^T e + lambda^2 p in its first row and
    J^T J + lambda^2 I below it. Each NumPy or MuJoCo call costs about a microsecond on this per-step
    path, more than the arithmetic, so the solve is arranged to make few of them.

    Args:
        model: the compiled scene.
        data: the simulation state the controller reads (bound once: the per-step path uses views).
        arm: the arm's index tables.
        control_dt: control period [s].
        damping: lambda, damping of the least-squares solve [m or rad].
        nullspace_gain: k, fraction of the posture error removed per control step, in [0, 1].
    """

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, arm: ArmHandles, control_dt: float,
                 damping: float = 0.02, nullspace_gain: float = 0.1):
        self._args = (model, data, arm, control_dt, damping, nullspace_gain)
        self._model, self._data, self._site = model, data, arm.tcp_site
        self._inv_dt = 1.0 / control_dt
        self._inv_max_step = (1.0 / (arm.velocity_limit * control_dt)).tolist()  # (7,) [1/rad]
        self._jacobian = np.zeros((6, model.nv))  # rows: translation (3), rotation (3)
        self._jac_pos, self._jac_rot = self._jacobian[:3], self._jacobian[3:]
        self._arm_jacobian = self._jacobian[:, arm.dof_slice]  # (6, 7) view on the arm's columns
        self._arm_qpos = data.qpos[arm.qpos_slice]
        stacked = np.zeros((13, 8))  # S above
        stacked[6:, 1:] = damping * np.eye(7)
        self._stacked = stacked
        self._stacked_error, self._stacked_posture = stacked[:6, 0], stacked[6:, 0]  # e, lambda p
        self._stacked_jacobian = stacked[:6, 1:]
        self._posture_gain = damping * nullspace_gain  # lambda k
        self._posture_offset = self._posture_gain * arm.home_qpos[:7]  # lambda k q_home
        self._gram = np.zeros((8, 8))  # S^T S
        self._gram_rhs, self._gram_hessian = self._gram[0, 1:], self._gram[1:, 1:]
        self._hessian = np.zeros((7, 7))  # contiguous copy, factorised in place
        self._step = np.zeros(7)

    def __reduce__(self):
        # Rebuilt from its arguments: pickling would turn the views on `data` and on the buffers into copies.
        return DiffIKController, self._args

    def compute(self, pose_error: np.ndarray, error_scale: np.ndarray | float, out: np.ndarray) -> np.ndarray:
        """Write the joint velocities (7,) [rad/s] that remove the TCP pose error over one control period.

        Args:
            pose_error: (6,) world-frame position error then rotation vector, in units of `error_scale`.
            error_scale: multiplies `pose_error` to give [m] and [rad] (delta actions are scaled this way).
            out: (7,) where the velocities go (the arm's actuator controls); returned.

        The bound `data` must have kinematics (xpos, xmat, cdof) up to date.
        """
        mujoco.mj_jacSite(self._model, self._data, self._jac_pos, self._jac_rot, self._site)
        self._stacked_jacobian[...] = self._arm_jacobian
        np.multiply(pose_error, error_scale, out=self._stacked_error)
        posture = self._stacked_posture
        np.multiply(self._arm_qpos, -self._posture_gain, out=posture)
        posture += self._posture_offset
        mujoco.mju_mulMatTMat(self._gram, self._stacked, self._stacked)
        hessian = self._hessian
        hessian[...] = self._gram_hessian
        mujoco.mju_cholFactor(hessian, 0.0)
        step = self._step
        mujoco.mju_cholSolve(step, hessian, self._gram_rhs)
        overshoot = max(map(operator.mul, map(abs, step.tolist()), self._inv_max_step))
        # Joint limits need no clipping here: the reference actuators' actrange is the joint range.
        return np.multiply(step, self._inv_dt / max(overshoot, 1.0), out=out)
