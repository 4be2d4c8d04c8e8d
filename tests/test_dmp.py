"""DMP mathematics: reproduction, goal changes, bounded acceleration, start == goal, time scaling."""

import math

import numpy as np
import pytest

from dmg_envs.dmp import CartesianDMP, PositionDMP, QuaternionDMP, quaternion
from dmg_envs.errors import InvalidConfigError

DT = 0.05  # 20 Hz control


def min_jerk(start, goal, steps):
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return start + (goal - start) * (10 * t**3 - 15 * t**4 + 6 * t**5)


def demo_positions(steps=60):
    """A curved reach (2.95 s at 20 Hz): min-jerk line plus a bump, like an approach over an object."""
    base = min_jerk(np.array([0.0, 0.0, 0.2]), np.array([0.25, -0.1, 0.02]), steps)
    bump = 0.08 * np.sin(np.linspace(0, math.pi, steps))[:, None] ** 2 * np.array([0.0, 0.3, 1.0])
    return np.arange(steps) * DT, base + bump


def demo_quaternions(steps=60):
    angles = min_jerk(np.zeros(3), np.array([0.3, -0.2, 1.2]), steps)  # a turn mostly about z
    start = np.array([0.0, 1.0, 0.0, 0.0])  # gripper pointing down
    return np.arange(steps) * DT, np.stack([quaternion.multiply(quaternion.exp(a / 2), start) for a in angles])


def angle(a, b):
    return float(np.linalg.norm(quaternion.rotation_between(a, b)))


def test_position_dmp_reproduces_the_demonstration():
    times, positions = demo_positions()
    dmp = PositionDMP(num_basis=50, alpha=25.0).fit(times, positions)
    dmp.reset()
    rollout = dmp.rollout(DT, duration=times[-1])
    rms = np.sqrt(np.mean(np.sum((rollout - positions) ** 2, axis=1)))
    assert rms < 1e-3


def test_quaternion_dmp_reproduces_the_demonstration():
    times, quats = demo_quaternions()
    dmp = QuaternionDMP(num_basis=50, alpha=25.0).fit(times, quats)
    dmp.reset()
    rollout = dmp.rollout(DT, duration=times[-1])
    errors = [angle(a, b) for a, b in zip(rollout, quats)]
    assert math.degrees(max(errors)) < 1.0


@pytest.mark.parametrize("cls, sample", [(PositionDMP, demo_positions), (QuaternionDMP, demo_quaternions)])
def test_converges_to_a_goal_moved_mid_motion(cls, sample):
    times, states = sample()
    dmp = cls().fit(times, states)
    dmp.reset()
    if cls is PositionDMP:
        new_goal = states[-1] + np.array([0.1, 0.15, -0.01])
    else:
        new_goal = quaternion.multiply(quaternion.exp(np.array([0, 0, 0.4])), states[-1])
    for step in range(200):
        dmp.step(DT, goal=new_goal if step >= 20 else None)  # the goal moves one second in
    assert dmp.distance_to_goal() < 1e-3
    assert dmp.converged(tolerance=1e-3)


def test_goal_that_keeps_moving_is_tracked():
    times, positions = demo_positions()
    dmp = PositionDMP().fit(times, positions)
    dmp.reset()
    velocity = np.array([0.05, 0.0, 0.0])  # the object drifts at 5 cm/s
    for step in range(120):
        dmp.step(DT, goal=positions[-1] + velocity * DT * step)
    lag = np.linalg.norm(dmp.goal - dmp.state)
    # once the phase has run out, a critically damped follower of a ramp lags by v * D * tau / K
    assert lag == pytest.approx(0.05 * dmp.damping * dmp.tau / dmp.stiffness, rel=0.15)


def test_acceleration_stays_bounded_when_the_goal_jumps():
    times, positions = demo_positions()
    dmp = PositionDMP().fit(times, positions)
    dmp.reset()
    baseline = []
    for _ in range(len(times)):
        dmp.step(DT)
        baseline.append(np.linalg.norm(dmp.acceleration))
    dmp.reset()
    jump = np.array([0.0, 0.1, 0.0])
    accelerations = []
    for step in range(len(times)):
        dmp.step(DT, goal=positions[-1] + (jump if step >= 10 else 0))
        accelerations.append(np.linalg.norm(dmp.acceleration))
    bound = max(baseline) + dmp.stiffness * np.linalg.norm(jump) / dmp.tau
    assert max(accelerations) <= bound * 1.01
    assert np.all(np.isfinite(accelerations))


def test_start_equal_to_goal_still_moves_like_the_demonstration():
    """A loop that returns to its start (pick-and-lift-back): the forcing term is not scaled by g - y0."""
    steps = 60
    t = np.linspace(0, 1, steps)
    positions = np.stack([0.1 * np.sin(math.pi * t) ** 2, 0.05 * np.sin(2 * math.pi * t) ** 2, np.zeros(steps)], axis=1)
    times = np.arange(steps) * DT
    dmp = PositionDMP().fit(times, positions)
    assert np.allclose(dmp.demo_start, dmp.demo_goal)
    dmp.reset()
    rollout = dmp.rollout(DT, duration=times[-1])
    assert np.sqrt(np.mean(np.sum((rollout - positions) ** 2, axis=1))) < 2e-3
    assert np.abs(rollout[:, 0]).max() > 0.09  # the loop is really there


def test_temporal_scaling_keeps_the_path():
    times, positions = demo_positions()
    dmp = PositionDMP().fit(times, positions)
    dmp.reset(tau=2 * times[-1])
    slow = dmp.rollout(DT / 2, duration=2 * times[-1])[::4]  # every 0.1 s: the phases of the demo's samples
    np.testing.assert_allclose(slow, positions, atol=2e-3)


def test_phase_stopping_waits_for_a_lagging_robot():
    times, positions = demo_positions()
    free = PositionDMP(alpha_stop=0.0).fit(times, positions)
    stopping = PositionDMP(alpha_stop=1e4).fit(times, positions)
    for dmp in (free, stopping):
        dmp.reset()
        for _ in range(10):
            dmp.step(DT, tracking_error=0.05)  # the robot lags 5 cm behind
    assert stopping.phase > free.phase + 0.2


def test_cartesian_dmp_moves_position_and_orientation_together():
    times, positions = demo_positions()
    _, quats = demo_quaternions()
    dmp = CartesianDMP().fit(times, positions, quats)
    dmp.reset()
    for _ in range(len(times) - 1):
        position, orientation = dmp.step(DT)
    assert np.linalg.norm(position - positions[-1]) < 2e-3 and angle(orientation, quats[-1]) < 0.02
    goal = (positions[-1] + 0.05, quaternion.multiply(quaternion.exp(np.array([0.2, 0, 0])), quats[-1]))
    for _ in range(100):
        dmp.step(DT, goal=goal)
    assert dmp.converged(1e-3, math.radians(0.5))


def test_bad_input_is_named():
    with pytest.raises(InvalidConfigError, match="fit the DMP"):
        PositionDMP().reset()
    with pytest.raises(InvalidConfigError, match="increase strictly"):
        PositionDMP().fit([0, 1, 1], np.zeros((3, 3)))
    with pytest.raises(InvalidConfigError, match="unit quaternion"):
        QuaternionDMP().fit([0, 1, 2], np.ones((3, 4)))
    with pytest.raises(InvalidConfigError, match="finite position"):
        times, positions = demo_positions()
        dmp = PositionDMP().fit(times, positions)
        dmp.reset(goal=[0, np.nan, 0])
    with pytest.raises(InvalidConfigError, match="alpha must be"):
        PositionDMP(alpha=0)
