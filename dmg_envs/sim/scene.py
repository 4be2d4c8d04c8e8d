"""Scene assembly with `mujoco.MjSpec`: a table, one or more Panda arms and the task's objects.

Builders are pure functions that return a fresh spec; every name Python refers to is a constant here.
Collision bits: the world and objects use contype 1 / conaffinity 7; arm k uses contype 2 << k and the
other arm's bit as conaffinity, so an arm touches the table, the objects and the other arm but never
itself (the real robot's controller prevents self-collision; filtering it keeps physics fast).
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

from dmg_envs.errors import InvalidConfigError
from dmg_envs.sim.objects import Fixture, Frame, Geom, Part, SceneObject, yaw_quat

_HERE = Path(__file__).resolve().parent
PANDA_XML = _HERE.parent / "assets" / "panda" / "panda.xml"

TABLE_TOP_Z = 0.8  # [m], as robosuite's table arena
TABLE_HALF_SIZE = (0.4, 0.4, 0.025)  # [m]
ARM_BASE_POS = (-0.56, 0.0, TABLE_TOP_Z)  # [m], a pedestal behind the table edge
# Where the arms stand: per layout, one (x, y, yaw) [m, m, rad] per arm on the table-top plane.
# "opposed": across the table from each other (robot1 faces robot0); "parallel": side by side behind the
# table, facing +x, robot0 on the right (-y), as a two-armed torso (DexMimicGen's Tray Lift and Pouring).
ARM_LAYOUTS = {
    "single": ((ARM_BASE_POS[0], 0.0, 0.0),),
    "opposed": ((ARM_BASE_POS[0], 0.0, 0.0), (-ARM_BASE_POS[0], 0.0, np.pi)),
    "parallel": ((ARM_BASE_POS[0], -0.25, 0.0), (ARM_BASE_POS[0], 0.25, 0.0)),
}
PHYSICS_TIMESTEP = 0.002  # [s]; 25 substeps per 20 Hz control step, as robosuite

# Names inside the arm MJCF; attached arms carry a prefix such as "robot0_".
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
ARM_ACTUATORS = tuple(f"actuator{i}" for i in range(1, 8))
ARM_DAMPERS = tuple(f"damping{i}" for i in range(1, 8))
GRIPPER_ACTUATOR = "actuator8"
FINGER_JOINTS = ("finger_joint1", "finger_joint2")
LEFT_PAD, RIGHT_PAD = "left_pad", "right_pad"
TCP_SITE = "tcp"
HAND_BODY = "hand"
EYE_IN_HAND_CAMERA = "eye_in_hand"
HOME_KEY = "home"
ROOT_BODY = "link0"

MAX_ARMS = max(len(places) for places in ARM_LAYOUTS.values())
ARM_CONTYPE = 2  # of arm 0; arm k uses ARM_CONTYPE << k
WORLD_CONTYPE = 1
WORLD_CONAFFINITY = WORLD_CONTYPE | sum(ARM_CONTYPE << k for k in range(MAX_ARMS))  # the world and every arm


def arm_collision_bits(index: int, num_arms: int) -> tuple[int, int]:
    """(contype, conaffinity) of arm `index`'s geoms: its own bit, and every other arm's."""
    others = sum(ARM_CONTYPE << k for k in range(num_arms) if k != index)
    return ARM_CONTYPE << index, others


def arm_prefix(index: int) -> str:
    """Name prefix of the `index`-th arm in a scene."""
    return f"robot{index}_"


def look_at_quat(pos: np.ndarray, target: np.ndarray, up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Quaternion (w, x, y, z) of a MuJoCo camera at `pos` looking at `target` (cameras look along -z)."""
    z_axis = np.asarray(pos, float) - np.asarray(target, float)
    z_axis /= np.linalg.norm(z_axis)
    x_axis = np.cross(up, z_axis)
    if np.linalg.norm(x_axis) < 1e-9:  # looking straight down: pick the world x axis as "up" on screen
        x_axis = np.cross(np.array([1.0, 0.0, 0.0]), z_axis)
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(z_axis, x_axis)
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.column_stack([x_axis, y_axis, z_axis]).reshape(9))
    return quat


# name: (position, look-at target) in the world frame [m]
CAMERAS = {
    "agentview": ((0.75, 0.0, 1.45), (-0.1, 0.0, 0.88)),  # in front, facing the arm(s)
    "frontview": ((1.3, 0.0, 1.4), (0.0, 0.0, 0.9)),
    "sideview": ((0.0, 1.2, 1.3), (0.0, 0.0, 0.85)),
    "birdview": ((0.0, 0.0, 2.2), (0.0, 0.0, 0.8)),
}


