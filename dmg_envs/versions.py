"""Installed package versions, as datasets, checkpoints and leaderboard entries record them."""

from __future__ import annotations

from importlib import metadata


def version(package: str) -> str:
    """The installed version of `package`, or "unknown" where it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
