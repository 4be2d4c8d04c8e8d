"""SceneGeometryPerturbation (on a test task with a fixture) and RobotStatePerturbation."""

import gymnasium as gym
import numpy as np
import pytest

from dmg_envs.envs.stack import StackEnv
from dmg_envs.errors import InvalidConfigError, UnknownNameError
from dmg_envs.sim.objects import Fixture
from dmg_envs.sim.scene import TABLE_TOP_Z
from dmg_envs.sim.transforms import make_pose
from dmg_envs.wrappers import RobotStatePerturbation, SceneGeometryPerturbation

HOLD = np.array([0, 0, 0, 0, 0, 0, -1.0], dtype=np.float32)


class WallStackEnv(StackEnv):
    """Stack with a low wall fixture on the table, to exercise scene perturbations."""

    FIXTURES = (Fixture.box("wall", half_size=(0.01, 0.06, 0.02), rgba=(0.3, 0.3, 0.8, 1), pos_xy_yaw=(0.0, 0.0, 0.0)),)


def test_fixture_drifts_at_the_requested_speed_and_stays_in_the_workspace():
    env = SceneGeometryPerturbation(WallStackEnv(), motion="drift", params={"speed": 0.05})
    task = env.unwrapped
    (x_low, y_low), (x_high, y_high) = task.OBJECT_WORKSPACE_XY
    for seed in range(5):
        _, info = env.reset(seed=seed)
        assert set(info["scene_perturbation"]) == {"wall"}
        np.testing.assert_allclose(task.fixture_pose("wall")[:3, 3], [0, 0, TABLE_TOP_Z])  # reset
        path, previous = 0.0, task.fixture_pose("wall")[:3, 3]
        for _ in range(100):  # 5 s: long enough to meet the workspace edge
            _, _, _, truncated, info = env.step(HOLD)
            position = task.fixture_pose("wall")[:3, 3]
            path += np.linalg.norm(position - previous)
            previous = position
            assert x_low <= position[0] <= x_high and y_low <= position[1] <= y_high
            assert not truncated
        assert path == pytest.approx(0.05 * 5.0, rel=0.02)


def test_moving_fixture_pushes_an_object_physically():
    env = SceneGeometryPerturbation(WallStackEnv(), motion="drift", params={"speed": 0.05, "axis_aligned": True})
    task = env.unwrapped
    env.reset(seed=0)
    velocity = np.array(env._motions["wall"].velocity)
    axis = int(np.argmax(np.abs(velocity)))
    contact_distance = (0.01, 0.06)[axis] + 0.02  # wall half extent + cube half size along the motion
    ahead = (contact_distance + 0.02) * velocity / np.linalg.norm(velocity)  # 2 cm in front of the wall
    task.set_object_pose("cubeA", make_pose([ahead[0], ahead[1], TABLE_TOP_Z + 0.0199], np.eye(3)))
    task.set_object_pose("cubeB", make_pose([-0.15, -0.2, TABLE_TOP_Z + 0.0249], np.eye(3)))
    start = task.object_position("cubeA")
    for _ in range(40):
        _, _, _, truncated, info = env.step(HOLD)
        assert not truncated
    pushed = task.object_position("cubeA") - start
    # the wall travels 10 cm: the cube, 2 cm ahead of it, is pushed about 8 cm
    assert np.dot(pushed[:2], velocity) / np.linalg.norm(velocity) > 0.06
    assert task.object_position("cubeA")[2] > TABLE_TOP_Z  # still on the table


def test_scene_perturbation_needs_fixtures():
    with pytest.raises(InvalidConfigError, match="no fixtures"):
        SceneGeometryPerturbation(gym.make("dmg/Stack-v0"))
    with pytest.raises(UnknownNameError, match="'wall'"):
        SceneGeometryPerturbation(WallStackEnv(), fixtures=["drawer"])


def tcp_path(env, seed, steps=80):
    env.reset(seed=seed)
    positions, infos = [], []
    for _ in range(steps):
        _, _, _, _, info = env.step(HOLD)
        positions.append(env.unwrapped.eef_pose()[:3, 3])
        infos.append(info)
    return np.array(positions), infos


def test_pushes_displace_the_hand():
    plain, _ = tcp_path(gym.make("dmg/Stack-v0"), 0)
    pushed_env = RobotStatePerturbation(gym.make("dmg/Stack-v0"), kind="push", magnitude=60.0, interval=1.0,
                                        duration=0.3)
    pushed, infos = tcp_path(pushed_env, 0)
    forces = np.array([info["robot_perturbation"]["robot0"] for info in infos])
    active = np.linalg.norm(forces, axis=1)
    assert set(np.round(active, 6)) <= {0.0, 60.0} and (active > 0).sum() >= 6
    deviation = np.linalg.norm(pushed - plain, axis=1)
    assert deviation.max() > 0.005  # the push moves the hand
    assert np.all(np.isfinite(pushed))
    # same seed, same pushes
    again, infos_again = tcp_path(pushed_env, 0)
    np.testing.assert_array_equal(pushed, again)


def test_joint_offsets_knock_the_joints():
    env = RobotStatePerturbation(gym.make("dmg/Stack-v0"), kind="joint_offset", magnitude=0.05, interval=0.5)
    obs, info = env.reset(seed=1)
    knocks = 0
    for _ in range(60):
        before = obs["robot0_joint_pos"]
        obs, _, _, truncated, info = env.step(HOLD)
        offset = info["robot_perturbation"]["robot0"]
        assert offset.shape == (7,) and not truncated
        if offset.any():
            knocks += 1
            # the joints end the step near where the knock put them (the impedance holds them there)
            np.testing.assert_allclose(obs["robot0_joint_pos"] - before, offset, atol=0.02)
    assert knocks >= 3


def test_robot_perturbation_bad_arguments():
    env = gym.make("dmg/Stack-v0")
    with pytest.raises(InvalidConfigError, match="choose one of 'push', 'joint_offset'"):
        RobotStatePerturbation(env, kind="shake")
    with pytest.raises(InvalidConfigError, match="magnitude must be a positive number"):
        RobotStatePerturbation(env, magnitude=0)
    with pytest.raises(UnknownNameError, match="'robot0'"):
        RobotStatePerturbation(env, arms=["robot1"])
