"""Contact queries between named things (an arm, a finger pad, an object, a drawer, "drawer_bottom").

Every geom belongs to one leaf entity: the named node that owns it. Nodes form a tree (an arm owns its
finger pads, a cabinet its drawer, the drawer its "drawer_bottom" group), and a name stands for its own
leaf and those of every node below it, so a query about the cabinet includes its drawer. Contacts are
turned into integer codes `a * n + b` of the two leaves, so a query is a set look-up.

Contacts are MuJoCo's: after a physics step they are read as they are. After a teleport (`set_*` on
the env), `invalidate(moved=True)` makes the next query run `mj_kinematics` and `mj_collision` first,
so queries are right at once, not only after the next step.
"""

from __future__ import annotations

from typing import NamedTuple

import mujoco
import numpy as np

from dmg_envs.errors import InvalidConfigError, UnknownNameError


class ContactNode(NamedTuple):
    """A named owner of geoms: `parent` (a node name or None) contains it."""

    name: str
    parent: str | None
    geoms: tuple[int, ...]


class ContactIndex:
    """Which named things touch, for one compiled model and its data.

    Args:
        model, data: the compiled scene and its state.
        nodes: the named owners of geoms, parents before children; geoms of no node never count.
    """

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, nodes: list[ContactNode]):
        self._model, self._data = model, data
        leaf = {node.name: index + 1 for index, node in enumerate(nodes)}  # 0: geoms of no node
        if len(leaf) != len(nodes):
            raise InvalidConfigError(f"contact group names must be unique in a scene: {[node.name for node in nodes]}")
        geom_leaf = np.zeros(model.ngeom, dtype=np.int64)
        children: dict[str, list[str]] = {node.name: [] for node in nodes}
        for node in nodes:
            geom_leaf[list(node.geoms)] = leaf[node.name]
            if node.parent is not None:
                children[node.parent].append(node.name)

        def subtree(name: str) -> tuple[int, ...]:
            return (leaf[name],) + tuple(code for child in children[name] for code in subtree(child))

        self._groups = {node.name: subtree(node.name) for node in nodes}
        self._size = n = len(nodes) + 1
        leaves = geom_leaf.tolist()
        # _pair_code[g1][g2]: the code of geoms g1 and g2 touching, read per contact in plain Python (few
        # contacts per step: cheaper than NumPy calls).
        self._pair_code = [[a * n + b for b in leaves] for a in leaves]
        self._codes: dict[tuple[str, str], frozenset[int]] = {}
        self._pairs: set[int] | None = None
        self._moved = False

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_model"] = state["_data"] = None  # rebound by the env after unpickling
        return state

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        self._model, self._data = model, data
        self.invalidate(moved=True)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._groups)

    def invalidate(self, moved: bool) -> None:
        """Forget the cached contacts. `moved`: the state changed without a physics step (a teleport), so
        MuJoCo's contacts are stale too; False: a physics step has just computed them."""
        self._pairs = None
        self._moved = moved

    def pairs(self) -> set[int]:
        """Codes of the leaf pairs in contact now (as MuJoCo lists them), cached until `invalidate`."""
        if self._pairs is None:
            if self._moved:
                mujoco.mj_kinematics(self._model, self._data)
                mujoco.mj_collision(self._model, self._data)
                self._moved = False
            pair_code = self._pair_code
            self._pairs = {pair_code[a][b] for a, b in self._data.contact.geom.tolist()}
        return self._pairs

    def codes(self, a: str, b: str) -> frozenset[int]:
        """Contact codes meaning "a touches b", in both orders (a contact may list either first)."""
        codes = self._codes.get((a, b))
        if codes is None:
            n = self._size
            codes = frozenset(code for la in self.group(a) for lb in self.group(b)
                              for code in (la * n + lb, lb * n + la))
            self._codes[(a, b)] = codes
        return codes

    def group(self, name: str) -> tuple[int, ...]:
        if name not in self._groups:
            raise UnknownNameError("contact entity", name, self.names)
        return self._groups[name]

    def touching(self, a: str, b: str) -> bool:
        """Whether any geom of `a` (or of what it carries) touches any geom of `b`."""
        return not self.pairs().isdisjoint(self.codes(a, b))
