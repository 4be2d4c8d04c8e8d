"""What each extra is for, at work, so that `make test` and `make test-lowest` try its newest and oldest versions:
`learn` (stable-baselines3 trains with torch), `video` (MP4 through imageio and ffmpeg), `dev` (the benchmark
plot with matplotlib)."""

import importlib.util
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from dmg_envs.video import write_video

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("obs_mode", "policy"), [("flat", "MlpPolicy"), ("dict", "MultiInputPolicy")])
def test_ppo_trains_and_predicts(obs_mode, policy):
    sb3 = pytest.importorskip("stable_baselines3")
    env = gym.make("dmg/Stack-v0", obs_mode=obs_mode, reward_type="dense")
    model = sb3.PPO(policy, env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=64)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (7,) and np.all(np.isfinite(action))
    env.close()


def test_mp4_holds_the_frames_written(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v2 as imageio

    frames = [np.full((64, 96, 3), 20 * i, dtype=np.uint8) for i in range(8)]
    path = write_video(tmp_path / "clip.mp4", frames, fps=10)
    read = imageio.mimread(path)
    assert len(read) == len(frames) and read[0].shape == (64, 96, 3)
    np.testing.assert_allclose([frame.mean() for frame in read], [20 * i for i in range(8)], atol=4)


def test_generation_benchmark_plots_its_results(tmp_path):
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("bench_generation", ROOT / "benchmarks" / "bench_generation.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    record = json.loads((ROOT / "benchmarks" / "results" / "generation.json").read_text())
    bench.plot(record, tmp_path / "generation_speed.png")
    assert (tmp_path / "generation_speed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
