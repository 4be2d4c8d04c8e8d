"""Check a `dmg export lerobot` folder with lerobot itself, in lerobot's own virtual environment (lerobot 0.4.4
pins torch < 2.11, so it never enters ours):

    python3 -m venv .venv-lerobot && .venv-lerobot/bin/pip install lerobot==0.4.4 && .venv-lerobot/bin/pip install -e .
    .venv/bin/dmg export lerobot dmg/stack/dmp-slow-v0 /tmp/stack-lerobot        # --video: AV1 videos
    .venv-lerobot/bin/python tools/check_lerobot.py dmg/stack/dmp-slow-v0 /tmp/stack-lerobot --train-steps 5

It loads the export with `LeRobotDataset` offline and compares every frame with the Minari dataset (state,
environment state, action, every camera's pixels: equal for images, within 4 levels on average for
videos, decoded with PyAV; the task text), trains LeRobot's Diffusion Policy for a
few steps on it with `lerobot-train`, and evaluates that policy with `lerobot-eval` in our env through
`dmg_envs.integrations.lerobot` (`--env.type=dmg`), under a dynamics preset. Exit status 0 only if everything
matched and both ran.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before lerobot imports huggingface_hub
os.environ.setdefault("MUJOCO_GL", "osmesa")


def compare_frames(dataset_id: str, root: Path) -> int:
    """Every frame of the export, as LeRobot loads it, against the Minari dataset; returns the frames checked."""
    import minari
    import numpy as np
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ours = json.loads((root / "meta" / "dmg_envs.json").read_text())
    features = json.loads((root / "meta" / "info.json").read_text())["features"]
    exported = LeRobotDataset("dmg/export", root=root, video_backend="pyav")  # torchcodec needs system FFmpeg
    video_error: list[float] = []
    dataset = minari.load_dataset(dataset_id)
    layout = ours["observation_keys"]
    row = 0
    for episode_index, episode in enumerate(dataset.iterate_episodes()):
        for t in range(len(episode.actions)):
            item = exported[row]
            assert int(item["episode_index"]) == episode_index and int(item["frame_index"]) == t, (row, item)
            np.testing.assert_array_equal(item["action"].numpy(), episode.actions[t].astype(np.float32))
            for feature, keys in layout.items():
                if feature.startswith("observation.images."):
                    pixels = np.round(item[feature].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
                    if features[feature]["dtype"] == "video":  # lossy: compared on average
                        video_error.append(np.abs(pixels.astype(int) - episode.observations[keys[0]][t]).mean())
                    else:
                        np.testing.assert_array_equal(pixels, episode.observations[keys[0]][t])
                else:
                    expected = np.concatenate([np.ravel(episode.observations[key][t]) for key in keys])
                    np.testing.assert_array_equal(item[feature].numpy(), expected.astype(np.float32))
            assert item["task"] == exported.meta.tasks.index[0]
            row += 1
    assert row == len(exported) == exported.meta.total_frames
    if video_error:
        print(f"video frames: mean absolute error {np.mean(video_error):.2f} of 255 (AV1, lossy)")
        assert np.mean(video_error) < 4.0
    return row


def train_diffusion(root: Path, steps: int, out_dir: Path) -> None:
    """LeRobot's Diffusion Policy trained for `steps` steps on the export, on the CPU."""
    command = [str(Path(sys.executable).with_name("lerobot-train")), "--dataset.repo_id=dmg/export",
               f"--dataset.root={root}", "--policy.type=diffusion", "--policy.device=cpu",
               "--policy.push_to_hub=false", f"--steps={steps}", "--batch_size=4", "--num_workers=0",
               f"--log_freq={max(1, steps // 2)}", f"--save_freq={steps}", f"--output_dir={out_dir}",
               "--wandb.enable=false", "--dataset.video_backend=pyav"]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)


def evaluate(root: Path, checkpoint: Path, episodes: int, dynamics: str, out_dir: Path, max_steps: int | None = None,
             inference_steps: int | None = None) -> dict:
    """`lerobot-eval` of `checkpoint` in the export's env (our `gym_dmg/<Task>-v0`) for `episodes` episodes;
    returns its overall metrics."""
    ours = json.loads((root / "meta" / "dmg_envs.json").read_text())
    cameras = [name.removeprefix("observation.images.") for name in ours["observation_keys"]
               if name.startswith("observation.images.")]
    command = [str(Path(sys.executable).with_name("lerobot-eval")), f"--policy.path={checkpoint}",
               "--env.type=dmg", f"--env.task={ours['env_id'].split('/', 1)[1]}", f"--env.dynamics={dynamics}",
               f"--env.cameras=[{','.join(cameras)}]", "--env.discover_packages_path=dmg_envs.integrations",
               f"--eval.n_episodes={episodes}", f"--eval.batch_size={episodes}", "--policy.device=cpu",
               f"--output_dir={out_dir}"]
    command += [f"--env.episode_length={max_steps}"] if max_steps else []
    command += [f"--policy.num_inference_steps={inference_steps}"] if inference_steps else []
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)
    return json.loads((out_dir / "eval_info.json").read_text())["overall"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset_id")
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--train-steps", type=int, default=5, help="0: do not train")
    parser.add_argument("--train-dir", type=Path, default=Path("/tmp/lerobot-train-check"))
    parser.add_argument("--eval-episodes", type=int, default=2, help="0: do not evaluate")
    parser.add_argument("--dynamics", default="slow", help="the preset lerobot-eval runs our env under")
    parser.add_argument("--eval-steps", type=int, help="cut episodes at this many steps (default: the task's limit)")
    parser.add_argument("--inference-steps", type=int, help="the policy's denoising steps when acting (default: its "
                        "own, 100: about 3 s a step on 2 cores)")
    args = parser.parse_args()
    frames = compare_frames(args.dataset_id, args.export_dir)
    print(f"frames equal: {frames} frames of {args.dataset_id} as LeRobotDataset loads {args.export_dir}", flush=True)
    if args.train_steps:
        train_diffusion(args.export_dir, args.train_steps, args.train_dir)
        checkpoints = sorted(args.train_dir.glob("checkpoints/*/pretrained_model"))
        assert checkpoints, f"lerobot-train left no checkpoint in {args.train_dir}"
        print(f"trained LeRobot's Diffusion Policy for {args.train_steps} steps: {checkpoints[-1]}")
        if args.eval_episodes:
            overall = evaluate(args.export_dir, checkpoints[-1], args.eval_episodes, args.dynamics,
                               args.train_dir / "eval", args.eval_steps, args.inference_steps)
            print(f"lerobot-eval in our env ({args.dynamics}): {overall.get('n_episodes')} episodes, success "
                  f"{overall.get('pc_success')} %, average return {overall.get('avg_sum_reward')}")


if __name__ == "__main__":
    main()
