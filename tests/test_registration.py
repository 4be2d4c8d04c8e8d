"""Every registered id: checkers, determinism, bad input, divergence, spec round trip, pickling, import-free
make, and the task table behind the registry."""

import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from dmg_envs.datagen.demonstrators import ScriptedDemonstrator
from dmg_envs.errors import InvalidActionError, InvalidConfigError
from dmg_envs.registration import ENTRY_POINTS, TASKS, load_object

ENV_IDS = sorted(ENTRY_POINTS)


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("obs_mode", ["dict", "flat"])
def test_gymnasium_check_env(env_id, obs_mode):
    env = gym.make(env_id, obs_mode=obs_mode)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_stable_baselines3_check_env_flat(env_id):
    sb3_env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = gym.make(env_id, obs_mode="flat")
    sb3_env_checker.check_env(env.unwrapped, warn=True)  # raises on any API violation
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_flat_observation_is_the_dict_in_key_order(env_id):
    dict_env, flat_env = gym.make(env_id), gym.make(env_id, obs_mode="flat")
    dict_obs, _ = dict_env.reset(seed=5)
    flat_obs, _ = flat_env.reset(seed=5)
    np.testing.assert_array_equal(flat_obs, np.concatenate(list(dict_obs.values())))
    np.testing.assert_array_equal(flat_obs, gym.spaces.flatten(dict_env.observation_space, dict_obs))
    assert list(dict_env.observation_space.spaces) == list(dict_obs)
    size = sum(space.shape[0] for space in dict_env.observation_space.spaces.values())
    assert flat_env.observation_space.shape == flat_obs.shape == (size,)


def test_make_with_module_prefix_needs_no_prior_import():
    code = ("import gymnasium as gym, sys; assert 'dmg_envs' not in sys.modules; "
            "env = gym.make('dmg_envs:dmg/Stack-v0'); obs, _ = env.reset(seed=0); print(sorted(obs)[0])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cubeA_pos"


def test_import_is_light():
    code = "import sys, dmg_envs; print('mujoco' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_spec_round_trip_rebuilds_the_same_env(env_id):
    env = gym.make(env_id, reset_distribution="D1", reward_type="dense")
    spec_json = env.spec.to_json()
    rebuilt = gym.make(gym.envs.registration.EnvSpec.from_json(spec_json))
    obs_a, _ = env.reset(seed=11)
    obs_b, _ = rebuilt.reset(seed=11)
    for key in obs_a:
        np.testing.assert_array_equal(obs_a[key], obs_b[key])
    assert rebuilt.unwrapped.reward_type == "dense"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_pickles(env_id):
    env = gym.make(env_id)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    action = np.full(env.action_space.shape, 0.3)
    obs, *_ = env.step(action)
    clone_obs, *_ = clone.step(action)
    for key in obs:
        np.testing.assert_array_equal(obs[key], clone_obs[key])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_and_actions_give_bit_identical_observations(env_id):
    trajectories = []
    for _ in range(2):
        env = gym.make(env_id)
        actions = np.random.default_rng(0).uniform(-1, 1, size=(200, *env.action_space.shape))
        obs, _ = env.reset(seed=7)
        trajectory = [obs]
        for action in actions:
            trajectory.append(env.step(action)[0])
        trajectories.append(trajectory)
    for a, b in zip(*trajectories):
        for key in a:
            assert a[key].tobytes() == b[key].tobytes(), key


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("bad", ["one short", "batched", "one long"])
def test_wrong_action_shape_raises(env_id, bad):
    env = gym.make(env_id)
    env.reset(seed=0)
    size = env.action_space.shape[0]
    action = {"one short": np.zeros(size - 1), "batched": np.zeros((1, size)), "one long": np.zeros(size + 1)}[bad]
    with pytest.raises(InvalidActionError, match=rf"shape .* expected \({size},\)"):
        env.unwrapped.step(action)


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_action_raises(env_id, value):
    env = gym.make(env_id)
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape)
    action[2] = value
    with pytest.raises(InvalidActionError, match=r"NaN or inf at indices \[2\]"):
        env.unwrapped.step(action)


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("kwargs, name", [
    ({"obs_mode": "pixels"}, "obs_mode"), ({"control_mode": "velocity"}, "control_mode"),
    ({"reward_type": "shaped"}, "reward_type"), ({"reset_distribution": "D2"}, "reset_distribution"),
    ({"render_mode": "ansi"}, "render_mode"),
])
def test_bad_config_names_the_argument_and_choices(env_id, kwargs, name):
    with pytest.raises(InvalidConfigError, match=name) as error:
        gym.make(env_id, **kwargs)
    assert "choose one of" in str(error.value)


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("steps_before", [0, 5])
def test_diverging_simulation_truncates_instead_of_crashing(env_id, tmp_path, monkeypatch, steps_before):
    monkeypatch.chdir(tmp_path)  # MuJoCo logs the warning to MUJOCO_LOG.TXT in the working directory
    env = gym.make(env_id)
    task = env.unwrapped
    env.reset(seed=0)
    still = np.zeros(env.action_space.shape)
    for _ in range(steps_before):
        env.step(still)
    task.data.qvel[task._index.objects[task.movable_objects[0]].dof] = 1e12  # beyond MuJoCo's bad-value threshold
    obs, reward, terminated, truncated, info = env.step(still)
    assert truncated and info["sim_unstable"] and not terminated
    assert all(np.all(np.isfinite(v)) for v in obs.values())
    # the env stays usable
    env.reset(seed=1)
    _, _, _, truncated, info = env.step(still)
    assert not truncated and not info["sim_unstable"]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_scene_steps_a_second_of_noisy_control_without_warnings(env_id):
    env = gym.make(env_id)
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    for _ in range(20):
        env.step(rng.uniform(-1, 1, env.action_space.shape))
    assert not env.unwrapped.data.warning.number.any()


def test_the_task_table_registers_every_task_once():
    assert sorted(entry.env_id for entry in TASKS.values()) == ENV_IDS
    for name, entry in TASKS.items():
        spec = gym.spec(entry.env_id)
        assert entry.task == name and spec.entry_point == entry.entry_point
        assert spec.max_episode_steps == entry.max_episode_steps
        assert issubclass(load_object(entry.demonstrator), ScriptedDemonstrator)
