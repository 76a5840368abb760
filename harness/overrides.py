"""``--set`` overrides: unscoped (``epochs=10``), per method (``gaea-darts.arch_lr=0.05``) or per family
(``gaea.eg_floor=1e-5``).

An unscoped key applies to every method of the grid that has the setting, and is an error only when none
has it; a scoped key applies to the named method, or to the members of the named family that have it, and
is an error when it reaches no method of the grid. A method scope beats a family scope, which beats no
scope; two family scopes that give one method different values are an error. As with ``--methods``, a name
that is both a method and a family (``darts``) means the method. So no ``--set`` is ever silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.specs import setting_names
from methods import registry
from nasbench_errors import ConfigError


@dataclass(frozen=True)
class Override:
    """One ``--set``: ``key`` = ``value`` (text, parsed to the setting's declared type when resolved)."""

    key: str
    value: Any
    scope: str = ""  # "" (every method that has the key), a method name or a family name

    @property
    def shown(self) -> str:
        return f"--set {self.scope + '.' if self.scope else ''}{self.key}={self.value}"


def parse_set(text: str) -> Override:
    """``[scope.]key=value``; the value stays text until the setting's type is known."""
    name, sep, value = text.partition("=")
    name = name.strip()
    scope, dot, key = name.rpartition(".")
    if not sep or not key or (dot and not scope):
        raise ConfigError(f"bad --set {text!r}; write key=value, METHOD.key=value or FAMILY.key=value, "
                          "e.g. --set epochs=10 or --set gaea-darts.arch_lr=0.05")
    return Override(key, value.strip(), scope)


def _targets(scope: str) -> tuple[list[str], int]:
    """The methods a scope names and its precedence (2 method, 1 family, 0 none)."""
    if not scope:
        return list(registry.registry()), 0
    if scope in registry.registry():
        return [scope], 2
    families = registry.families()
    if scope in families:
        return families[scope], 1
    raise ConfigError(f"--set {scope}.KEY=...: {scope!r} is neither a method nor a family; valid: "
                      f"{', '.join(registry.registry())} (families: {', '.join(families)})")


def assign(overrides: Sequence[Override], methods: Sequence[str], benchmark: str,
           profile: str) -> dict[str, dict[str, Any]]:
    """method -> {key: value} of the overrides that reach it; every override must reach a method."""
    keys = {m: setting_names(m, benchmark, profile) for m in methods}
    chosen: dict[str, dict[str, tuple[int, Override]]] = {m: {} for m in methods}
    for item in overrides:
        targets, rank = _targets(item.scope)
        in_grid = [m for m in targets if m in keys]
        if not in_grid:
            raise ConfigError(f"{item.shown}: no method of {item.scope!r} is in the grid ({', '.join(methods)}); "
                              "drop it or add the method to --methods")
        having = [m for m in in_grid if item.key in keys[m]]
        if not having:
            valid = sorted(set().union(*(keys[m] for m in in_grid)))
            raise ConfigError(f"unknown setting {item.key!r} for {', '.join(in_grid)} on {benchmark}; "
                              f"valid: {', '.join(valid)}")
        for m in having:
            held = chosen[m].get(item.key)
            if held is not None and held[0] == rank == 1 and held[1].scope != item.scope \
                    and held[1].value != item.value:
                raise ConfigError(f"{held[1].shown} and {item.shown} both set {item.key} of {m}; "
                                  f"give one of them, or --set {m}.{item.key}=...")
            if held is None or rank >= held[0]:
                chosen[m][item.key] = (rank, item)
    return {m: {k: o.value for k, (_, o) in given.items()} for m, given in chosen.items()}


def as_overrides(values: Mapping[str, Any]) -> list[Override]:
    """Unscoped overrides from a plain mapping (the Python API: ``expand(..., {"epochs": 3})``)."""
    return [Override(k, v) for k, v in values.items()]
