"""ObjectPerturbation and the presets on dmg/Stack-v0 (issue: dynamic perturbations)."""

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scripted_stack import ScriptedStackPolicy, run_episode

import dmg_envs
from dmg_envs.envs.stack import StackEnv
from dmg_envs.errors import InvalidConfigError, UnknownNameError
from dmg_envs.sim.scene import TABLE_TOP_Z
from dmg_envs.sim.transforms import make_pose
from dmg_envs.wrappers import PRESETS, ObjectPerturbation, apply_dynamics

HOLD = np.array([0, 0, 0, 0, 0, 0, -1.0], dtype=np.float32)  # arm still, gripper open


def random_actions(n, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, 7)).astype(np.float32)


def rollout(env, seed, actions):
    obs, info = env.reset(seed=seed)
    out = [(obs, info)]
    for action in actions:
        obs, _, _, _, info = env.step(action)
        out.append((obs, info))
    return out


def assert_same_observations(a, b):
    for (obs_a, _), (obs_b, _) in zip(a, b, strict=True):
        for key in obs_a:
            assert obs_a[key].tobytes() == obs_b[key].tobytes(), key


def test_static_preset_is_bit_identical_to_the_plain_env():
    actions = random_actions(200)
    plain = rollout(gym.make("dmg/Stack-v0"), 3, actions)
    assert_same_observations(plain, rollout(dmg_envs.make("dmg/Stack-v0", dynamics="static"), 3, actions))
    # a perturbation that never fires changes nothing either
    never = ObjectPerturbation(gym.make("dmg/Stack-v0"), motion="drift", probability=0.0)
    assert_same_observations(plain, rollout(never, 3, actions))


@pytest.mark.parametrize("speed", [0.02, 0.08])
def test_drift_moves_a_free_object_at_the_requested_speed(speed):
    env = ObjectPerturbation(gym.make("dmg/Stack-v0"), motion="drift", params={"speed": speed}, objects=["cubeA"])
    task = env.unwrapped
    for seed in range(10):
        env.reset(seed=seed)
        far = make_pose([0.18, 0.23 if seed % 2 else -0.23, TABLE_TOP_Z + 0.025], np.eye(3))
        task.set_object_pose("cubeB", far)  # out of cubeA's way: nothing blocks the drift
        start = previous = task.object_position("cubeA")
        path = 0.0  # the travelled distance: the drift may bounce off the workspace edge
        for _ in range(40):  # 2 s at 20 Hz
            _, _, _, _, info = env.step(HOLD)
            path += np.linalg.norm(task.object_position("cubeA")[:2] - previous[:2])
            previous = task.object_position("cubeA")
        moved = previous - start
        assert path == pytest.approx(speed * 2.0, rel=0.10)
        np.testing.assert_allclose(moved[:2], info["perturbation_total"]["cubeA"][:2], atol=1e-3)
        assert abs(moved[2]) < 5e-4  # stays on the table
        assert set(info["perturbation"]) == {"cubeA"}  # only the selected object is reported
        np.testing.assert_allclose(task.object_position("cubeB")[:2], far[:2, 3], atol=1e-4)  # and moved


def test_grasped_and_stacked_objects_are_not_moved():
    env = ObjectPerturbation(gym.make("dmg/Stack-v0"), motion="drift", params={"speed": 0.02})
    policy = ScriptedStackPolicy()
    obs, info = env.reset(seed=2)
    grasped_steps = stacked_steps = 0
    for _ in range(250):
        # The wrapper decides before the physics step, on the state the previous step left.
        was_grasped, was_stacked = info["grasp_cubeA"], info["cubeA_on_cubeB"]
        obs, _, _, _, info = env.step(policy(obs))
        if was_grasped:
            grasped_steps += 1
            assert not info["perturbation"]["cubeA"].any()
        if was_stacked:
            stacked_steps += 1
            assert not info["perturbation"]["cubeA"].any() and not info["perturbation"]["cubeB"].any()
        if policy.phase == 7 and info["is_success"]:
            break
    assert grasped_steps > 5 and stacked_steps > 3 and info["is_success"]


