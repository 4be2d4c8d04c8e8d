"""Differential inverse kinematics: end-effector pose errors to joint velocity references."""

from __future__ import annotations

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

    Args:
        model: the compiled scene.
        arm: the arm's index tables.
        control_dt: control period [s].
        damping: lambda, damping of the least-squares solve [m or rad].
        nullspace_gain: k, fraction of the posture error removed per control step, in [0, 1].
    """

    def __init__(self, model: mujoco.MjModel, arm: ArmHandles, control_dt: float,
                 damping: float = 0.02, nullspace_gain: float = 0.1):
        self._model = model
        self._arm = arm
        self._inv_dt = 1.0 / control_dt
        self._inv_max_step = (1.0 / (arm.velocity_limit * control_dt)).tolist()  # (7,) [1/rad]
        self._damping = damping**2 * np.eye(7)
        self._posture_gain = damping**2 * nullspace_gain  # lambda^2 k
        self._posture_offset = self._posture_gain * arm.home_qpos[:7]  # lambda^2 k q_home
        self._jac_full = np.zeros((6, model.nv))  # rows: translation (3), rotation (3)
        self._step = np.zeros(7)

    def compute(self, data: mujoco.MjData, pose_error: np.ndarray) -> np.ndarray:
        """Joint velocities (7,) [rad/s] that remove the TCP pose error over one control period.

        Args:
            data: simulation state with kinematics (xpos, xmat, cdof) up to date.
            pose_error: (6,) world-frame position error [m] then rotation vector [rad] from the
                current TCP pose to the target pose.
        """
        arm = self._arm
        mujoco.mj_jacSite(self._model, data, self._jac_full[:3], self._jac_full[3:], arm.tcp_site)
        jac = self._jac_full[:, arm.dof_slice]  # (6, 7) view on the arm's columns
        # Each NumPy call costs microseconds on this hot path: keep them few.
        hessian = jac.T @ jac
        hessian += self._damping
        rhs = jac.T @ pose_error
        rhs += self._posture_offset
        rhs -= self._posture_gain * data.qpos[arm.qpos_slice]
        mujoco.mju_cholFactor(hessian, 0.0)
        step = self._step
        mujoco.mju_cholSolve(step, hessian, rhs)
        overshoot = max(abs(s) * inv for s, inv in zip(step.tolist(), self._inv_max_step))
        # Joint limits need no clipping here: the reference actuators' actrange is the joint range.
        return step * (self._inv_dt / max(overshoot, 1.0))