def load_arm_spec() -> mujoco.MjSpec:
    """A fresh spec of the Panda arm with its hand."""
    return mujoco.MjSpec.from_file(str(PANDA_XML))


def arm_home_qpos() -> np.ndarray:
    """The arm's `home` keyframe: 7 arm joints then 2 finger joints."""
    spec = load_arm_spec()
    return np.array(spec.key(HOME_KEY).qpos, dtype=np.float64)


def build_table_scene(objects: tuple[SceneObject, ...] = (), num_arms: int = 1,
                      fixtures: tuple[Fixture, ...] = (), layout: str | None = None) -> mujoco.MjSpec:
    """Table, arm(s) on pedestals, free `objects` and kinematic `fixtures`, ready to compile.

    Arms are attached with prefixes robot0_, robot1_, where `layout` (a key of `ARM_LAYOUTS`; default
    "single" for one arm, "opposed" for two) puts them. An object is a body with a free joint
    `<name>_joint`, its geoms (see `Geom.name`) and a site `<name>_site` at its origin. A fixture is a
    mocap body standing on the table (x, y and yaw from `pos_xy_yaw`), moved by setting its mocap pose;
    its parts are child bodies with a joint `<part>_joint`. Every `Frame` becomes a site of its own name.
    """
    spec = mujoco.MjSpec()
    spec.modelname = "dmg_table_scene"
    spec.option.timestep = PHYSICS_TIMESTEP
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.visual.global_.offwidth = 1280
    spec.visual.global_.offheight = 960
    spec.stat.center = (0.0, 0.0, TABLE_TOP_Z)
    spec.stat.extent = 1.2

    world = spec.worldbody
    spec.visual.headlight.diffuse = (0.3, 0.3, 0.3)
    spec.visual.headlight.ambient = (0.2, 0.2, 0.2)
    spec.visual.headlight.specular = (0.0, 0.0, 0.0)
    world.add_light(pos=(0, 0, 3.0), dir=(0, 0, -1), diffuse=(0.45, 0.45, 0.45), specular=(0.1, 0.1, 0.1),
                    castshadow=False)
    world.add_light(pos=(1.0, -1.0, 2.5), dir=(-0.4, 0.4, -1), diffuse=(0.2, 0.2, 0.2), specular=(0, 0, 0),
                    castshadow=False)
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=(3, 3, 0.05),
                   rgba=(0.55, 0.55, 0.6, 1), contype=WORLD_CONTYPE, conaffinity=WORLD_CONAFFINITY)

    table = world.add_body(name="table", pos=(0, 0, TABLE_TOP_Z - TABLE_HALF_SIZE[2]))
    table.add_geom(name="table_top", type=mujoco.mjtGeom.mjGEOM_BOX, size=TABLE_HALF_SIZE,
                   rgba=(0.72, 0.62, 0.5, 1), friction=(1.0, 0.005, 0.0001),
                   contype=WORLD_CONTYPE, conaffinity=WORLD_CONAFFINITY)
    leg_height = (TABLE_TOP_Z - 2 * TABLE_HALF_SIZE[2]) / 2
    for i, (sx, sy) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
        table.add_geom(name=f"table_leg{i}", type=mujoco.mjtGeom.mjGEOM_BOX, size=(0.025, 0.025, leg_height),
                       pos=(sx * 0.35, sy * 0.35, -TABLE_HALF_SIZE[2] - leg_height),
                       rgba=(0.4, 0.33, 0.25, 1), contype=0, conaffinity=0)

    for name, (pos, target) in CAMERAS.items():
        world.add_camera(name=name, pos=pos, quat=look_at_quat(np.array(pos), np.array(target)), fovy=45)

    layout = layout or ("single" if num_arms == 1 else "opposed")
    if layout not in ARM_LAYOUTS or len(ARM_LAYOUTS[layout]) != num_arms:
        valid = [name for name, places in ARM_LAYOUTS.items() if len(places) == num_arms]
        raise InvalidConfigError(f"arm layout {layout!r} is not valid for {num_arms} arm(s); choose one of {valid}")
    for index, (x, y, yaw) in enumerate(ARM_LAYOUTS[layout]):
        base = np.array([x, y, TABLE_TOP_Z])
        pedestal = world.add_body(name=f"{arm_prefix(index)}pedestal", pos=base - np.array([0, 0, 0.4]))
        # The pedestal touches objects only (conaffinity 1 matches no arm's contype bit).
        pedestal.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=(0.12, 0.12, 0.4), rgba=(0.25, 0.25, 0.28, 1),
                          contype=1, conaffinity=1)
        frame = world.add_frame(pos=base, quat=(np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)))
        arm = load_arm_spec()
        arm.delete(arm.key(HOME_KEY))  # the scene's qpos is written at reset; a keyframe would mismatch sizes
        contype, conaffinity = arm_collision_bits(index, num_arms)
        for geom in arm.geoms:
            if geom.contype:  # visual geoms stay out of collisions
                geom.contype, geom.conaffinity = contype, conaffinity
        spec.attach(arm, prefix=arm_prefix(index), frame=frame)

    for obj in objects:
        body = world.add_body(name=obj.name, pos=(0, 0, TABLE_TOP_Z + obj.extent.bottom))
        body.add_freejoint(name=f"{obj.name}_joint")
        _add_geoms(body, obj.name, obj.geoms, obj.rgba, friction=obj.friction, density=obj.density,
                   condim=obj.condim)
        body.add_site(name=f"{obj.name}_site", size=(0.002, 0.002, 0.002), group=4)
        _add_frames(body, obj.frames)
    for fixture in fixtures:
        x, y, yaw = fixture.pos_xy_yaw
        body = world.add_body(name=fixture.name, mocap=True, pos=(x, y, TABLE_TOP_Z), quat=yaw_quat(yaw))
        _add_geoms(body, fixture.name, fixture.geoms, fixture.rgba, friction=fixture.friction)
        _add_frames(body, fixture.frames)
        _add_parts(body, fixture.parts, fixture.rgba, fixture.friction)
    return spec


