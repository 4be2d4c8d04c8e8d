"""Behaviour cloning: it fits what it is shown, trains the same way twice, and its checkpoints reload
exactly without pickle."""

import json

import numpy as np
import pytest
import torch

from dmg_envs.errors import InvalidConfigError
from dmg_envs.learning.data import DatasetError, Normalizer, load_demonstrations
from dmg_envs.learning.models import BCPolicyNetwork, PolicyConfig
from dmg_envs.learning.policy import BCPolicy, CheckpointError, load_policy, save_policy
from dmg_envs.learning.train import TrainConfig, train

SMALL = {"mlp": (64, 64), "rnn": (128,)}


def small_config(algorithm: str, **overrides) -> TrainConfig:
    values = {"dataset": "stack_1", "algorithm": algorithm, "epochs": 4, "steps_per_epoch": 100,
              "batch_size": 2 if algorithm.startswith("bc-rnn") else 32,  # bc-rnn: whole episodes (of the one demo)
              "learning_rate": 3e-3, "hidden_sizes": SMALL["rnn" if algorithm.startswith("bc-rnn") else "mlp"],
              "eval_every": 0,
              # the quaternions as the env gives them: these tests are about the learners; the one Stack demo
              # barely turns the hand, and the rotation features are tested on their own below
              "quaternions": "raw"}
    return TrainConfig(**{**values, **overrides})


def teacher_forced_actions(policy, demos) -> np.ndarray:
    """The policy's actions along the demo's own observations (the recurrent state runs as in a rollout)."""
    policy.reset(1)
    offset, actions = 0, []
    for row in demos.low_dim[0]:
        observation, offset = {}, 0
        for key, size in demos.low_dim_keys:
            observation[key] = row[offset:offset + size][None]
            offset += size
        actions.append(policy.act(observation)[0])
    return np.array(actions)


@pytest.mark.parametrize("algorithm, action_chunk, obs_history", [
    ("bc-mlp", 1, 1), ("bc-mlp-gmm", 1, 1), ("bc-rnn", 1, 1), ("bc-rnn-gmm", 1, 1), ("bc-mlp-gmm", 8, 1),
    ("bc-mlp-gmm", 8, 2)])
def test_bc_overfits_a_tiny_dataset(tmp_path, algorithm, action_chunk, obs_history):
    demos = load_demonstrations("stack_1", quaternions="raw")
    summary = train(small_config(algorithm, epochs=10, action_chunk=action_chunk, obs_history=obs_history),
                    tmp_path / "run", demos=demos)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < log[0]["loss"]
    policy = load_policy(tmp_path / "run" / "checkpoints" / "final.safetensors")
    actions = teacher_forced_actions(policy, demos)
    error = np.abs(actions - demos.actions[0])
    # The arm's motion commands (the first six) are reproduced closely, and the gripper closes and opens
    # once each, within 3 steps of the demo (the arm stands still around a switch, so its exact step is
    # barely observable).
    assert error[:, :6].mean() < 0.05, error[:, :6].mean(axis=0)
    switches = [np.flatnonzero(np.diff(np.sign(a[:, 6]))) for a in (actions, demos.actions[0])]
    assert len(switches[0]) == len(switches[1]) == 2
    assert np.all(np.abs(switches[0] - switches[1]) <= 3), switches
    assert summary["steps"] == 1000 and (tmp_path / "run" / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_a_checkpoint_reloads_bit_identically_and_loading_runs_no_pickle(tmp_path, request):
    demos = load_demonstrations("stack_1", quaternions="raw")
    train(small_config("bc-rnn-gmm", epochs=1), tmp_path / "run", demos=demos)
    trained = load_policy(tmp_path / "run" / "checkpoints" / "final.safetensors")
    # A policy that exists only in memory (fresh weights, other statistics), saved and loaded back.
    network = BCPolicyNetwork(trained.network.config)
    original = BCPolicy(network, Normalizer(trained.obs_normalizer.mean + 1, trained.obs_normalizer.std * 2),
                        trained.action_normalizer, {**trained.info, "training_seed": 7})
    path = save_policy(tmp_path / "copy.safetensors", original)

    request.getfixturevalue("forbid_pickle")  # after saving: only loading must run no pickle
    reloaded = load_policy(path)
    for (name, a), (_, b) in zip(original.network.state_dict().items(), reloaded.network.state_dict().items()):
        assert torch.equal(a, b), name
    assert np.array_equal(reloaded.obs_normalizer.mean, original.obs_normalizer.mean)
    observations = {key: np.random.default_rng(0).normal(size=(5, size)) for key, size in original.low_dim_keys}
    original.reset(5)
    reloaded.reset(5)
    for _ in range(12):  # past the recurrent horizon
        assert np.array_equal(original.act(observations), reloaded.act(observations))
    assert reloaded.info == original.info and reloaded.info["training_seed"] == 7


def test_the_same_seed_trains_the_same_network_and_another_seed_does_not(tmp_path):
    demos = load_demonstrations("stack_1", quaternions="raw")
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train(small_config("bc-rnn", epochs=1, seed=seed), tmp_path / name, demos=demos)
    a, b, c = (load_policy(tmp_path / name / "checkpoints" / "final.safetensors").network.state_dict()
               for name in "abc")
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not all(torch.equal(a[key], c[key]) for key in a)


def test_a_corrupt_missing_or_foreign_checkpoint_is_named(tmp_path):
    from safetensors.torch import save_file

    train(small_config("bc-mlp", epochs=1), tmp_path / "run")
    path = tmp_path / "run" / "checkpoints" / "final.safetensors"
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="broken.safetensors"):
        load_policy(broken)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_policy(tmp_path / "missing.safetensors")
    save_file({"weight": torch.zeros(2)}, str(tmp_path / "other.safetensors"), metadata={"format": "99"})
    with pytest.raises(CheckpointError, match="format '99'"):
        load_policy(tmp_path / "other.safetensors")


