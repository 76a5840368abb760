"""The one registry of search methods: name -> implementation, paper, update rule and paper preset.

Every module of the ``methods`` package that defines a module-level ``ENTRIES`` tuple of
``MethodEntry`` contributes its methods; adding a method is adding a module. ``harness methods``
prints this table; ``--methods`` accepts exact names, families and ``all``. Defaults are the paper's
values; where the spec flags a value AMBIGUOUS or INCONSISTENT, or the released code differs from the
paper, the alternative is a named option listed in the entry's ``choices``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from functools import lru_cache

import methods
from methods.base import SETTINGS, MethodEntry
from nasbench_errors import ConfigError

__all__ = ["SETTINGS", "MethodEntry", "families", "get", "refusal", "registry", "resolve_methods"]


@lru_cache(maxsize=1)
def registry() -> dict[str, MethodEntry]:
    """All registered methods, in listing order."""
    entries: list[MethodEntry] = []
    for info in pkgutil.iter_modules(methods.__path__):
        module = importlib.import_module(f"methods.{info.name}")
        entries.extend(getattr(module, "ENTRIES", ()))
    entries.sort(key=lambda e: (e.order, e.name))
    out: dict[str, MethodEntry] = {}
    for e in entries:
        if e.name in out:
            raise RuntimeError(f"method {e.name!r} is registered twice")
        out[e.name] = e
    return out


def families() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in registry().values():
        for f in e.families:
            out.setdefault(f, []).append(e.name)
    return out


#: Methods of the peer libraries or of GAEA Table 2 that this harness declines to run, and why.
REFUSED: dict[str, str] = {
    "bohb": "bohb is not available: BOHB's Hyperband budgets need each cell's 12-epoch learning curve, which "
            "the NAS-Bench-201 tables here do not hold, and no maintained library fits without one "
            "(docs/method-notes.md, Black-box baselines); GAEA Table 2's BOHB row is shown quoted",
}


def refusal(name: str) -> str | None:
    """Why ``name`` is deliberately not registered, or None."""
    return REFUSED.get(name)


def get(name: str) -> MethodEntry:
    reg = registry()
    if name in REFUSED:
        raise ConfigError(REFUSED[name])
    if name not in reg:
        raise ConfigError(
            f"unknown method {name!r}; valid methods: {', '.join(reg)} "
            f"(families: {', '.join(families())}, or 'all')"
        )
    return reg[name]


def resolve_methods(spec: str | Sequence[str]) -> list[str]:
    """Expand a comma list of names, families and ``all`` into method names, in registry order.

    An exact method name wins over a family of the same name (``darts`` is DARTS itself).
    """
    reg = registry()
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    fams = families()
    wanted: set[str] = set()
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item == "all":
            wanted.update(reg)
        elif item in reg:
            wanted.add(item)
        elif item in fams:
            wanted.update(fams[item])
        else:
            get(item)  # raises the error listing valid names
    if not wanted:
        raise ConfigError("no method given; pass --methods with names, families or 'all' (see `harness methods`)")
    return [n for n in reg if n in wanted]
