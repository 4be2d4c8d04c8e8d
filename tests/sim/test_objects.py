"""The object model's checks and what the scene builder makes of it."""

import pytest

from dmg_envs.errors import InvalidConfigError
from dmg_envs.sim.objects import Geom, SceneObject
from dmg_envs.sim.scene import build_table_scene


def test_an_object_asks_for_a_contact_dimensionality_and_its_geoms_get_it():
    ball = SceneObject("ball", (Geom("sphere", (0.02,)),), rgba=(1, 1, 0, 1), friction=(1.0, 0.005, 0.002), condim=6)
    cube = SceneObject.box("cube", half_size=(0.02,) * 3, rgba=(1, 0, 0, 1))
    model = build_table_scene((ball, cube)).compile()
    assert model.geom("ball_geom").condim == 6 and model.geom("ball_geom").friction[2] == pytest.approx(0.002)
    assert model.geom("cube_geom").condim == 3  # the default: sliding friction only


def test_an_unknown_contact_dimensionality_is_refused_with_the_choices():
    with pytest.raises(InvalidConfigError, match=r"condim must be one of \(3, 4, 6\)"):
        SceneObject("ball", (Geom("sphere", (0.02,)),), rgba=(1, 1, 0, 1), condim=5)