def test_bad_training_config_and_unknown_dataset_are_named():
    with pytest.raises(InvalidConfigError, match="algorithm"):
        TrainConfig(dataset="stack_1", algorithm="bc-transformer")
    with pytest.raises(InvalidConfigError, match="epochs"):
        TrainConfig(dataset="stack_1", epochs=0)
    with pytest.raises(InvalidConfigError, match="hidden_sizes"):
        TrainConfig(dataset="stack_1", hidden_sizes=(256, 128))
    for algorithm, chunk in (("bc-mlp-gmm", 0), ("bc-rnn", 4)):
        with pytest.raises(InvalidConfigError, match="action_chunk"):
            TrainConfig(dataset="stack_1", algorithm=algorithm, action_chunk=chunk)
    for algorithm, history in (("bc-mlp-gmm", 0), ("bc-rnn", 2)):
        with pytest.raises(InvalidConfigError, match="obs_history"):
            TrainConfig(dataset="stack_1", algorithm=algorithm, obs_history=history)
    with pytest.raises(InvalidConfigError, match="obs_history"):
        BCPolicyNetwork(PolicyConfig("rnn", (8,), 0, 3, 2, obs_history=2))
    with pytest.raises(InvalidConfigError, match="max_grad_norm"):
        TrainConfig(dataset="stack_1", max_grad_norm=0.0)
    with pytest.raises(DatasetError, match="dmg/stack/nothing-v0"):
        load_demonstrations("dmg/stack/nothing-v0")


