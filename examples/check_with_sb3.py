"""Flat observations for stable-baselines3: check the env and train PPO for a few steps.

Run:  python examples/check_with_sb3.py   (needs the learn extra: pip install "dmg-envs[learn]")
"""

import gymnasium as gym
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env

import dmg_envs  # noqa: F401

if __name__ == "__main__":
    env = gym.make("dmg/Stack-v0", obs_mode="flat", reward_type="dense")
    check_env(env.unwrapped)
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=64, seed=0, verbose=0)
    model.learn(total_timesteps=512)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    print("PPO ran on dmg/Stack-v0; first action:", action.round(3))
