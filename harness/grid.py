"""Grid expansion: methods x datasets x settings x seeds -> RunSpecs, minus what the store finished."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import benchmarks.registry
from harness.specs import RunSpec
from methods import registry
from nasbench_errors import ConfigError


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


def runnable_methods(methods: Sequence[str], benchmark: str, requested: str) -> list[str]:
    """``methods`` minus those that cannot search ``benchmark`` (black-box baselines need a table that
    simulates training). Ones named exactly in ``requested`` are an error; ones that came from ``all`` or a
    family are dropped, so ``--methods all`` means every method that runs there."""
    if benchmarks.registry.get(benchmark).simulates_training:
        return list(methods)
    named = {item.strip() for item in requested.split(",")}
    unable = [m for m in methods if not registry.get(m).needs_supernet]
    if named & set(unable):
        raise ConfigError(f"{sorted(named & set(unable))[0]} is a black-box baseline on a table that simulates "
                          f"training; {benchmark} has none: drop it from --methods (it runs on nb201)")
    return [m for m in methods if m not in unable]


def expand(methods: Sequence[str], benchmark: str, datasets: Sequence[str], settings: Sequence[str],
           seeds: Sequence[int], profile: str, overrides: Mapping[str, Any] | None = None) -> list[RunSpec]:
    specs: list[RunSpec] = []
    for method in methods:
        entry = registry.get(method)
        method_settings = [entry.default_setting if s == "default" else s for s in settings]
        for dataset in datasets:
            for setting in dict.fromkeys(method_settings):
                if setting not in entry.settings:
                    continue  # a method without this setting (e.g. a single-level-only method) skips it
                for seed in seeds:
                    specs.append(RunSpec.create(method, benchmark, dataset, setting, seed, profile, overrides))
    if not specs:
        raise ConfigError("the requested grid is empty: no method supports the requested settings")
    return specs
