"""Controller accuracy through the env's action interface (issue: foundation, item 3)."""

import gymnasium as gym
import numpy as np
import pytest
from scripted_stack import ScriptedStackPolicy

from dmg_envs.envs.base import MAX_DELTA_POS, MAX_DELTA_ROT
from dmg_envs.sim.transforms import angle_between, mat_to_rotvec, rotvec_to_mat


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("amplitude", [0.3, 0.5])
def test_constant_delta_moves_the_commanded_distance(stack_env, axis, amplitude):
    env = stack_env.unwrapped
    stack_env.reset(seed=axis)
    start = env.eef_pose()
    action = np.zeros(7)
    action[axis], action[6] = amplitude, -1.0
    for _ in range(10):
        stack_env.step(action)
    end = env.eef_pose()
    commanded = 10 * MAX_DELTA_POS * amplitude
    moved = end[:3, 3] - start[:3, 3]
    assert moved[axis] == pytest.approx(commanded, rel=0.10)
    assert np.linalg.norm(np.delete(moved, axis)) < 0.1 * commanded  # straight line
    assert np.degrees(angle_between(start[:3, :3], end[:3, :3])) < 2.0


def test_constant_rotation_delta_turns_about_world_z(stack_env):
    env = stack_env.unwrapped
    stack_env.reset(seed=0)
    start = env.eef_pose()
    action = np.array([0, 0, 0, 0, 0, 0.2, -1.0])
    for _ in range(5):
        stack_env.step(action)
    end = env.eef_pose()
    turned = mat_to_rotvec(end[:3, :3] @ start[:3, :3].T)
    np.testing.assert_allclose(turned, [0, 0, 5 * 0.2 * MAX_DELTA_ROT], atol=0.1 * 5 * 0.2 * MAX_DELTA_ROT)
    assert np.linalg.norm(end[:3, 3] - start[:3, 3]) < 0.005


@pytest.mark.parametrize("seed", range(5))
def test_absolute_mode_reaches_a_reachable_pose(seed):
    env = gym.make("dmg/Stack-v0", control_mode="absolute")
    env.reset(seed=seed)
    unwrapped = env.unwrapped
    rng = np.random.default_rng(seed)
    start = unwrapped.eef_pose()
    target_pos = start[:3, 3] + rng.uniform([-0.15, -0.2, -0.15], [0.25, 0.2, 0.1])
    tilt, yaw = rng.uniform(-0.3, 0.3), rng.uniform(-0.8, 0.8)
    target_mat = rotvec_to_mat([0, 0, yaw]) @ rotvec_to_mat([tilt, 0, 0]) @ start[:3, :3]
    action = np.concatenate([target_pos, mat_to_rotvec(target_mat), [-1.0]])
    for _ in range(40):
        env.step(action)
        pose = unwrapped.eef_pose()
        if np.linalg.norm(pose[:3, 3] - target_pos) < 0.005 and np.degrees(angle_between(pose[:3, :3], target_mat)) < 3:
            break
    else:
        pytest.fail(f"absolute target not reached in 40 steps: {pose[:3, 3]} vs {target_pos}")
    env.close()


@pytest.mark.parametrize("seed", [1, 3, 5])
def test_gripper_holds_cube_during_full_speed_moves(stack_env, seed):
    env = stack_env.unwrapped
    obs, _ = stack_env.reset(seed=seed)
    policy = ScriptedStackPolicy()
    while policy.phase < 4:  # until cubeA is grasped and lifted to carrying height
        obs, *_ = stack_env.step(policy(obs))
    assert env.grasped("cubeA")
    offset = obs["cubeA_pos"] - obs["robot0_eef_pos"]
    # Full speed (1 m/s commanded) until the TCP has travelled 0.3 m; joint velocity limits may make
    # some directions slower, which is why the test counts distance, not steps.
    for direction in ([0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0]):  # 1.2 m in all
        start = obs["robot0_eef_pos"]
        for _ in range(20):
            obs, _, _, _, info = stack_env.step(np.array([*direction, 0, 0, 0, 1.0]))
            slip = np.linalg.norm(obs["cubeA_pos"] - obs["robot0_eef_pos"] - offset)
            assert slip < 0.01, f"cube slipped {slip * 1000:.1f} mm moving along {direction}"
            assert info["grasp_cubeA"]
            if np.dot(obs["robot0_eef_pos"] - start, direction) >= 0.3:
                break
        else:
            pytest.fail(f"the arm did not travel 0.3 m along {direction} in 20 steps")
