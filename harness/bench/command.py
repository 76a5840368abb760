"""The ``harness bench`` command (registered in harness/cli.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from nasbench_errors import ConfigError

SECTIONS = ("oracle", "supernet", "epochs")


def bench(
    quick: Annotated[bool, typer.Option("--quick", help="CI-sized: tiny networks, 4/16-arch reference files, "
                                        "one method; seconds, not minutes.")] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON to FILE.")] = None,
    sections: Annotated[str, typer.Option("--sections", help="Comma list of oracle, supernet, epochs.")]
    = ",".join(SECTIONS),
    methods: Annotated[str, typer.Option("--methods", help="Methods of the epochs section (full bench only).")]
    = "all",
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads [default: torch's]; "
                                                "1 gives steadier numbers on a loaded machine.")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1.")] = "cpu",
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Supernet: NHWC tensors and weights.")]
    = False,
    bf16: Annotated[bool, typer.Option("--bf16", help="Supernet: bfloat16 autocast.")] = False,
    compile_: Annotated[bool, typer.Option("--compile", help="Supernet: torch.compile both networks.")] = False,
    data_root: Annotated[str | None, typer.Option("--data-root", help="CIFAR-10 for the epochs section "
                                                  "[env HARNESS_DATA_ROOT; else synthetic images].")] = None,
) -> None:
    """Measure performance on this machine, each figure against a reference measured in the same run.

    oracle: load time, peak RSS (fresh subprocess, over a baseline interpreter with the same imports) and
    query latency (single and vectorised, per arch) of the compact NB201 table vs nas_201_api on an
    official-format .pth and nats_bench on an official-format archive. The bench writes those files with
    the full per-arch payload and synthetic values; the references are extrapolated to 15,625 archs.

    supernet: training-step throughput (images/s) of our NB201 supernet vs the published reference cell
    (every op computed, weighted sum), for the DARTS mixture and single-path one-hot weights.

    epochs: seconds per search epoch of each method through the runner at the quick profile, and how
    darts scales with C, N and batch size.

    'gain' = how many times better ours is than the reference (> 1: ours is better).
    """
    import os

    import torch

    from harness.bench.run import BenchRequest, run_bench
    from harness.bench.supernet import StepOptions

    chosen = tuple(s.strip() for s in sections.split(",") if s.strip())
    if not chosen or not set(chosen) <= set(SECTIONS):
        raise ConfigError(f"--sections {sections!r}: give a comma list of {', '.join(SECTIONS)}")
    if threads is not None:
        torch.set_num_threads(threads)
    root = data_root or os.environ.get("HARNESS_DATA_ROOT")
    console = Console(width=160)
    request = BenchRequest(quick, chosen, methods, Path(root) if root else None,
                           StepOptions(device, channels_last, bf16, compile_))
    report = run_bench(request, lambda m: console.print(f"[dim]{m}[/dim]", highlight=False))
    print_report(console, report)
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2, default=str))
        console.print(f"report written to {json_path}")


def print_report(console: Console, report: dict[str, Any]) -> None:
    m = report["machine"]
    console.print(f"machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, load "
                  f"{m['load_average_1min']:.2f}; python {m['python']}, torch {m['torch']}, numpy {m['numpy']}")
    table = Table(title="ours vs reference (gain = times better)")
    for col in ("section", "figure", "unit", "ours", "reference", "gain", "reference is", "note"):
        table.add_column(col, overflow="fold")
    for f in report["figures"]:
        table.add_row(f["section"], f["name"], f["unit"], _num(f["ours"]), _num(f["reference"]),
                      f"{f['gain']:.1f}x", f["reference_name"], f["note"])
    console.print(table)
    if report["epochs"]:
        per = Table(title="seconds per search epoch (quick profile)")
        per.add_column("method")
        per.add_column("s/epoch")
        for row in report["epochs"]:
            per.add_row(row["method"], f"{row['seconds_per_epoch']:.2f}")
        console.print(per)
    if report["scaling"]:
        scale = Table(title="darts: seconds per epoch vs C, N, batch")
        for col in ("C", "N", "batch", "s/epoch", "relative"):
            scale.add_column(col)
        for row in report["scaling"]:
            scale.add_row(str(row["C"]), str(row["N"]), str(row["batch"]), f"{row['seconds_per_epoch']:.2f}",
                          f"{row['relative_to_first']:.2f}")
        console.print(scale)
    for s in report["skipped"]:
        console.print(f"skipped {s.get('reference') or s.get('method')}: {s['reason']}")
    if "pending" in report:
        console.print(report["pending"])


def _num(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)
