"""The object model: what a scene is made of, as plain frozen dataclasses (no MuJoCo here).

- `Geom`: a primitive shape (box, cylinder, capsule, sphere) placed in its body's frame.
- `SceneObject`: a free body (a cube, a mug) built from geoms, with its yaw symmetry; its footprint and
  height follow from its geoms.
- `Fixture`: kinematic scene geometry (a cabinet, a pad) that wrappers may move as a whole, possibly
  carrying articulated `Part`s (a drawer on a slide joint, a door on a hinge) and named `Frame`s (sites
  such as `drawer_handle`) that subtasks use as references.

A geom may name a finer contact group (`Geom.group`, e.g. "drawer_bottom") besides the body it belongs
to; `sim.scene` turns all of this into MJCF and `sim.contacts` into contact queries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dmg_envs.errors import InvalidConfigError

GEOM_TYPES = ("box", "cylinder", "capsule", "sphere")
_SIZE_LENGTHS = {"box": 3, "cylinder": 2, "capsule": 2, "sphere": 1}
CONTINUOUS = 0  # yaw symmetry of an object that looks the same at every yaw (a cup, a bowl)
YAW_SYMMETRIES = (1, 2, 4, CONTINUOUS)
JOINT_TYPES = ("slide", "hinge")
DEFAULT_FRICTION = (1.0, 0.005, 0.0001)  # sliding, torsional, rolling
CONDIMS = (3, 4, 6)  # contact dimensionalities an object may ask for (MuJoCo's 1, no friction, is left out)


@dataclass(frozen=True)
class Geom:
    """A primitive shape in its body's frame.

    Args:
        type: "box", "cylinder", "capsule" or "sphere".
        size: MuJoCo's sizes [m]: box half extents (3); cylinder and capsule radius and half length (2),
            along the geom's z axis; sphere radius (1).
        pos: centre in the body frame [m].
        quat: orientation in the body frame (w, x, y, z).
        name: suffix of the geom's scene name, `<body>_<name>`; "" numbers it (`<body>_geom`, or
            `<body>_geom<i>` when the body has several).
        rgba: colour; None takes the owner's.
        group: a contact group of the task's that this geom also belongs to (e.g. "drawer_bottom").
        collides: False makes it decoration only (drawn, never touched).
    """

    type: str
    size: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    name: str = ""
    rgba: tuple[float, float, float, float] | None = None
    group: str = ""
    collides: bool = True

    def __post_init__(self):
        if self.type not in GEOM_TYPES:
            raise InvalidConfigError(f"geom type {self.type!r} is not valid; choose one of {GEOM_TYPES}")
        if len(self.size) != _SIZE_LENGTHS[self.type] or min(self.size) <= 0:
            raise InvalidConfigError(f"a {self.type} geom takes {_SIZE_LENGTHS[self.type]} positive sizes, "
                                     f"got {self.size}")

    def support_points(self) -> np.ndarray:
        """(k, 3) points in the body frame whose convex hull contains the geom (for extents)."""
        if self.type == "box":
            corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
            local = corners * self.size
        elif self.type == "sphere":
            local = np.array([[s * self.size[0] * (axis == k) for k in range(3)]
                              for axis in range(3) for s in (-1, 1)], dtype=float)
        else:  # cylinder or capsule along z: two rings, and the capsule's end caps
            radius, half = self.size
            angles = np.linspace(0.0, 2.0 * math.pi, 16, endpoint=False)
            ring = np.column_stack([radius * np.cos(angles) / math.cos(math.pi / 16),  # circumscribed
                                    radius * np.sin(angles) / math.cos(math.pi / 16), np.zeros(16)])
            local = np.concatenate([ring + [0, 0, -half], ring + [0, 0, half]])
            if self.type == "capsule":
                local = np.concatenate([local, [[0, 0, -half - radius], [0, 0, half + radius]]])
        return local @ _quat_to_matrix(self.quat).T + self.pos


def _quat_to_matrix(quat: tuple[float, float, float, float]) -> np.ndarray:
    w, x, y, z = np.asarray(quat, dtype=float) / np.linalg.norm(quat)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    """Quaternion (w, x, y, z) of a turn by `yaw` [rad] about z."""
    return (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))


@dataclass(frozen=True)
class Extent:
    """Where a body's geoms reach in its own frame [m]: the footprint rectangle, its circumscribed radius,
    and the heights below and above the origin."""

    low_xy: tuple[float, float]
    high_xy: tuple[float, float]
    radius: float
    bottom: float  # depth of the lowest point below the origin
    top: float  # height of the highest point above the origin


def vessel_geoms(radius: float, half_height: float, bottom_half_thickness: float, wall_thickness: float,
                 panels: int) -> tuple[Geom, ...]:
    """An open round vessel (a mug, a cup, a bowl) around its origin at mid height: a round bottom
    ("bottom", the only part that touches a flat surface) and a wall of `panels` upright boxes ("wall<i>")
    whose outside touches a circle of `radius` [m]; neighbouring panels just overlap at their seams, so
    nothing slips through."""
    bottom = Geom("cylinder", (radius, bottom_half_thickness), pos=(0.0, 0.0, -half_height + bottom_half_thickness),
                  name="bottom")
    panel_radius = radius - wall_thickness / 2
    half_width = 1.02 * panel_radius * math.tan(math.pi / panels)
    wall = [Geom("box", (wall_thickness / 2, half_width, half_height - bottom_half_thickness),
                 pos=(panel_radius * math.cos(angle), panel_radius * math.sin(angle), bottom_half_thickness),
                 quat=(math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)), name=f"wall{i}")
            for i, angle in enumerate(2.0 * math.pi * k / panels for k in range(panels))]
    return (bottom, *wall)


def extent_of(geoms: tuple[Geom, ...]) -> Extent:
    points = np.concatenate([geom.support_points() for geom in geoms if geom.collides])
    return Extent(low_xy=tuple(points[:, :2].min(axis=0).tolist()), high_xy=tuple(points[:, :2].max(axis=0).tolist()),
                  radius=float(np.hypot(points[:, 0], points[:, 1]).max()),
                  bottom=float(-points[:, 2].min()), top=float(points[:, 2].max()))


@dataclass(frozen=True)
class Frame:
    """A named frame (MuJoCo site) on an object, fixture or part; subtasks may use it as their reference.

    Args:
        name: unique in the scene (e.g. "drawer_handle").
        pos: origin in the owner's frame [m].
        quat: orientation in the owner's frame (w, x, y, z).
    """

    name: str
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)


def _check_name(kind: str, name: str) -> None:
    if not name or not name.replace("_", "").isalnum():
        raise InvalidConfigError(f"{kind} name {name!r} must be a non-empty identifier")


def _check_geoms(owner: str, geoms: tuple[Geom, ...]) -> None:
    names = [geom.name for geom in geoms if geom.name]
    if len(names) != len(set(names)):
        raise InvalidConfigError(f"{owner} has two geoms with the same name: {names}")
    if not any(geom.collides for geom in geoms):
        raise InvalidConfigError(f"{owner} needs at least one colliding geom")


@dataclass(frozen=True)
class SceneObject:
    """A free object on the table, built from primitive geoms around its origin (its reference frame).

    Args:
        name: body name; observation keys start with it (`<name>_pos`, `<name>_quat`).
        geoms: its shapes.
        rgba: colour of geoms that have none.
        yaw_symmetry: how many turns about its z axis map it onto itself: 1 (a mug, with its handle),
            2 or 4 (boxes) or `CONTINUOUS` (a cup).
        density: [kg/m^3].
        friction: sliding, torsional, rolling coefficients.
        frames: named frames on it.
        condim: MuJoCo's contact dimensionality of its geoms: 3 (sliding friction only, the default), 4
            (and torsional) or 6 (and rolling: a ball that comes to rest instead of rolling on for ever).
    """

    name: str
    geoms: tuple[Geom, ...]
    rgba: tuple[float, float, float, float]
    yaw_symmetry: int = 1
    density: float = 500.0
    friction: tuple[float, float, float] = DEFAULT_FRICTION
    frames: tuple[Frame, ...] = ()
    condim: int = 3

    def __post_init__(self):
        _check_name("object", self.name)
        _check_geoms(self.name, self.geoms)
        if self.yaw_symmetry not in YAW_SYMMETRIES:
            raise InvalidConfigError(f"{self.name}: yaw_symmetry must be one of 1, 2, 4 or CONTINUOUS (0), "
                                     f"got {self.yaw_symmetry!r}")
        if self.condim not in CONDIMS:
            raise InvalidConfigError(f"{self.name}: condim must be one of {CONDIMS}, got {self.condim!r}")

    @classmethod
    def box(cls, name: str, half_size: tuple[float, float, float], rgba: tuple[float, float, float, float],
            **kwargs) -> SceneObject:
        """A box centred on its origin; yaw symmetry 4 if its footprint is square, else 2."""
        square = abs(half_size[0] - half_size[1]) < 1e-9
        return cls(name, (Geom("box", tuple(half_size)),), rgba, yaw_symmetry=4 if square else 2, **kwargs)

    @property
    def extent(self) -> Extent:
        return extent_of(self.geoms)


@dataclass(frozen=True)
class Joint:
    """The joint that articulates a part.

    Args:
        type: "slide" (translation along `axis`) or "hinge" (rotation about `axis`).
        axis: in the part's frame.
        range: [low, high] joint position [m] or [rad]; 0 is where the part is built.
        damping: viscous damping [N s/m] or [N m s/rad].
        frictionloss: dry friction [N] or [N m]: what keeps a part where it was left.
    """

    type: str
    axis: tuple[float, float, float]
    range: tuple[float, float]
    damping: float = 0.0
    frictionloss: float = 0.0

    def __post_init__(self):
        if self.type not in JOINT_TYPES:
            raise InvalidConfigError(f"joint type {self.type!r} is not valid; choose one of {JOINT_TYPES}")
        if not self.range[0] < self.range[1]:
            raise InvalidConfigError(f"joint range must be [low, high] with low < high, got {self.range}")


@dataclass(frozen=True)
class Part:
    """An articulated child body of a fixture (a drawer, a door) or of another part.

    Its joint position is observed as `<name>_joint_pos`. Its geoms belong to its contact group (and to
    those of the bodies above it).

    Args:
        name: body name, unique in the scene.
        joint: how it moves relative to its parent.
        geoms, frames: its shapes and named frames, in its own frame.
        pos, quat: its frame in the parent's frame at joint position 0.
        parts: parts carried by this one.
        density: [kg/m^3].
    """

    name: str
    joint: Joint
    geoms: tuple[Geom, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    frames: tuple[Frame, ...] = ()
    parts: tuple[Part, ...] = ()
    density: float = 500.0

    def __post_init__(self):
        _check_name("part", self.name)
        _check_geoms(self.name, self.geoms)


@dataclass(frozen=True)
class Fixture:
    """Kinematic scene geometry (a mocap body) standing on the table; wrappers may move it as a whole.

    Args:
        name: body name; observation keys `<name>_pos`, `<name>_quat`.
        geoms: its shapes, in its frame, whose origin lies on the table top.
        rgba: colour of geoms that have none.
        pos_xy_yaw: where it stands unless the task places it [m, m, rad].
        parts: articulated parts it carries.
        frames: named frames on it.
        friction: of its geoms.
    """

    name: str
    geoms: tuple[Geom, ...]
    rgba: tuple[float, float, float, float]
    pos_xy_yaw: tuple[float, float, float] = (0.0, 0.0, 0.0)
    parts: tuple[Part, ...] = ()
    frames: tuple[Frame, ...] = ()
    friction: tuple[float, float, float] = DEFAULT_FRICTION

    def __post_init__(self):
        _check_name("fixture", self.name)
        _check_geoms(self.name, self.geoms)

    @classmethod
    def box(cls, name: str, half_size: tuple[float, float, float], rgba: tuple[float, float, float, float],
            pos_xy_yaw: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Fixture:
        """A box standing on the table."""
        return cls(name, (Geom("box", tuple(half_size), pos=(0.0, 0.0, half_size[2])),), rgba, pos_xy_yaw)


def all_parts(parts: tuple[Part, ...]) -> list[Part]:
    """Parts and the parts they carry, depth first."""
    found = []
    for part in parts:
        found += [part, *all_parts(part.parts)]
    return found
