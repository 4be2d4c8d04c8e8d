"""Train a BC-RNN-GMM policy on a generated dataset, evaluate it with the protocol, and write its
leaderboard entry; then evaluate an outside policy (a plain callable) the same way.

Run:  python examples/train_and_evaluate.py     (about 10 minutes on 2 CPU cores)
The same as:  dmg generate stack --num-demos 200 --dynamics slow
              dmg train bc-rnn-gmm dmg/stack/dmp-slow-v0 --epochs 30 --out runs/example
              dmg eval runs/example --dynamics static,slow --episodes 20 --out leaderboard_entry.json
"""

import json

import numpy as np

from dmg_envs.datagen import GenerationConfig, generate
from dmg_envs.learning.evaluate import evaluate_protocol
from dmg_envs.learning.runs import evaluate_runs
from dmg_envs.learning.train import TrainConfig, train

if __name__ == "__main__":
    config = GenerationConfig(task="stack", num_demos=200, dynamics="slow")
    generate(config, workers=2)
    train(TrainConfig(dataset=config.dataset_id, algorithm="bc-rnn-gmm", epochs=30), "runs/example")
    entry, report = evaluate_runs(["runs/example"], conditions=("static", "slow"), episodes=20)
    print(json.dumps(entry["evaluation"]["conditions"], indent=2))

    # Any policy enters the same way: here, one that keeps the gripper open and the arm still.
    def idle(observation):
        return np.array([0, 0, 0, 0, 0, 0, -1.0])

    print(evaluate_protocol([idle], "dmg/Stack-v0", conditions=("static",), episodes=5)["conditions"]["static"]
          ["success_mean"])
