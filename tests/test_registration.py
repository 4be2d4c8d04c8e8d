"""Every registered id: checkers, seeding, spec round trip, import-free make."""

import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from dmg_envs.registration import ENTRY_POINTS

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
