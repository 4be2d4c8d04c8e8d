import math

import numpy as np
import pytest

from dmg_envs.errors import InvalidConfigError
from dmg_envs.wrappers.motions import Drift, Jump, Oscillate, RandomWalk, make_motion

DT = 0.05


def roll(model, steps, seed=0):
    rng = np.random.default_rng(seed)
    model.start(rng)
    return np.array([model.step(rng, i * DT) for i in range(steps)])


def test_drift_moves_at_its_speed_in_a_fixed_direction():
    steps = roll(Drift(DT, speed=0.03), 40)
    np.testing.assert_allclose(np.linalg.norm(steps[:, :2], axis=1), 0.03 * DT)
    assert np.ptp(steps[:, :2], axis=0).max() < 1e-15 and not steps[:, 2].any()


def test_axis_aligned_drift_picks_each_of_the_four_directions():
    directions = set()
    for seed in range(40):
        step = roll(Drift(DT, speed=0.05, axis_aligned=True), 1, seed)[0]
        assert np.count_nonzero(step[:2]) == 1
        directions.add(tuple(np.sign(step[:2])))
    assert directions == {(1, 0), (-1, 0), (0, 1), (0, -1)}


def test_bounce_reverses_one_axis():
    model = Drift(DT, speed=0.02)
    model.start(np.random.default_rng(1))
    vx, vy = model.velocity
    model.bounce(0)
    assert model.velocity == [-vx, vy]


def test_oscillation_returns_after_a_period():
    steps = roll(Oscillate(DT, amplitude=0.03, period=2.0), 40)
    np.testing.assert_allclose(steps[:, :2].sum(axis=0), 0, atol=1e-12)
    excursion = np.linalg.norm(np.cumsum(steps[:, :2], axis=0), axis=1).max()
    assert 0.03 <= excursion <= 0.06 + 1e-9  # peak to peak is twice the amplitude


def test_random_walk_speed_and_smoothness():
    steps = roll(RandomWalk(DT, speed=0.04, correlation_time=1.0), 4000)
    velocity = steps[:, :2] / DT
    assert np.sqrt((velocity**2).mean(axis=0)) == pytest.approx([0.04, 0.04], rel=0.2)
    # consecutive velocities are strongly correlated (smooth), unlike white noise
    assert np.corrcoef(velocity[:-1, 0], velocity[1:, 0])[0, 1] > 0.9


def test_jumps_happen_at_the_requested_rate_with_the_requested_size():
    steps = roll(Jump(DT, interval=1.5, distance=0.05, yaw=0.5), 6000)
    jumps = steps[np.any(steps != 0, axis=1)]
    expected = 6000 * (1 - math.exp(-DT / 1.5))
    assert len(jumps) == pytest.approx(expected, rel=0.15)
    np.testing.assert_allclose(np.linalg.norm(jumps[:, :2], axis=1), 0.05)
    assert np.abs(jumps[:, 2]).max() <= 0.5 and np.abs(jumps[:, 2]).max() > 0.4


def test_same_seed_same_motion():
    np.testing.assert_array_equal(roll(RandomWalk(DT), 50, 3), roll(RandomWalk(DT), 50, 3))
    assert not np.array_equal(roll(RandomWalk(DT), 50, 3), roll(RandomWalk(DT), 50, 4))


@pytest.mark.parametrize("kind, params, message", [
    ("teleport", {}, "choose one of 'drift'"),
    ("drift", {"velocity": 1.0}, "unknown: \\['velocity'\\]"),
    ("drift", {"speed": -1.0}, "speed must be a positive number"),
    ("oscillate", {"period": float("nan")}, "period must be a positive number"),
    ("jump", {"yaw": -0.1}, "yaw must be a non-negative number"),
])
def test_bad_motion_config_is_named(kind, params, message):
    with pytest.raises(InvalidConfigError, match=message):
        make_motion(kind, DT, params)
