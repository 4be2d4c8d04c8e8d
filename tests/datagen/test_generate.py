"""Generation runs: Minari output, replay, resuming, seeds, worker faults, shards, Ctrl-C, the CLI."""

import json
import multiprocessing
import os
from dataclasses import replace
from pathlib import Path

import minari
import numpy as np
import pytest
from typer.testing import CliRunner

from dmg_envs.cli import app
from dmg_envs.datagen import attempts as attempts_module
from dmg_envs.datagen.attempts import policy_rng
from dmg_envs.datagen.config import MAX_RUN_SEED, GenerationConfig, attempt_seed
from dmg_envs.datagen.generate import default_work_dir, generate
from dmg_envs.datagen.replay import replay_dataset
from dmg_envs.datagen.shards import Episode, content_hash, shard_path
from dmg_envs.datagen.writer import dataset_content_hash
from dmg_envs.errors import GenerationError, InvalidConfigError

runner = CliRunner()
# Faults are injected by patching the attempt function before the worker processes fork from the test.
needs_fork = pytest.mark.skipif(multiprocessing.get_start_method() != "fork",
                                reason="fault injection patches the workers through fork")


def logged(work_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (work_dir / "attempts.jsonl").read_text().splitlines()]


def test_generate_cli_end_to_end_with_minari(isolated_datasets):
    result = runner.invoke(app, ["generate", "stack", "--source", "1", "--num-demos", "20", "--dynamics", "slow"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["kept"] == 20 and summary["dataset_id"] == "dmg/stack/dmp-slow-v0"
    dataset = minari.load_dataset("dmg/stack/dmp-slow-v0")
    assert dataset.total_episodes == 20
    meta = dataset.storage.metadata
    generation = meta["dmg_generation"]
    assert generation["generator"] == "dmp" and generation["dynamics"] == "slow" and generation["source"] == "stack_1"
    assert generation["env_id"] == "dmg/Stack-v0" and generation["seed_derivation"].startswith("episode seed =")
    assert generation["attempts"] >= 20 and generation["success_rate"] == 20 / generation["attempts"]
    assert meta["ref_min_score"] == 0.0 and meta["ref_max_score"] > 0
    assert any(req.startswith("mujoco==") for req in meta["requirements"])
    env = dataset.recover_environment(eval_env=True)
    assert type(env).__name__ == "ObjectPerturbation"
    assert env.spec.additional_wrappers[0].kwargs["params"] == {"speed": 0.02}
    from minari.cli import app as minari_app

    shown = runner.invoke(minari_app, ["show", "dmg/stack/dmp-slow-v0"])
    assert shown.exit_code == 0 and "20" in shown.output and "dmp" in shown.output
    # every stored episode is an honest success
    replayed = runner.invoke(app, ["replay", "dmg/stack/dmp-slow-v0"])
    assert replayed.exit_code == 0 and "20/20 episodes end in success" in replayed.output
    assert "observations match the stored ones: True" in replayed.output


def test_summary_and_metadata_agree_on_the_success_rate(isolated_datasets):
    summary = generate(GenerationConfig(num_demos=3, generator="mimicgen", dynamics="slow", max_attempts=40), workers=2)
    generation = minari.load_dataset(summary["dataset_id"]).storage.metadata["dmg_generation"]
    assert summary["attempts"] > summary["kept"]  # some attempts failed: the rate is not trivially 1
    assert summary["success_rate"] == generation["success_rate"] == summary["kept"] / summary["attempts"]
    assert generation["attempts"] == summary["attempts"] and generation["successes"] == summary["kept"]


def test_runs_with_different_seeds_share_no_episode_seed(isolated_datasets):
    seeds = {}
    for run_seed in (0, 1, MAX_RUN_SEED):  # the largest run seed still gives seeds Minari can store
        config = GenerationConfig(num_demos=3, seed=run_seed)
        summary = generate(config, workers=2, overwrite=True)
        assert summary["errors"] == 0 and summary["kept"] == 3
        generation = minari.load_dataset(summary["dataset_id"]).storage.metadata["dmg_generation"]
        seeds[run_seed] = set(generation["episode_seeds"])
        metadata_seeds = minari.load_dataset(summary["dataset_id"]).storage.get_episode_metadata(range(3))
        assert {int(meta["seed"]) for meta in metadata_seeds} == seeds[run_seed]
        assert generation["seed_derivation"] == "episode seed = (run seed + 1) * 2**32 + attempt index"
    assert all(len(found) == 3 for found in seeds.values())
    assert not seeds[0] & seeds[1] and not seeds[1] & seeds[MAX_RUN_SEED]


def test_replay_catches_a_dishonest_episode(isolated_datasets):
    summary = generate(GenerationConfig(num_demos=2), workers=1)
    dataset = minari.load_dataset(summary["dataset_id"])
    assert replay_dataset(summary["dataset_id"])["successes"] == 2
    # the same actions from another start do not stack the cubes
    import h5py

    with h5py.File(dataset.storage.data_path / "main_data.hdf5", "r+") as file:
        file["episode_1"].attrs["seed"] = 123
    report = replay_dataset(summary["dataset_id"])
    assert report["failed_episodes"] == [1] and not report["observations_match"]


class _InterruptAfter:
    def __init__(self, count):
        self.count, self.finished_at_interrupt = count, None

    def __call__(self, progress):
        if progress["attempts_this_call"] >= self.count:
            self.finished_at_interrupt = progress["attempts_this_call"]
            raise KeyboardInterrupt


def test_interrupted_run_keeps_its_demos_and_resumes_to_the_same_dataset(isolated_datasets):
    config = GenerationConfig(num_demos=6, dynamics="fast")
    partial = generate(config, workers=1, progress=_InterruptAfter(3))
    assert partial["interrupted"] and 1 <= partial["kept"] < 6
    readable = minari.load_dataset(config.dataset_id)
    assert readable.total_episodes == partial["kept"]
    resumed = generate(config, workers=2)  # the same call resumes, and replaces its own partial dataset
    assert not resumed["interrupted"] and resumed["kept"] == 6
    resumed_seeds = minari.load_dataset(config.dataset_id).storage.metadata["dmg_generation"]["episode_seeds"]
    # the same dataset as a run that was never interrupted
    fresh = generate(config, work_dir=isolated_datasets / "fresh", workers=2, overwrite=True)
    assert fresh["kept"] == 6
    assert minari.load_dataset(config.dataset_id).storage.metadata["dmg_generation"]["episode_seeds"] == resumed_seeds


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_lets_the_running_attempts_finish_and_runs_nothing_more(isolated_datasets, workers):
    """After Ctrl-C only the attempts already running finish (one per worker), and they are kept: every
    episode file on disk belongs to a logged attempt, and no attempt ran for nothing."""
    config = GenerationConfig(num_demos=40, generator="mimicgen", dynamics="fast", keep_failures=True)
    work_dir = isolated_datasets / "run"
    interrupt = _InterruptAfter(3)
    summary = generate(config, work_dir=work_dir, workers=workers, progress=interrupt)
    assert summary["interrupted"]
    entries = logged(work_dir)
    assert interrupt.finished_at_interrupt <= len(entries) <= interrupt.finished_at_interrupt + workers
    shards = sorted(int(path.stem.split("_")[1]) for path in work_dir.glob("episode_*.npz"))
    assert shards == sorted(entry["seed"] for entry in entries)  # nothing ran without being kept


@needs_fork
def test_an_attempt_that_raises_is_recorded_and_the_run_goes_on(isolated_datasets, monkeypatch):
    bad_seed = attempt_seed(0, 1)
    real_run = attempts_module.AttemptRunner.run

    def run(self, seed):
        if seed == bad_seed:
            raise RuntimeError("simulated fault in attempt 1")
        return real_run(self, seed)

    monkeypatch.setattr(attempts_module.AttemptRunner, "run", run)
    result = runner.invoke(app, ["generate", "stack", "--num-demos", "4", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "1 attempts raised an error" in result.output and "simulated fault in attempt 1" in result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["kept"] == 4 and summary["errors"] == 1
    generation = minari.load_dataset(summary["dataset_id"]).storage.metadata["dmg_generation"]
    assert bad_seed not in generation["episode_seeds"] and generation["errors"] == 1
    (entry,) = [e for e in logged(Path(summary["work_dir"])) if e["seed"] == bad_seed]
    assert not entry["success"] and "simulated fault" in entry["error"]
    # the fault was passing: the same run, resumed for more demos, tries that attempt again
    monkeypatch.setattr(attempts_module.AttemptRunner, "run", real_run)
    more = generate(GenerationConfig(num_demos=5), workers=1)
    assert more["errors"] == 0 and bad_seed in [e["seed"] for e in logged(Path(more["work_dir"])) if not e["error"]]


@needs_fork
def test_a_run_whose_attempts_mostly_raise_stops_with_a_clear_message(isolated_datasets, monkeypatch):
    def run(self, seed):
        raise ValueError("the simulator is broken")

    monkeypatch.setattr(attempts_module.AttemptRunner, "run", run)
    with pytest.raises(GenerationError, match=r"(\d+) of \1 attempts raised an error \(first: ValueError: the simul"):
        generate(GenerationConfig(num_demos=5), workers=1)


@needs_fork
def test_a_worker_that_dies_is_replaced_and_its_attempt_recorded(isolated_datasets, monkeypatch):
    doomed = attempt_seed(0, 2)
    real_run = attempts_module.AttemptRunner.run

    def run(self, seed):
        if seed == doomed:
            os._exit(3)  # as a segfault or the OOM killer would
        return real_run(self, seed)

    monkeypatch.setattr(attempts_module.AttemptRunner, "run", run)
    summary = generate(GenerationConfig(num_demos=4), workers=1)
    assert summary["kept"] == 4 and summary["errors"] == 1
    (entry,) = [e for e in logged(Path(summary["work_dir"])) if e["seed"] == doomed]
    assert "worker process died" in entry["error"]


def test_a_corrupt_episode_file_is_named_and_regenerated(isolated_datasets):
    config = GenerationConfig(num_demos=3)
    first = generate(config, workers=1)
    work_dir = Path(first["work_dir"])
    victim = shard_path(work_dir, attempt_seed(0, 1))
    original = np.load(victim)["actions"].copy()
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # truncated, as by a full disk
    again = generate(config, workers=1)
    assert len(again["regenerated"]) == 1 and victim.name in again["regenerated"][0]
    assert again["kept"] == 3 and again["attempts_this_call"] == 1  # only that attempt ran again
    np.testing.assert_array_equal(np.load(victim)["actions"], original)  # and gave the same episode


def test_run_folders_default_to_outside_the_working_directory(isolated_datasets, monkeypatch):
    monkeypatch.delenv("DMG_WORK_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(isolated_datasets / "cache"))
    config = GenerationConfig(num_demos=1)
    folder = default_work_dir(config)
    assert folder.parent == isolated_datasets / "cache/dmg-envs/runs/dmg_stack_dmp-static-v0"
    assert default_work_dir(GenerationConfig(num_demos=5)) == folder  # the same run, asking for more
    assert default_work_dir(GenerationConfig(num_demos=1, seed=1)) != folder  # another run
    summary = generate(config, workers=1)
    assert Path(summary["work_dir"]) == folder
    assert not (isolated_datasets / "dmg-work").exists() and not list(Path.cwd().glob("dmg-*"))


def test_generation_refuses_to_overwrite_and_to_mix_runs(isolated_datasets):
    config = GenerationConfig(num_demos=1)
    generate(config, workers=1)
    assert generate(config, workers=1)["kept"] == 1  # the same run again: nothing to do, same dataset
    with pytest.raises(GenerationError, match="exists"):  # another run (seed) would replace its dataset
        generate(GenerationConfig(num_demos=1, seed=5), workers=1)
    with pytest.raises(GenerationError, match="another configuration"):
        generate(GenerationConfig(num_demos=1, seed=5), work_dir=default_work_dir(config), workers=1, overwrite=True)
    with pytest.raises(InvalidConfigError, match="choose one of"):
        GenerationConfig(generator="gan")


def test_view_renders_a_generated_episode(isolated_datasets):
    from PIL import Image

    summary = generate(GenerationConfig(num_demos=1, dynamics="slow"), workers=1)
    out = isolated_datasets / "episode.gif"
    result = runner.invoke(app, ["view", summary["dataset_id"], "--out", str(out), "--width", "80", "--height", "60"])
    assert result.exit_code == 0, result.output
    steps = len(minari.load_dataset(summary["dataset_id"])[0].actions)
    with Image.open(out) as gif:
        assert gif.n_frames == steps + 1 and gif.size == (80, 60)
    assert "success True" in result.output


def test_a_run_can_ask_for_more_demos_and_stops_at_its_attempt_limit(isolated_datasets):
    generate(GenerationConfig(num_demos=2), workers=1)
    more = generate(GenerationConfig(num_demos=4), workers=1)  # same run, more demos: extends it
    assert more["kept"] == 4 and more["attempts_this_call"] == 2
    with pytest.raises(GenerationError, match="exists"):  # a smaller run would replace the larger dataset
        generate(GenerationConfig(num_demos=1), work_dir="elsewhere", workers=1)
    hopeless = generate(GenerationConfig(num_demos=5, generator="mimicgen", dynamics="fast", max_attempts=6),
                        workers=2)
    assert hopeless["exhausted"] and hopeless["kept"] < 5 and hopeless["attempts"] == 6


@pytest.mark.parametrize("kwargs, message", [({"reset_distribution": "D2"}, "reset_distribution"),
                                             ({"max_steps": 500}, "time limit"),
                                             ({"num_demos": 5, "max_attempts": 2}, "max_attempts"),
                                             ({"seed": -1}, "seed"), ({"task": "juggle"}, "task")])
def test_generation_config_is_checked_up_front(kwargs, message):
    with pytest.raises(InvalidConfigError, match=message):
        GenerationConfig(**kwargs)


def test_policy_noise_is_independent_of_the_env_reset_noise():
    from dmg_envs.datagen.attempts import policy_rng

    assert not np.allclose(policy_rng(10003).normal(size=8), np.random.default_rng(10003).normal(size=8))
    np.testing.assert_array_equal(policy_rng(10003).normal(size=8), policy_rng(10003).normal(size=8))


def test_failures_can_be_kept_in_their_own_dataset(isolated_datasets):
    config = GenerationConfig(num_demos=2, generator="mimicgen", dynamics="fast", max_attempts=3, keep_failures=True)
    summary = generate(config, workers=1)
    assert summary["failures_dataset_id"] == "dmg/stack/mimicgen-fast-failures-v0"
    failures = minari.load_dataset(config.failures_dataset_id)
    meta = failures.storage.metadata["dmg_generation"]
    assert failures.total_episodes == 3 - summary["kept"] and meta["failures"]
    report = replay_dataset(config.failures_dataset_id)
    assert report["successes"] == 0 and report["observations_match"]  # honest failures, replayed exactly


def test_action_noise_is_named_in_the_id_and_the_expert_corrects_it(isolated_datasets):
    assert GenerationConfig().action_noise == 0.0 and GenerationConfig(generator="mimicgen").action_noise == 0.05
    noisy = GenerationConfig(num_demos=2, dynamics="slow", action_noise=0.05)
    assert noisy.dataset_id == "dmg/stack/dmp-slow-noise05-v0"
    assert GenerationConfig(generator="mimicgen", action_noise=0.05).dataset_id == "dmg/stack/mimicgen-static-v0"
    for bad in (-0.01, 0.015, 0.6):
        with pytest.raises(InvalidConfigError, match="action_noise"):
            GenerationConfig(action_noise=bad)
    clean = GenerationConfig(num_demos=2, dynamics="slow")
    runs = [minari.load_dataset(generate(config, workers=1)["dataset_id"]) for config in (clean, noisy)]
    first = [next(dataset.iterate_episodes([0])) for dataset in runs]
    assert first[0].id == first[1].id and runs[1].storage.metadata["dmg_generation"]["action_noise"] == 0.05
    # Same episode seed, other actions: the noise is there, the demo still succeeds (the dataset holds successes).
    steps = min(len(first[0].actions), len(first[1].actions))
    assert not np.allclose(first[0].actions[:steps, :6], first[1].actions[:steps, :6], atol=0.01)
    assert replay_dataset(noisy.dataset_id)["successes"] == 2
    # The expert's actions before the noise are stored beside the executed ones (DART's labels), one per
    # observation, NaN at the last; the noise is their difference, Gaussian with the configured spread
    # (the gripper commands get none); a noise-free dataset has none, and the content hash covers them.
    expert = first[1].infos["expert_action"]
    assert expert.shape == (len(first[1].actions) + 1, 7) and np.isnan(expert[-1]).all()
    noise = first[1].actions - expert[:-1]
    assert 0.04 < noise[:, :6].std() < 0.06 and np.abs(noise[:, :6].mean()) < 0.01
    np.testing.assert_array_equal(noise[:, 6], 0.0)
    # Exactly the policy's own noise stream of the episode seed, as before expert actions were stored.
    (meta,) = runs[1].storage.get_episode_metadata([0])
    drawn = policy_rng(int(meta["seed"])).normal(0.0, 0.05, size=(len(first[1].actions), 6))
    np.testing.assert_array_equal(first[1].actions[:, :6],
                                  np.clip(expert[:-1, :6] + drawn, -1.0, 1.0).astype(np.float32))
    assert "expert_action" not in (first[0].infos or {})
    assert dataset_content_hash(noisy.dataset_id) == runs[1].storage.metadata["dmg_generation"]["content_hash"]
    episode = Episode(seed=0, success=True, observations=first[1].observations, actions=first[1].actions,
                      rewards=first[1].rewards, expert_actions=expert[:-1])
    assert content_hash([episode]) != content_hash([replace(episode, expert_actions=None)])


def test_an_images_dataset_holds_raw_frames_replays_and_shows_its_own_frames(isolated_datasets):
    """`--images`: 84x84 frames of the front and eye-in-hand cameras in the observations, stored losslessly
    (the frames replay bit for bit), in a dataset of its own id; `dmg view` shows the stored frames."""
    from PIL import Image

    runner = CliRunner()
    result = runner.invoke(app, ["generate", "stack", "--num-demos", "2", "--workers", "1", "--images"])
    assert result.exit_code == 0, result.output
    dataset = minari.load_dataset("dmg/stack/dmp-static-images-v0")
    episode = dataset[0]
    for key in ("agentview_image", "robot0_eye_in_hand_image"):
        frames = episode.observations[key]
        assert frames.shape == (len(episode.actions) + 1, 84, 84, 3) and frames.dtype == np.uint8
        assert dataset.observation_space[key].shape == (84, 84, 3)
    assert dataset.storage.metadata["dmg_generation"]["images"] is True
    env = dataset.recover_environment(eval_env=True)
    (meta,) = dataset.storage.get_episode_metadata([0])
    obs, _ = env.reset(seed=int(meta["seed"]))
    np.testing.assert_array_equal(obs["agentview_image"], episode.observations["agentview_image"][0])
    env.close()
    assert replay_dataset("dmg/stack/dmp-static-images-v0")["observations_match"]
    out = isolated_datasets / "eye.gif"
    viewed = runner.invoke(app, ["view", "dmg/stack/dmp-static-images-v0", "--camera", "robot0_eye_in_hand",
                                 "--out", str(out)])
    assert viewed.exit_code == 0 and "the dataset's own frames" in viewed.output, viewed.output
    with Image.open(out) as gif:
        assert gif.size == (84, 84) and gif.n_frames == len(episode.actions) + 1
    assert "dmg/stack/dmp-static-v0" not in minari.list_local_datasets()  # images never share an id


def test_image_workers_start_clean_after_the_caller_has_rendered(isolated_datasets):
    """A worker forked from a process that has rendered with OSMesa hangs in its first frame: image runs
    start their workers from a fresh process. Run in a subprocess with a deadline, so a hang fails."""
    import subprocess
    import sys

    script = (
        "import gymnasium as gym, dmg_envs\n"
        "from dmg_envs.datagen import GenerationConfig, generate\n"
        "env = gym.make('dmg/Stack-v0', render_observations=('agentview',)); env.reset(seed=0); env.close()\n"
        "if __name__ == '__main__':\n"
        "    print(generate(GenerationConfig(num_demos=2, images=True), workers=2)['kept'])\n")
    (isolated_datasets / "render_then_generate.py").write_text(script)
    done = subprocess.run([sys.executable, "render_then_generate.py"], capture_output=True, text=True, timeout=120,
                          cwd=isolated_datasets)
    assert done.returncode == 0 and done.stdout.strip().endswith("2"), done.stderr[-2000:]


def test_the_content_hash_names_the_data_whatever_the_worker_count(isolated_datasets):
    """The metadata's `content_hash` is the same for 1 and 2 workers, another for another run seed, and it
    is recomputed from what Minari stores."""
    from dmg_envs.datagen.writer import dataset_content_hash

    config = GenerationConfig(num_demos=3, dynamics="slow")
    hashes = []
    for workers in (1, 2):
        summary = generate(config, work_dir=isolated_datasets / f"run{workers}", workers=workers, overwrite=True)
        generation = minari.load_dataset(config.dataset_id).storage.metadata["dmg_generation"]
        assert generation["content_hash"] == summary["content_hash"] == dataset_content_hash(config.dataset_id)
        assert generation["content_hash_layout"].startswith("sha256 over the episodes in dataset order")
        hashes.append(summary["content_hash"])
    assert hashes[0] == hashes[1] and len(hashes[0]) == 64
    other = generate(GenerationConfig(num_demos=3, dynamics="slow", seed=1), workers=2, overwrite=True)
    assert other["content_hash"] != hashes[0]


def test_the_dataset_is_written_in_chunks_read_from_the_shards(isolated_datasets, monkeypatch):
    """The driver hands Minari a few episodes at a time, each read from its shard only then: the dataset is
    the one a single chunk makes (same content hash, ids in order, every seed)."""
    from dmg_envs.datagen import writer
    from dmg_envs.datagen.writer import dataset_content_hash

    whole = generate(GenerationConfig(num_demos=5, dynamics="slow"), workers=1)
    monkeypatch.setattr(writer, "WRITE_CHUNK", 2)
    chunked = generate(GenerationConfig(num_demos=5, dynamics="slow"), workers=1, overwrite=True)
    dataset = minari.load_dataset(chunked["dataset_id"])
    assert dataset.total_episodes == 5 and [episode.id for episode in dataset.iterate_episodes()] == list(range(5))
    assert dataset.total_steps == sum(len(episode.actions) for episode in dataset.iterate_episodes())
    assert chunked["content_hash"] == whole["content_hash"] == dataset_content_hash(chunked["dataset_id"])


def test_workers_default_to_one_per_core_and_must_be_positive(isolated_datasets, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # one core: the default pool has one worker
    summary = generate(GenerationConfig(num_demos=1))
    assert summary["kept"] == 1 and summary["workers"] == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert generate(GenerationConfig(num_demos=1, seed=2), overwrite=True)["workers"] == 3
    with pytest.raises(InvalidConfigError, match="workers must be at least 1, got 0"):
        generate(GenerationConfig(num_demos=1, seed=1), workers=0)
