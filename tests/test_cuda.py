"""CPU and GPU compute the same search step (marked ``cuda``; skipped without a GPU, so CI never runs them).

Every supernet method takes one real epoch of two iterations (its own loop: weight and architecture steps)
from the same initial state on both devices, on the NB201 supernet at a small size. Draws come from the
method's CPU generator, so stochastic methods sample the same paths on both. What differs is float
rounding (cuDNN's convolution algorithms, reduction orders), so parameters must agree within:

- supernet weights: ``WEIGHT_ATOL`` absolute after the SGD steps (lr 0.025);
- architecture parameters: ``ARCH_ATOL``; Adam's first steps move a parameter by about lr * sign(gradient),
  so a gradient within rounding of 0 may move either way by up to 2 * 3e-4 (DARTS's arch lr).

bfloat16 autocast changes the numbers beyond rounding (its own run id): its step must stay finite and close
to float32 (``BF16_RTOL``). ``channels_last`` changes only the memory layout: equal to the plain GPU step
within the same tolerances as CPU vs GPU.
"""

from __future__ import annotations

import pytest
import torch

import benchmarks.registry
from methods.base import EpochContext
from methods.registry import registry

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (device checks only)")]

WEIGHT_ATOL = 2e-4
ARCH_ATOL = 1e-3
BF16_RTOL = 0.1
SIZE = {"C": 8, "N": 1, "batch_size": 16, "train_limit": 64, "eval_limit": 32, "epochs": 2}
#: per-method sizes that keep the CPU side of the comparison short (RS-WS scores its candidates every epoch)
FEWER = {"rsws_candidates": 4}
SUPERNET_METHODS = [name for name, entry in registry().items() if entry.needs_supernet]


def _batches(seed: int, n: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(SIZE["batch_size"], 3, 32, 32, generator=g),
             torch.randint(0, 10, (SIZE["batch_size"],), generator=g)) for _ in range(n)]


def _step(method: str, device: str, channels_last: bool = False, bf16: bool = False) -> dict[str, torch.Tensor]:
    """Supernet and architecture parameters after one two-iteration epoch of ``method`` on ``device``."""
    from harness.specs import RunSpec

    entry = registry()[method]
    fewer = {k: v for k, v in FEWER.items() if k in entry.defaults}
    spec = RunSpec.create(method, "nb201", "cifar10", entry.default_setting, 0, "quick", {**SIZE, **fewer})
    bench = benchmarks.registry.get("nb201")
    space = bench.make_space(spec.config)
    torch.manual_seed(0)
    memory = torch.channels_last if channels_last else torch.preserve_format
    net = bench.make_supernet(space, spec.config, 10).to(device, memory_format=memory)
    searcher = entry.create(space, spec.config, torch.Generator().manual_seed(0), device)
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)

    def to_device(batches: list) -> list:
        return [(x.to(device, memory_format=memory), y.to(device)) for x, y in batches]

    epoch = int(spec.config.get("warmup_epochs", 0)) + 1  # an epoch in which the architecture is searched
    ctx = EpochContext(net, opt, to_device(_batches(1)), to_device(_batches(2)), epoch, epoch + 1,
                       grad_clip=5.0, steps_per_epoch=2)
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        searcher.train_epoch(ctx)
    out = {f"net.{k}": v.detach().float().cpu() for k, v in net.state_dict().items() if v.is_floating_point()}
    out.update({f"arch.{k}": v.detach().float().cpu() for k, v in searcher.relaxation.params.items()})
    return out


def _max_diffs(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[float, float]:
    assert a.keys() == b.keys()
    net = max((float((a[k] - b[k]).abs().max()) for k in a if k.startswith("net.")), default=0.0)
    arch = max((float((a[k] - b[k]).abs().max()) for k in a if k.startswith("arch.")), default=0.0)
    return net, arch


@pytest.mark.parametrize("method", SUPERNET_METHODS)
def test_one_step_equal_on_cpu_and_gpu(method):
    net, arch = _max_diffs(_step(method, "cpu"), _step(method, "cuda"))
    assert net <= WEIGHT_ATOL, f"{method}: supernet weights differ by {net:.2e}"
    assert arch <= ARCH_ATOL, f"{method}: architecture parameters differ by {arch:.2e}"


@pytest.mark.parametrize("method", ["darts", "gaea-darts", "gdas", "pc-darts"])
def test_channels_last_equals_the_plain_gpu_step(method):
    net, arch = _max_diffs(_step(method, "cuda"), _step(method, "cuda", channels_last=True))
    assert net <= WEIGHT_ATOL and arch <= ARCH_ATOL, (net, arch)


@pytest.mark.parametrize("method", ["darts", "gaea-darts"])
def test_bf16_step_is_finite_and_close_to_float32(method):
    plain, bf16 = _step(method, "cuda"), _step(method, "cuda", bf16=True)
    for key, value in bf16.items():
        assert torch.isfinite(value).all(), key
        scale = float(plain[key].abs().max()) or 1.0
        assert float((value - plain[key]).abs().max()) <= BF16_RTOL * scale, key
