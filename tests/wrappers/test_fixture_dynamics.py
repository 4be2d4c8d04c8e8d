"""Perturbations on a scene with an articulated fixture (dmg/MugDrawer-v0): free objects, fixture
footprints, the cabinet preset, fixtures found outside their workspace, dmg-paper on any task."""

import math

import gymnasium as gym
import numpy as np
import pytest

import dmg_envs
from dmg_envs.envs.mug_drawer import MUG_HALF_HEIGHT
from dmg_envs.sim.scene import TABLE_TOP_Z
from dmg_envs.sim.transforms import make_pose
from dmg_envs.wrappers import PRESETS, ObjectPerturbation, SceneGeometryPerturbation

HOLD = np.array([0, 0, 0, 0, 0, 0, -1.0], dtype=np.float32)


def set_opening(task, opening):
    task.data.qpos[task._index.parts["drawer"].qpos] = opening
    task.set_state(task.get_state())


def test_a_mug_in_the_drawer_is_never_moved():
    env = ObjectPerturbation(gym.make("dmg/MugDrawer-v0"), motion="jump", params={"interval": 0.1, "distance": 0.05})
    task = env.unwrapped
    env.reset(seed=0)
    set_opening(task, 0.15)
    spot = task.reference_pose("drawer") @ make_pose([0.0, -0.025, MUG_HALF_HEIGHT - 0.0001], np.eye(3))
    task.set_object_pose("mug", spot)
    for _ in range(60):  # 3 s; out on the table it would jump about 30 times
        _, _, _, _, info = env.step(HOLD)
        assert not info["perturbation"]["mug"].any()
    np.testing.assert_allclose(task.object_position("mug"), spot[:3, 3], atol=2e-3)


@pytest.mark.parametrize("seed", range(4))
def test_the_mug_never_moves_into_the_cabinet_or_the_open_drawer(seed):
    """The mug starts 8 cm from the open drawer's handle and wanders fast: a perturbation step never brings it into
    the footprint of the cabinet or of the drawer, and it never sinks into them."""
    env = ObjectPerturbation(gym.make("dmg/MugDrawer-v0"), motion="random_walk",
                             params={"speed": 0.15, "correlation_time": 0.5})
    task = env.unwrapped
    env.reset(seed=seed)
    set_opening(task, 0.15)
    task.set_object_pose("mug", make_pose([0.0, -0.1, TABLE_TOP_Z + MUG_HALF_HEIGHT - 0.0001], np.eye(3)))
    radius = task.object_extent("mug").radius
    model, data = task.model, task.data
    mug_geoms = set(np.flatnonzero(model.geom_bodyid == model.body("mug").id))
    fixture_geoms = set(np.flatnonzero(np.isin(model.geom_bodyid, [model.body("cabinet").id, model.body("drawer").id])))
    moved = 0
    for _ in range(200):
        _, _, _, truncated, info = env.step(HOLD)
        assert not truncated
        moved += bool(info["perturbation"]["mug"].any())
        x, y, _ = task.object_position("mug")
        for footprint in task.footprints():
            cos, sin = math.cos(footprint.yaw), math.sin(footprint.yaw)
            local = (cos * (x - footprint.center[0]) + sin * (y - footprint.center[1]),
                     -sin * (x - footprint.center[0]) + cos * (y - footprint.center[1]))
            outside = [max(low - v, 0.0, v - high) for v, low, high in zip(local, footprint.low_xy, footprint.high_xy)]
            assert math.hypot(*outside) > radius - 0.003, footprint.name
        for contact in data.contact[:data.ncon]:
            pair = {contact.geom1, contact.geom2}
            if pair & mug_geoms and pair & fixture_geoms:
                assert contact.dist > -0.002
    assert moved > 50  # it did wander


def test_the_cabinet_preset_moves_the_cabinet_within_its_bounds_and_never_while_the_arm_holds_it():
    from dmg_envs.datagen.attempts import policy_rng
    from dmg_envs.datagen.demonstrators import MugDrawerDemonstrator

    env = dmg_envs.make("dmg/MugDrawer-v0", dynamics="cabinet")
    task = env.unwrapped
    (x_low, y_low, yaw_low), (x_high, y_high, yaw_high) = task.FIXTURE_WORKSPACE["cabinet"]
    demonstrator = MugDrawerDemonstrator(policy_rng(0))
    obs, info = env.reset(seed=0)
    moved_free = held_steps = 0
    for _ in range(150):
        held = task.in_contact("cabinet", "robot0")
        obs, _, _, _, info = env.step(demonstrator(obs))
        step = info["scene_perturbation"]["cabinet"]
        if held:
            held_steps += 1
            assert not step.any()
        else:
            moved_free += bool(step.any())
        x, y, _ = obs["cabinet_pos"]
        yaw = 2 * math.atan2(obs["cabinet_quat"][3], obs["cabinet_quat"][0])
        assert x_low - 1e-9 <= x <= x_high + 1e-9 and y_low - 1e-9 <= y <= y_high + 1e-9
        assert yaw_low - 1e-9 <= yaw <= yaw_high + 1e-9
    assert held_steps > 20 and moved_free > 50


