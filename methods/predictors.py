"""Performance predictors of the model-based black-box searches (BANANAS, NPENAS), in plain torch.

- ``PathEncoding``: BANANAS's path encoding (White, Neiswanger, Savani, AAAI 2021, Sec. 4): one binary
  feature per sequence of options along a path from the cell input to the cell output; a cell sets the
  features of the paths it contains. Read off the decisions contract (``DecisionGroup.sources`` and
  ``nodes`` make the rows the edges of a cell DAG), so nothing here knows a benchmark.
- ``CellGraph``: the cell as a graph with the operations on the nodes (input, one node per decision row,
  output; one-hot features), as NPENAS's GIN predictor reads it.
- ``MLPEnsemble``: BANANAS's meta neural network, an ensemble of feed-forward ReLU networks trained with
  the mean absolute error; ``independent_thompson`` its acquisition (ITS).
- ``GinPredictor``: NPENAS-NP's graph isomorphism network (Wei et al., IEEE TNNLS 2022).

Every random draw (initial weights, minibatch order, dropout, Thompson samples) comes from the method's
generator, so a search is reproducible and resumes exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.space import DecisionGroup, SearchSpace
from nasbench_errors import ConfigError

Arch = tuple[int, ...]


def _dag_groups(space: SearchSpace, what: str) -> list[tuple[DecisionGroup, int]]:
    """(group, offset of its first flat row) for every group; each must describe a cell DAG."""
    out, offset = [], 0
    for g in space.groups:
        if len(g.sources) != g.rows or not g.nodes:
            raise ConfigError(f"{what} needs decisions that are the edges of a cell DAG; {space.name} group "
                              f"{g.name!r} is not (no sources/nodes in the space)")
        out.append((g, offset))
        offset += g.rows
    return out


def _targets(group: DecisionGroup) -> list[int]:
    """Target node of every row: 1 + the index of the node whose partition holds it."""
    target = [0] * group.rows
    for i, rows in enumerate(group.nodes):
        for r in rows:
            target[r] = i + 1
    return target


def cell_paths(group: DecisionGroup) -> list[tuple[int, ...]]:
    """The rows along every path from the input (node 0) to the output (the last node), depth first."""
    target, out_node = _targets(group), len(group.nodes)
    paths: list[tuple[int, ...]] = []

    def walk(node: int, rows: tuple[int, ...]) -> None:
        if node == out_node:
            paths.append(rows)
            return
        for r in range(group.rows):
            if group.sources[r] == node:
                walk(target[r], (*rows, r))

    walk(0, ())
    return paths


class PathEncoding:
    """Binary path features; ``cutoff`` keeps the first features only (BANANAS's truncated encoding).

    Feature index of a path of length L with options o_1 .. o_L (n options per row): the count of shorter
    sequences, sum_{l < L} n^l, plus sum_j o_j n^(j-1) (the release's ``get_path_indices``).
    """

    def __init__(self, space: SearchSpace, cutoff: int | None = None) -> None:
        self.parts: list[tuple[int, list[tuple[int, ...]], int]] = []  # (offset, paths, n options)
        self.size = 0
        for g, offset in _dag_groups(space, "the path encoding"):
            counts = {len(d.options) for d in g.decisions}
            if len(counts) != 1:
                raise ConfigError(f"the path encoding needs the same options on every row of group {g.name!r}")
            n = counts.pop()
            paths = [tuple(offset + r for r in p) for p in cell_paths(g)]
            self.parts.append((self.size, paths, n))
            self.size += sum(n ** length for length in range(1, max(map(len, paths)) + 1))
        self.cutoff = self.size if cutoff is None else min(int(cutoff), self.size)

    def indices(self, arch: Arch) -> list[int]:
        """The feature index of every path of ``arch``."""
        out = []
        for start, paths, n in self.parts:
            for path in paths:
                index = start + sum(n ** length for length in range(1, len(path)))
                index += sum(arch[row] * n ** j for j, row in enumerate(path))
                out.append(index)
        return out

    def encode(self, archs: Sequence[Arch]) -> torch.Tensor:
        x = torch.zeros(len(archs), self.size)
        for i, arch in enumerate(archs):
            x[i, self.indices(arch)] = 1.0
        return x[:, : self.cutoff]


class CellGraph:
    """Nodes: the input, one node per flat row (its option one-hot), the output; edges follow the DAG."""

    def __init__(self, space: SearchSpace) -> None:
        groups = _dag_groups(space, "the graph predictor")
        self.width = max(g.width for g, _ in groups)
        rows = sum(g.rows for g, _ in groups)
        self.nodes = rows + 2  # node 0: input, 1 + row: that row's option, last: output
        self.features = self.width + 2  # input flag, the options, output flag
        adj = torch.zeros(self.nodes, self.nodes)
        for g, offset in groups:
            target, out_node = _targets(g), len(g.nodes)
            for r in range(g.rows):
                if g.sources[r] == 0:
                    adj[0, 1 + offset + r] = 1.0
                if target[r] == out_node:
                    adj[1 + offset + r, self.nodes - 1] = 1.0
                for r2 in range(g.rows):
                    if g.sources[r2] == target[r] and target[r] != out_node:
                        adj[1 + offset + r, 1 + offset + r2] = 1.0
        self.adjacency = adj  # adj[i, j] = 1: an edge i -> j

    def encode(self, archs: Sequence[Arch]) -> torch.Tensor:
        """[n, nodes, features] one-hot node features."""
        x = torch.zeros(len(archs), self.nodes, self.features)
        x[:, 0, 0] = 1.0
        x[:, -1, -1] = 1.0
        for i, arch in enumerate(archs):
            for row, option in enumerate(arch):
                x[i, 1 + row, 1 + option] = 1.0
        return x


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


def _linear(fan_in: int, fan_out: int, generator: torch.Generator, weight_bound: float,
            bias_bound: float) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out)
    with torch.no_grad():
        layer.weight.copy_(_uniform((fan_out, fan_in), weight_bound, generator))
        layer.bias.copy_(_uniform((fan_out,), bias_bound, generator))
    return layer


def _batches(n: int, size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A shuffled pass over ``n`` items in minibatches of ``size`` (the last one shorter)."""
    order = torch.randperm(n, generator=generator)
    return list(order.split(size))


class MLPEnsemble:
    """BANANAS's meta neural network: ``members`` ReLU MLPs (``layers`` x ``width``) fitted to the same data.

    Each member: Glorot-uniform weights and zero biases (Keras's Dense defaults, the release's framework),
    Adam (lr, betas (0.9, 0.99), eps 1e-7: Keras's), mean absolute error, minibatches of ``batch`` reshuffled
    every epoch. Members differ only by their random initialization and batch order.
    """

    def __init__(self, members: int, layers: int, width: int, epochs: int, batch: int, lr: float) -> None:
        self.members, self.layers, self.width = members, layers, width
        self.epochs, self.batch, self.lr = epochs, batch, lr
        self.nets: list[nn.Sequential] = []

    def _net(self, inputs: int, generator: torch.Generator) -> nn.Sequential:
        sizes = [inputs] + [self.width] * self.layers
        modules: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            modules += [_linear(a, b, generator, math.sqrt(6 / (a + b)), 0.0), nn.ReLU()]
        modules.append(_linear(sizes[-1], 1, generator, math.sqrt(6 / (sizes[-1] + 1)), 0.0))
        return nn.Sequential(*modules)

    def fit(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> None:
        self.nets = []
        for _ in range(self.members):
            net = self._net(x.shape[1], generator)
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, betas=(0.9, 0.99), eps=1e-7)
            for _ in range(self.epochs):
                for idx in _batches(len(x), self.batch, generator):
                    opt.zero_grad(set_to_none=True)
                    F.l1_loss(net(x[idx]).squeeze(-1), y[idx]).backward()
                    opt.step()
            self.nets.append(net)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """[members, n] predictions."""
        return torch.stack([net(x).squeeze(-1) for net in self.nets])


def independent_thompson(predictions: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """BANANAS's ITS: per candidate an independent draw from N(mean, std^2) of the ensemble's predictions
    (population std, as ``np.var``); returns the candidates ordered by their draw, lowest first."""
    mean = predictions.mean(dim=0)
    std = predictions.std(dim=0, correction=0)
    draws = mean + std * torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
    return torch.sort(draws, stable=True).indices


class GinPredictor(nn.Module):
    """NPENAS-NP's predictor: 3 GIN layers (h <- MLP(h + sum of in-neighbours), MLP = Linear-ReLU-Linear,
    width 32), each followed by ReLU and batch norm; mean over nodes; Linear(32, 16), ReLU, dropout 0.1,
    Linear(16, 1), sigmoid, times ``scale`` (the release's ``rate``)."""

    def __init__(self, graph: CellGraph, generator: torch.Generator, hidden: int = 32, head: int = 16,
                 dropout: float = 0.1, scale: float = 10.0) -> None:
        super().__init__()
        self.register_buffer("adjacency_t", graph.adjacency.t().contiguous())
        self.generator, self.dropout, self.scale = generator, dropout, scale
        sizes = [graph.features, hidden, hidden, hidden]
        self.gin = nn.ModuleList()
        for a in sizes[:-1]:
            # torch.nn.Linear's default init (PyG's GINConv MLP): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            self.gin.append(nn.Sequential(_linear(a, hidden, generator, 1 / math.sqrt(a), 1 / math.sqrt(a)),
                                          nn.ReLU(),
                                          _linear(hidden, hidden, generator, 1 / math.sqrt(hidden),
                                                  1 / math.sqrt(hidden))))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in sizes[:-1])
        # kaiming_uniform_(a=1), zero bias (the release's init of its two head layers)
        self.before = _linear(hidden, head, generator, math.sqrt(3 / hidden), 0.0)
        self.out = _linear(head, 1, generator, math.sqrt(3 / head), 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[n, nodes, features] -> [n] predictions in (0, scale)."""
        h = x
        for mlp, norm in zip(self.gin, self.norms, strict=True):
            h = F.relu(mlp(h + self.adjacency_t @ h))
            h = norm(h.reshape(-1, h.shape[-1])).reshape(h.shape)
        z = F.relu(self.before(h.mean(dim=1)))
        if self.training and self.dropout > 0:
            keep = torch.rand(z.shape, generator=self.generator) >= self.dropout
            z = z * keep / (1 - self.dropout)
        return torch.sigmoid(self.out(z)).squeeze(-1) * self.scale

    def fit(self, x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int, lr: float,
            weight_decay: float) -> None:
        """MSE on minibatches of ``batch`` graphs; Adam betas (0, 0.9), biases at twice the rate and without
        weight decay; the rate follows a cosine over all steps (the release's ``CosineLR``)."""
        groups = [{"params": [p], "lr": 2 * lr if "bias" in name else lr,
                   "weight_decay": 0.0 if "bias" in name else weight_decay}
                  for name, p in self.named_parameters()]
        opt = torch.optim.Adam(groups, lr=lr, betas=(0.0, 0.9))
        base = [g["lr"] for g in opt.param_groups]
        total = max(int(epochs * len(x) / batch), 1)
        step = 0
        self.train()
        for _ in range(epochs):
            for idx in _batches(len(x), batch, self.generator):
                step += 1
                for g, b in zip(opt.param_groups, base, strict=True):
                    g["lr"] = 0.5 * b * (1 + math.cos(math.pi * min(step, total) / total))
                opt.zero_grad(set_to_none=True)
                F.mse_loss(self(x[idx]), y[idx]).backward()
                opt.step()
        self.eval()

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.eval()
        return self(x)