def geom_names(owner: str, geoms: tuple[Geom, ...]) -> list[str]:
    """Scene names of a body's geoms: `<owner>_<name>`, or numbered when unnamed (`<owner>_geom` alone)."""
    return [f"{owner}_{geom.name or ('geom' if len(geoms) == 1 else f'geom{index}')}"
            for index, geom in enumerate(geoms)]


def _add_geoms(body: mujoco.MjsBody, owner: str, geoms: tuple[Geom, ...], rgba: tuple[float, ...],
               friction: tuple[float, float, float], density: float | None = None, condim: int = 3) -> None:
    types = {"box": mujoco.mjtGeom.mjGEOM_BOX, "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
             "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE, "sphere": mujoco.mjtGeom.mjGEOM_SPHERE}
    for geom, name in zip(geoms, geom_names(owner, geoms)):
        size = tuple(geom.size) + (0.0,) * (3 - len(geom.size))
        added = body.add_geom(name=name, type=types[geom.type], size=size, pos=geom.pos,
                              quat=geom.quat, rgba=geom.rgba or rgba, friction=friction,
                              contype=WORLD_CONTYPE if geom.collides else 0,
                              conaffinity=WORLD_CONAFFINITY if geom.collides else 0, condim=condim)
        if density is not None:
            added.density = density
        if not geom.collides:  # decoration carries no mass either
            added.mass = 0.0


def _add_frames(body: mujoco.MjsBody, frames: tuple[Frame, ...]) -> None:
    for frame in frames:
        body.add_site(name=frame.name, pos=frame.pos, quat=frame.quat, size=(0.004, 0.004, 0.004), group=4)


def _add_parts(parent: mujoco.MjsBody, parts: tuple[Part, ...], rgba: tuple[float, ...],
               friction: tuple[float, float, float]) -> None:
    joint_types = {"slide": mujoco.mjtJoint.mjJNT_SLIDE, "hinge": mujoco.mjtJoint.mjJNT_HINGE}
    for part in parts:
        body = parent.add_body(name=part.name, pos=part.pos, quat=part.quat)
        joint = part.joint
        body.add_joint(name=f"{part.name}_joint", type=joint_types[joint.type], axis=joint.axis, range=joint.range,
                       damping=joint.damping, frictionloss=joint.frictionloss, limited=mujoco.mjtLimited.mjLIMITED_TRUE)
        _add_geoms(body, part.name, part.geoms, rgba, friction=friction, density=part.density)
        _add_frames(body, part.frames)
        _add_parts(body, part.parts, rgba, friction)