def test_a_run_folder_counts_as_trained_only_for_the_config_it_was_trained_with(tmp_path):
    from dmg_envs.learning.runs import trained_with

    config = small_config("bc-mlp", epochs=1)
    assert not trained_with(tmp_path / "run", config)  # nothing there yet
    train(config, tmp_path / "run")
    assert trained_with(tmp_path / "run", config)
    assert trained_with(tmp_path / "run", small_config("bc-mlp", epochs=1))  # an equal config
    assert not trained_with(tmp_path / "run", small_config("bc-mlp", epochs=2))  # another budget
    assert not trained_with(tmp_path / "run", small_config("bc-mlp", epochs=1, seed=1))
    # A run recorded before a field existed was trained at that field's default.
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    for field in ("action_chunk", "max_grad_norm", "obs_history", "action_labels"):
        del recorded[field]
    (tmp_path / "run" / "config.json").write_text(json.dumps(recorded))
    assert trained_with(tmp_path / "run", config)
    assert not trained_with(tmp_path / "run", small_config("bc-mlp", epochs=1, action_chunk=2))
    assert not trained_with(tmp_path / "run", small_config("bc-mlp", epochs=1, obs_history=2))
    assert not trained_with(tmp_path / "run", small_config("bc-mlp", epochs=1, action_labels="expert"))
    # Runs recorded before `quaternions` existed read them raw, not at the field's default.
    del recorded["quaternions"]
    (tmp_path / "run" / "config.json").write_text(json.dumps(recorded))
    assert trained_with(tmp_path / "run", config)  # small_config reads them raw
    assert not trained_with(tmp_path / "run", small_config("bc-mlp", epochs=1, quaternions="rotation-6d"))
    (tmp_path / "run" / "checkpoints" / "final.safetensors").unlink()  # interrupted before the end
    assert not trained_with(tmp_path / "run", config)


def test_validation_keeps_the_best_checkpoint_labelled_as_such(tmp_path, monkeypatch):
    from dmg_envs.learning import train as train_module

    scores = iter([0.2, 0.6, 0.4])
    monkeypatch.setattr(train_module, "_validate", lambda policy, episodes: next(scores))
    summary = train(small_config("bc-mlp", epochs=3, eval_every=1), tmp_path / "run")
    best = load_policy(tmp_path / "run" / "checkpoints" / "best.safetensors")
    final = load_policy(tmp_path / "run" / "checkpoints" / "final.safetensors")
    assert summary["best_epoch"] == 2 and summary["best_validation_success"] == 0.6
    assert best.info["checkpoint"] == "best" and best.info["epoch"] == 2 and final.info["epoch"] == 3
    assert not all(torch.equal(a, b) for a, b in zip(best.network.state_dict().values(),
                                                      final.network.state_dict().values()))
    # A new run in the same folder without validation leaves no stale best checkpoint behind.
    train(small_config("bc-mlp", epochs=1), tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints" / "best.safetensors").exists()


def test_sequences_are_windows_or_whole_episodes_with_the_padding_masked():
    from dmg_envs.learning.data import Demonstrations
    from dmg_envs.learning.sampler import SequenceSampler

    low_dim = [np.arange(3, dtype=np.float32)[:, None], 10 + np.arange(5, dtype=np.float32)[:, None]]
    demos = Demonstrations(low_dim, [{}, {}], [x.copy() for x in low_dim], [("x", 1)], [], "dmg/Stack-v0", {})
    identity = Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32))
    whole = SequenceSampler(demos, identity, identity, 0).sample(np.random.default_rng(0), 64)
    assert whole["low_dim"].shape == (64, 5, 1)
    firsts = set(whole["low_dim"][:, 0, 0].tolist())
    assert firsts == {0.0, 10.0}  # every sequence starts at an episode's start
    short = whole["low_dim"][:, 0, 0] == 0
    assert whole["mask"][short].sum(dim=1).eq(3).all() and whole["mask"][~short].all()
    assert torch.equal(whole["low_dim"][short][:, 3:, 0], torch.full((int(short.sum()), 2), 2.0))  # padded
    windows = SequenceSampler(demos, identity, identity, 2).sample(np.random.default_rng(0), 64)
    assert windows["low_dim"].shape == (64, 2, 1)
    assert len(set(windows["low_dim"][:, 0, 0].tolist())) == 8  # any step starts a window


