"""Grid expansion: methods x datasets x settings x seeds -> RunSpecs, minus what the store finished; and the
stored runs that a grid's runs supersede (made by an older version of their method or benchmark)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import benchmarks.registry
from harness.overrides import Override, as_overrides, assign
from harness.specs import RunSpec
from methods import registry
from nasbench_errors import ConfigError
from results.store import Store


def parse_settings(text: str) -> list[str]:
    """``default`` (each method's paper setting), ``bilevel``, ``erm``, ``both``, or a comma list."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    out: list[str] = []
    for item in items:
        expanded = list(registry.SETTINGS) if item == "both" else [item]
        for s in expanded:
            if s not in (*registry.SETTINGS, "default"):
                raise ConfigError(f"unknown setting {s!r}; valid: default, {', '.join(registry.SETTINGS)}, both")
            if s not in out:
                out.append(s)
    if not out:
        raise ConfigError("no setting given; use --setting default, bilevel, erm or both")
    return out


def parse_datasets(text: str, benchmark: str) -> list[str]:
    valid = benchmarks.registry.get(benchmark).datasets
    items = list(valid) if text.strip() == "all" else [d.strip() for d in text.split(",") if d.strip()]
    if not items:
        raise ConfigError(f"no dataset given (--dataset {text!r}); valid datasets for {benchmark}: "
                          f"{', '.join(valid)}, all")
    for d in items:
        if d not in valid:
            raise ConfigError(f"unknown dataset {d!r} for {benchmark}; valid datasets: {', '.join(valid)}, all")
    return items


def _can_search(method: str, benchmark: str) -> bool:
    """Black-box baselines need a table that simulates training; supernet methods search every benchmark whose
    space has what they need (a method's entry lists the benchmarks it refuses and why)."""
    entry = registry.get(method)
    if benchmark in entry.refusals:
        return False
    return entry.needs_supernet or benchmarks.registry.get(benchmark).simulates_training


def runs_on(method: str) -> list[str]:
    """The benchmarks ``method`` can search."""
    return [b for b in benchmarks.registry.names() if _can_search(method, b)]


def blocker(method: str, benchmark: str) -> str | None:
    """Why ``method`` cannot search ``benchmark``, or None when it can."""
    if _can_search(method, benchmark):
        return None
    refusal = registry.get(method).refusals.get(benchmark)
    if refusal is not None:
        return f"{method} cannot search {benchmark}: {refusal}; drop it from --methods"
    return (f"{method} is a black-box baseline on a table that simulates training; {benchmark} has none: drop it "
            f"from --methods (it runs on {', '.join(runs_on(method))})")


def runnable_methods(methods: Sequence[str], benchmark: str, requested: str) -> list[str]:
    """``methods`` minus those that cannot search ``benchmark`` (``blocker``). Ones named exactly in
    ``requested`` are an error; ones that came from ``all`` or a family are dropped, so ``--methods all`` (or a
    family) means every method of it that runs there."""
    named = {item.strip() for item in requested.split(",")}
    reasons = {m: blocker(m, benchmark) for m in methods}
    for m in methods:
        if m in named and reasons[m] is not None:
            raise ConfigError(str(reasons[m]))
    able = [m for m in methods if reasons[m] is None]
    if methods and not able:  # a family none of whose methods runs here
        raise ConfigError(str(reasons[methods[0]]))
    return able


def expand(methods: Sequence[str], benchmark: str, datasets: Sequence[str], settings: Sequence[str],
           seeds: Sequence[int], profile: str,
           overrides: Mapping[str, Any] | Sequence[Override] | None = None) -> list[RunSpec]:
    """Every RunSpec of the grid; ``overrides`` are ``--set``s (``harness.overrides``: unscoped ones reach the
    methods that have the key) or a plain mapping of unscoped ones."""
    items = as_overrides(overrides) if isinstance(overrides, Mapping) else list(overrides or [])
    per_method = assign(items, methods, benchmark, profile) if methods else {}
    specs: list[RunSpec] = []
    for method in methods:
        entry = registry.get(method)
        method_settings = [entry.default_setting if s == "default" else s for s in settings]
        for dataset in datasets:
            for setting in dict.fromkeys(method_settings):
                if setting not in entry.settings:
                    continue  # a method without this setting (e.g. a single-level-only method) skips it
                for seed in seeds:
                    specs.append(RunSpec.create(method, benchmark, dataset, setting, seed, profile,
                                                per_method[method]))
    if not specs:
        raise ConfigError("the requested grid is empty: no method supports the requested settings")
    return specs


@dataclass(frozen=True)
class Superseded:
    """A stored run that a run of the grid replaces, and why."""

    run_id: str
    why: str


def superseded_runs(store: Store, specs: Sequence[RunSpec]) -> dict[str, list[Superseded]]:
    """new run id -> the stored runs it supersedes: same request (method, benchmark, dataset, setting, seed,
    profile and ``--set`` overrides; for a run stored before overrides were recorded, the same resolved config)
    made by an older method or benchmark version (none recorded counts as older). Runs already marked are
    left alone."""
    runs = store.runs_df()
    runs = runs[runs["superseded_by"].isna()]
    key = ["method", "benchmark", "dataset", "setting", "seed", "profile"]
    stored: dict[tuple[Any, ...], list[Any]] = {}
    for row in runs.itertuples():
        stored.setdefault(tuple(getattr(row, k) for k in key), []).append(row)
    out: dict[str, list[Superseded]] = {}
    for spec in specs:
        wanted = json.loads(json.dumps(dict(spec.overrides), sort_keys=True))
        for row in stored.get(tuple(getattr(spec, k) for k in key), []):
            old = (_version(row.method_version), _version(row.benchmark_version))
            new = (spec.method_version, spec.benchmark_version)
            if row.run_id == spec.run_id or old == new or old[0] > new[0] or old[1] > new[1]:
                continue
            same = row.overrides == wanted if row.overrides is not None else row.config_hash == spec.config_hash
            if same:
                out.setdefault(spec.run_id, []).append(Superseded(row.run_id, _why(spec, old)))
    return out


def _version(value: Any) -> int:
    """A stored version; 0 for a run stored before versions were recorded."""
    return 0 if value is None or value != value else int(value)


def _why(spec: RunSpec, old: tuple[int, int]) -> str:
    parts = [f"{name} {_named(v)} -> v{n}" for name, v, n in ((spec.method, old[0], spec.method_version),
                                                                (spec.benchmark, old[1], spec.benchmark_version))
             if v != n]
    return ", ".join(parts)


def _named(version: int) -> str:
    return f"v{version}" if version else "(no version recorded)"
