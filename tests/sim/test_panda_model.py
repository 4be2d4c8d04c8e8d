"""The Panda MJCF: DH kinematics, asset-folder layout, clean simulation under noisy control."""

from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
import pytest

from dmg_envs.errors import InvalidConfigError
from dmg_envs.sim import scene
from dmg_envs.sim.transforms import angle_between, rotvec_to_mat

ASSET_DIR = Path(scene.PANDA_XML).parent
# Franka's modified DH table: (a, d, alpha) for joints 1..7.
DH = [(0, 0.333, 0), (0, 0, -np.pi / 2), (0, 0.316, np.pi / 2), (0.0825, 0, np.pi / 2),
      (-0.0825, 0.384, -np.pi / 2), (0, 0, np.pi / 2), (0.088, 0, np.pi / 2)]


def rot_x(angle):
    return rotvec_to_mat([angle, 0, 0])


def dh_frames(q):
    """World frames of links 1..7 and of the hand from the DH table (base at the origin)."""
    frames, pose = [], np.eye(4)
    for (a, d, alpha), qi in zip(DH, q):
        step = np.eye(4)
        step[:3, :3] = rot_x(alpha) @ rotvec_to_mat([0, 0, qi])
        step[:3, 3] = rot_x(alpha) @ np.array([a, 0, 0]) + step[:3, :3] @ np.array([0, 0, d])
        pose = pose @ step
        frames.append(pose.copy())
    hand = np.eye(4)
    hand[:3, :3] = rotvec_to_mat([0, 0, -np.pi / 4])
    hand[2, 3] = 0.107
    frames.append(pose @ hand)
    return frames


def test_link_frames_match_franka_dh_parameters():
    model = mujoco.MjModel.from_xml_path(str(scene.PANDA_XML))
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    names = [f"link{i}" for i in range(1, 8)] + ["hand"]
    for _ in range(20):
        q = rng.uniform(model.jnt_range[:7, 0], model.jnt_range[:7, 1])
        data.qpos[:7] = q
        mujoco.mj_kinematics(model, data)
        for name, expected in zip(names, dh_frames(q)):
            body = model.body(name).id
            np.testing.assert_allclose(data.xpos[body], expected[:3, 3], atol=1e-6, err_msg=name)
            assert angle_between(data.xmat[body].reshape(3, 3), expected[:3, :3]) < 1e-6, name


def test_home_posture_points_tcp_straight_down():
    model = mujoco.MjModel.from_xml_path(str(scene.PANDA_XML))
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    mujoco.mj_forward(model, data)
    tcp = data.site_xmat[model.site("tcp").id].reshape(3, 3)
    np.testing.assert_allclose(tcp[:, 2], [0, 0, -1], atol=1e-3)  # approach axis down
    np.testing.assert_allclose(np.abs(tcp[:, 1]), [0, 1, 0], atol=1e-3)  # fingers close along world y


def test_joint_limits_are_frankas():
    model = mujoco.MjModel.from_xml_path(str(scene.PANDA_XML))
    np.testing.assert_allclose(model.jnt_range[3], [-3.0718, -0.0698])
    np.testing.assert_allclose(model.jnt_range[5], [-0.0175, 3.7525])
    np.testing.assert_allclose(model.jnt_actfrcrange[:7, 1], [87] * 4 + [12] * 3)


def test_joint_torques_stay_within_frankas_limits_and_reach_them():
    """Each joint's two actuators (reference stiffness, damping) may exert Franka's torque limit together,
    never more, however violent the commands (here they drive at least one joint onto its limit)."""
    env = gym.make("dmg/Stack-v0")
    env.reset(seed=0)
    data = env.unwrapped.data
    peak = np.zeros(7)
    for action in np.random.default_rng(0).choice([-1.0, 1.0], size=(150, 7)):
        env.step(action)
        peak = np.maximum(peak, np.abs(data.qfrc_actuator[:7]))
    limits = np.array([87.0] * 4 + [12.0] * 3)
    assert np.all(peak <= limits + 1e-9), peak
    assert np.any(peak >= limits - 1e-6), peak  # the cap did bind


@pytest.mark.parametrize("name", ["README.md", "LICENSE", "CHANGELOG.md", "scene.xml", "panda.xml"])
def test_asset_dir_ships_its_documents(name):
    assert (ASSET_DIR / name).is_file()


def test_arm_scene_steps_one_second_of_noisy_control_without_warnings():
    model = mujoco.MjModel.from_xml_path(str(ASSET_DIR / "scene.xml"))
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    rng = np.random.default_rng(0)
    for _ in range(int(1.0 / model.opt.timestep)):
        data.ctrl[:] = data.ctrl + rng.normal(0, 0.05, model.nu)
        data.ctrl[:7] = np.clip(data.ctrl[:7], -0.5, 0.5)  # joint velocity references [rad/s]
        data.ctrl[7] = np.clip(data.ctrl[7], 0, 0.04)
        data.ctrl[8:] = data.ctrl[:7]
        mujoco.mj_step(model, data)
    assert np.all(np.isfinite(data.qpos))
    assert data.warning.number.sum() == 0


def test_table_scene_compiles_with_prefixed_arms():
    for arms in (1, 2):
        model = scene.build_table_scene((), num_arms=arms).compile()
        for i in range(arms):
            assert model.site(f"robot{i}_tcp").id >= 0
        assert model.nu == 15 * arms


@pytest.mark.parametrize("layout, bases", [
    ("opposed", [(-0.56, 0.0), (0.56, 0.0)]), ("parallel", [(-0.56, -0.25), (-0.56, 0.25)])])
def test_two_arm_layouts_place_the_arms_where_documented(layout, bases):
    model = scene.build_table_scene((), num_arms=2, layout=layout).compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    for index, base in enumerate(bases):
        np.testing.assert_allclose(data.xpos[model.body(f"robot{index}_link0").id][:2], base, atol=1e-9)


def test_a_layout_that_does_not_fit_the_number_of_arms_is_refused():
    with pytest.raises(InvalidConfigError, match="'parallel' is not valid for 1 arm"):
        scene.build_table_scene((), num_arms=1, layout="parallel")
