"""A MugDrawer episode while the cabinet slides and turns, solved by the DMP expert from one shipped
source demo: the open-drawer and close-drawer motions live in the handle's frame, so they follow it.

Run:  MUJOCO_GL=osmesa python examples/mug_drawer_cabinet.py
"""

import dmg_envs
from dmg_envs.datagen import DMPExpert, load_source_demos
from dmg_envs.datagen.config import DEMOS_DIR
from dmg_envs.video import write_video

if __name__ == "__main__":
    env = dmg_envs.make("dmg/MugDrawer-v0", dynamics="cabinet", render_mode="rgb_array", render_camera="frontview")
    demo = load_source_demos(DEMOS_DIR / "mug_drawer_1.hdf5")[0]
    expert = DMPExpert(env, demo)
    obs, info = expert.reset(seed=3)
    frames = [env.render()]
    for step in range(500):
        action, _ = expert.predict(obs)
        obs, reward, terminated, truncated, info = expert.step(action)
        if step % 2 == 0:
            frames.append(env.render())
        if info["is_success"] and info["expert"]["robot0"]["subtask"] == 3 and info["expert"]["robot0"]["phase"] < 0.05:
            break
    print("success:", info["is_success"], "after", step + 1, "steps; the cabinet ended at", obs["cabinet_pos"].round(3))
    print("video:", write_video("mug_drawer_cabinet.gif", frames, fps=10).resolve())
    env.close()
