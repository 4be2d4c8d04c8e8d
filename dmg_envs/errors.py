"""Exceptions raised by dmg-envs: one base class, one subclass per area."""

from __future__ import annotations


class DmgError(Exception):
    """Base class of every error dmg-envs raises on purpose."""


class InvalidActionError(DmgError, ValueError):
    """An action has the wrong shape or contains NaN/inf."""


class InvalidConfigError(DmgError, ValueError):
    """A constructor argument or option is not one of the accepted values."""


class UnknownNameError(DmgError, KeyError):
    """A name (object, arm, camera, signal) that the scene does not have."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]):
        self.kind, self.name, self.valid = kind, name, tuple(valid)
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(map(repr, valid))}")

    def __str__(self) -> str:  # KeyError would otherwise print the repr of the message
        return self.args[0]


class GenerationError(DmgError, RuntimeError):
    """A generation run that cannot proceed (existing dataset, another run's folder, failing attempts)."""


class PublishError(DmgError, RuntimeError):
    """Publishing datasets to a remote cannot proceed (a missing extra, a refused or failed request)."""


class RobomimicFormatError(DmgError, ValueError):
    """A robomimic-format HDF5 file that cannot be written (an episode that does not replay) or read (not
    robomimic-shaped, an env that is not ours, states that a replay does not reproduce)."""