def test_a_fixture_outside_its_workspace_moves_back_in_instead_of_jittering():
    env = SceneGeometryPerturbation(gym.make("dmg/MugDrawer-v0"), motion="drift", params={"speed": 0.05})
    task = env.unwrapped
    env.reset(seed=0)
    x_high = task.FIXTURE_WORKSPACE["cabinet"][1][0]
    pose = task.fixture_pose("cabinet")
    pose[0, 3] = x_high + 0.1
    task.set_fixture_pose("cabinet", pose)
    env._motions["cabinet"].velocity = [0.05, 0.0]  # heading further out
    xs = [pose[0, 3]]
    for _ in range(50):
        env.step(HOLD)
        xs.append(task.fixture_pose("cabinet")[0, 3])
    steps = np.diff(xs)
    assert np.all(steps < 0) and xs[-1] <= x_high  # straight back in, not back and forth


def test_dmg_paper_moves_the_first_movable_reference_during_the_first_half_of_its_subtask():
    from dmg_envs.datagen.attempts import policy_rng
    from dmg_envs.datagen.demonstrators import MugDrawerDemonstrator

    env = dmg_envs.make("dmg/MugDrawer-v0", dynamics="dmg-paper")
    wrapper_kwargs = env.spec.additional_wrappers[0].kwargs
    assert wrapper_kwargs["objects"] == ["mug"] and wrapper_kwargs["subtask"] == "pick_mug"
    perturbed = 0
    for seed in range(12):
        demonstrator = MugDrawerDemonstrator(policy_rng(seed))
        obs, info = env.reset(seed=seed)
        phases = []
        while not info["mug_grasped"] and len(phases) < 300:
            opened = info["drawer_open"]
            obs, _, _, _, info = env.step(demonstrator(obs))
            phases.append((opened, bool(info["perturbation"]["mug"].any())))
        moves = [opened for opened, moved in phases if moved]
        perturbed += bool(moves)
        assert all(moves)  # only once the drawer was open: during pick_mug
    assert 2 <= perturbed <= 10  # about half of the episodes


@pytest.mark.parametrize("dynamics", sorted(PRESETS))
def test_random_actions_under_every_preset_stay_stable(dynamics):
    env = dmg_envs.make("dmg/MugDrawer-v0", dynamics=dynamics)
    obs, info = env.reset(seed=5)
    env.action_space.seed(5)
    truncated, steps = False, 0
    while not truncated:
        obs, _, _, truncated, info = env.step(env.action_space.sample())
        steps += 1
        assert all(np.all(np.isfinite(value)) for value in obs.values()) and not info["sim_unstable"]
    assert steps == 500


def test_a_subtask_gate_opens_only_when_its_subtask_is_reached_in_order():
    """`drawer_closed` is already true at reset: a gate on the closing subtask must not count it until
    the drawer has been opened, the mug picked and placed."""
    from dmg_envs.wrappers.gating import EpisodeGate

    gate = EpisodeGate(subtask="close_drawer")
    gate.bind(gym.make("dmg/MugDrawer-v0").unwrapped)
    gate.reset(np.random.default_rng(0))
    quiet = {"drawer_open": False, "mug_grasped": False, "mug_in_drawer": False, "drawer_closed": True}
    for signals in ({}, {"drawer_open": True}, {"drawer_open": True, "mug_grasped": True}):
        gate.update({**quiet, **signals})
        assert not gate.allows(1.0)
    gate.update({**quiet, "drawer_closed": False, "mug_in_drawer": True})
    assert gate.allows(1.0)  # placing is done: closing runs now
    gate.update({**quiet, "drawer_closed": True})
    assert not gate.allows(1.0)  # and it is over once the drawer is shut


def test_a_moved_fixture_carries_its_parts_and_frames_at_once():
    env = gym.make("dmg/MugDrawer-v0")
    task = env.unwrapped
    env.reset(seed=0)
    handle = task.reference_pose("drawer_handle")
    shift = make_pose([0.05, 0.02, 0.0], np.eye(3))
    task.set_fixture_pose("cabinet", shift @ task.fixture_pose("cabinet"))
    np.testing.assert_allclose(task.reference_pose("drawer_handle")[:3, 3], handle[:3, 3] + [0.05, 0.02, 0.0],
                               atol=1e-12)