def test_objects_never_leave_the_workspace_sink_or_interpenetrate():
    (x_low, y_low), (x_high, y_high) = StackEnv.OBJECT_WORKSPACE_XY
    for dynamics in ("fast", "jumps", "random-walk"):
        env = dmg_envs.make("dmg/Stack-v0", dynamics=dynamics)
        task = env.unwrapped
        model, data = task.model, task.data
        cube_geoms = {model.geom("cubeA_geom").id, model.geom("cubeB_geom").id}
        def outside(x, y):  # how far a centre lies outside the workspace [m]
            return max(x_low - x, x - x_high, 0.0) + max(y_low - y, y - y_high, 0.0)

        for seed in range(8):
            env.reset(seed=seed)
            for action in random_actions(150, seed):
                before = {name: task.object_position(name) for name in task.movable_objects}
                _, _, _, truncated, info = env.step(action)
                assert not truncated
                for name in task.movable_objects:
                    dx, dy, _ = info["perturbation"][name]
                    if dx or dy:  # a perturbation step never takes an object out, or further out
                        x, y, _ = before[name]
                        assert outside(x + dx, y + dy) <= outside(x, y) + 1e-12
                    if not task.in_contact(name, "robot0"):  # the arm may press a cube into the table
                        assert task.object_position(name)[2] > TABLE_TOP_Z + task.object_extent(name).bottom - 0.002
                for contact in data.contact:
                    if contact.geom1 in cube_geoms and contact.geom2 in cube_geoms:
                        assert contact.dist > -0.002, f"{dynamics} seed {seed}: cubes interpenetrate {contact.dist}"


STACK_PRESETS = sorted(set(PRESETS) - {"cabinet"})  # Stack has no fixtures to move


@pytest.mark.parametrize("dynamics", STACK_PRESETS)
def test_random_actions_under_every_preset_stay_stable(dynamics):
    env = dmg_envs.make("dmg/Stack-v0", dynamics=dynamics)
    for episode in range(3):
        obs, info = env.reset(seed=100 + episode)
        truncated = False
        steps = 0
        while not truncated:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            steps += 1
            assert all(np.all(np.isfinite(v)) for v in obs.values())
            assert not info["sim_unstable"]
        assert steps == 300


@pytest.mark.parametrize("dynamics", ["dmg-paper", "slow", "jumps", "pushes"])
def test_check_env_passes_on_wrapped_envs(dynamics):
    check_env(dmg_envs.make("dmg/Stack-v0", dynamics=dynamics), skip_render_check=True)


def perturbation_sequence(env, seed, steps=120):
    env.reset(seed=seed)
    env.action_space.seed(seed)
    record = []
    for action in random_actions(steps, seed):
        obs, _, _, _, info = env.step(action)
        record.append(np.concatenate([v for _, v in sorted(info["perturbation"].items())] + [obs["cubeA_pos"]]))
    return np.array(record)


@pytest.mark.parametrize("dynamics", ["dmg-paper", "fast", "jumps", "random-walk"])
def test_same_seed_same_perturbations_and_spec_json_round_trip(dynamics):
    env = dmg_envs.make("dmg/Stack-v0", dynamics=dynamics)
    first = perturbation_sequence(env, 9)
    assert np.array_equal(first, perturbation_sequence(env, 9))
    if dynamics != "dmg-paper":  # dmg-paper perturbs only half of the episodes
        assert np.abs(first[:, :6]).sum() > 0
        assert not np.array_equal(first, perturbation_sequence(env, 10))
    spec_json = env.spec.to_json()
    assert "ObjectPerturbation" in spec_json
    rebuilt = gym.make(gym.envs.registration.EnvSpec.from_json(json.loads(json.dumps(spec_json))))
    assert np.array_equal(first, perturbation_sequence(rebuilt, 9))


def test_dmg_paper_perturbs_half_the_episodes_during_the_first_half_of_the_pick():
    env = dmg_envs.make("dmg/Stack-v0", dynamics="dmg-paper")
    perturbed = 0
    for seed in range(40):
        _, info = env.reset(seed=seed)
        policy = ScriptedStackPolicy()
        obs, _ = env.reset(seed=seed)
        moves = []
        for _ in range(60):
            obs, _, _, _, info = env.step(policy(obs))
            moves.append(info["perturbation"]["cubeA"].copy())
            if info["grasp_cubeA"]:
                break
        moves = np.array(moves)
        if np.abs(moves).sum() == 0:
            continue
        perturbed += 1
        moving = np.flatnonzero(np.abs(moves).sum(axis=1))
        np.testing.assert_allclose(np.abs(moves[moving, :2]).sum(axis=1), 0.0025)  # 2.5 mm per step
        assert np.count_nonzero(moves[moving, :2].sum(axis=0)) == 1  # along one axis
        assert moving[-1] < len(moves) - 1  # stopped before the grasp
    assert 12 <= perturbed <= 28  # about half of 40


def test_scripted_open_loop_policy_degrades_under_fast_and_jumps():
    rates = {}
    for dynamics in ("static", "fast", "jumps"):
        env = dmg_envs.make("dmg/Stack-v0", dynamics=dynamics)
        rates[dynamics] = np.mean([run_episode(env, seed)[0] for seed in range(40)])
    assert rates["static"] >= 0.95
    assert rates["fast"] <= 0.8 * rates["static"] and rates["jumps"] <= 0.8 * rates["static"], rates


