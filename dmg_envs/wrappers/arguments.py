"""Wrapper arguments that survive `env.spec.to_json()`: what Minari stores to rebuild a dynamic env."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from dmg_envs.errors import InvalidConfigError


def json_safe(name: str, value: Any) -> Any:
    """`value` with NumPy scalars and arrays turned into Python numbers and lists (recursively through
    dicts, lists and tuples); raises `InvalidConfigError` naming `name` for anything JSON cannot hold
    (other objects, non-finite numbers)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise InvalidConfigError(f"{name} must be finite, got {value!r}")
        return float(value)
    if isinstance(value, dict):
        return {str(key): json_safe(f"{name}[{key!r}]", item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(f"{name}[{index}]", item) for index, item in enumerate(value)]
    raise InvalidConfigError(f"{name} must be made of numbers, strings, lists and dicts (it is stored as JSON "
                             f"in the env spec), got {type(value).__name__}: {value!r}")


def record_arguments(wrapper: Any, **kwargs: Any) -> dict[str, Any]:
    """Record a wrapper's constructor arguments (`gymnasium.utils.RecordConstructorArgs`) in JSON-safe form
    and return them, so that the wrapper itself uses exactly what its spec rebuilds."""
    import gymnasium as gym

    safe = {name: json_safe(name, value) for name, value in kwargs.items()}
    gym.utils.RecordConstructorArgs.__init__(wrapper, **safe)
    return safe
