"""Headless rendering by default. MuJoCo picks its OpenGL backend once, when it is first imported, from
`MUJOCO_GL`; unset on a Linux machine without a display, it picks GLFW, which aborts the whole process (an
assertion, no exception) at the first frame. OSMesa (Debian's libosmesa6) renders on any machine; EGL needs
a GPU and is chosen by setting `MUJOCO_GL=egl`."""

from __future__ import annotations

import os
import sys

from dmg_envs.errors import InvalidConfigError


def _no_display() -> bool:
    return (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
            and not os.environ.get("WAYLAND_DISPLAY"))


def default_headless_gl() -> None:
    """Set `MUJOCO_GL=osmesa` on a Linux machine without a display where it is unset (called when
    `dmg_envs` is imported, so that it holds whenever MuJoCo is imported after it)."""
    if "MUJOCO_GL" not in os.environ and _no_display():
        os.environ["MUJOCO_GL"] = "osmesa"


def new_renderer(model, height: int, width: int):
    """A `mujoco.Renderer`, unless its backend would abort the process: GLFW without a display, which MuJoCo
    takes when it was imported before `dmg_envs` with `MUJOCO_GL` unset (then an `InvalidConfigError`)."""
    import mujoco

    if _no_display() and getattr(mujoco, "GLContext", None) is not None and \
            mujoco.GLContext.__module__.startswith("mujoco.glfw"):
        raise InvalidConfigError("cannot render: there is no display and MuJoCo chose GLFW, because it was imported "
                                 "before dmg_envs with MUJOCO_GL unset; set MUJOCO_GL=osmesa (any machine) or egl "
                                 "(a GPU) before importing mujoco")
    return mujoco.Renderer(model, height=height, width=width)
