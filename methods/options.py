"""Validation of method options: a bad value is a ``ConfigError`` naming the option and the valid values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasbench_errors import ConfigError


def choice(config: Mapping[str, Any], key: str, allowed: tuple[Any, ...]) -> Any:
    """``config[key]`` if it is one of ``allowed``."""
    value = config[key]
    if value not in allowed:
        valid = ", ".join(map(str, allowed))
        raise ConfigError(f"{key}={value!r} is not valid; use one of {valid} (--set {key}=...)")
    return value


def positive(config: Mapping[str, Any], key: str, *, allow_zero: bool = False) -> float:
    """``config[key]`` as a float that is > 0 (or >= 0 with ``allow_zero``)."""
    value = float(config[key])
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{key}={value} must be {bound}; fix it with --set {key}=...")
    return value
