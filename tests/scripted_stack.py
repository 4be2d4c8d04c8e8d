"""A scripted pick-and-place policy for Stack, used by the tests only.

It reads privileged observations (cube poses), so it is a test oracle, not a demonstrator.
"""

from __future__ import annotations

import numpy as np

from dmg_envs.sim.transforms import quat_to_mat

APPROACH_HEIGHT = 0.08  # [m] above the grasp point
RELEASE_CLEARANCE = 0.004  # [m] between cubeA's bottom and cubeB's top when the gripper opens


def _yaw(mat: np.ndarray) -> float:
    return float(np.arctan2(mat[1, 0], mat[0, 0]))


def _wrap_quarter(angle: float) -> float:
    """The angle modulo 90 degrees, in [-45, 45) degrees: cubes look the same every quarter turn."""
    return (angle + np.pi / 4) % (np.pi / 2) - np.pi / 4


class ScriptedStackPolicy:
    """Phases: hover over cubeA, descend, close, lift, carry over cubeB, lower, open, retreat.

    Each phase drives the TCP to a waypoint that is fixed when the phase starts (open loop), so moving
    cubes make it fail, as intended for the perturbation tests.
    """

    def __init__(self, cube_a_half: float = 0.02, cube_b_half: float = 0.025):
        self.cube_a_half, self.cube_b_half = cube_a_half, cube_b_half
        self.reset()

    def reset(self) -> None:
        self.phase, self.timer, self.waypoint, self.yaw_target = 0, 0, None, None

    def _goto(self, obs: dict, target: np.ndarray, gripper: float, tol: float = 0.004) -> tuple[np.ndarray, bool]:
        eef = obs["robot0_eef_pos"]
        action = np.zeros(7)
        action[:3] = np.clip((target - eef) / 0.05, -1.0, 1.0)
        yaw_error = 0.0
        if self.yaw_target is not None:
            yaw_error = _wrap_quarter(self.yaw_target - _yaw(quat_to_mat(obs["robot0_eef_quat"])))
            action[5] = np.clip(yaw_error / 0.5, -1.0, 1.0)
        action[6] = gripper
        return action, bool(np.linalg.norm(target - eef) < tol and abs(yaw_error) < 0.03)

    def __call__(self, obs: dict) -> np.ndarray:
        self.timer += 1
        if self.waypoint is None:
            self.waypoint = self._make_waypoint(obs)
        phase_gripper = (-1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0)[self.phase]
        if self.phase == 2 or self.phase == 6:  # close or open the gripper in place
            action, _ = self._goto(obs, self.waypoint, phase_gripper)
            done = self.timer >= 6
        else:
            tolerance = 0.01 if self.phase in (0, 3, 4, 7) else 0.004  # tight only where the cube is handled
            action, done = self._goto(obs, self.waypoint, phase_gripper, tol=tolerance)
        if done and self.phase < 7:
            self.phase, self.timer = self.phase + 1, 0
            self.waypoint = self._make_waypoint(obs)
        return action

    def _make_waypoint(self, obs: dict) -> np.ndarray:
        """The TCP target of the current phase, computed once when the phase starts."""
        cube_a, cube_b, eef = obs["cubeA_pos"], obs["cubeB_pos"], obs["robot0_eef_pos"]
        carry_z = cube_b[2] + self.cube_b_half + 2 * self.cube_a_half + 0.05
        if self.phase == 0:
            self.yaw_target = _yaw(quat_to_mat(obs["cubeA_quat"]))
            return cube_a + np.array([0.0, 0.0, APPROACH_HEIGHT])
        if self.phase == 1:
            return cube_a.copy()
        if self.phase in (2, 6):
            return eef.copy()
        if self.phase == 3:
            self.yaw_target = None
            return np.array([eef[0], eef[1], carry_z])
        if self.phase == 4:
            return np.array([cube_b[0], cube_b[1], carry_z])
        if self.phase == 5:
            # The TCP holds cubeA at its centre; stop when cubeA's bottom is just above cubeB's top.
            offset = eef - cube_a
            release_z = cube_b[2] + self.cube_b_half + self.cube_a_half + RELEASE_CLEARANCE
            return np.array([cube_b[0] + offset[0], cube_b[1] + offset[1], release_z + offset[2]])
        return eef + np.array([0.0, 0.0, 0.1])


def run_episode(env, seed: int, max_steps: int = 250) -> tuple[bool, int]:
    """Roll the scripted policy out from `seed`; returns (success at the end, steps taken)."""
    policy = ScriptedStackPolicy()
    obs, info = env.reset(seed=seed)
    for step in range(max_steps):
        obs, _, terminated, truncated, info = env.step(policy(obs))
        if policy.phase == 7 and policy.timer > 3 and info["is_success"]:
            return True, step + 1
        if terminated or truncated:
            break
    return bool(info["is_success"]), step + 1
