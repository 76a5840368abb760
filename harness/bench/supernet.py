"""Supernet figures: training-step throughput (images/s) of our NB201 supernet vs the published reference.

A step is what the loop's weight step does: forward, cross-entropy, backward, gradient clipping, SGD.
Both networks get the same batches, cut and augmented on the device from a uint8 image set that lives
there (``BatchStream``), and the same mixing weights: a dense softmax row per edge (the DARTS mixture)
or one-hot rows (GDAS / NASP / RS-WS single-path forwards). Steps of the two networks alternate in
rounds, so load on a shared machine hits both alike. The GPU options (channels_last, bf16 autocast,
cudnn.benchmark, torch.compile) apply to both networks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmarks.datasets import BatchStream
from benchmarks.nb201.space import EDGES, OPS
from benchmarks.nb201.supernet import NB201Supernet
from harness.bench.reference_net import ReferenceSupernet
from harness.bench.timing import Figure, interleaved_medians


@dataclass(frozen=True)
class StepOptions:
    """How the supernets are trained: the device and the GPU speed options."""

    device: str = "cpu"
    channels_last: bool = False
    bf16: bool = False
    compile: bool = False
    cudnn_benchmark: bool = True


def _batches(n: int, batch: int, device: torch.device, channels_last: bool) -> Iterator[tuple[torch.Tensor, ...]]:
    """Endless augmented batches from a synthetic device-resident uint8 set (the runner's data path)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8).to(device)
    y = torch.randint(0, 10, (n,), generator=g).to(device)
    stream = BatchStream(x, y, torch.arange(n), batch, (0.5,) * 3, (0.25,) * 3, augment=True, seed=0,
                         tag="bench", channels_last=channels_last)
    epoch = 0
    while True:
        yield from stream.epoch(epoch)
        epoch += 1


def _step_fn(net: torch.nn.Module, weights: dict[str, torch.Tensor], batches: Iterator[tuple[torch.Tensor, ...]],
             opts: StepOptions) -> Callable[[], None]:
    device = torch.device(opts.device)
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    forward = torch.compile(net) if opts.compile else net

    def step() -> None:
        x, y = next(batches)
        opt.zero_grad(set_to_none=True)
        autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if opts.bf16 else contextlib.nullcontext())
        with autocast:
            loss = F.cross_entropy(forward(x, weights), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def mixing_weights(kind: str, n_ops: int, device: torch.device) -> dict[str, torch.Tensor]:
    """``dense``: softmax of DARTS's 1e-3 N(0,1) init; ``one-hot``: a fixed sampled cell."""
    g = torch.Generator().manual_seed(0)
    if kind == "dense":
        w = torch.softmax(1e-3 * torch.randn(len(EDGES), n_ops, generator=g), dim=-1)
    else:
        w = F.one_hot(torch.randint(0, n_ops, (len(EDGES),), generator=g), n_ops).float()
    return {"ops": w.to(device)}


def supernet_figures(C: int, N: int, batch: int, repeats: int, opts: StepOptions) -> list[Figure]:
    """Throughput of ours vs the reference for the DARTS mixture and single-path weights."""
    device = torch.device(opts.device)
    torch.backends.cudnn.benchmark = opts.cudnn_benchmark
    op_names = OPS[1:]  # NB201 DARTS / GAEA exclude ``none`` (P0 C.3); the reference computes the same ops
    memory = torch.channels_last if opts.channels_last else torch.contiguous_format
    figures = []
    for kind, title in (("dense", "DARTS mixture"), ("one-hot", "single-path (one-hot)")):
        weights = mixing_weights(kind, len(op_names), device)
        steps = {}
        for name, cls in (("ours", NB201Supernet), ("reference", ReferenceSupernet)):
            torch.manual_seed(0)
            net = cls(op_names, C=C, N=N).to(device=device, memory_format=memory)
            steps[name] = _step_fn(net, weights, _batches(4 * batch, batch, device, opts.channels_last), opts)
        seconds = interleaved_medians(steps, repeats, number=3)
        figures.append(Figure("supernet", f"train step, {title}, C={C} N={N} batch={batch}", "images/s",
                              batch / seconds["ours"], batch / seconds["reference"],
                              "NAS-Bench-201 reference cell (every op, weighted sum)", higher_is_better=True,
                              note=_describe(opts)))
    return figures


def _describe(opts: StepOptions) -> str:
    flags = [f for f, on in (("channels_last", opts.channels_last), ("bf16", opts.bf16),
                             ("compile", opts.compile)) if on]
    return f"{opts.device}, {torch.get_num_threads()} threads" + (", " + ", ".join(flags) if flags else "")
