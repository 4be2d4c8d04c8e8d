"""Two arms: the bimanual DMP expert and MimicGen baseline on TwoArmTrayLift (coordination, waiting,
frames per arm), TwoArmPouring (waiting for the pour), and the shipped two-arm source demos."""

import gymnasium as gym
import minari
import numpy as np
import pytest
from typer.testing import CliRunner

import dmg_envs
from dmg_envs.cli import app
from dmg_envs.datagen import DMPExpert, MimicGenPolicy, load_source_demos
from dmg_envs.datagen.attempts import policy_rng
from dmg_envs.datagen.config import DEMOS_DIR
from dmg_envs.datagen.segmentation import segment_demo
from dmg_envs.datagen.sources import make_source_demos, source_file
from dmg_envs.sim.transforms import rotvec_to_mat, upright_frame


@pytest.fixture(scope="module")
def demo():
    return load_source_demos(DEMOS_DIR / "tray_lift_1.hdf5")[0]


def test_the_coordination_halves_of_a_demo_span_the_same_steps(demo):
    segments = segment_demo(demo, gym.make("dmg/TwoArmTrayLift-v0").unwrapped.subtask_spec)
    lifts = [segments[arm][-1] for arm in ("robot0", "robot1")]
    assert lifts[0].name == "lift_tray0" and lifts[1].name == "lift_tray1"
    assert (lifts[0].start, lifts[0].end) == (lifts[1].start, lifts[1].end) == (lifts[0].start, demo.num_steps)
    for arm in ("robot0", "robot1"):  # still contiguous per arm
        assert [s.end for s in segments[arm][:-1]] == [s.start for s in segments[arm][1:]]


def run(expert, seed, on_step=None, max_steps=400):
    obs, info = expert.reset(seed=seed)
    history = [info["expert"]]
    for step in range(max_steps):
        action, _ = expert.predict(obs)
        obs, _, _, truncated, info = expert.step(action)
        history.append({**info["expert"], "action": action})
        if on_step is not None:
            on_step(step, expert, info)
        if (info["is_success"] and history[-1]["robot0"]["phase"] < 0.05) or truncated:
            break
    return bool(info["is_success"]), history


@pytest.mark.parametrize("dynamics", ["static", "slow"])
def test_the_expert_lifts_the_tray_from_one_demo_starting_the_lift_on_one_step(demo, dynamics):
    expert = DMPExpert(dmg_envs.make("dmg/TwoArmTrayLift-v0", dynamics=dynamics), demo)
    place_ends = set()
    for seed in range(4):
        success, history = run(expert, 300 + seed)
        assert success, seed
        lift_starts = {arm: next(i for i, h in enumerate(history) if h[arm]["subtask"] == 2 and h[arm]["running"])
                       for arm in ("robot0", "robot1")}
        assert lift_starts["robot0"] == lift_starts["robot1"]
        ends = {arm: next(i for i, h in enumerate(history) if h[arm]["subtask"] == 2) for arm in ("robot0", "robot1")}
        place_ends.add(ends["robot0"] - ends["robot1"])
        # an arm that waits for its partner holds still (each action follows the report before it)
        for report, taken in zip(history, history[1:]):
            for index, arm in enumerate(("robot0", "robot1")):
                if not report[arm]["running"]:
                    assert not taken["action"][7 * index:7 * index + 6].any()
    assert place_ends != {0}  # the parallel place subtasks ended on their own steps


@pytest.mark.parametrize("times", [1, 2])
def test_the_tray_goals_follow_the_tray_when_it_is_moved_during_the_lift(demo, times):
    """The tray is moved 3 cm and turned 10 degrees during the coordination subtask, first while no arm
    holds it, then (times=2) while one arm holds its handle and the other does not yet. At the next step
    the goal of every arm that does not hold the tray stands where the moved tray puts it; the holding arm's
    stays (it moves the tray itself). After the first move alone the lift succeeds (the second pulls a
    handle out of a closed hand)."""
    expert = DMPExpert(gym.make("dmg/TwoArmTrayLift-v0"), demo)
    task = expert.unwrapped
    arms = ("robot0", "robot1")
    moves, checks = [], []

    def expected_goal(arm: str, tray_pose: np.ndarray) -> np.ndarray:
        part = expert.arm_expert(arm)  # the goal in the tray's frame, turned as the expert chose
        return upright_frame(tray_pose) @ part.turn @ part.plans[part.index].goal @ part.tool_turn

    def move_tray(step, expert, info):
        for arm, expected in moves.pop() if moves else ():  # the step after a move: the expert has acted
            checks.append((arm, expert.goal_pose(arm), expected))
        lifting = all(info["expert"][arm]["subtask"] == 2 and info["expert"][arm]["running"] for arm in arms)
        held = {arm: task.in_contact("tray", arm) for arm in arms}
        done = len(checks) // len(arms)
        if not lifting or done == times or sum(held.values()) != done:
            return  # first move: no arm holds the tray; second: exactly one does
        moved = task.reference_pose("tray")
        moved[:3, 3] += (0.03, -0.01, 0.0)
        moved[:3, :3] = rotvec_to_mat((0.0, 0.0, np.radians(10))) @ moved[:3, :3]
        goals_now = {arm: expert.goal_pose(arm) for arm in arms}
        task.set_object_pose("tray", moved)
        moves.append([(arm, goals_now[arm] if held[arm] else expected_goal(arm, moved)) for arm in arms])

    success, _ = run(expert, 11, on_step=move_tray)
    assert len(checks) == 2 * times
    for _, goal, expected in checks:
        np.testing.assert_allclose(goal, expected, atol=1e-9)
    assert success or times == 2


