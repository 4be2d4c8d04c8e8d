import numpy as np
import pytest

from dmg_envs.sim import transforms as tf


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def random_rotvec(rng):
    axis = rng.normal(size=3)
    return axis / np.linalg.norm(axis) * rng.uniform(0.0, np.pi - 1e-3)


def test_rotvec_round_trip(rng):
    for _ in range(50):
        rotvec = random_rotvec(rng)
        np.testing.assert_allclose(tf.mat_to_rotvec(tf.rotvec_to_mat(rotvec)), rotvec, atol=1e-9)


def test_quat_matrix_round_trip_and_orthonormality(rng):
    for _ in range(50):
        mat = tf.rotvec_to_mat(random_rotvec(rng))
        np.testing.assert_allclose(mat @ mat.T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(tf.quat_to_mat(tf.mat_to_quat(mat)), mat, atol=1e-12)


def test_rotation_error_is_world_frame_rotvec(rng):
    for _ in range(50):
        current = tf.rotvec_to_mat(random_rotvec(rng))
        delta = random_rotvec(rng) * 0.9
        target = tf.rotvec_to_mat(delta) @ current  # rotate about world axes
        np.testing.assert_allclose(tf.rotation_error(target, current), delta, atol=1e-9)


def test_invert_pose(rng):
    pose = tf.make_pose(rng.normal(size=3), tf.rotvec_to_mat(random_rotvec(rng)))
    np.testing.assert_allclose(tf.invert_pose(pose) @ pose, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(pose @ tf.invert_pose(pose), np.eye(4), atol=1e-12)


def test_zero_rotvec_is_identity():
    np.testing.assert_array_equal(tf.rotvec_to_mat(np.zeros(3)), np.eye(3))


def test_a_reference_kept_at_the_source_heading_keeps_the_tools_first_turn():
    """A cup (looks the same at any yaw) held at the source demo's heading: the side grasp keeps the demo's
    roll even when the half-turned hand is nearer the current one (it could ask the wrist for more than its
    range); without the source heading the nearer tool turn is taken."""
    side_grasp = np.eye(4)
    side_grasp[:3, :3] = tf.rotvec_to_mat(np.array([np.pi / 2, 0.0, 0.0]))  # approach axis horizontal
    half_turn = np.diag([-1.0, -1.0, 1.0, 1.0])
    frame = tf.yaw_pose(0.4)
    current = frame @ side_grasp @ half_turn  # the hand already half turned
    turn, tool_turn = tf.nearest_equivalent(frame, side_grasp, current, 0, (np.eye(4), half_turn),
                                            continuous_yaw=1.0)
    np.testing.assert_array_equal(tool_turn, np.eye(4))
    assert tf.yaw_of((frame @ turn)[:3, :3]) == pytest.approx(1.0)
    _, nearer = tf.nearest_equivalent(frame, side_grasp, current, 0, (np.eye(4), half_turn), continuous_yaw=None)
    np.testing.assert_array_equal(nearer, half_turn)
