"""Names to addresses in a compiled scene: objects, fixtures, articulated parts and named frames.

Resolved once per model, so that the env's task interface (`reference_pose`, `set_object_pose`, ...) and
its contact groups work by name without searching MuJoCo's arrays at every call.
"""

from __future__ import annotations

from typing import NamedTuple

import mujoco
import numpy as np

from dmg_envs.errors import InvalidConfigError, UnknownNameError
from dmg_envs.sim import scene
from dmg_envs.sim.arm import ArmHandles
from dmg_envs.sim.contacts import ContactNode
from dmg_envs.sim.objects import Fixture, Part, SceneObject, all_parts
from dmg_envs.sim.transforms import make_pose, pose_from_pos_quat


class ObjectHandle(NamedTuple):
    spec: SceneObject
    body: int
    qpos: int  # address of the free joint's position, then its quaternion
    dof: int


class FixtureHandle(NamedTuple):
    spec: Fixture
    body: int
    mocap: int


class PartHandle(NamedTuple):
    spec: Part
    body: int
    qpos: int  # address of its joint's position
    dof: int
    fixture: str  # the fixture that carries it


class SceneIndex:
    """Handles of everything a task names in its scene.

    Reference names (objects, fixtures, parts, frames) share one namespace: `reference_pose(name)` takes
    any of them. Every frame belongs to the contact group of the body that carries it (`owner`).
    """

    def __init__(self, model: mujoco.MjModel, objects: tuple[SceneObject, ...], fixtures: tuple[Fixture, ...]):
        self.objects = {}
        for obj in objects:
            joint = model.joint(f"{obj.name}_joint")
            self.objects[obj.name] = ObjectHandle(obj, model.body(obj.name).id, int(joint.qposadr[0]),
                                                  int(joint.dofadr[0]))
        self.fixtures = {f.name: FixtureHandle(f, model.body(f.name).id, int(model.body(f.name).mocapid[0]))
                         for f in fixtures}
        self.parts: dict[str, PartHandle] = {}
        self.frames: dict[str, tuple[int, str]] = {}  # name: (site id, owner body name)
        for fixture in fixtures:
            for part in all_parts(fixture.parts):
                joint = model.joint(f"{part.name}_joint")
                self.parts[part.name] = PartHandle(part, model.body(part.name).id, int(joint.qposadr[0]),
                                                   int(joint.dofadr[0]), fixture.name)
        owners = [*objects, *fixtures, *(handle.spec for handle in self.parts.values())]
        for owner in owners:
            for frame in owner.frames:
                self.frames[frame.name] = (model.site(frame.name).id, owner.name)
        names = [*self.objects, *self.fixtures, *self.parts, *self.frames]
        if len(names) != len(set(names)):
            raise InvalidConfigError(f"object, fixture, part and frame names must be unique in a scene: {names}")
        self.references = tuple(names)

    def contact_nodes(self, model: mujoco.MjModel, arms: tuple[ArmHandles, ...]) -> list[ContactNode]:
        """The scene's contact tree: table, arms with their pads, objects, fixtures with their parts, and
        the task's geom groups under the body that carries them."""
        nodes = [ContactNode("table", None, (model.geom("table_top").id, model.geom("floor").id))]
        for arm in arms:
            pads = set(arm.pad_geoms)
            nodes += [ContactNode(arm.name, None, tuple(int(g) for g in arm.geom_ids if g not in pads)),
                      ContactNode(f"{arm.name}_left_pad", arm.name, (arm.pad_geoms[0],)),
                      ContactNode(f"{arm.name}_right_pad", arm.name, (arm.pad_geoms[1],))]
        parent_of = {name: handle.fixture for name, handle in self.parts.items()}
        for fixture in self.fixtures.values():
            for part in all_parts(fixture.spec.parts):
                for child in part.parts:
                    parent_of[child.name] = part.name
        bodies = [(name, None, handle.body, handle.spec) for name, handle in self.objects.items()]
        bodies += [(name, None, handle.body, handle.spec) for name, handle in self.fixtures.items()]
        bodies += [(name, parent_of[name], handle.body, handle.spec) for name, handle in self.parts.items()]
        groups: dict[str, tuple[str, list[int]]] = {}  # group: (carrying body, geoms)
        for name, parent, body, spec in bodies:
            grouped = {}
            for geom, geom_name in zip(spec.geoms, scene.geom_names(name, spec.geoms)):
                if geom.group:
                    grouped[model.geom(geom_name).id] = geom.group
            own = [int(g) for g in np.flatnonzero(model.geom_bodyid == body) if int(g) not in grouped]
            nodes.append(ContactNode(name, parent, tuple(own)))
            for geom_id, group in grouped.items():
                if groups.setdefault(group, (name, []))[0] != name:
                    raise InvalidConfigError(f"contact group {group!r} is declared on {groups[group][0]!r} and on "
                                             f"{name!r}; a group belongs to one body")
                groups[group][1].append(geom_id)
        nodes += [ContactNode(group, body, tuple(geoms)) for group, (body, geoms) in groups.items()]
        return nodes

    def owner(self, reference: str) -> str:
        """The contact group that touching `reference` means: a frame's carrier, else the reference itself."""
        self.kind(reference)
        return self.frames[reference][1] if reference in self.frames else reference

    def kind(self, reference: str) -> str:
        for kind, table in (("object", self.objects), ("fixture", self.fixtures), ("part", self.parts),
                            ("frame", self.frames)):
            if reference in table:
                return kind
        raise UnknownNameError("reference", reference, self.references)

    def reference_pose(self, data: mujoco.MjData, name: str) -> np.ndarray:
        """4x4 world pose of an object, fixture, part or frame (from the current kinematics)."""
        if name in self.objects:
            adr = self.objects[name].qpos
            return pose_from_pos_quat(data.qpos[adr:adr + 3], data.qpos[adr + 3:adr + 7])
        if name in self.fixtures:
            mocap = self.fixtures[name].mocap
            return pose_from_pos_quat(data.mocap_pos[mocap], data.mocap_quat[mocap])
        if name in self.parts:
            body = self.parts[name].body
            return make_pose(data.xpos[body], data.xmat[body])
        if name in self.frames:
            site = self.frames[name][0]
            return make_pose(data.site_xpos[site], data.site_xmat[site])
        raise UnknownNameError("reference", name, self.references)

