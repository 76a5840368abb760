"""XNAS's cost, side by side: its per-example architecture gradients on NB201 (forward mode, as
``methods.xnas.per_example_grads`` picks there) vs the reverse-mode formulation it used before (one backward
pass per example's loss), and a quick-profile XNAS epoch vs a DARTS epoch measured in the same bench run
(``harness bench --sections epochs``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from benchmarks.nb201.space import EDGES, OPS
from benchmarks.nb201.supernet import NB201Supernet
from harness.bench.timing import Figure, interleaved_medians
from methods.xnas import jacobian_reverse, per_example_grads

#: what issue 17 asks of an XNAS epoch at the quick profile
TARGET_RATIO = 3.0


def gradient_figure(C: int, N: int, batch: int, repeats: int, device: str = "cpu") -> Figure:
    """Seconds per architecture step's per-example gradients on the NB201 supernet (``none`` excluded, as XNAS
    on NB201): what XNAS runs (forward mode when its 24 weights are at most the batch) vs the reverse-mode
    reference, chunk 8 each; also checks that they agree."""
    torch.manual_seed(0)
    dev = torch.device(device)
    net = NB201Supernet(OPS[1:], C=C, N=N).to(dev)
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(batch, 3, 32, 32, generator=g).to(dev), torch.randint(0, 10, (batch,), generator=g).to(dev))
    weights = {"ops": torch.full((len(EDGES), len(OPS) - 1), 1.0 / (len(OPS) - 1), device=dev)}
    ours, ref = net, copy.deepcopy(net)
    a = per_example_grads(ours, data, weights, 8)["ops"]
    b = jacobian_reverse(ref, data, weights, 8)["ops"]
    if not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
        raise RuntimeError(f"forward- and reverse-mode per-example gradients differ by {(a - b).abs().max():.2e}")
    seconds = interleaved_medians({"ours": lambda: per_example_grads(ours, data, weights, 8),
                                   "reference": lambda: jacobian_reverse(ref, data, weights, 8)}, repeats)
    mode = "forward" if weights["ops"].numel() <= batch else "reverse"
    return Figure("supernet", f"xnas per-example arch gradients, C={C} N={N} batch={batch}", "s/step",
                  seconds["ours"], seconds["reference"], "reverse mode, one backward per example",
                  note=f"ours: {mode} mode over {weights['ops'].numel()} weights; max |diff| {(a - b).abs().max():.1e}")


def epoch_ratio_figure(per_method: Sequence[Mapping[str, Any]]) -> Figure | None:
    """XNAS's quick-profile epoch vs DARTS's from the same bench run, when both were measured."""
    seconds = {row["method"]: row["seconds_per_epoch"] for row in per_method}
    if "xnas" not in seconds or "darts" not in seconds:
        return None
    ratio = seconds["xnas"] / seconds["darts"]
    return Figure("epochs", "xnas epoch, quick profile", "s", seconds["xnas"], seconds["darts"],
                  "darts epoch, same run",
                  note=f"xnas / darts = {ratio:.1f}x (issue 17's target: within {TARGET_RATIO:.0f}x)")
