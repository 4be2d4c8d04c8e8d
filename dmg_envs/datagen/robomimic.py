"""robomimic interop: our Minari datasets as robomimic-format HDF5 files (the layout MimicGen writes, with
its `datagen_info`), and such files, recorded in our envs, as source-demo files.

Layout written by `export_robomimic` (T steps in a demo; per-step arrays have T rows, row t before action t):

    data/                          attrs: total (steps in all demos), env_args (JSON, below)
      demo_<i>/                    attrs: num_samples (T), model_file (the model's MJCF XML), seed
        obs/<key>, next_obs/<key>  (T, ...) the observation before / after each action
        actions (T, A), rewards (T,), dones (T,) (1 on the last step), states (T, n) (`get_state()`)
        datagen_info/
          eef_pose (T, 4, 4)       TCP poses (T, arms, 4, 4) with two arms; world frame
          target_pose              the same shape: the pose each action commands
          gripper_action (T, arms) -1 open, +1 closed
          object_poses/<object> (T, 4, 4), subtask_term_signals/<signal> (T,) 0/1
          reference_poses/<reference> (T, 4, 4), touches/<arm>/<reference> (T,) 0/1 (dmg-envs' own)
    mask/train, mask/valid         demo names, 90/10, the same split for the same number of demos

env_args: {"env_name": the env id, "type": 2 (robomimic's gym type), "env_kwargs": the env spec's kwargs,
"wrappers": the spec's additional wrappers (name, entry_point, kwargs: the dynamics preset), "dmg_envs":
{"dataset_id", "package_version"}}.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import h5py
import numpy as np

from dmg_envs.datagen.replay import first_mismatch, replay_episode
from dmg_envs.datagen.source import EpisodeRecorder, SourceDemo, save_source_demos
from dmg_envs.envs.base import MAX_DELTA_POS, MAX_DELTA_ROT
from dmg_envs.errors import InvalidConfigError, RobomimicFormatError
from dmg_envs.sim.transforms import rotvec_to_mat

ROBOMIMIC_GYM_TYPE = 2  # robomimic.envs.env_base.EnvType.GYM_TYPE
VALID_FRACTION = 0.1  # robomimic's default validation split
MASK_SEED = 0
# Replays here are bit-exact; the margin [state units] allows for another CPU's floating point.
STATE_TOLERANCE = 1e-6
_WRAPPER_PACKAGE = "dmg_envs.wrappers."  # a file may only name our own wrappers: entry points are code to run


def export_robomimic(dataset_id: str, path: str | Path, valid_fraction: float = VALID_FRACTION) -> dict[str, Any]:
    """Write the Minari dataset `dataset_id` as a robomimic-format HDF5 file at `path` (replaced atomically).

    Minari keeps observations and actions, not MuJoCo states: each episode is replayed in
    `dataset.recover_environment(eval_env=True)` from its stored seed, and its states, poses, signals and
    gripper commands are read along the way.

    Returns:
        A summary: path, dataset id, demos, total steps, train and valid demo counts.

    Raises:
        RobomimicFormatError: the dataset does not exist, or an episode's replay does not reproduce its
            stored observations (then nothing is written).
    """
    import minari

    from dmg_envs.versions import version

    if dataset_id not in minari.list_local_datasets():
        raise RobomimicFormatError(f"no local Minari dataset {dataset_id!r} to export (see `minari list local`)")
    if not 0.0 <= valid_fraction < 1.0:
        raise InvalidConfigError(f"valid_fraction must lie in [0, 1), got {valid_fraction}")
    dataset = minari.load_dataset(dataset_id)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    env = dataset.recover_environment(eval_env=True)
    try:
        task = env.unwrapped
        model_xml = task.scene_spec().to_xml()
        indices = list(range(dataset.total_episodes))
        total = 0
        with h5py.File(partial, "w") as file:
            data = file.create_group("data")
            metadata = dataset.storage.get_episode_metadata(indices)
            for index, episode, meta in zip(indices, dataset.iterate_episodes(indices), metadata):
                replayed = replay_episode(env, meta, episode.actions, record=True)
                mismatch = first_mismatch(replayed["observations"], episode.observations)
                if mismatch is not None:
                    step, key = mismatch
                    raise RobomimicFormatError(
                        f"episode {index} of {dataset_id} does not replay: at step {step} the observation"
                        f"{'' if key is None else f' {key!r}'} differs from the stored one (was the dataset "
                        f"made with another version of dmg-envs or MuJoCo?); nothing was written")
                seed = int(meta["seed"])
                demo = replayed["recorder"].demo(seed, success=bool(replayed["infos"][-1]["is_success"]))
                group = data.create_group(f"demo_{index}")
                _write_demo(group, episode, demo, task.control_mode)
                group.attrs["model_file"] = model_xml
                total += demo.num_steps
            data.attrs["total"] = total
            data.attrs["env_args"] = json.dumps(_env_args(env, dataset_id, version("dmg-envs")))
            train, valid = split_train_valid(len(indices), valid_fraction)
            for name, members in (("train", train), ("valid", valid)):
                file.create_dataset(f"mask/{name}", data=np.array(members, dtype="S"))
        partial.replace(path)
    finally:
        env.close()
        partial.unlink(missing_ok=True)
    return {"path": str(path), "dataset_id": dataset_id, "demos": len(indices), "total": total,
            "train": len(train), "valid": len(valid)}


def split_train_valid(count: int, valid_fraction: float = VALID_FRACTION) -> tuple[list[str], list[str]]:
    """robomimic's train/valid masks for `count` demos: `int(valid_fraction * count)` demos, drawn with a
    fixed seed, are for validation (the same split for the same count); names in demo order."""
    order = np.random.default_rng(MASK_SEED).permutation(count)
    valid = set(order[:int(valid_fraction * count)].tolist())
    names = [f"demo_{index}" for index in range(count)]
    return ([name for index, name in enumerate(names) if index not in valid],
            [name for index, name in enumerate(names) if index in valid])


def _env_args(env: gym.Env, dataset_id: str, package_version: str) -> dict[str, Any]:
    spec = env.spec
    return {"env_name": spec.id, "type": ROBOMIMIC_GYM_TYPE, "env_kwargs": dict(spec.kwargs),
            "wrappers": [dataclasses.asdict(wrapper) for wrapper in spec.additional_wrappers],
            "dmg_envs": {"dataset_id": dataset_id, "package_version": package_version}}


def _per_arm(arrays: list[np.ndarray]) -> np.ndarray:
    """One arm's array as it is (MimicGen's shape), several stacked along axis 1."""
    return arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=1)


def _target_poses(eef: np.ndarray, actions: np.ndarray, control_mode: str) -> np.ndarray:
    """(T, 4, 4) the TCP pose each of one arm's actions (T, 7) commands, from the TCP poses (T, 4, 4) it
    starts in: delta actions move the pose by the scaled action (rotation about world axes)."""
    targets = np.tile(np.eye(4), (len(actions), 1, 1))
    arm = np.clip(actions[:, :6].astype(np.float64), -1.0, 1.0) if control_mode == "delta" else actions[:, :6]
    for t, (pose, command) in enumerate(zip(eef, arm)):
        if control_mode == "delta":
            targets[t, :3, 3] = pose[:3, 3] + MAX_DELTA_POS * command[:3]
            targets[t, :3, :3] = rotvec_to_mat(MAX_DELTA_ROT * command[3:]) @ pose[:3, :3]
        else:
            targets[t, :3, 3], targets[t, :3, :3] = command[:3], rotvec_to_mat(command[3:])
    return targets


def _write_demo(group: h5py.Group, episode: Any, demo: SourceDemo, control_mode: str) -> None:
    steps = demo.num_steps
    group.attrs["num_samples"] = steps
    group.attrs["seed"] = demo.seed
    observations = episode.observations if isinstance(episode.observations, dict) \
        else {"observation": episode.observations}
    for key, values in observations.items():
        group.create_dataset(f"obs/{key}", data=values[:-1])
        group.create_dataset(f"next_obs/{key}", data=values[1:])
    group.create_dataset("actions", data=episode.actions)
    group.create_dataset("rewards", data=np.asarray(episode.rewards, dtype=np.float64))
    group.create_dataset("dones", data=np.logical_or(episode.terminations, episode.truncations).astype(np.int64))
    group.create_dataset("states", data=demo.states[:-1])
    info = group.create_group("datagen_info")
    arms = list(demo.eef_poses)
    info.create_dataset("eef_pose", data=_per_arm([demo.eef_poses[arm][:-1] for arm in arms]))
    info.create_dataset("target_pose", data=_per_arm([
        _target_poses(demo.eef_poses[arm][:-1], demo.actions[:, 7 * index:7 * index + 7], control_mode)
        for index, arm in enumerate(arms)]))
    info.create_dataset("gripper_action", data=np.stack([demo.gripper_actions[arm] for arm in arms], axis=1))
    for name, poses in demo.object_poses.items():
        info.create_dataset(f"object_poses/{name}", data=poses[:-1])
    for name, values in demo.signals.items():
        info.create_dataset(f"subtask_term_signals/{name}", data=values[:-1].astype(np.int64))
    for name, poses in demo.reference_poses.items():
        info.create_dataset(f"reference_poses/{name}", data=poses[:-1])
    for arm, by_name in demo.touches.items():
        for name, values in by_name.items():
            info.create_dataset(f"touches/{arm}/{name}", data=values[:-1].astype(np.int64))
    assert all(len(info[name]) == steps for name in ("eef_pose", "target_pose", "gripper_action"))


def import_robomimic(path: str | Path, out: str | Path) -> tuple[Path, int, str]:
    """Turn a robomimic-format file recorded in our envs into a source-demo file at `out` (for
    `load_source_demos` and `dmg generate --source`); see `read_robomimic`.

    Returns:
        The file written, how many demos it holds and their env id.
    """
    demos = read_robomimic(path)
    return save_source_demos(out, demos), len(demos), demos[0].env_id


def read_robomimic(path: str | Path) -> list[SourceDemo]:
    """The demos of a robomimic-format file recorded in one of our envs, as source demos.

    Each demo's stored actions are replayed in the env its `env_args` name (env kwargs and dynamics
    wrappers included), from its first stored state (after a reset with the demo's `seed` attribute, if
    it has one: dynamics wrappers draw from it), recording TCP poses, reference poses, touches and signals;
    every later stored state, and the stored `next_obs`, must match the replay.

    Raises:
        RobomimicFormatError: naming the file and what is wrong: not an HDF5 file, not robomimic-shaped,
            an env that is not ours, or states that the replay does not reproduce.
    """
    path = Path(path)
    if not path.is_file():
        raise RobomimicFormatError(f"robomimic file {str(path)!r} does not exist")
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise RobomimicFormatError(f"{str(path)!r} is not an HDF5 file: {error}") from error
    with file:
        data = file.get("data")
        if not isinstance(data, h5py.Group):
            raise RobomimicFormatError(f"{str(path)!r} is not a robomimic file: it has no 'data' group")
        names = [name for name in data if name.startswith("demo_") and name[5:].isdigit()]
        if not names:
            raise RobomimicFormatError(f"{str(path)!r} is not a robomimic file: 'data' has no demo_<i> groups")
        env = _make_env(path, data)
        try:
            return [_replay_demo(path, name, data[name], env) for name in sorted(names, key=lambda n: int(n[5:]))]
        finally:
            env.close()


def _make_env(path: Path, data: h5py.Group) -> gym.Env:
    """The env that `data.attrs["env_args"]` names; only dmg-envs ids and wrappers are accepted."""
    import dmg_envs

    gym.register_envs(dmg_envs)
    try:
        env_args = json.loads(data.attrs["env_args"])
    except KeyError as error:
        raise RobomimicFormatError(f"{str(path)!r} is not a robomimic file: 'data' has no env_args "
                                   f"attribute") from error
    except (TypeError, ValueError) as error:
        raise RobomimicFormatError(f"{str(path)!r}: data.attrs['env_args'] is not JSON: {error}") from error
    if not isinstance(env_args, dict):
        raise RobomimicFormatError(f"{str(path)!r}: data.attrs['env_args'] is not a JSON object")
    env_name = env_args.get("env_name")
    ours = sorted(env_id for env_id in gym.registry if env_id.startswith("dmg/"))
    if env_name not in ours:
        raise RobomimicFormatError(f"{str(path)!r} was recorded in env {env_name!r}, which is not a dmg-envs "
                                   f"env; valid: {', '.join(ours)}")
    kwargs, wrappers = env_args.get("env_kwargs") or {}, env_args.get("wrappers") or []
    if not isinstance(kwargs, dict) or not isinstance(wrappers, list):
        raise RobomimicFormatError(f"{str(path)!r}: env_args' env_kwargs must be an object and wrappers a list")
    specs = []
    for wrapper in wrappers:
        if not (isinstance(wrapper, dict) and str(wrapper.get("entry_point", "")).startswith(_WRAPPER_PACKAGE)):
            raise RobomimicFormatError(f"{str(path)!r}: env_args names wrapper {wrapper!r}; only dmg-envs wrappers "
                                       f"({_WRAPPER_PACKAGE}*) are rebuilt")
        specs.append(gym.envs.registration.WrapperSpec(str(wrapper.get("name", "")), wrapper["entry_point"],
                                                       wrapper.get("kwargs")))
    registered = gym.spec(env_name)
    spec = dataclasses.replace(registered, kwargs={**registered.kwargs, **kwargs}, additional_wrappers=tuple(specs))
    try:
        return gym.make(spec)
    except Exception as error:  # noqa: BLE001 - any constructor error means the same thing here
        raise RobomimicFormatError(f"{str(path)!r}: cannot build {env_name} from env_args "
                                   f"({type(error).__name__}: {error})") from error


def _replay_demo(path: Path, name: str, group: h5py.Group, env: gym.Env) -> SourceDemo:
    task = env.unwrapped
    where = f"{str(path)!r} data/{name}"
    for key in ("actions", "states"):
        if not isinstance(group.get(key), h5py.Dataset):
            raise RobomimicFormatError(f"{where} has no {key!r} dataset: not robomimic-shaped")
    actions, states = group["actions"][()], group["states"][()]
    action_dim, state_dim = env.action_space.shape[0], task.get_state().shape[0]
    if actions.ndim != 2 or actions.shape[1] != action_dim or len(actions) == 0:
        raise RobomimicFormatError(f"{where}: actions have shape {actions.shape}; {env.spec.id} takes "
                                   f"(T, {action_dim})")
    if states.shape != (len(actions), state_dim):
        raise RobomimicFormatError(f"{where}: states have shape {states.shape}; expected ({len(actions)}, "
                                   f"{state_dim}), one {env.spec.id} state (mjSTATE_INTEGRATION) per action")
    next_obs = group.get("next_obs")
    seed = group.attrs.get("seed")
    env.reset(seed=None if seed is None else int(seed))
    task.set_state(states[0])
    recorder = EpisodeRecorder(env)
    info: dict[str, Any] = {}
    for step, action in enumerate(actions):
        observation, _, _, _, info = env.step(action)
        recorder.step(action, info)
        if step + 1 < len(states):
            difference = float(np.max(np.abs(recorder.states[-1] - states[step + 1])))
            if not difference <= STATE_TOLERANCE:
                raise RobomimicFormatError(
                    f"{where}: states[{step + 1}] differs from the replay of the actions by up to {difference:.3g}; "
                    f"the file was not recorded in {env.spec.id} with these env_kwargs and wrappers"
                    f"{'' if seed is not None else ' (dynamics wrappers also need the demo seed attribute)'}")
        if isinstance(next_obs, h5py.Group):
            observed = observation if isinstance(observation, dict) else {"observation": observation}
            for key in observed.keys() & next_obs.keys():
                if not np.allclose(observed[key], next_obs[key][step], rtol=0.0, atol=STATE_TOLERANCE):
                    raise RobomimicFormatError(f"{where}: next_obs/{key}[{step}] differs from the replay's "
                                               f"observation")
    attrs = {"imported_from": str(path), "robomimic_demo": name, "seed_known": seed is not None,
             "wrappers": [dataclasses.asdict(wrapper) for wrapper in env.spec.additional_wrappers]}
    return recorder.demo(0 if seed is None else int(seed), success=bool(info["is_success"]), attrs=attrs)