def test_the_baseline_replays_both_arms_with_one_schedule(demo):
    env = gym.make("dmg/TwoArmTrayLift-v0")
    successes = 0
    for seed in range(3):
        obs, _ = env.reset(seed=400 + seed)
        policy = MimicGenPolicy(env, demo, policy_rng(seed))
        for _ in range(400):
            obs, _, _, truncated, info = env.step(policy(obs))
            if info["is_success"] or truncated:
                break
        successes += info["is_success"]
    assert successes == 3


@pytest.mark.parametrize("task, env_id", [("tray_lift", "dmg/TwoArmTrayLift-v0"),
                                           ("pouring", "dmg/TwoArmPouring-v0")])
def test_generate_replay_and_view_a_two_arm_dataset(isolated_datasets, task, env_id):
    from PIL import Image

    runner = CliRunner()
    result = runner.invoke(app, ["generate", task, "--num-demos", "2", "--dynamics", "slow", "--workers", "1"])
    assert result.exit_code == 0, result.output
    dataset = minari.load_dataset(f"dmg/{task}/dmp-slow-v0")
    assert dataset.total_episodes == 2 and dataset[0].actions.shape[1] == 14
    assert dataset.storage.metadata["dmg_generation"]["env_id"] == env_id
    recovered = dataset.recover_environment(eval_env=True)
    assert recovered.spec.id == env_id and recovered.action_space.shape == (14,)
    recovered.close()
    replayed = runner.invoke(app, ["replay", f"dmg/{task}/dmp-slow-v0"])
    assert replayed.exit_code == 0 and "2/2 episodes end in success" in replayed.output, replayed.output
    out = isolated_datasets / "episode.gif"
    viewed = runner.invoke(app, ["view", f"dmg/{task}/dmp-slow-v0", "--out", str(out), "--width", "80",
                                 "--height", "60", "--every", "10"])
    assert viewed.exit_code == 0 and "success True" in viewed.output, viewed.output
    with Image.open(out) as gif:
        assert gif.size == (80, 60) and gif.n_frames > 10


@pytest.mark.parametrize("name, env_id, demonstrator", [
    ("tray_lift_1", "dmg/TwoArmTrayLift-v0", "TrayLiftDemonstrator"),
    ("tray_lift_10", "dmg/TwoArmTrayLift-v0", "TrayLiftDemonstrator"),
    ("pouring_1", "dmg/TwoArmPouring-v0", "PouringDemonstrator"),
    ("pouring_10", "dmg/TwoArmPouring-v0", "PouringDemonstrator")])  # not shipped: recorded on first use
