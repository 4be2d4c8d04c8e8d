"""dmg/TwoArmTrayLift-v0: two arms, layout, collisions between the arms, success, the scripted demonstrator."""

import math
from concurrent.futures import ProcessPoolExecutor

import gymnasium as gym
import numpy as np
import pytest

import dmg_envs
from dmg_envs.envs.tray_lift import CUBE_HALF, CUBE_PLACEMENT, TRAY_PLACEMENT, TRAY_PLATE_HALF_THICKNESS
from dmg_envs.sim.scene import TABLE_TOP_Z
from dmg_envs.sim.transforms import make_pose, rotvec_to_mat, yaw_of


@pytest.fixture
def env():
    env = gym.make("dmg/TwoArmTrayLift-v0")
    yield env
    env.close()


def test_observation_is_the_documented_v0_layout(env):
    arm_qpos = [("joint_pos", 7), ("gripper_qpos", 2)]
    arm_rest = [("joint_vel", 7), ("eef_pos", 3), ("eef_quat", 4)]
    layout = ([(f"robot0_{key}", n) for key, n in arm_qpos] + [(f"robot1_{key}", n) for key, n in arm_qpos]
              + [("tray_pos", 3), ("tray_quat", 4), ("cube0_pos", 3), ("cube0_quat", 4), ("cube1_pos", 3),
                 ("cube1_quat", 4)]
              + [(f"robot0_{key}", n) for key, n in arm_rest] + [(f"robot1_{key}", n) for key, n in arm_rest]
              + [("tray_handle0_pos", 3), ("tray_handle1_pos", 3), ("gripper0_to_cube0", 3), ("gripper1_to_cube1", 3),
                 ("gripper0_to_handle0", 3), ("gripper1_to_handle1", 3), ("cube0_to_tray", 3), ("cube1_to_tray", 3)])
    assert [(key, box.shape[0]) for key, box in env.observation_space.spaces.items()] == layout
    assert env.action_space.shape == (14,)
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs["gripper1_to_handle1"], obs["tray_handle1_pos"] - obs["robot1_eef_pos"])
    assert gym.make("dmg/TwoArmTrayLift-v0", obs_mode="flat").observation_space.shape == (91,)


@pytest.mark.parametrize("distribution", ["D0", "D1"])
def test_layouts_stay_in_their_documented_ranges_and_never_start_solved(distribution):
    env = gym.make("dmg/TwoArmTrayLift-v0", reset_distribution=distribution)
    (tx_low, tx_high), (ty_low, ty_high), tray_yaw = TRAY_PLACEMENT[distribution]
    (cx_low, cx_high), (cy_low, cy_high) = CUBE_PLACEMENT[distribution]
    trays = []
    for seed in range(50):
        obs, info = env.reset(seed=seed)
        assert not any(info[name] for name in ("is_success", "cube0_on_tray", "cube1_on_tray", "tray_lifted"))
        tray = obs["tray_pos"]
        assert tx_low <= tray[0] <= tx_high and ty_low <= tray[1] <= ty_high
        assert abs(yaw_of(env.unwrapped.reference_pose("tray")[:3, :3])) <= tray_yaw + 1e-9
        for k, side in ((0, 1), (1, -1)):  # robot0's cube on its own (-y) side, robot1's mirrored
            cube = obs[f"cube{k}_pos"]
            assert cx_low <= cube[0] <= cx_high and cy_low <= side * cube[1] <= cy_high
        trays.append(tray[:2])
    assert np.ptp(np.array(trays), axis=0).min() > 0.5 * min(tx_high - tx_low, ty_high - ty_low)
    # nothing overlaps at the start: a step later, nothing has been pushed
    env.reset(seed=3)
    before = env.unwrapped.object_poses()
    env.step(np.tile([0, 0, 0, 0, 0, 0, -1.0], 2))
    for name, pose in env.unwrapped.object_poses().items():
        assert np.linalg.norm(pose[:3, 3] - before[name][:3, 3]) < 1e-3, name


def test_the_arms_collide_with_each_other_but_not_with_themselves(env):
    task = env.unwrapped
    env.reset(seed=0)
    assert not task.in_contact("robot0", "robot1")
    # robot0's hand straight towards robot1's, at the same height: the hands meet and stay apart
    touched, closest = False, math.inf
    for _ in range(40):
        gap = task.eef_pose("robot1")[:3, 3] - task.eef_pose("robot0")[:3, 3]
        action = np.zeros(14)
        action[:3] = np.clip(gap / 0.05, -1, 1)
        action[6] = action[13] = -1.0
        env.step(action)
        touched |= task.in_contact("robot0", "robot1")
        closest = min(closest, np.linalg.norm(task.eef_pose("robot1")[:3, 3] - task.eef_pose("robot0")[:3, 3]))
    assert touched
    assert closest > 0.05  # two hands, each several centimetres thick, cannot share a place
    # MuJoCo's filter: a pair collides if either's contype meets the other's conaffinity
    model = task.model
    collides = lambda a, b: bool(model.geom_contype[a] & model.geom_conaffinity[b]  # noqa: E731
                                 or model.geom_contype[b] & model.geom_conaffinity[a])
    own = [[g for g in arm.geom_ids if model.geom_contype[g]] for arm in task._arms]
    table = model.geom("table_top").id
    assert not any(collides(a, b) for geoms in own for a in geoms for b in geoms)
    assert all(collides(a, b) for a in own[0] for b in own[1])
    assert all(collides(g, table) and collides(g, model.geom("cube0_geom").id) for g in own[0] + own[1])