def test_bad_arguments_are_named():
    env = gym.make("dmg/Stack-v0")
    with pytest.raises(UnknownNameError, match="'cubeA', 'cubeB'"):
        ObjectPerturbation(env, objects=["mug"])
    with pytest.raises(UnknownNameError, match="pick_cubeA"):
        ObjectPerturbation(env, subtask="open_drawer")
    with pytest.raises(InvalidConfigError, match="probability"):
        ObjectPerturbation(env, probability=1.5)
    with pytest.raises(InvalidConfigError, match="time_window"):
        ObjectPerturbation(env, time_window=[2.0, 1.0])
    with pytest.raises(InvalidConfigError, match="choose one of 'static'"):
        apply_dynamics(env, "hurricane")


def test_time_window_limits_the_motion():
    env = ObjectPerturbation(gym.make("dmg/Stack-v0"), motion="drift", params={"speed": 0.02}, time_window=[0.5, 1.0])
    env.reset(seed=0)
    moved = []
    for _ in range(30):
        _, _, _, _, info = env.step(HOLD)
        moved.append(bool(np.abs(info["perturbation"]["cubeA"]).sum()))
    assert np.flatnonzero(moved).tolist() == list(range(10, 20))  # steps starting at 0.5 s .. 0.95 s


def test_an_object_left_outside_the_workspace_may_drift_back_in():
    env = ObjectPerturbation(gym.make("dmg/Stack-v0"), motion="drift", params={"speed": 0.02}, objects=["cubeA"])
    task = env.unwrapped
    env.reset(seed=0)
    x_high = task.OBJECT_WORKSPACE_XY[1][0]
    task.set_object_pose("cubeA", make_pose([x_high + 0.015, 0.0, TABLE_TOP_Z + 0.0199], np.eye(3)))
    task.set_object_pose("cubeB", make_pose([-0.15, 0.2, TABLE_TOP_Z + 0.0249], np.eye(3)))
    env._motions["cubeA"].velocity = [-0.02, 0.0]  # heading back in
    for _ in range(20):
        env.step(HOLD)
    assert task.object_position("cubeA")[0] < x_high


def test_numpy_numbers_in_arguments_round_trip_through_the_spec_json():
    env = ObjectPerturbation(gym.make("dmg/Stack-v0"), motion="drift", params={"speed": np.float32(0.02)},
                             probability=np.float64(1.0), objects=np.array(["cubeA"]), time_window=(np.int64(0), 5))
    spec_json = env.spec.to_json()  # raised TypeError on np.float32 before
    kwargs = json.loads(spec_json)["additional_wrappers"][0]["kwargs"]
    assert kwargs["params"] == {"speed": pytest.approx(0.02)} and kwargs["objects"] == ["cubeA"]
    assert kwargs["time_window"] == [0, 5]
    rebuilt = gym.make(gym.envs.registration.EnvSpec.from_json(spec_json))
    assert np.array_equal(perturbation_sequence(env, 3, 40), perturbation_sequence(rebuilt, 3, 40))


def test_arguments_json_cannot_hold_are_refused_naming_them():
    with pytest.raises(InvalidConfigError, match=r"params\['speed'\] must be made of numbers"):
        ObjectPerturbation(gym.make("dmg/Stack-v0"), params={"speed": object()})
    with pytest.raises(InvalidConfigError, match="probability must be finite"):
        ObjectPerturbation(gym.make("dmg/Stack-v0"), probability=np.float32("nan"))


def test_the_subtask_gate_stays_closed_once_its_fraction_has_passed():
    """dmg-paper's gate: cubeA may move during the first half of the approach; when the hand backs off
    after that (the distance grows again), the gate must not reopen."""
    env = ObjectPerturbation(gym.make("dmg/Stack-v0"), motion="drift", params={"speed": 0.02}, objects=["cubeA"],
                             subtask="pick_cubeA", subtask_fraction=0.5)
    task = env.unwrapped
    env.reset(seed=1)
    start = np.linalg.norm(task.eef_pose()[:3, 3] - task.object_position("cubeA"))
    moved, phase = [], "approach"
    for _ in range(80):
        distance = np.linalg.norm(task.eef_pose()[:3, 3] - task.object_position("cubeA"))
        if phase == "approach" and distance < 0.3 * start:
            phase = "back off"
        direction = task.object_position("cubeA") - task.eef_pose()[:3, 3]
        if phase == "back off":
            direction = -direction
        action = np.zeros(7, dtype=np.float32)
        action[:3] = np.clip(direction / np.linalg.norm(direction) * 0.4, -1, 1)
        action[6] = -1
        _, _, _, _, info = env.step(action)
        moved.append((phase, bool(np.any(info["perturbation"]["cubeA"]))))
        if phase == "back off" and np.linalg.norm(task.eef_pose()[:3, 3] - task.object_position("cubeA")) > start:
            break
    assert any(m for p, m in moved if p == "approach")  # it moved during the first part of the approach
    assert not any(m for p, m in moved if p == "back off")  # and never again, although the hand backed off
