"""dmg-paper on two arms: an object moves only while the arm that works it (the arm whose subtask references
it) is on its way to it, never while that arm is parked or waits for the other arm."""

import numpy as np
import pytest

import dmg_envs
from dmg_envs.datagen import DMPExpert, load_source_demos
from dmg_envs.datagen.config import DEMOS_DIR
from dmg_envs.envs.pouring import TwoArmPouringEnv
from dmg_envs.sim.transforms import make_pose
from dmg_envs.wrappers.gating import SET_OFF_DISTANCE, EpisodeGate


class _Scene:
    """The gate's view of an env: TwoArmPouring's subtasks, TCPs and references put where a test says."""

    subtask_spec = TwoArmPouringEnv.SUBTASKS

    def __init__(self):
        self.eef = {"robot0": np.array([0.0, -0.4, 1.1]), "robot1": np.array([0.0, 0.4, 1.1])}
        self.references = {"bowl": np.array([0.0, -0.1, 0.85]), "cup": np.array([0.0, 0.1, 0.85])}

    def eef_pose(self, arm="robot0"):
        return make_pose(self.eef[arm], np.eye(3))

    def reference_pose(self, name):
        return make_pose(self.references[name], np.eye(3))


def test_a_sequential_pick_opens_its_gate_once_the_partner_has_ended_and_its_arm_has_set_off():
    """robot0's `pick_bowl` waits for robot1's `pour`: while robot1 picks the cup and pours, and while robot0
    stays parked after the pour, the bowl must not move; it may once robot0 closes in on it, until it has
    closed half the distance."""
    scene = _Scene()
    gate = EpisodeGate(subtask="pick_bowl", subtask_fraction=0.5)
    gate.bind(scene)
    gate.reset(np.random.default_rng(0))
    quiet = {"cup_grasped": False, "ball_in_bowl": False, "bowl_grasped": False, "bowl_on_pad": False}
    for signals in ({}, {"cup_grasped": True}, {"cup_grasped": True}):  # robot1 picks the cup, then pours
        gate.update({**quiet, **signals})
        assert not gate.allows(1.0)
    gate.update({**quiet, "ball_in_bowl": True})  # the pour has ended
    for _ in range(5):  # robot0 parked: nothing moves
        assert not gate.allows(1.0)
    start = np.linalg.norm(scene.eef["robot0"] - scene.references["bowl"])
    towards = (scene.references["bowl"] - scene.eef["robot0"]) / start
    scene.eef["robot0"] = scene.eef["robot0"] + 0.5 * SET_OFF_DISTANCE * towards
    assert not gate.allows(1.0)  # not on its way yet
    scene.eef["robot0"] = scene.eef["robot0"] + SET_OFF_DISTANCE * towards
    assert gate.allows(1.0)  # set off: the bowl may move
    scene.eef["robot0"] = scene.references["bowl"] - 0.45 * start * towards
    assert not gate.allows(1.0)  # past half the approach
    scene.eef["robot0"] = scene.references["bowl"] - start * towards
    assert not gate.allows(1.0)  # and it stays closed


@pytest.mark.parametrize("task, env_id", [("pouring", "dmg/TwoArmPouring-v0"), ("tray_lift", "dmg/TwoArmTrayLift-v0")])
def test_dmg_paper_on_two_arms_moves_an_object_only_while_the_arm_that_works_it_goes_for_it(task, env_id):
    """The DMP expert under dmg-paper: on every step the perturbed object moves, the arm whose subtask the
    preset gates on (a subtask that references the object) runs that subtask, not parked waiting for the
    other arm, and over those steps it closes in on the object. (On Pouring that leaves the bowl still:
    robot0 goes for it only after the pour, and an object with the ball in it is not free to move.)"""
    env = dmg_envs.make(env_id, dynamics="dmg-paper")
    kwargs = env.spec.additional_wrappers[0].kwargs
    (name,), subtask = kwargs["objects"], kwargs["subtask"]
    arm, index = next((arm, i) for arm, subtasks in env.unwrapped.subtask_spec.items()
                      for i, s in enumerate(subtasks) if s.name == subtask)
    assert env.unwrapped.subtask_spec[arm][index].reference == name
    expert = DMPExpert(env, load_source_demos(DEMOS_DIR / f"{task}_1.hdf5")[0])
    task_api = expert.unwrapped
    perturbed = 0
    for seed in range(6):
        obs, info = expert.reset(seed=seed)
        distances = []  # the arm's TCP from the object, before each step the object moved in
        for _ in range(400):
            report = info["expert"][arm]
            running = bool(report["running"]) and report["subtask"] == index
            distance = np.linalg.norm(task_api.eef_pose(arm)[:3, 3] - task_api.reference_pose(name)[:3, 3])
            obs, _, _, truncated, info = expert.step(expert.predict(obs)[0])
            if np.any(info["perturbation"][name]):
                assert running, f"seed {seed}: {name} moved while {arm} was not running {subtask}"
                distances.append(distance)
            if info["is_success"] or truncated:
                break
        perturbed += bool(distances)
        if len(distances) > 1:
            assert distances[-1] < distances[0] - 0.02, (seed, distances)
    assert perturbed or task == "pouring"