def _lift(task, height: float, tilt: float = 0.0, cube_offsets=((0.0, -0.07), (0.0, 0.07))) -> None:
    """Teleport the tray `height` [m] up, tilted about its x axis, with each cube resting on the plate at
    its offset (in the tray's frame) unless the offset is None (the cube stays on the table)."""
    tray = task.reference_pose("tray")
    tray[:3, :3] = rotvec_to_mat((tilt, 0.0, 0.0))
    tray[2, 3] = TABLE_TOP_Z + TRAY_PLATE_HALF_THICKNESS + height
    task.set_object_pose("tray", tray)
    for k, offset in enumerate(cube_offsets):
        if offset is not None:
            task.set_object_pose(f"cube{k}", tray @ make_pose((*offset, TRAY_PLATE_HALF_THICKNESS + CUBE_HALF - 1e-4),
                                                              np.eye(3)))


@pytest.mark.parametrize("height, tilt, cubes, success", [
    (0.15, 0.0, ((0.0, -0.07), (0.0, 0.07)), True),
    (0.08, 0.0, ((0.0, -0.07), (0.0, 0.07)), False),  # not high enough
    (0.15, math.radians(35), ((0.0, -0.07), (0.0, 0.07)), False),  # tilted too far
    (0.15, math.radians(20), ((0.0, -0.07), (0.0, 0.07)), True),
    (0.15, 0.0, ((0.0, -0.07), None), False),  # a cube left on the table
])
def test_success_needs_the_tray_and_both_cubes_up_and_the_tray_level(env, height, tilt, cubes, success):
    env.reset(seed=0)
    _lift(env.unwrapped, height, tilt, cubes)
    info = env.unwrapped._task_info()
    assert info["is_success"] is success
    assert info["tray_lifted"] is (height > 0.10)


def _demonstrator_successes(args):
    distribution, seeds = args
    from dmg_envs.datagen.sources import record_demo

    env = gym.make("dmg/TwoArmTrayLift-v0", reset_distribution=distribution)
    results = []
    for seed in seeds:
        demo = record_demo(env, "tray_lift", seed)
        results.append((demo.success, {name: int(np.argmax(demo.signals[name])) for name in
                                       ("grasp_cube0", "cube0_on_tray", "grasp_cube1", "cube1_on_tray",
                                        "grasp_handle0", "grasp_handle1", "tray_lifted")}))
    return results


@pytest.mark.parametrize("distribution", ["D0", "D1"])
def test_scripted_demonstrator_solves_95_of_100_seeds_in_subtask_order(distribution):
    with ProcessPoolExecutor(2) as pool:
        results = [r for part in pool.map(_demonstrator_successes, [(distribution, range(i, 100, 2)) for i in (0, 1)])
                   for r in part]
    assert sum(success for success, _ in results) >= 95
    for success, first in results:
        if success:
            for k in range(2):  # each arm: its cube grasped, then on the tray, then its handle, then the lift
                assert 0 < first[f"grasp_cube{k}"] < first[f"cube{k}_on_tray"] < first[f"grasp_handle{k}"]
                assert first[f"grasp_handle{k}"] < first["tray_lifted"]


def test_slow_drift_moves_the_tray_and_cubes_while_free_and_keeps_the_tray_on_the_table():
    env = dmg_envs.make("dmg/TwoArmTrayLift-v0", dynamics="slow")
    task = env.unwrapped
    (x_low, y_low), (x_high, y_high) = task.object_workspace("tray")
    moved = dict.fromkeys(task.movable_objects, 0.0)
    for seed in range(3):
        env.reset(seed=seed)
        start = {name: task.object_position(name)[:2].copy() for name in moved}
        for _ in range(120):  # 6 s, the arms still
            env.step(np.tile([0, 0, 0, 0, 0, 0, -1.0], 2))
            x, y = task.object_position("tray")[:2]
            assert x_low - 0.003 <= x <= x_high + 0.003 and y_low - 0.003 <= y <= y_high + 0.003
        for name in moved:
            moved[name] = max(moved[name], float(np.linalg.norm(task.object_position(name)[:2] - start[name])))
    assert all(distance > 0.03 for distance in moved.values()), moved


def test_pushes_act_on_both_arms():
    env = dmg_envs.make("dmg/TwoArmTrayLift-v0", dynamics="pushes")
    env.reset(seed=0)
    pushed = dict.fromkeys(("robot0", "robot1"), False)
    for _ in range(200):
        _, _, _, _, info = env.step(np.tile([0, 0, 0, 0, 0, 0, -1.0], 2))
        for arm, force in info["robot_perturbation"].items():
            pushed[arm] |= bool(np.any(force))
    assert pushed == {"robot0": True, "robot1": True}
