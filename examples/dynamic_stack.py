"""A Stack episode under a dynamics preset, solved by the DMP expert from one shipped source demo.

Run:  MUJOCO_GL=osmesa python examples/dynamic_stack.py
"""

import dmg_envs
from dmg_envs.datagen import DMPExpert, load_source_demos
from dmg_envs.datagen.config import DEMOS_DIR
from dmg_envs.video import write_video

if __name__ == "__main__":
    env = dmg_envs.make("dmg/Stack-v0", dynamics="fast", render_mode="rgb_array")  # cubes drift at 8 cm/s
    demo = load_source_demos(DEMOS_DIR / "stack_1.hdf5")[0]
    expert = DMPExpert(env, demo)
    obs, info = expert.reset(seed=7)
    frames = [env.render()]
    for _ in range(150):
        action, _ = expert.predict(obs)
        obs, reward, terminated, truncated, info = expert.step(action)
        frames.append(env.render())
        if info["is_success"] and info["expert"]["robot0"]["phase"] < 0.05:
            break
    print("success:", info["is_success"], "cubeA moved by", info["perturbation_total"]["cubeA"].round(3))
    print("video:", write_video("dynamic_stack.gif", frames, fps=20).resolve())
    env.close()