def test_two_arm_source_demos_are_successful_and_hold_both_arms(name, env_id, demonstrator, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    demos = load_source_demos(source_file(name))
    assert len(demos) == int(name.rsplit("_", 1)[1])
    for demo in demos:
        assert demo.success and demo.env_id == env_id
        assert demo.actions.shape == (demo.num_steps, 14)
        assert set(demo.eef_poses) == set(demo.gripper_actions) == set(demo.touches) == {"robot0", "robot1"}
        assert demo.attrs["demonstrator"] == demonstrator


def test_the_expert_pours_from_one_demo_and_the_bowl_arm_starts_only_after_the_pour_has_ended():
    """The sequential constraint in the expert: robot0's `pick_bowl` never runs before robot1's `pour` has
    ended, in every episode; and robot1's side grasp of the cup keeps the demo's roll (the half-turned hand
    ran the wrist into its limit), so every seed is solved."""
    demo = load_source_demos(DEMOS_DIR / "pouring_1.hdf5")[0]
    expert = DMPExpert(gym.make("dmg/TwoArmPouring-v0"), demo)
    for seed in range(6):
        obs, info = expert.reset(seed=seed)
        solved_for, waited = 0, False
        for _ in range(500):
            obs, _, _, truncated, info = expert.step(expert.predict(obs)[0])
            report = info["expert"]
            assert not (report["robot0"]["running"] and report["robot1"]["subtask"] < 2)  # pour not ended yet
            waited |= not report["robot0"]["running"]
            solved_for = solved_for + 1 if info["is_success"] else 0
            if solved_for > 10 or truncated:
                break
        assert waited
        assert solved_for > 10, f"seed {seed} not solved"


def test_pouring_source_demos_go_on_until_the_bowl_is_let_go_on_its_pad():
    """Pouring's demos do not stop at the first success: a bowl held on its pad only rests there once let
    go, so the demo (and the expert's last subtask, learnt from it) ends with the fingers open; `dmg
    source pouring` makes the shipped demo again, bit for bit, on the MuJoCo version that made it."""
    import mujoco

    shipped = load_source_demos(DEMOS_DIR / "pouring_1.hdf5")[0]
    assert shipped.success and shipped.signals["bowl_on_pad"][-1] and shipped.signals["ball_in_bowl"][-1]
    assert not shipped.signals["bowl_grasped"][-1]
    regenerated = make_source_demos("pouring", 1)[0]
    assert regenerated.success and not regenerated.signals["bowl_grasped"][-1]
    if shipped.attrs["mujoco"] != mujoco.__version__:
        pytest.skip(f"pouring_1 was made with MuJoCo {shipped.attrs['mujoco']}; this is {mujoco.__version__}")
    np.testing.assert_array_equal(regenerated.actions, shipped.actions)
    np.testing.assert_array_equal(regenerated.states, shipped.states)


STILL_STEP = 0.001  # [m] a TCP that moves less than this in a control step stands still
WAIT_STEPS = 15  # control steps of standing still that make a wait


def still_periods(positions: np.ndarray, min_steps: int = WAIT_STEPS) -> list[tuple[int, int]]:
    """The runs [first, end) of at least `min_steps` actions during which a TCP (positions: (T + 1, 3))
    moves less than `STILL_STEP` a step."""
    still = np.linalg.norm(np.diff(positions, axis=0), axis=1) < STILL_STEP
    edges = np.flatnonzero(np.diff(np.concatenate([[0], still.astype(int), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_steps]


def test_a_sequential_subtasks_segment_starts_where_its_arm_set_off_after_its_wait():
    """In the shipped Pouring demo robot0 moves aside, waits there for the pour and the cup's return, then
    goes for the bowl: `pick_bowl` is what follows the wait; `place_bowl` and robot1's subtasks keep their
    bounds."""
    demo = load_source_demos(DEMOS_DIR / "pouring_1.hdf5")[0]
    segments = segment_demo(demo, gym.make("dmg/TwoArmPouring-v0").unwrapped.subtask_spec)
    pick, place = segments["robot0"]
    (wait_start, wait_end), = still_periods(demo.eef_poses["robot0"][:pick.end + 1, :3, 3])
    assert wait_start > 0 and pick.start == wait_end and place.start == pick.end
    assert segments["robot1"][0].start == 0
    assert [s.end for s in segments["robot1"][:-1]] == [s.start for s in segments["robot1"][1:]]


@pytest.mark.parametrize("generator", ["dmp", "mimicgen"])
def test_generated_pouring_demos_wait_for_the_pour_once_then_go_to_the_bowl(generator):
    """robot0's `pick_bowl` waits for the pour (a sequential subtask): the generator holds it still until
    the pour has ended, and the segment it then replays must not hold the source demo's own wait, or robot0
    waits twice, and nothing observable tells a policy when the second wait ends. Measured on robot0's TCP
    in generated static demos (MimicGen without its action noise, which would hide stillness): one still
    period, from the start, then the move to the bowl; it ends as robot1 puts the cup back down (as in the
    source demo), so what ends it is observable."""
    from dmg_envs.datagen import GenerationConfig, generate

    config = GenerationConfig(task="pouring", generator=generator, num_demos=2, action_noise=0.0)
    summary = generate(config, workers=1)
    assert summary["successes"] == 2
    for episode in minari.load_dataset(config.dataset_id):
        hand, bowl = episode.observations["robot0_eef_pos"], episode.observations["bowl_pos"]
        at_bowl = int(np.argmax(np.linalg.norm(hand - bowl, axis=1) < 0.12))  # over the bowl's wall
        assert at_bowl > 0
        waits = still_periods(hand[:at_bowl + 1])
        assert len(waits) == 1 and waits[0][0] == 0, waits
        set_off = waits[0][1]
        other = np.linalg.norm(np.diff(episode.observations["robot1_eef_pos"][set_off - 5:set_off + 1], axis=0), axis=1)
        assert other.max() >= STILL_STEP  # robot1 still moved just before robot0 set off
