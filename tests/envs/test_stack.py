"""dmg/Stack-v0: seeding, layouts, signals, scripted solvability, rewards, bad input, divergence."""

import gymnasium as gym
import numpy as np
import pytest
from scripted_stack import run_episode

from dmg_envs.envs.stack import CUBE_A, CUBE_B, MIN_CUBE_DISTANCE, PLACEMENT_HALF_RANGE
from dmg_envs.errors import UnknownNameError
from dmg_envs.sim.scene import TABLE_TOP_Z
from dmg_envs.sim.transforms import make_pose


def rollout(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    trajectory = [obs]
    for action in actions:
        obs, *_ = env.step(action)
        trajectory.append(obs)
    return trajectory


@pytest.mark.parametrize("distribution", ["D0", "D1"])
def test_seeds_give_different_layouts_within_documented_ranges(distribution):
    env = gym.make("dmg/Stack-v0", reset_distribution=distribution)
    half_x, half_y = PLACEMENT_HALF_RANGE[distribution]
    layouts = []
    for seed in range(100):
        obs, info = env.reset(seed=seed)
        for cube in (CUBE_A, CUBE_B):
            x, y, z = obs[f"{cube.name}_pos"]
            assert abs(x) <= half_x and abs(y) <= half_y
            assert z == pytest.approx(TABLE_TOP_Z + cube.extent.bottom, abs=2e-4)
        assert np.linalg.norm(obs["cubeA_pos"][:2] - obs["cubeB_pos"][:2]) >= MIN_CUBE_DISTANCE
        layouts.append(np.concatenate([obs["cubeA_pos"], obs["cubeA_quat"], obs["cubeB_pos"]]))
    layouts = np.array(layouts)
    assert len(np.unique(layouts.round(6), axis=0)) == 100
    # the samples fill the documented range rather than a corner of it
    assert layouts[:, 0].max() > 0.8 * half_x and layouts[:, 0].min() < -0.8 * half_x


def test_d1_is_broader_than_d0():
    spreads = {}
    for distribution in ("D0", "D1"):
        env = gym.make("dmg/Stack-v0", reset_distribution=distribution)
        spreads[distribution] = np.std([env.reset(seed=s)[0]["cubeA_pos"][:2] for s in range(50)], axis=0)
    assert np.all(spreads["D1"] > 1.5 * spreads["D0"])


def test_scripted_policy_solves_95_of_100_seeds_and_no_seed_starts_solved():
    env = gym.make("dmg/Stack-v0")
    successes = 0
    for seed in range(100):
        _, info = env.reset(seed=seed)
        assert not info["is_success"] and not info["grasp_cubeA"] and not info["cubeA_on_cubeB"]
        successes += run_episode(env, seed)[0]
    assert successes >= 95


def test_signals_follow_the_episode():
    env = gym.make("dmg/Stack-v0")
    from scripted_stack import ScriptedStackPolicy

    policy = ScriptedStackPolicy()
    obs, info = env.reset(seed=1)
    history = []
    for _ in range(200):
        obs, reward, _, _, info = env.step(policy(obs))
        history.append((info["grasp_cubeA"], info["cubeA_on_cubeB"], info["is_success"], reward))
        if info["is_success"] and policy.phase == 7:
            break
    grasp, on_b, success, reward = map(np.array, zip(*history))
    first_grasp, first_on = np.argmax(grasp), np.argmax(on_b)
    assert grasp.any() and on_b.any() and success[-1]
    assert first_grasp < first_on  # picked before placed
    assert not success[:first_on].any()
    assert np.array_equal(reward, success.astype(float))  # sparse reward is the success indicator


def test_success_requires_release():
    """cubeA placed on cubeB by hand is a success; the same state while grasped would not be."""
    env = gym.make("dmg/Stack-v0").unwrapped
    env.reset(seed=0)
    b = env.object_poses()["cubeB"][:3, 3]
    env.set_object_pose("cubeA", make_pose(b + [0, 0, CUBE_B.extent.top + CUBE_A.extent.bottom - 0.0005], np.eye(3)))
    open_gripper = np.zeros(7, dtype=np.float32)
    open_gripper[6] = -1
    _, reward, _, _, info = env.step(open_gripper)
    assert info["cubeA_on_cubeB"] and not info["grasp_cubeA"] and info["is_success"] and reward == 1.0


def test_dense_reward_is_staged_and_bounded():
    from scripted_stack import ScriptedStackPolicy

    env = gym.make("dmg/Stack-v0", reward_type="dense")
    policy = ScriptedStackPolicy()
    obs, _ = env.reset(seed=2)
    rewards, infos = [], []
    for _ in range(200):
        obs, reward, _, _, info = env.step(policy(obs))
        rewards.append(reward)
        infos.append(info)
        if info["is_success"] and policy.phase == 7:
            break
    rewards = np.array(rewards)
    assert np.all((0 <= rewards) & (rewards <= 1))
    grasped = np.array([i["grasp_cubeA"] for i in infos])
    assert rewards[~grasped][:5].max() < 0.35 <= rewards[grasped].min()
    assert rewards[-1] == 1.0


def test_out_of_range_actions_are_clipped(stack_env):
    env = stack_env.unwrapped
    big = np.array([5.0, 0, 0, 0, 0, 0, -3.0])
    stack_env.reset(seed=4)
    obs_big, *_ = env.step(big)
    stack_env.reset(seed=4)
    obs_clipped, *_ = env.step(np.clip(big, -1, 1))
    for key in obs_big:
        np.testing.assert_array_equal(obs_big[key], obs_clipped[key])


def test_actions_of_any_float_dtype_or_a_list_act_the_same_and_are_never_written_to(stack_env):
    env = stack_env.unwrapped
    action = np.array([0.3, -0.2, 0.5, 0.1, 0.0, -0.1, 0.4], dtype=np.float32)
    big = np.array([5.0, 0, 0, 0, 0, 0, -3.0])
    observations = []
    for given in (action, action.astype(np.float64), action.tolist(), big):
        before = np.copy(given)
        stack_env.reset(seed=4)
        observations.append(env.step(given)[0])
        np.testing.assert_array_equal(given, before)  # clipping works on a copy
    for obs in observations[1:3]:
        for key in obs:
            assert obs[key].tobytes() == observations[0][key].tobytes(), key


def test_observation_gathers_non_contiguous_qpos_the_same(stack_env):
    """The per-step observation copies qpos as one slice when the observed joints are contiguous; the
    gather used otherwise (a scene with joints outside the observation) must give the same vector."""
    env = stack_env.unwrapped
    stack_env.reset(seed=2)
    env.step(np.full(7, 0.2))
    sliced = env._observation()
    layout = env._observation_layout
    assert isinstance(layout.qpos_source, slice)
    layout.qpos_source = np.arange(layout.qpos_source.start, layout.qpos_source.stop)
    layout.bind(env.data)
    gathered = env._observation()
    for key in sliced:
        assert sliced[key].tobytes() == gathered[key].tobytes(), key


def test_unknown_names_list_the_valid_ones(stack_env):
    env = stack_env.unwrapped
    stack_env.reset(seed=0)
    with pytest.raises(UnknownNameError, match="'cubeA', 'cubeB'"):
        env.set_object_pose("cubeC", np.eye(4))
    with pytest.raises(UnknownNameError, match="'robot0'"):
        env.eef_pose("robot7")
    with pytest.raises(UnknownNameError, match="agentview"):
        gym.make("dmg/Stack-v0", render_camera="nope")


def test_task_interface(stack_env):
    env = stack_env.unwrapped
    obs, _ = stack_env.reset(seed=3)
    assert env.arms == ("robot0",) and env.movable_objects == ("cubeA", "cubeB")
    poses = env.object_poses()
    np.testing.assert_allclose(poses["cubeA"][:3, 3], obs["cubeA_pos"])
    np.testing.assert_allclose(env.eef_pose()[:3, 3], obs["robot0_eef_pos"])
    assert env.in_contact("cubeA", "table") and env.in_contact("cubeB", "table")
    assert not env.in_contact("cubeA", "robot0") and not env.grasped("cubeA")
    assert set(env.subtask_signals()) == {"grasp_cubeA", "cubeA_on_cubeB"}
    spec = env.subtask_spec["robot0"]
    assert [s.signal for s in spec] == ["grasp_cubeA", "cubeA_on_cubeB"]
    assert [s.reference for s in spec] == ["cubeA", "cubeB"]
    assert env.yaw_symmetry("cubeA") == 4 and env.reference_owner("cubeB") == "cubeB"
    np.testing.assert_allclose(env.reference_pose("cubeB"), poses["cubeB"])
    target = make_pose([0.1, 0.1, TABLE_TOP_Z + 0.02], np.eye(3))
    env.set_object_pose("cubeA", target)
    np.testing.assert_allclose(env.object_poses()["cubeA"], target, atol=1e-12)


def test_episode_is_truncated_at_the_registered_limit():
    env = gym.make("dmg/Stack-v0")
    env.reset(seed=0)
    for step in range(1, 301):
        *_, truncated, _ = env.step(np.zeros(7, dtype=np.float32))
        assert truncated == (step == 300)


def test_observation_is_the_documented_v0_layout(stack_env):
    """The published layout of dmg/Stack-v0 (keys, order and sizes): a change here needs a new version."""
    layout = [("robot0_joint_pos", 7), ("robot0_gripper_qpos", 2), ("cubeA_pos", 3), ("cubeA_quat", 4),
              ("cubeB_pos", 3), ("cubeB_quat", 4), ("robot0_joint_vel", 7), ("robot0_eef_pos", 3),
              ("robot0_eef_quat", 4), ("gripper_to_cubeA", 3), ("cubeA_to_cubeB", 3)]
    space = stack_env.observation_space
    assert [(key, box.shape[0]) for key, box in space.spaces.items()] == layout
    assert gym.make("dmg/Stack-v0", obs_mode="flat").observation_space.shape == (43,)
