"""Headless rendering (OSMesa in CI): frames from several cameras, not blank, following the arm."""

import gymnasium as gym
import numpy as np
import pytest


@pytest.fixture
def render_env():
    env = gym.make("dmg/Stack-v0", render_mode="rgb_array", width=160, height=120)
    env.reset(seed=0)
    yield env
    env.close()


def test_render_returns_a_frame_of_the_requested_size(render_env):
    frame = render_env.render()
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize("camera", ["agentview", "frontview", "sideview", "birdview", "robot0_eye_in_hand"])
def test_every_camera_renders_a_non_blank_image(render_env, camera):
    frame = render_env.unwrapped.render_frame(camera)
    assert frame.std() > 10  # a scene, not a flat colour
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 50


def test_cameras_see_different_views(render_env):
    env = render_env.unwrapped
    agent, front = env.render_frame("agentview"), env.render_frame("frontview")
    assert np.abs(agent.astype(int) - front.astype(int)).mean() > 10


@pytest.mark.parametrize("camera", ["agentview", "frontview"])
def test_frames_change_when_the_arm_moves(render_env, camera):
    env = render_env.unwrapped
    before = env.render_frame(camera).astype(int)
    for _ in range(8):
        render_env.step(np.array([0, 0.6, 0.5, 0, 0, 0, -1], dtype=np.float32))
    after = env.render_frame(camera).astype(int)
    changed = np.any(np.abs(after - before) > 30, axis=-1).mean()
    assert changed > 0.01  # the arm moved across part of the image


def test_a_frame_shows_the_state_it_is_rendered_in(render_env):
    """Back in an earlier state (set_state), the camera shows exactly the earlier frame: rendering reads
    the current state, not a cached scene."""
    env = render_env.unwrapped
    state, before = env.get_state(), env.render_frame("agentview")
    for _ in range(8):
        render_env.step(np.array([0.5, -0.6, 0.5, 0, 0, 0, 1], dtype=np.float32))
    assert not np.array_equal(env.render_frame("agentview"), before)
    env.set_state(state)
    np.testing.assert_array_equal(env.render_frame("agentview"), before)


def test_render_without_mode_returns_none():
    env = gym.make("dmg/Stack-v0")
    env.reset(seed=0)
    assert env.render() is None


@pytest.mark.parametrize("camera", ["agentview", "frontview"])
def test_a_two_arm_scene_frames_both_arms(camera):
    """Each arm, moved alone, changes the shared cameras' frames; each has an eye-in-hand camera of its own."""
    env = gym.make("dmg/TwoArmTrayLift-v0", render_mode="rgb_array", width=160, height=120)
    task = env.unwrapped
    env.reset(seed=0)
    for moving in (0, 1):
        before = task.render_frame(camera).astype(int)
        for _ in range(8):
            action = np.zeros(14, dtype=np.float32)
            action[7 * moving:7 * moving + 3] = (0.3, 0.0, 0.6)
            env.step(action)
        changed = np.any(np.abs(task.render_frame(camera).astype(int) - before) > 30, axis=-1).mean()
        assert changed > 0.005, f"robot{moving} is not in view of {camera}"
    hands = [task.render_frame(f"robot{k}_eye_in_hand").astype(int) for k in (0, 1)]
    assert min(hand.std() for hand in hands) > 10
    assert np.abs(hands[0] - hands[1]).mean() > 5
    env.close()


@pytest.mark.parametrize("env_id, cameras", [
    ("dmg/Stack-v0", ("agentview", "robot0_eye_in_hand")),
    ("dmg/TwoArmTrayLift-v0", ("agentview", "robot0_eye_in_hand", "robot1_eye_in_hand"))])
def test_image_observations_have_the_declared_shape_differ_between_cameras_and_follow_the_arm(env_id, cameras):
    env = gym.make(env_id, render_observations=cameras, image_size=(64, 80))
    try:
        obs, _ = env.reset(seed=0)
        keys = [f"{camera}_image" for camera in cameras]
        for key in keys:
            space = env.observation_space[key]
            assert space.shape == obs[key].shape == (64, 80, 3) and space.dtype == obs[key].dtype == np.uint8
            assert obs[key].std() > 10
        assert env.observation_space.contains(obs)
        views = [obs[key].astype(int) for key in keys]
        assert all(np.abs(a - b).mean() > 10 for i, a in enumerate(views) for b in views[i + 1:])
        action = np.tile([0.0, 0.6, 0.5, 0.0, 0.0, 0.0, -1.0], len(cameras) - 1)
        for _ in range(8):
            moved, *_ = env.step(action)
        for key in keys:  # each camera sees the arm move (the eye-in-hand cameras move with it)
            assert np.abs(moved[key].astype(int) - obs[key].astype(int)).mean() > 1, key
        assert not np.shares_memory(moved[keys[0]], env.step(action)[0][keys[0]])  # a fresh frame each step
    finally:
        env.close()


def test_image_observations_are_rendered_by_one_renderer_reused_and_closed_with_the_env():
    env = gym.make("dmg/Stack-v0", render_observations=("agentview",))
    env.reset(seed=0)
    renderer = env.unwrapped._image_renderer
    for _ in range(3):
        env.step(env.action_space.sample())
    assert env.unwrapped._image_renderer is renderer is not None
    env.close()
    assert env.unwrapped._image_renderer is None
    assert "agentview_image" not in gym.make("dmg/Stack-v0").observation_space.spaces  # off by default


@pytest.mark.parametrize("kwargs, message", [
    ({"render_observations": ("nocam",)}, "nocam"),
    ({"render_observations": ("agentview", "agentview")}, "twice"),
    ({"render_observations": ("agentview",), "obs_mode": "flat"}, "obs_mode='dict'"),
    ({"render_observations": ("agentview",), "image_size": 8}, "image_size"),
    ({"render_observations": ("agentview",), "image_size": (84, 84, 3)}, "image_size")])
def test_bad_image_observation_settings_are_named(kwargs, message):
    from dmg_envs.errors import DmgError

    with pytest.raises(DmgError, match=message):
        gym.make("dmg/Stack-v0", **kwargs)


def _python_without_display(code: str):
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key not in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="the default is for Linux")
def test_without_a_display_or_mujoco_gl_importing_the_package_renders_headless():
    """`import dmg_envs; gym.make(...)` renders on a machine without a display, as `dmg` does; a MuJoCo
    imported earlier without MUJOCO_GL (it would pick GLFW and abort the process at the first frame) gets an
    error that says what to set."""
    result = _python_without_display(
        "import os, dmg_envs, gymnasium as gym\n"
        "env = gym.make('dmg/Stack-v0', render_mode='rgb_array', width=64, height=48)\n"
        "env.reset(seed=0)\n"
        "print(os.environ['MUJOCO_GL'], env.render().shape)\n"
        "env.close()\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["osmesa", "(48,", "64,", "3)"]
    result = _python_without_display(
        "import mujoco, dmg_envs, gymnasium as gym\n"
        "from dmg_envs.errors import InvalidConfigError\n"
        "env = gym.make('dmg/Stack-v0', render_mode='rgb_array')\n"
        "env.reset(seed=0)\n"
        "try:\n"
        "    env.render()\n"
        "except InvalidConfigError as error:\n"
        "    print('refused:', error)\n")
    assert result.returncode == 0, result.stderr  # an exception, not an aborted process
    assert "refused:" in result.stdout and "MUJOCO_GL=osmesa" in result.stdout
