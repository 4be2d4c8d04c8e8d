"""Index tables of one attached Panda arm, resolved once per compiled model."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from dmg_envs.sim import scene


@dataclass(frozen=True)
class ArmHandles:
    """Addresses and ids of an arm inside a compiled scene.

    Attributes:
        name: the arm's name in the task interface ("robot0").
        qpos_slice: qpos addresses of the arm joints (7 contiguous).
        dof_slice: dof addresses of the arm joints (7 contiguous).
        finger_qpos_slice: qpos addresses of the finger joints (2 contiguous).
        actuator_slice: ids of the arm joints' reference actuators (7 contiguous; control = joint velocity
            [rad/s] integrated into the position reference).
        reference_slice: activation addresses of those actuators: the joint position reference [rad].
        damping_slice: ids of the arm joints' damping actuators (7 contiguous; control = reference
            joint velocity [rad/s]).
        gripper_actuator: id of the gripper actuator (target opening per finger [m]).
        tcp_site: id of the tool-centre-point site.
        pad_geoms: ids of the left and right finger pad geoms.
        geom_ids: ids of every geom of the arm, hand and fingers.
        joint_range: (7, 2) joint limits [rad].
        velocity_limit: (7,) joint velocity limits [rad/s] (Franka's datasheet).
        home_qpos: (9,) arm and finger joints of the home keyframe.
    """

    name: str
    qpos_slice: slice
    dof_slice: slice
    finger_qpos_slice: slice
    actuator_slice: slice
    reference_slice: slice
    damping_slice: slice
    gripper_actuator: int
    tcp_site: int
    pad_geoms: tuple[int, int]
    geom_ids: np.ndarray
    joint_range: np.ndarray
    velocity_limit: np.ndarray
    home_qpos: np.ndarray

    @classmethod
    def from_model(cls, model: mujoco.MjModel, index: int) -> ArmHandles:
        prefix = scene.arm_prefix(index)
        joints = [model.joint(prefix + name) for name in scene.ARM_JOINTS]
        fingers = [model.joint(prefix + name) for name in scene.FINGER_JOINTS]
        root = model.body(prefix + scene.ROOT_BODY).id
        actuators = [model.actuator(prefix + name).id for name in scene.ARM_ACTUATORS]
        in_arm = [b for b in range(model.nbody) if _has_ancestor(model, b, root)]
        return cls(
            name=prefix.rstrip("_"),
            qpos_slice=_contiguous([j.qposadr[0] for j in joints]),
            dof_slice=_contiguous([j.dofadr[0] for j in joints]),
            finger_qpos_slice=_contiguous([j.qposadr[0] for j in fingers]),
            actuator_slice=_contiguous(actuators),
            reference_slice=_contiguous([model.actuator_actadr[i] for i in actuators]),
            damping_slice=_contiguous([model.actuator(prefix + name).id for name in scene.ARM_DAMPERS]),
            gripper_actuator=model.actuator(prefix + scene.GRIPPER_ACTUATOR).id,
            tcp_site=model.site(prefix + scene.TCP_SITE).id,
            pad_geoms=(model.geom(prefix + scene.LEFT_PAD).id, model.geom(prefix + scene.RIGHT_PAD).id),
            geom_ids=np.flatnonzero(np.isin(model.geom_bodyid, in_arm)),
            joint_range=np.array([j.range for j in joints]),
            velocity_limit=np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61]),
            home_qpos=scene.arm_home_qpos(),
        )


def _contiguous(addresses: list[int]) -> slice:
    # Slices are views and several times cheaper than index arrays on the per-step path.
    if list(addresses) != list(range(addresses[0], addresses[0] + len(addresses))):
        raise ValueError(f"arm addresses are not contiguous: {addresses}")
    return slice(int(addresses[0]), int(addresses[0]) + len(addresses))


def _has_ancestor(model: mujoco.MjModel, body: int, ancestor: int) -> bool:
    while body > 0:
        if body == ancestor:
            return True
        body = model.body_parentid[body]
    return False
