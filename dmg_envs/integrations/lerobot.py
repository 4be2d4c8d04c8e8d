"""`lerobot-eval` in our envs: a LeRobot policy trained on a `dmg export lerobot` dataset, evaluated under our
dynamics presets and seeds.

    lerobot-eval --policy.path=<checkpoint> --env.type=dmg --env.task=Stack-v0 --env.dynamics=slow \\
        --env.cameras='[agentview,robot0_eye_in_hand]' --env.discover_packages_path=dmg_envs.integrations \\
        --eval.n_episodes=50 --eval.batch_size=10 --policy.device=cpu

`DmgEnvConfig` (registered as `dmg` where lerobot is installed; importing this module never needs lerobot)
builds `gym_dmg/<Task>-v0`, our env under the preset with LeRobot's observation keys (`LeRobotObservations`):
`agent_pos` (the arms' keys, LeRobot's `observation.state`), `environment_state` (the other low-dimensional
keys) and `pixels` (one frame per camera, `observation.images.<camera>`), split as the export splits them.
Success is our `info["is_success"]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from dmg_envs.datagen.lerobot import feature_layout
from dmg_envs.registration import MAX_EPISODE_STEPS, TASKS

NAMESPACE = "gym_dmg"  # LeRobot makes `gym_<type>/<task>`


class LeRobotObservations(gym.ObservationWrapper):
    """Our dict observations as LeRobot's env keys: agent_pos, environment_state, pixels/<camera>."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        sample = {key: np.zeros(space.shape, space.dtype) for key, space in env.observation_space.spaces.items()}
        self.layout = feature_layout(sample)
        spaces: dict[str, gym.Space] = {}
        for name, lerobot_key in (("observation.state", "agent_pos"),
                                  ("observation.environment_state", "environment_state")):
            if name in self.layout:
                size = sum(int(np.prod(sample[key].shape)) for key in self.layout[name])
                spaces[lerobot_key] = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        cameras = {name.removeprefix("observation.images."): env.observation_space[keys[0]]
                   for name, keys in self.layout.items() if name.startswith("observation.images.")}
        if cameras:
            spaces["pixels"] = gym.spaces.Dict(cameras)
        self.observation_space = gym.spaces.Dict(spaces)

    def observation(self, observation: dict[str, np.ndarray]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, lerobot_key in (("observation.state", "agent_pos"),
                                  ("observation.environment_state", "environment_state")):
            if name in self.layout:
                out[lerobot_key] = np.concatenate(
                    [np.ravel(observation[key]) for key in self.layout[name]]).astype(np.float32)
        pixels = {name.removeprefix("observation.images."): observation[keys[0]]
                  for name, keys in self.layout.items() if name.startswith("observation.images.")}
        if pixels:
            out["pixels"] = pixels
        return out


def make_lerobot_env(env_id: str, dynamics: str = "static", cameras: tuple[str, ...] = (),
                     image_size: int = 84, **kwargs: Any) -> gym.Env:
    """Our env `env_id` under the preset `dynamics`, rendering `cameras` into its observations, with
    LeRobot's observation keys."""
    from dmg_envs.wrappers.presets import make

    return LeRobotObservations(make(env_id, dynamics, obs_mode="dict", render_observations=tuple(cameras),
                                    image_size=image_size, render_mode="rgb_array", **kwargs))


def lerobot_task(env_id: str) -> str:
    """LeRobot's task name of one of our env ids: "dmg/Stack-v0" -> "Stack-v0"."""
    return env_id.split("/", 1)[1]


def register_gym_ids() -> None:
    """Register `gym_dmg/<Task>-v0` for every task (idempotent)."""
    for entry in TASKS.values():
        gym_id = f"{NAMESPACE}/{lerobot_task(entry.env_id)}"
        if gym_id not in gym.registry:
            gym.register(id=gym_id, entry_point=make_lerobot_env, kwargs={"env_id": entry.env_id})


register_gym_ids()

try:
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.envs.configs import EnvConfig
except ImportError:  # lerobot is not installed: the wrapper and the ids serve without it
    EnvConfig = None

if EnvConfig is not None:
    @EnvConfig.register_subclass("dmg")
    @dataclass
    class DmgEnvConfig(EnvConfig):
        """One of our tasks for `lerobot-eval`: `task` (e.g. "Stack-v0"), a dynamics preset, the cameras an
        image policy reads (as exported: `observation.images.<camera>`)."""

        task: str | None = "Stack-v0"
        fps: int = 20
        dynamics: str = "static"
        cameras: list[str] = field(default_factory=list)
        image_size: int = 84
        episode_length: int | None = None  # None: the task's own time limit
        features: dict[str, PolicyFeature] = field(default_factory=dict)
        features_map: dict[str, str] = field(default_factory=dict)

        def __post_init__(self):
            env_id = f"dmg/{self.task}"
            if env_id not in MAX_EPISODE_STEPS:
                raise ValueError(f"--env.task={self.task!r} is not one of ours: "
                                 f"{sorted(lerobot_task(e) for e in MAX_EPISODE_STEPS)}")
            env = make_lerobot_env(env_id, self.dynamics, tuple(self.cameras), self.image_size)
            try:
                spaces = env.observation_space.spaces
                action = env.action_space.shape
            finally:
                env.close()
            self.features = {"action": PolicyFeature(type=FeatureType.ACTION, shape=action)}
            self.features_map = {"action": "action"}
            if "agent_pos" in spaces:
                self.features["agent_pos"] = PolicyFeature(type=FeatureType.STATE, shape=spaces["agent_pos"].shape)
                self.features_map["agent_pos"] = "observation.state"
            if "environment_state" in spaces:
                self.features["environment_state"] = PolicyFeature(type=FeatureType.ENV,
                                                                   shape=spaces["environment_state"].shape)
                self.features_map["environment_state"] = "observation.environment_state"
            for camera, space in spaces.get("pixels", gym.spaces.Dict({})).spaces.items():
                self.features[f"pixels/{camera}"] = PolicyFeature(type=FeatureType.VISUAL, shape=space.shape)
                self.features_map[f"pixels/{camera}"] = f"observation.images.{camera}"

        @property
        def gym_kwargs(self) -> dict[str, Any]:
            return {"dynamics": self.dynamics, "cameras": tuple(self.cameras), "image_size": self.image_size,
                    "max_episode_steps": self.episode_length or MAX_EPISODE_STEPS[f"dmg/{self.task}"]}
