"""Which NB201 ops each supernet forward computes, read from the op weights the forward receives.

The supernet computes an op exactly when its weight is non-zero and it is not ``none`` (tests/test_supernet.py
checks that at the aten level: convolutions, ReLUs and parameter gradients), so a method's test only needs the
weights its forwards pass: one set of (edge, op name) per forward, shared by every cell.
"""

from __future__ import annotations

from torch import nn


def record_computed_ops(net: nn.Module) -> list[set[tuple[int, str]]]:
    """A list that receives, per forward of ``net`` from now on, the set of (edge, op) it computes."""
    forwards: list[set[tuple[int, str]]] = []

    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        w = (args[1] if len(args) > 1 else kwargs["weights"])["ops"].detach()
        names = module.op_names
        forwards.append({(e, names[o]) for e, o in (w != 0).nonzero().tolist() if names[o] != "none"})

    net.register_forward_pre_hook(hook, with_kwargs=True)
    return forwards
