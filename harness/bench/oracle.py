"""Oracle figures: load time, peak RSS and query latency of the compact NB201 table vs the official readers.

Each reader runs in a fresh interpreter that first imports what it needs; peak RSS is measured after the
imports (the baseline) and after loading and querying, so the figure is the loader's own memory. The
official readers are timed on files with ``n`` and ``4n`` archs (official_files.py: the full per-arch
payload); load time and RSS grow linearly with the archs they hold, so the full-size (15,625 archs)
figures are extrapolated from the slope between the two sizes. Writing and loading a full-size file
needs about 18 GB of RAM in those readers (measured: 1.1 MB per arch once loaded), more than a shared
2-core CI machine has. Our table is always full size (one float32 column of 15,625 per metric).
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks.nb201.importers import import_nb201
from benchmarks.nb201.space import N_ARCHS
from harness.bench import official_files
from harness.bench.timing import PROBE_PRELUDE, Figure, run_probe

_OURS = PROBE_PRELUDE + """
import numpy as np
from benchmarks.nb201.oracle import NB201Oracle
base = memory()
t0 = time.perf_counter(); oracle = NB201Oracle.open({path!r}); load = time.perf_counter() - t0
loads = []
for _ in range(5):
    t0 = time.perf_counter(); NB201Oracle.open({path!r}); loads.append(time.perf_counter() - t0)
idx = np.arange({n_archs})
vec = []
for _ in range(20):
    t0 = time.perf_counter(); oracle.query(idx, "cifar10", "test"); vec.append((time.perf_counter() - t0) / len(idx))
single = []
ints = idx.tolist()
for _ in range(5):
    t0 = time.perf_counter()
    for i in ints:
        oracle.query(i, "cifar10", "test")
    single.append((time.perf_counter() - t0) / len(ints))
print(json.dumps({{"load_s": min(load, statistics.median(loads)), "rss_mb": rss_delta(base),
                  "vector_s": statistics.median(vec), "single_s": statistics.median(single)}}))
"""

_NB201_API = PROBE_PRELUDE + """
import nas_201_api
base = memory()
t0 = time.perf_counter(); api = nas_201_api.NASBench201API({path!r}, verbose=False); load = time.perf_counter() - t0
query = lambda i: api.get_more_info(i, "cifar10", hp="200", is_random=False)["test-accuracy"]
"""

_NATS = PROBE_PRELUDE + """
import nats_bench
base = memory()
t0 = time.perf_counter(); api = nats_bench.create({path!r}, "tss", fast_mode=False, verbose=False)
load = time.perf_counter() - t0
query = lambda i: api.get_more_info(i, "cifar10", hp="200", is_random=False)["test-accuracy"]
"""

_REF_QUERIES = """
single = []
for _ in range(3):
    t0 = time.perf_counter()
    for i in range({n_archs}):
        query(i)
    single.append((time.perf_counter() - t0) / {n_archs})
print(json.dumps({{"load_s": load, "rss_mb": rss_delta(base), "single_s": statistics.median(single)}}))
"""

#: name, module it needs, probe prefix, file writer
REFERENCES: tuple[tuple[str, str, str, Callable[[Path, Iterable[int]], Path]], ...] = (
    ("nas_201_api (.pth)", "nas_201_api", _NB201_API, official_files.write_pth),
    ("nats_bench (tss archive)", "nats_bench", _NATS, official_files.write_nats_file),
)


def _extrapolate(small: float, large: float, n_small: int, n_large: int) -> float:
    """The value at 15,625 archs on the line through both sizes; never below what was measured."""
    slope = (large - small) / (n_large - n_small)
    return max(large, large + slope * (N_ARCHS - n_large))


def oracle_figures(n_small: int, say: Callable[[str], None]) -> tuple[list[Figure], list[dict[str, Any]]]:
    """(figures, skipped references with the reason) for the oracle section."""
    figures: list[Figure] = []
    skipped: list[dict[str, Any]] = []
    sizes = (n_small, 4 * n_small)
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        work = Path(tmp)
        say(f"oracle: writing a {sizes[1]}-arch official-format .pth and importing it into our table")
        for n in sizes:
            (work / str(n)).mkdir()
        pth = official_files.write_pth(work / str(sizes[1]), range(sizes[1]))
        table = work / "nb201.oracle"
        import_nb201(pth, table, progress=lambda _message: None, trust_pickle=True)
        ours = run_probe(_OURS.format(path=str(table), n_archs=N_ARCHS))
        for name, module, probe, writer in REFERENCES:
            if importlib.util.find_spec(module) is None:
                skipped.append({"reference": name, "reason": f"{module} is not installed: pip install "
                                "'nasbench-harness[bench]'"})
                continue
            runs = []
            for n in sizes:
                say(f"oracle: {name} on {n} archs")
                path = pth if writer is official_files.write_pth and n == sizes[1] else writer(work / str(n), range(n))
                try:
                    runs.append(run_probe(probe.format(path=str(path)) + _REF_QUERIES.format(n_archs=n)))
                except RuntimeError as e:
                    skipped.append({"reference": name, "reason": str(e)})
                    break
            if len(runs) < 2:
                continue
            note = f"reference extrapolated to {N_ARCHS} archs from {sizes[0]} and {sizes[1]}"
            figures += [
                Figure("oracle", "load time", "ms", 1e3 * ours["load_s"],
                       1e3 * _extrapolate(runs[0]["load_s"], runs[1]["load_s"], *sizes), name, note=note),
                Figure("oracle", "peak RSS of loading + querying", "MB", ours["rss_mb"],
                       _extrapolate(runs[0]["rss_mb"], runs[1]["rss_mb"], *sizes), name, note=note),
                Figure("oracle", "query latency, single", "us", 1e6 * ours["single_s"],
                       1e6 * runs[1]["single_s"], name, note="get_more_info per arch"),
                Figure("oracle", "query latency, vectorised (per arch)", "us", 1e6 * ours["vector_s"],
                       1e6 * runs[1]["single_s"], name, note="the reference has no vectorised query: its loop"),
            ]
    return figures, skipped