def test_an_action_chunk_is_the_next_actions_of_its_episode_padded_with_its_last():
    from dmg_envs.learning.data import Demonstrations
    from dmg_envs.learning.sampler import SequenceSampler

    low_dim = [np.arange(3, dtype=np.float32)[:, None], 10 + np.arange(5, dtype=np.float32)[:, None]]
    actions = [100 + x for x in low_dim]
    demos = Demonstrations(low_dim, [{}, {}], actions, [("x", 1)], [], "dmg/Stack-v0", {})
    identity = Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32))
    batch = SequenceSampler(demos, identity, identity, 1, action_chunk=4).sample(np.random.default_rng(0), 64)
    assert batch["low_dim"].shape == (64, 1) and batch["actions"].shape == (64, 4)
    expected = {0: [100, 101, 102, 102], 2: [102] * 4, 10: [110, 111, 112, 113], 13: [113, 114, 114, 114]}
    seen = set()
    for observation, chunk in zip(batch["low_dim"][:, 0].tolist(), batch["actions"].tolist()):
        seen.add(observation)
        if observation in expected:
            assert chunk == expected[observation], observation
    assert seen == {0, 1, 2, 10, 11, 12, 13, 14}  # any step starts a chunk


def test_an_observation_history_is_the_steps_before_it_in_its_episode_padded_with_its_first():
    from dmg_envs.learning.data import Demonstrations
    from dmg_envs.learning.sampler import SequenceSampler

    low_dim = [np.arange(3, dtype=np.float32)[:, None], 10 + np.arange(5, dtype=np.float32)[:, None]]
    demos = Demonstrations(low_dim, [{}, {}], [100 + x for x in low_dim], [("x", 1)], [], "dmg/Stack-v0", {})
    identity = Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32))
    for chunk in (1, 2):
        batch = SequenceSampler(demos, identity, identity, 1, action_chunk=chunk, obs_history=3).sample(
            np.random.default_rng(0), 64)
        assert batch["low_dim"].shape == (64, 3) and batch["actions"].shape == (64, chunk)
        rows = {tuple(history): actions for history, actions in zip(batch["low_dim"].tolist(),
                                                                    batch["actions"].tolist())}
        expected = {(0, 0, 0): 100, (0, 0, 1): 101, (0, 1, 2): 102, (10, 10, 10): 110, (10, 10, 11): 111,
                    (10, 11, 12): 112, (11, 12, 13): 113, (12, 13, 14): 114}
        assert set(rows) == set(expected)  # every step, and no history reaches into another episode
        assert all(rows[history][0] == action for history, action in expected.items())
    with pytest.raises(InvalidConfigError, match="obs_history"):
        SequenceSampler(demos, identity, identity, 2, obs_history=2)


def test_a_policy_with_history_remembers_the_steps_a_chunk_acts_through(tmp_path):
    demos = load_demonstrations("stack_1", quaternions="raw")
    config = small_config("bc-mlp", epochs=1, steps_per_epoch=5, action_chunk=2, obs_history=2)
    assert config.run_name == "bc-mlp-chunk2-obs2" and small_config("bc-mlp", obs_history=3).run_name == "bc-mlp-obs3"
    train(config, tmp_path / "run", demos=demos)
    policy = load_policy(tmp_path / "run" / "checkpoints" / "final.safetensors")
    assert policy.network.config.obs_history == 2 and policy.network.config.to_dict()["obs_history"] == 2
    assert "obs_history" not in PolicyConfig("mlp", (8,), 0, 3, 2).to_dict()  # older versions read it
    inputs = []
    forward = policy.network.forward
    policy.network.forward = lambda low_dim, *args: inputs.append(low_dim.numpy().copy()) or forward(low_dim, *args)
    steps = demos.low_dim[0][[10, 11, 12, 13]]
    observations = [{key: row[None, offset:offset + size] for (key, size), offset in
                     zip(policy.low_dim_keys, np.cumsum([0] + [size for _, size in policy.low_dim_keys]))}
                    for row in steps]
    normalized = policy.obs_normalizer.normalize(steps)
    for _ in range(2):  # an episode, then the same again after reset
        policy.reset(1)
        for observation in observations:
            policy.act(observation)
    # The chunk of 2 observes at steps 0 and 2; at step 2 it reads step 1, seen while the chunk acted.
    expected = [np.concatenate([normalized[0], normalized[0]]), np.concatenate([normalized[1], normalized[2]])]
    assert len(inputs) == 4
    for got, want in zip(inputs, expected * 2):
        np.testing.assert_allclose(got[0], want, rtol=1e-6)
    with pytest.raises(ValueError, match="reset"):
        policy.act({key: np.repeat(value, 2, axis=0) for key, value in observations[0].items()})


