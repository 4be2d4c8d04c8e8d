"""Open a file written by `dmg export robomimic` with robomimic's own utilities (not part of the test suite).

Run it in a virtual environment of its own, with robomimic and without dmg-envs (robomimic 0.3.0 is an
sdist on PyPI; it pulls torch, torchvision and tensorboard, and needs `six`, which it does not declare):

    python3 -m venv /tmp/rmvenv
    /tmp/rmvenv/bin/pip install torch robomimic==0.3.0 h5py six
    dmg export robomimic dmg/stack/dmp-slow-v0 stack.hdf5          # in dmg-envs' own environment
    /tmp/rmvenv/bin/python tools/check_robomimic_export.py stack.hdf5

It reads the env metadata and the shape metadata with `robomimic.utils.file_utils`, the train/valid masks,
loads a `robomimic.utils.dataset.SequenceDataset` (sequences of 10 steps, the train mask) and batches it
with a torch DataLoader, then builds robomimic's BC algorithm from the shape metadata and takes one
gradient step on a batch. Every check prints a line; any failure raises. Not checked: robomimic's env
wrapper for gym envs (`robomimic.envs.env_gym`) imports the old `gym` package, not Gymnasium, so rollouts
through robomimic's own env classes do not run; evaluate policies in the dmg env itself.
"""

from __future__ import annotations

import argparse
import json

import h5py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="robomimic-format HDF5 file from `dmg export robomimic`")
    parser.add_argument("--seq-length", type=int, default=10)
    arguments = parser.parse_args()
    path, seq_length = arguments.path, arguments.seq_length

    import robomimic
    import robomimic.envs.env_base as env_base
    import robomimic.utils.env_utils as env_utils
    import robomimic.utils.file_utils as file_utils
    import robomimic.utils.obs_utils as obs_utils
    import torch
    from robomimic.utils.dataset import SequenceDataset

    print(f"robomimic {robomimic.__version__}, torch {torch.__version__}")
    env_meta = file_utils.get_env_metadata_from_dataset(path)
    assert env_utils.get_env_type(env_meta=env_meta) == env_base.EnvType.GYM_TYPE
    print(f"env metadata: env_name {env_meta['env_name']}, type GYM_TYPE, env_kwargs {env_meta['env_kwargs']}, "
          f"wrappers {[wrapper['name'] for wrapper in env_meta.get('wrappers', [])]}")

    with h5py.File(path, "r") as file:
        obs_keys = sorted(file["data/demo_0/obs"])
        total, demos = int(file["data"].attrs["total"]), len(file["data"])
    image_keys = [key for key in obs_keys if key.endswith("_image")]
    obs_utils.initialize_obs_utils_with_obs_specs(
        {"obs": {"low_dim": [key for key in obs_keys if key not in image_keys], "rgb": image_keys}})
    shape_meta = file_utils.get_shape_metadata_from_dataset(path, all_obs_keys=obs_keys)
    print(f"shape metadata: ac_dim {shape_meta['ac_dim']}, use_images {shape_meta['use_images']}, "
          f"shapes {json.dumps({k: list(v) for k, v in shape_meta['all_shapes'].items()})}")

    masks = {name: file_utils.get_demos_for_filter_key(path, name) for name in ("train", "valid")}
    print(f"masks: train {len(masks['train'])} demos, valid {len(masks['valid'])} ({demos} demos, {total} steps)")

    dataset = SequenceDataset(hdf5_path=path, obs_keys=obs_keys, dataset_keys=("actions", "rewards", "dones"),
                              seq_length=seq_length, pad_seq_length=True, hdf5_cache_mode="all",
                              filter_by_attribute="train")
    item = dataset[0]
    print(f"SequenceDataset: {len(dataset)} sequences of {seq_length}; item actions {tuple(item['actions'].shape)}, "
          f"obs {sorted(item['obs'])[:3]}...")
    loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True, num_workers=0)
    batch = next(iter(loader))
    print(f"DataLoader batch: actions {tuple(batch['actions'].shape)}")

    from robomimic.algo import algo_factory
    from robomimic.config import config_factory

    config = config_factory("bc")
    with config.values_unlocked():
        config.observation.modalities.obs.low_dim = [key for key in obs_keys if key not in image_keys]
        config.observation.modalities.obs.rgb = image_keys
    obs_utils.initialize_obs_utils_with_config(config)
    model = algo_factory(algo_name="bc", config=config, obs_key_shapes=shape_meta["all_shapes"],
                         ac_dim=shape_meta["ac_dim"], device=torch.device("cpu"))
    # BC trains on the first step of each sequence (its own process_batch_for_training takes it).
    processed = model.postprocess_batch_for_training(model.process_batch_for_training(batch),
                                                     obs_normalization_stats=None)
    info = model.train_on_batch(processed, epoch=0, validate=False)
    print(f"BC: one gradient step, loss {float(info['losses']['action_loss']):.4f}")
    print("robomimic reads the file")


if __name__ == "__main__":
    main()
