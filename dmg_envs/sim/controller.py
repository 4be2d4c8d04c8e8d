"""Differential inverse kinematics: end-effector pose errors to joint velocity references."""

from __future__ import annotations

import mujoco
import numpy as np

from dmg_envs.sim.arm import ArmHandles


class DiffIKController:
    """Damped-least-squares IK with a null-space pull towards the home posture.

    Called once per control step. It returns the joint velocity that covers the joint step dq over one
    control period; the arm's actuators ramp their position reference at that rate and track it in C
    at the physics rate (see panda.xml). The joint step is

        dq = p + J^T (J J^T + lambda^2 I)^-1 (e - J p),   p = k (q_home - q),

    i.e. the damped least-squares step for the pose error e plus the posture step p projected onto
    the (damped) null space of J, solved with one Cholesky factorisation. It is then scaled down
    uniformly (keeping its direction) so that no joint exceeds its velocity limit over one control period.

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
        self._inv_max_step = 1.0 / (arm.velocity_limit * control_dt)  # (7,) [1/rad]
        self._inv_dt = 1.0 / control_dt
        self._damping = damping**2 * np.eye(6)
        self._nullspace_gain = nullspace_gain
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._jac = np.zeros((6, 7))
        self._solution = np.zeros(6)
        self._q_low, self._q_high = arm.joint_range[:, 0].copy(), arm.joint_range[:, 1].copy()

    def compute(self, data: mujoco.MjData, pose_error: np.ndarray) -> np.ndarray:
        """Joint velocities (7,) [rad/s] that remove the TCP pose error over one control period.

        Args:
            data: simulation state with kinematics (xpos, xmat, cdof) up to date.
            pose_error: (6,) world-frame position error [m] then rotation vector [rad] from the
                current TCP pose to the target pose.
        """
        arm = self._arm
        mujoco.mj_jacSite(self._model, data, self._jacp, self._jacr, arm.tcp_site)
        jac = self._jac
        jac[:3] = self._jacp[:, arm.dof_slice]
        jac[3:] = self._jacr[:, arm.dof_slice]
        q = data.qpos[arm.qpos_slice]
        posture = self._nullspace_gain * (arm.home_qpos[:7] - q)
        gram = jac @ jac.T + self._damping
        mujoco.mju_cholFactor(gram, 0.0)
        mujoco.mju_cholSolve(self._solution, gram, pose_error - jac @ posture)
        dq = posture + jac.T @ self._solution
        overshoot = (np.abs(dq) * self._inv_max_step).max()
        if overshoot > 1.0:
            dq /= overshoot
        # Stop at the joint limits: clip the step's end point, then turn the step into a velocity.
        target = np.minimum(np.maximum(q + dq, self._q_low), self._q_high)
        target -= q
        target *= self._inv_dt
        return target
