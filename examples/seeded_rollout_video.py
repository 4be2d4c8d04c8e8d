"""A seeded Stack rollout rendered to a GIF: the smallest complete use of dmg-envs.

Run:  MUJOCO_GL=osmesa python examples/seeded_rollout_video.py  (EGL on a GPU machine: MUJOCO_GL=egl)
"""

import gymnasium as gym
import numpy as np

import dmg_envs  # noqa: F401  (registers dmg/Stack-v0)
from dmg_envs.video import write_video

if __name__ == "__main__":
    env = gym.make("dmg/Stack-v0", render_mode="rgb_array", render_camera="agentview")
    obs, info = env.reset(seed=42)
    rng = np.random.default_rng(42)  # all randomness from seeded generators
    frames = [env.render()]
    for _ in range(60):
        action = rng.uniform(-0.5, 0.5, size=7).astype(np.float32)
        action[6] = -1.0  # keep the gripper open
        obs, reward, terminated, truncated, info = env.step(action)
        frames.append(env.render())
        if terminated or truncated:
            break
    env.close()
    path = write_video("stack_rollout.gif", frames, fps=env.metadata["render_fps"])
    print(f"cubeA at {obs['cubeA_pos'].round(3)}, success: {info['is_success']}; video: {path.resolve()}")