def test_a_chunked_policy_observes_once_per_chunk_and_starts_a_new_chunk_after_reset(tmp_path):
    demos = load_demonstrations("stack_1", quaternions="raw")
    train(small_config("bc-mlp-gmm", epochs=1, action_chunk=4), tmp_path / "run", demos=demos)
    policy = load_policy(tmp_path / "run" / "checkpoints" / "final.safetensors")
    calls = []
    forward = policy.network.forward
    policy.network.forward = lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs)
    # Two envs, each at a step of the demo: each env's row follows its own chunk.
    observation = {}
    offset = 0
    for key, size in policy.low_dim_keys:
        observation[key] = demos.low_dim[0][[10, 40], offset:offset + size]
        offset += size
    policy.reset(2)
    first = np.array([policy.act(observation) for _ in range(6)])  # (steps, envs, A)
    assert len(calls) == 2 and first.shape == (6, 2, 7)
    for env in range(2):
        policy.reset(1)
        alone = np.array([policy({key: value[env] for key, value in observation.items()}) for _ in range(4)])
        np.testing.assert_allclose(first[:4, env], alone, atol=1e-5)
    assert not np.allclose(first[0, 0], first[1, 0])  # a chunk is four actions, not one repeated
    policy.reset(2)
    again = np.array([policy.act(observation) for _ in range(3)])
    np.testing.assert_array_equal(again, first[:3])  # reset drops the rest of a chunk
    with pytest.raises(ValueError, match="reset"):
        policy.act({key: value[:1] for key, value in observation.items()})


def test_one_entry_takes_only_seeds_of_one_recipe(tmp_path):
    from typer.testing import CliRunner

    from dmg_envs.cli import app
    from dmg_envs.learning.runs import check_comparable, run_recipe

    demos = load_demonstrations("stack_1", quaternions="raw")
    policies, recipes = {}, {}
    for name, overrides in {"a": {}, "b": {"seed": 1}, "chunked": {"seed": 2, "action_chunk": 2},
                            "faster": {"seed": 3, "learning_rate": 1e-2}}.items():
        train(small_config("bc-mlp", epochs=1, steps_per_epoch=2, **overrides), tmp_path / name, demos=demos)
        policies[name] = load_policy(tmp_path / name / "checkpoints" / "final.safetensors")
        recipes[name] = run_recipe(policies[name], tmp_path / name)
    assert recipes["a"] == recipes["b"] and "seed" not in recipes["a"]
    check_comparable([policies["a"], policies["b"]], [recipes["a"], recipes["b"]])
    with pytest.raises(InvalidConfigError, match="action_chunk"):
        check_comparable([policies["a"], policies["chunked"]], [recipes["a"], recipes["chunked"]])
    with pytest.raises(InvalidConfigError, match="repeat a training seed"):
        check_comparable([policies["a"], policies["a"]], [recipes["a"], recipes["a"]])
    # The same network, another learning rate: `dmg eval` refuses them as one entry, naming the field.
    refused = CliRunner().invoke(app, ["eval", str(tmp_path / "a"), str(tmp_path / "faster"), "--episodes", "1"])
    assert refused.exit_code == 1 and "recipes differ in learning_rate (0.003 and 0.01)" in refused.output


def test_gradients_are_clipped_to_max_grad_norm(tmp_path, monkeypatch):
    demos = load_demonstrations("stack_1", quaternions="raw")
    adam_step = torch.optim.AdamW.step
    for max_grad_norm in (None, 1.0):
        norms = []

        def recording_step(optimizer, *args, norms=norms, **kwargs):
            gradients = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in gradients]))))
            return adam_step(optimizer, *args, **kwargs)

        monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
        train(small_config("bc-mlp-gmm", epochs=1, max_grad_norm=max_grad_norm), tmp_path / str(max_grad_norm),
              demos=demos)
        if max_grad_norm is None:
            assert max(norms) > 10.0  # the mixture's likelihood gives large gradients
        else:
            assert len(norms) == 100 and max(norms) <= max_grad_norm * (1 + 1e-5)


