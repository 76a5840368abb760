"""XNAS's cost side by side with DARTS's: a quick-profile XNAS epoch vs a DARTS epoch measured in the same bench
run (``harness bench --sections epochs --methods darts,xnas``). XNAS's exact per-example architecture gradients
are the difference (docs/performance.md: why no exact method gets it within 3x).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.bench.timing import Figure

#: what issue 17 asks of an XNAS epoch at the quick profile
TARGET_RATIO = 3.0


def epoch_ratio_figure(per_method: Sequence[Mapping[str, Any]]) -> Figure | None:
    """XNAS's quick-profile epoch vs DARTS's from the same bench run, when both were measured."""
    seconds = {row["method"]: row["seconds_per_epoch"] for row in per_method}
    if "xnas" not in seconds or "darts" not in seconds:
        return None
    ratio = seconds["xnas"] / seconds["darts"]
    return Figure("epochs", "xnas epoch, quick profile", "s", seconds["xnas"], seconds["darts"],
                  "darts epoch, same run",
                  note=f"xnas / darts = {ratio:.1f}x (issue 17's target: within {TARGET_RATIO:.0f}x)")
