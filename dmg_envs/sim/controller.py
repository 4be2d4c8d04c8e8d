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
        self._scaled_home = nullspace_gain * arm.home_qpos[:7]
        self._inv_max_step_list = self._inv_max_step.tolist()
        self._jac_full = np.zeros((6, model.nv))  # rows: translation (3), rotation (3)
        self._solution = np.zeros(6)

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
        posture = self._scaled_home - self._nullspace_gain * data.qpos[arm.qpos_slice]
        gram = jac @ jac.T + self._damping
        mujoco.mju_cholFactor(gram, 0.0)
        mujoco.mju_cholSolve(self._solution, gram, pose_error - jac @ posture)
        dq = posture + jac.T @ self._solution
        # Plain Python on 7 floats: each NumPy call costs microseconds on this hot path.
        overshoot = max(abs(step) * inv for step, inv in zip(dq.tolist(), self._inv_max_step_list))
        # Joint limits need no clipping here: the reference actuators' actrange is the joint range.
        dq *= self._inv_dt / max(overshoot, 1.0)
        return dq
