"""`harness bench --quick --json` end to end: the report's structure, and every figure a finite positive number.

Timings and ratios are never compared with targets here: they depend on the machine and its load.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

FIGURE_KEYS = {"section", "name", "unit", "ours", "reference", "reference_name", "higher_is_better", "note", "gain"}


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_quick_bench_writes_a_complete_json_report(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DATA_ROOT"}  # synthetic images: fast, no data
    done = subprocess.run([sys.executable, "-m", "harness", "bench", "--quick", "--threads", "1", "--json", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["quick"] is True and {"cpu", "cores", "torch"} <= set(report["machine"])
    sections = {f["section"] for f in report["figures"]}
    assert {"supernet"} <= sections
    references = {s["reference"] for s in report["skipped"] if "reference" in s}
    assert "oracle" in sections or references  # the official readers are optional: skipped with a reason
    for figure in report["figures"]:
        assert set(figure) == FIGURE_KEYS
        for key in ("ours", "reference", "gain"):
            assert _positive(figure[key]), (figure["name"], key, figure[key])
    assert [r["method"] for r in report["epochs"]] == ["darts"]
    assert len(report["scaling"]) == 2
    for row in report["epochs"] + report["scaling"]:
        assert all(_positive(v) for k, v in row.items() if k not in ("method", "data")), row
    assert "figure" in done.stdout and "gain" in done.stdout


def test_xnas_and_darts_epochs_are_compared_side_by_side() -> None:
    from harness.bench.xnas import epoch_ratio_figure

    rows = [{"method": "darts", "seconds_per_epoch": 4.0}, {"method": "xnas", "seconds_per_epoch": 50.0}]
    figure = epoch_ratio_figure(rows)
    assert figure is not None and (figure.ours, figure.reference) == (50.0, 4.0)
    assert figure.gain == 4.0 / 50.0 and "xnas / darts = 12.5x" in figure.note and "within 3x" in figure.note
    assert epoch_ratio_figure(rows[:1]) is None  # nothing to compare without both
