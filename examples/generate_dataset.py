"""Generate a small dynamic Minari dataset from one source demo with the Python API, then check it.

Run:  python examples/generate_dataset.py     (the same as: dmg generate stack --num-demos 20 --dynamics slow)
"""

import minari

from dmg_envs.datagen import GenerationConfig, generate
from dmg_envs.datagen.replay import replay_dataset

if __name__ == "__main__":
    config = GenerationConfig(task="stack", source="stack_1", num_demos=20, dynamics="slow", generator="dmp")
    summary = generate(config, workers=2, overwrite=True)
    print(f"kept {summary['kept']} demos from {summary['attempts']} attempts in {summary['seconds']} s")
    dataset = minari.load_dataset(config.dataset_id)
    print(dataset.total_episodes, "episodes,", dataset.total_steps, "steps")
    report = replay_dataset(config.dataset_id)
    print(f"replay: {report['successes']}/{report['episodes']} end in success")