def test_several_datasets_train_together(isolated_datasets):
    from dmg_envs.datagen.config import GenerationConfig
    from dmg_envs.datagen.generate import generate

    ids = [generate(GenerationConfig(num_demos=3, dynamics=dynamics), workers=1)["dataset_id"]
           for dynamics in ("static", "slow")]
    demos = load_demonstrations(",".join(ids), max_episodes=2)
    assert len(demos.actions) == 4 and demos.info["generated_demos"] == 4
    assert demos.info["dynamics"] == "mixed: 2 static + 2 slow" and demos.info["dataset_id"] == ",".join(ids)
    alone = load_demonstrations(ids[1], max_episodes=2)
    assert np.array_equal(demos.low_dim[2], alone.low_dim[0])


def test_expert_labels_are_the_actions_the_expert_chose_before_its_noise(tmp_path):
    import minari

    from dmg_envs.datagen.config import GenerationConfig
    from dmg_envs.datagen.generate import generate

    noisy, clean = (generate(GenerationConfig(num_demos=2, dynamics="slow", action_noise=noise),
                             workers=1)["dataset_id"] for noise in (0.05, 0.0))
    executed = load_demonstrations(noisy)
    expert = load_demonstrations(noisy, action_labels="expert")
    stored = [episode.infos["expert_action"] for episode in minari.load_dataset(noisy).iterate_episodes()]
    for labels, actions, infos in zip(expert.actions, executed.actions, stored):
        np.testing.assert_array_equal(labels, infos[:-1])  # one label per observation trained on
        assert labels.shape == actions.shape and not np.allclose(labels[:, :6], actions[:, :6], atol=0.01)
    np.testing.assert_array_equal(np.concatenate(expert.low_dim), np.concatenate(executed.low_dim))  # same states
    assert expert.info["generator"] == "dmp (action noise 0.05, expert labels)"
    assert executed.info["generator"] == "dmp (action noise 0.05)"
    summary = train(small_config("bc-mlp", dataset=noisy, epochs=1, steps_per_epoch=2, action_labels="expert"),
                    tmp_path / "run")
    assert summary["samples"] == expert.num_steps
    policy = load_policy(tmp_path / "run" / "checkpoints" / "final.safetensors")
    assert policy.info["data"]["generator"] == "dmp (action noise 0.05, expert labels)"
    np.testing.assert_allclose(policy.action_normalizer.mean, np.concatenate(expert.actions).mean(axis=0), rtol=1e-4,
                               atol=1e-6)  # the normaliser fits the labels trained on
    for name in (clean, "stack_1"):  # no noise, no expert actions: named, not trained on the executed ones
        with pytest.raises(DatasetError, match="no expert actions"):
            load_demonstrations(name, action_labels="expert")
    with pytest.raises(InvalidConfigError, match="action_labels='best'"):
        small_config("bc-mlp", action_labels="best")
    with pytest.raises(InvalidConfigError, match="action_labels='best'"):
        load_demonstrations(noisy, action_labels="best")
    # A config its data cannot serve leaves the run folder's checkpoints as they were.
    with pytest.raises(DatasetError, match="no expert actions"):
        train(small_config("bc-mlp", dataset=clean, epochs=1, steps_per_epoch=2, action_labels="expert"),
              tmp_path / "run")
    assert (tmp_path / "run" / "checkpoints" / "final.safetensors").is_file()


def test_a_policy_trains_on_an_images_dataset_and_acts_from_frames(tmp_path):
    """The image issue's datasets plug into BC: the frames go through the conv encoder, the loss falls, and
    the policy acts in the dataset's own image env; what it does depends on the frames."""
    import gymnasium as gym

    from dmg_envs.datagen.config import GenerationConfig
    from dmg_envs.datagen.generate import generate

    dataset_id = generate(GenerationConfig(num_demos=2, images=True), workers=1)["dataset_id"]
    demos = load_demonstrations(dataset_id, quaternions="raw")
    assert demos.image_keys == ["agentview_image", "robot0_eye_in_hand_image"]
    summary = train(small_config("bc-rnn", dataset=dataset_id, epochs=3, steps_per_epoch=10), tmp_path / "run",
                    demos=demos)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < log[0]["loss"] and summary["steps"] == 30
    policy = load_policy(tmp_path / "run" / "checkpoints" / "final.safetensors")
    assert policy.image_keys == demos.image_keys
    env = gym.make("dmg/Stack-v0", render_observations=("agentview", "robot0_eye_in_hand"))
    obs, _ = env.reset(seed=0)
    policy.reset(1)
    action = policy(obs)
    assert env.action_space.contains(action.astype(np.float32))
    policy.reset(1)
    dark = {**obs, "agentview_image": np.zeros_like(obs["agentview_image"])}
    assert not np.allclose(policy(dark), action)
    env.close()


