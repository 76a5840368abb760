"""Timing and memory helpers: medians of repeated runs (the machines are shared, so single runs lie)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """One measured figure: ours vs the reference, ``gain`` = how many times better ours is (> 1: better)."""

    section: str
    name: str
    unit: str
    ours: float
    reference: float
    reference_name: str
    higher_is_better: bool = False
    note: str = ""
    gain: float = field(init=False)

    def __post_init__(self) -> None:
        ratio = self.ours / self.reference if self.higher_is_better else self.reference / self.ours
        self.gain = float(ratio)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def median_seconds(fn: Callable[[], object], repeats: int, number: int = 1) -> float:
    """Median over ``repeats`` of the mean wall time of ``number`` calls (one warm-up call first)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int, number: int = 1) -> dict[str, float]:
    """Median seconds per call of each function, measured in alternating rounds so load drift hits all alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            times[name].append((time.perf_counter() - t0) / number)
    return {name: statistics.median(t) for name, t in times.items()}


def run_probe(code: str, env: dict[str, str] | None = None, timeout: float = 1800) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter (so imports and peak RSS are its own); it prints one JSON line last."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"probe failed ({tail})")
    return json.loads(done.stdout.strip().splitlines()[-1])


#: Prepended to every probe. ``memory()`` is (peak RSS, current RSS) in MB; ``rss_delta(base)`` the larger
#: of the peak and the current growth since ``base`` (a transient import peak can hide a small load's
#: peak), at least one page (the resolution).
PROBE_PRELUDE = """
import json, os, resource, statistics, time
def memory():
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, current
def rss_delta(base):
    now = memory()
    return max(now[0] - base[0], now[1] - base[1], os.sysconf("SC_PAGE_SIZE") / 2**20)
"""


def machine() -> dict[str, Any]:
    """Where the figures were measured: CPU, cores, load, versions."""
    import platform

    import numpy as np
    import torch

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
