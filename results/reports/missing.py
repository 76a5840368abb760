"""What a report could not show, and the exact ``harness run`` command that would produce it.

An item is a set of runs a table or figure needs: a method (any of its aliases), a setting (or the
method's default), a benchmark and a dataset. When the method or benchmark is not in this harness's
registries, the item says so instead of giving a command that would fail. Each runnable item carries two
commands: the paper's protocol (days of CPU for a supernet grid) and the same runs at the CPU-sized
``quick`` profile (minutes), whose numbers the report shows but never compares with the paper's.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

import benchmarks.registry
from methods.registry import refusal, registry
from nasbench_errors import ConfigError


@dataclass(frozen=True)
class Need:
    """Runs an item needs: one of ``methods`` in ``setting`` (None = the method's default) on benchmark:dataset."""

    item: str  # e.g. "Table 2, transfer: GAEA DARTS (bilevel)"
    methods: tuple[str, ...]
    setting: str | None
    benchmark: str
    dataset: str
    space: str = ""  # the benchmark's search space (``--space N``), "" where it has one


CPU_PROFILE = "quick"


@dataclass(frozen=True)
class MissingItem:
    item: str
    command: str | None  # None when nothing in this harness can produce it yet
    reason: str = ""
    cpu_command: str | None = None  # the same runs at the CPU-sized profile


def _registered_benchmark(name: str) -> bool:
    try:
        benchmarks.registry.get(name)
    except ConfigError:
        return False
    return True


def run_command(methods: Iterable[str], benchmark: str, datasets: Iterable[str], setting: str | None,
                seeds: int, profile: str, store: str, space: str = "") -> str:
    parts = ["harness", "run", "--methods", ",".join(methods), "--benchmark", benchmark,
             "--dataset", ",".join(datasets)]
    if setting is not None:
        parts += ["--setting", setting]
    if space:
        parts += ["--space", space]
    parts += ["--seeds", str(seeds), "--profile", profile, "--store", store]
    return shlex.join(parts)


def _blocker(need: Need, method: str | None) -> str | None:
    """Why nothing in this harness can produce ``need`` yet, or None when a command can."""
    if method is None:
        declined = next((refusal(m) for m in need.methods if refusal(m)), None)
        return declined or f"method {' / '.join(need.methods)} is not in this harness's registry yet"
    if not _registered_benchmark(need.benchmark):
        return f"benchmark {need.benchmark} is not in this harness yet"
    if need.setting is not None and need.setting not in registry()[method].settings:
        return f"{method} has no setting {need.setting}"
    return None


def missing_items(needs: Iterable[Need], seeds: int, profile: str, store: str) -> list[MissingItem]:
    """One entry per item and command, items in the order of ``needs``; one command covers the datasets
    and methods of an item that share a setting."""
    reg = registry()
    order: dict[str, int] = {}
    blocked: dict[tuple[str, str], MissingItem] = {}
    wanted: dict[tuple[str, ...], list[str]] = {}  # (item, setting, benchmark, space, method) -> datasets
    for need in needs:
        order.setdefault(need.item, len(order))
        method = next((m for m in need.methods if m in reg), None)
        reason = _blocker(need, method)
        if reason is not None or method is None:
            blocked.setdefault((need.item, str(reason)), MissingItem(need.item, None, str(reason)))
            continue
        datasets = wanted.setdefault((need.item, need.setting or "", need.benchmark, need.space, method), [])
        if need.dataset not in datasets:
            datasets.append(need.dataset)
    grouped: dict[tuple[str, str, str, str, tuple[str, ...]], list[str]] = {}
    for (item, setting, bench, space, method), datasets in wanted.items():
        grouped.setdefault((item, setting, bench, space, tuple(datasets)), []).append(method)
    out = [MissingItem(item, run_command(methods, bench, datasets, setting or None, seeds, profile, store, space),
                       f"no finished run on {bench}{f' space {space}' if space else ''}: {', '.join(datasets)}",
                       None if profile == CPU_PROFILE else
                       run_command(methods, bench, datasets, setting or None, seeds, CPU_PROFILE, store, space))
           for (item, setting, bench, space, datasets), methods in grouped.items()]
    out += blocked.values()
    return sorted(out, key=lambda m: order[m.item])
