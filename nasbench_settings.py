"""Typed run settings: each setting declares its type and valid range once, where it is defined.

Benchmark presets and profiles (``harness.specs``) and method entries (``MethodEntry.types``) declare
their settings with the constructors below; the configuration resolver checks every resolved value
against its declaration and parses ``--set key=value`` text to the declared type, so ``epochs=2.5``,
``momentum=5`` or ``exclude_none=yes`` are one-line errors before anything runs or is stored.

A neutral module (like ``nasbench_errors``): every layer may import it, and it imports none of them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nasbench_errors import ConfigError

_INT = re.compile(r"[+-]?\d+")
_NULLS = ("null", "none")


@dataclass(frozen=True)
class Setting:
    """The type and valid values of one setting. Build it with ``integer``, ``number``, ``boolean``,
    ``one_of``, ``text`` or ``numbers``."""

    kind: str  # "int", "float", "bool", "str" or "floats" (a fixed-length list of floats)
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: value > low (else >=)
    high_open: bool = False  # True: value < high (else <=)
    options: tuple[Any, ...] = ()  # the only valid values, when not empty
    nullable: bool = False  # null (None) is valid: "unset" / "automatic"
    length: int | None = None  # entries of a "floats" list
    help: str = ""
    inferred: bool = False  # built from a value by ``infer`` (type only): the setting was never declared

    def describe(self) -> str:
        """``int >= 1``, ``float in [0, 1)``, ``one of adam, sgd``, ``2 floats in [0, 1)``, ``... or null``."""
        if self.options:
            text = "one of " + ", ".join(map(_show, self.options))
        else:
            kind = {"floats": f"{self.length} floats"}.get(self.kind, self.kind)
            text = f"{kind}{self._range()}"
        return f"{text} or null" if self.nullable else text

    def _range(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f" in {left}{_show(self.low)}, {_show(self.high)}{right}"
        if self.low is not None:
            return f" {'>' if self.low_open else '>='} {_show(self.low)}"
        if self.high is not None:
            return f" {'<' if self.high_open else '<='} {_show(self.high)}"
        return ""

    def parse(self, key: str, text: str) -> Any:
        """The value of ``--set key=text``, parsed to this type and checked."""
        raw = text.strip()
        if self.nullable and raw.lower() in _NULLS:
            return None
        if self.kind == "bool":
            if raw.lower() not in ("true", "false"):
                raise self._error(key, raw, "is not a boolean")
            return self._validate(key, raw.lower() == "true")
        if self.kind == "int":
            if not _INT.fullmatch(raw):
                raise self._error(key, raw, "is not an integer")
            return self._validate(key, int(raw))
        if self.kind == "float":
            return self._validate(key, _float(self, key, raw))
        if self.kind == "floats":
            try:
                items = json.loads(raw) if raw.startswith("[") else raw.split(",")
            except json.JSONDecodeError:
                raise self._error(key, raw, "is not a list of numbers") from None
            if not isinstance(items, list):
                raise self._error(key, raw, "is not a list of numbers")
            return self._validate(key, [_float(self, key, str(v).strip(), raw) for v in items])
        return self._validate(key, raw)

    def check(self, key: str, value: Any) -> Any:
        """``value`` (from a preset, a profile, the Python API or ``parse``) if valid, normalized: floats as
        float, lists as lists; a string is parsed as ``--set`` text would be."""
        if isinstance(value, str) and (self.kind != "str" or self.nullable):
            return self.parse(key, value)
        return self._validate(key, value)

    def _validate(self, key: str, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise self._error(key, value, "must be set (null is not valid)")
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise self._error(key, value, "is not a boolean")
        elif self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise self._error(key, value, "is not an integer")
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self._error(key, value, "is not a number")
            value = float(value)
        elif self.kind == "floats":
            if not isinstance(value, list | tuple) or any(isinstance(v, bool) or not isinstance(v, int | float)
                                                          for v in value):
                raise self._error(key, value, "is not a list of numbers")
            if self.length is not None and len(value) != self.length:
                raise self._error(key, value, f"needs {self.length} numbers")
            value = [float(v) for v in value]
        elif not isinstance(value, str):
            raise self._error(key, value, "is not a string")
        if self.options:
            if value not in self.options:
                raise self._error(key, value, "is not valid")
            return value
        for item in value if self.kind == "floats" else [value]:
            if self.kind in ("float", "floats") and not math.isfinite(item):
                raise self._error(key, value, "is not a finite number")
            if not self._in_range(item):
                raise self._error(key, value, "is out of range")
        return value

    def _in_range(self, v: float) -> bool:
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return not (self.high is not None and (v >= self.high if self.high_open else v > self.high))

    def _error(self, key: str, value: Any, problem: str) -> ConfigError:
        shown = value if isinstance(value, str) else _show(value)
        return ConfigError(f"{key}={shown} {problem} (valid: {self.describe()}); fix it with --set {key}=...")


def _float(setting: Setting, key: str, text: str, shown: str | None = None) -> float:
    try:
        return float(text)
    except ValueError:
        raise setting._error(key, shown or text, "is not a number") from None


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(_show, value)) + "]"
    return str(value)


# -- constructors -----------------------------------------------------------------------------------
def integer(*, ge: int | None = None, le: int | None = None, nullable: bool = False, help: str = "") -> Setting:
    return Setting("int", low=ge, high=le, nullable=nullable, help=help)


def number(*, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None,
           nullable: bool = False, help: str = "") -> Setting:
    """A finite float; ``gt``/``lt`` exclude the bound, ``ge``/``le`` include it."""
    return Setting("float", low=gt if gt is not None else ge, high=lt if lt is not None else le,
                   low_open=gt is not None, high_open=lt is not None, nullable=nullable, help=help)


def boolean(help: str = "") -> Setting:
    return Setting("bool", help=help)


def one_of(*options: Any, nullable: bool = False, help: str = "") -> Setting:
    """One of ``options`` (all strings or all integers)."""
    kind = "int" if all(isinstance(o, int) and not isinstance(o, bool) for o in options) else "str"
    return Setting(kind, options=tuple(options), nullable=nullable, help=help)


def text(*, nullable: bool = False, help: str = "") -> Setting:
    """Any string (the user of the setting parses it further)."""
    return Setting("str", nullable=nullable, help=help)


def numbers(length: int, *, ge: float | None = None, lt: float | None = None, help: str = "") -> Setting:
    """A list of ``length`` finite floats in [ge, lt)."""
    return Setting("floats", low=ge, high=lt, high_open=lt is not None, length=length, help=help)


def infer(value: Any) -> Setting:
    """A setting nobody declared: its type from its value, no range (``inferred`` marks it)."""
    if isinstance(value, bool):
        kind = "bool"
    elif isinstance(value, int):
        kind = "int"
    elif isinstance(value, float):
        kind = "float"
    elif isinstance(value, list | tuple):
        return Setting("floats", length=len(value), inferred=True)
    else:
        kind = "str"
    return Setting(kind, nullable=value is None, inferred=True)


def check_all(values: Mapping[str, Any], types: Mapping[str, Setting]) -> dict[str, Any]:
    """Every value checked against its declaration (or a type inferred from a declared-less default)."""
    return {k: (types.get(k) or infer(v)).check(k, v) for k, v in values.items()}