def test_quaternion_features_are_the_rotation_matrix_columns_and_ignore_the_sign():
    import mujoco

    from dmg_envs.learning.data import quaternion_features

    quaternions = np.random.default_rng(0).normal(size=(50, 4))
    quaternions /= np.linalg.norm(quaternions, axis=1, keepdims=True)
    features = quaternion_features(quaternions)
    np.testing.assert_allclose(features, quaternion_features(-quaternions), atol=1e-12)
    for quaternion, row in zip(quaternions, features):
        matrix = np.zeros(9)
        mujoco.mju_quat2Mat(matrix, quaternion)
        np.testing.assert_allclose(row, matrix.reshape(3, 3)[:, :2].T.ravel(), atol=1e-12)


def test_policies_read_quaternions_as_rotation_features_and_act_the_same_for_either_sign(tmp_path):
    demos = load_demonstrations("stack_1")
    assert dict(demos.low_dim_keys)["robot0_eef_quat"] == 6
    assert dict(load_demonstrations("stack_1", quaternions="raw").low_dim_keys)["robot0_eef_quat"] == 4
    with pytest.raises(InvalidConfigError, match="quaternions='euler'"):
        small_config("bc-mlp", quaternions="euler")
    with pytest.raises(InvalidConfigError, match="read its quaternions as 'raw'"):
        train(small_config("bc-mlp", epochs=1), tmp_path / "raw", demos=demos)
    train(small_config("bc-mlp", epochs=1, quaternions="rotation-6d"), tmp_path / "run", demos=demos)
    policy = load_policy(tmp_path / "run" / "checkpoints" / "final.safetensors")
    import gymnasium as gym

    env = gym.make("dmg/Stack-v0")
    observation, _ = env.reset(seed=0)
    env.close()
    flipped = {**observation, **{key: -value for key, value in observation.items() if key.endswith("_quat")}}
    policy.reset(1)
    action = policy(observation)
    policy.reset(1)
    np.testing.assert_array_equal(policy(flipped), action)
    policy.reset(1)
    turned = {**observation, "robot0_eef_quat": np.array([1.0, 0.0, 0.0, 0.0])}
    assert not np.allclose(policy(turned), action)  # the features carry the orientation


def test_run_and_budget_names_keep_recipes_and_budgets_apart():
    """`bench_leaderboard.py` names run folders and entry files by both: an --epochs override trains and
    writes beside the recipe's runs and entry, never over them."""
    recipe = small_config("bc-mlp", epochs=30, steps_per_epoch=1000, batch_size=256)
    assert recipe.budget_name == "30ep1000x256"
    assert small_config("bc-mlp", epochs=30, steps_per_epoch=1000, batch_size=256).budget_name == recipe.budget_name
    others = {small_config("bc-mlp", epochs=50, steps_per_epoch=1000, batch_size=256).budget_name,
              small_config("bc-mlp", epochs=30, steps_per_epoch=500, batch_size=256).budget_name,
              small_config("bc-mlp", epochs=30, steps_per_epoch=1000, batch_size=128).budget_name}
    assert len(others) == 3 and recipe.budget_name not in others
    diffusion = TrainConfig(dataset="stack_1", algorithm="diffusion")
    assert (diffusion.run_name, diffusion.budget_name) == ("diffusion", "100ep100x256")  # its defaults unnamed
    assert TrainConfig(dataset="stack_1", algorithm="diffusion", action_chunk=8).run_name == "diffusion-chunk8"
