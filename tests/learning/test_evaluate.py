"""The evaluation protocol: its seeds, what it counts as success, and that identical seeds give
identical numbers whatever the batching."""

import numpy as np
import pytest

from dmg_envs.datagen.config import DEMOS_DIR, attempt_seed
from dmg_envs.datagen.source import load_source_demos
from dmg_envs.learning.evaluate import (
    CONDITIONS,
    EVALUATION_SEED_START,
    VALIDATION_SEED_START,
    as_batch_policy,
    evaluate_policy,
    evaluate_protocol,
    evaluation_seeds,
    wilson_interval,
)


class OpenLoop:
    """Replays a recorded action sequence, then holds still with the gripper as it was."""

    def __init__(self, actions):
        self.actions, self.step = actions, 0

    def reset(self):
        self.step = 0

    def __call__(self, observation):
        action = self.actions[min(self.step, len(self.actions) - 1)].copy()
        if self.step >= len(self.actions):
            action[:6] = 0.0
        self.step += 1
        return action


class RandomLinear:
    """A batch policy: a random linear map of the flat observation, squashed (one per "training seed")."""

    obs_mode = "flat"

    def __init__(self, seed):
        self.weights = np.random.default_rng(seed).normal(0, 1, (7, 43))

    def reset(self, num_envs):
        pass

    def act(self, observations):
        return np.stack([np.tanh(self.weights @ row) for row in observations])  # row by row: batch-independent


def test_evaluation_seeds_are_disjoint_from_source_generation_and_validation_seeds():
    seeds = evaluation_seeds(50)
    shipped = [demo.seed for name in ("stack_10", "mug_drawer_10")
               for demo in load_source_demos(DEMOS_DIR / f"{name}.hdf5")]
    assert max(shipped) < EVALUATION_SEED_START <= min(seeds)
    assert max(seeds) < attempt_seed(0, 0)  # the smallest seed any generation run uses
    assert not set(seeds) & set(evaluation_seeds(50, start=VALIDATION_SEED_START))
    assert CONDITIONS == ("static", "dmg-paper", "slow", "fast")


def test_success_is_counted_within_the_episode_and_at_its_end():
    demo = load_source_demos(DEMOS_DIR / "stack_1.hdf5")[0]
    # Two episodes side by side: the callable's step counter is kept per env.
    replay = evaluate_policy(OpenLoop(demo.actions), "dmg/Stack-v0", seeds=[demo.seed, demo.seed], num_envs=2)
    for episode in replay["episodes"]:
        assert episode["success"] and episode["success_at_end"]
        assert 0 < episode["steps_to_success"] <= len(demo.actions) and episode["steps"] == 300  # the time limit

    # Replayed up to the drop, then the gripper opens and the arm lifts: the cube is let go in the air.
    drop = OpenLoop(demo.actions[: int(np.argmax(demo.actions[:, 6] > 0)) + 40])
    dropped = evaluate_policy(drop, "dmg/Stack-v0", seeds=[demo.seed], num_envs=1)["episodes"][0]
    assert not dropped["success"] and dropped["steps_to_success"] is None


def test_identical_seeds_give_identical_numbers_whatever_the_batching():
    policies = [RandomLinear(0), RandomLinear(1)]
    first = evaluate_protocol(policies, "dmg/Stack-v0", conditions=("static", "slow"), episodes=3, num_envs=3)
    again = evaluate_protocol(policies, "dmg/Stack-v0", conditions=("static", "slow"), episodes=3, num_envs=3)
    for condition in ("static", "slow"):
        assert first["conditions"][condition] == again["conditions"][condition]
    returns = [evaluate_policy(RandomLinear(0), "dmg/Stack-v0", "slow", episodes=3, num_envs=width,
                               env_kwargs={"reward_type": "dense"})["episodes"] for width in (1, 2, 3)]
    assert returns[0] == returns[1] == returns[2]
    assert len({episode["return"] for episode in returns[0]}) == 3  # the episodes differ from one another


def test_a_callable_an_sb3_model_and_a_batch_policy_are_all_accepted():
    import gymnasium as gym
    from stable_baselines3 import PPO

    env = gym.make("dmg/Stack-v0", obs_mode="flat")
    model = PPO("MlpPolicy", env, seed=0, device="cpu", n_steps=64)
    adapted = as_batch_policy(model)
    assert adapted.obs_mode == "flat"
    result = evaluate_policy(model, "dmg/Stack-v0", episodes=2, num_envs=2)
    assert [episode["seed"] for episode in result["episodes"]] == evaluation_seeds(2)
    assert as_batch_policy(lambda observation: np.zeros(7)).obs_mode == "dict"
    with pytest.raises(TypeError, match="cannot evaluate"):
        as_batch_policy(42)
    env.close()


def test_an_env_that_predicts_is_refused_not_taken_for_an_sb3_model():
    """The DMP expert has `predict` and `observation_space` as SB3 models do, but it acts on its own env's
    state: taken for a model, it would give numbers that have nothing to do with the evaluation envs."""
    import gymnasium as gym

    from dmg_envs.datagen.expert import DMPExpert

    expert = DMPExpert(gym.make("dmg/Stack-v0"), load_source_demos(DEMOS_DIR / "stack_1.hdf5")[0])
    assert hasattr(expert, "predict") and hasattr(expert, "observation_space")
    with pytest.raises(TypeError, match="cannot evaluate a DMPExpert: it is an env"):
        as_batch_policy(expert)
    expert.close()


def test_a_dimension_constant_in_training_is_centred_not_blown_up():
    from dmg_envs.learning.data import Normalizer

    rows = [np.array([[1.0, 0.3], [3.0, 0.3]]), np.array([[2.0, 0.3]])]
    normalizer = Normalizer.fit(rows)
    np.testing.assert_allclose(normalizer.mean, [2.0, 0.3], rtol=1e-6)
    np.testing.assert_allclose(normalizer.std, [np.std([1.0, 3.0, 2.0]), 1.0], rtol=1e-6)
    # A pad 5 cm from where it always was in training reads 0.05 normalised, not 50.
    np.testing.assert_allclose(normalizer.normalize(np.array([2.0, 0.35])), [0.0, 0.05], atol=1e-6)


def test_wilson_interval_brackets_the_rate_and_stays_inside_zero_one():
    low, high = wilson_interval(45, 50)
    assert low < 0.9 < high and 0.78 < low and high < 0.96
    assert wilson_interval(0, 50)[0] == 0.0 and wilson_interval(50, 50)[1] == 1.0
