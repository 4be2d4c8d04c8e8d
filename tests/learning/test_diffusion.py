"""Diffusion Policy: it fits what it is shown, samples the same chunk from the same seed, reloads exactly
without pickle, and trains, validates and evaluates on camera images."""

import json

import numpy as np
import pytest
import torch
from test_bc import teacher_forced_actions
from typer.testing import CliRunner

from dmg_envs.errors import InvalidConfigError
from dmg_envs.learning.data import load_demonstrations
from dmg_envs.learning.models import PolicyConfig, build_network
from dmg_envs.learning.policy import load_policy, resolve_device, save_policy
from dmg_envs.learning.train import TrainConfig, train


def small_diffusion(**overrides) -> TrainConfig:
    values = {"dataset": "stack_1", "algorithm": "diffusion", "epochs": 4, "steps_per_epoch": 100, "batch_size": 64,
              "hidden_sizes": (32, 64), "learning_rate": 1e-3, "warmup_steps": 50, "eval_every": 0}
    return TrainConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def overfit_run(tmp_path_factory):
    """A small diffusion policy trained on the one Stack source demo until it reproduces it."""
    run = tmp_path_factory.mktemp("diffusion") / "run"
    demos = load_demonstrations("stack_1")
    train(small_diffusion(epochs=15), run, demos=demos)
    return run, demos


def test_diffusion_overfits_a_tiny_dataset(overfit_run):
    run, demos = overfit_run
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < 0.1 * log[0]["loss"], (log[0]["loss"], log[-1]["loss"])
    policy = load_policy(run / "checkpoints" / "final.safetensors")
    assert policy.network.config.architecture == "diffusion"
    assert (policy.network.config.action_chunk, policy.network.config.obs_history,
            policy.network.config.executed_actions) == (16, 2, 8)
    actions = teacher_forced_actions(policy, demos)
    error = np.abs(actions - demos.actions[0])
    # Denoised from noise, the arm's motion commands come out close to the demo's, and the gripper command
    # agrees with the demo's everywhere but within 5 steps of its two switches (where the arm stands still, so
    # the exact step is barely observable).
    assert error[:, :6].mean() < 0.08, error[:, :6].mean(axis=0)
    switches = np.flatnonzero(np.diff(np.sign(demos.actions[0][:, 6])))
    assert len(switches) == 2
    wrong = np.flatnonzero(np.sign(actions[:, 6]) != np.sign(demos.actions[0][:, 6]))
    assert all(np.abs(switches - step).min() <= 5 for step in wrong), (wrong, switches)


def test_ddim_sampling_is_seeded_and_deterministic(overfit_run):
    run, _ = overfit_run
    policy = load_policy(run / "checkpoints" / "final.safetensors")
    observations = {key: np.random.default_rng(1).normal(size=(4, size)) for key, size in policy.low_dim_keys}

    def first_chunk(seed):
        policy.reset(4, seed=seed)
        return np.stack([policy.act(observations) for _ in range(8)])

    same, again, other = first_chunk(0), first_chunk(0), first_chunk(1)
    assert np.array_equal(same, again)
    assert not np.allclose(same, other)  # the noise, not the network alone, decides the sample
    # One chunk serves 8 steps: the 9th action starts a new one, drawn from where the generator stands.
    policy.reset(4, seed=0)
    for _ in range(8):
        policy.act(observations)
    assert policy._chunk == type(policy._chunk)()


def test_a_diffusion_checkpoint_reloads_bit_identically_and_loading_runs_no_pickle(overfit_run, tmp_path, request):
    run, _ = overfit_run
    original = load_policy(run / "checkpoints" / "final.safetensors")
    path = save_policy(tmp_path / "copy.safetensors", original)

    request.getfixturevalue("forbid_pickle")  # after saving: only loading must run no pickle
    reloaded = load_policy(path)
    for (name, a), (_, b) in zip(original.network.state_dict().items(), reloaded.network.state_dict().items()):
        assert torch.equal(a, b), name
    observations = {key: np.random.default_rng(0).normal(size=(3, size)) for key, size in original.low_dim_keys}
    original.reset(3, seed=5)
    reloaded.reset(3, seed=5)
    for _ in range(20):  # past a re-plan
        assert np.array_equal(original.act(observations), reloaded.act(observations))


def test_the_same_seed_trains_the_same_diffusion_policy_and_another_seed_does_not(tmp_path):
    demos = load_demonstrations("stack_1")
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train(small_diffusion(epochs=1, steps_per_epoch=20, seed=seed), tmp_path / name, demos=demos)
    a, b, c = (load_policy(tmp_path / name / "checkpoints" / "final.safetensors").network.state_dict()
               for name in "abc")
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not all(torch.equal(a[key], c[key]) for key in a)


def test_bad_diffusion_configs_are_named():
    with pytest.raises(InvalidConfigError, match="action_horizon"):
        small_diffusion(action_horizon=17)
    with pytest.raises(InvalidConfigError, match="gmm_modes"):
        small_diffusion(gmm_modes=5)
    network_config = PolicyConfig("diffusion", (32, 64, 128), 0, 10, 7, action_chunk=10, obs_history=2)
    with pytest.raises(InvalidConfigError, match="multiple of 4"):
        build_network(network_config)
    with pytest.raises(InvalidConfigError, match="multiples of 8"):
        build_network(PolicyConfig("diffusion", (30, 60), 0, 10, 7, action_chunk=16))


def test_devices_are_checked():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InvalidConfigError, match="'gpu' is not valid"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidConfigError, match="no CUDA device"):
            resolve_device("cuda")


def test_an_image_diffusion_policy_trains_with_validation_and_dmg_eval_runs_it(tmp_path):
    """Validation and `dmg eval` build the env with the dataset's cameras (they used to build it without, and
    the first validation crashed on the missing frames)."""
    from dmg_envs.cli import app
    from dmg_envs.datagen.config import GenerationConfig
    from dmg_envs.datagen.generate import generate

    dataset_id = generate(GenerationConfig(num_demos=2, images=True), workers=1)["dataset_id"]
    demos = load_demonstrations(dataset_id)
    summary = train(small_diffusion(dataset=dataset_id, epochs=2, steps_per_epoch=5, batch_size=8, eval_every=1,
                                    eval_episodes=1), tmp_path / "run", demos=demos)
    assert summary["best_epoch"] in (1, 2)
    policy = load_policy(tmp_path / "run" / "checkpoints" / "best.safetensors")
    assert policy.image_keys == ["agentview_image", "robot0_eye_in_hand_image"]
    assert policy.info["env_kwargs"]["render_observations"] == ["agentview", "robot0_eye_in_hand"]
    result = CliRunner().invoke(app, ["eval", str(tmp_path / "run"), "--dynamics", "static", "--episodes", "1",
                                      "--num-envs", "1", "--device", "cpu", "--out", str(tmp_path / "entry.json")])
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "entry.json").read_text())
    assert entry["policy"].startswith("Diffusion Policy (images: agentview_image, robot0_eye_in_hand_image")
    assert entry["evaluation"]["episodes_per_condition"] == 1
    assert entry["evaluation"]["conditions"]["static"]["success_mean"] in (0.0, 1.0)
