"""DARTS genotypes as the inputs of the YAHPO Gym NAS-Bench-301 surrogate (``encoding_v2.json``).

The model takes ``x_cat`` int32 [B, 34] in YAHPO's ``cat_names`` order (yahpo_gym ``benchmarks/nb301.py``):
the op of normal edges 0..13, of reduce edges 0..13, then the input pair of normal nodes 3, 4, 5 and of
reduce nodes 3, 4, 5 (node 2 always takes both cell inputs); and ``x_cont`` float32 [B, 1], the training
epoch (1..98), raw. Categories are integer codes from ``encoding_v2.json``; an edge a node does not use
is inactive in ``config_space_v2.json`` and coded ``#na#`` (0), as yahpo_gym's ``_config_to_xs`` does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.darts.genotype import CELL_OPS, CELLS, EDGES, NODES, Genotype, input_pairs
from nasbench_errors import OracleError

PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
NA = "#na#"
EDGE_COLUMNS: dict[str, tuple[str, ...]] = {c: tuple(f"{PREFIX}edge_{c}_{e}" for e in range(len(EDGES))) for c in CELLS}
INPUT_NODES: tuple[int, ...] = NODES[1:]  # nodes whose inputs are a choice
INPUT_COLUMNS: dict[str, tuple[str, ...]] = {c: tuple(f"{PREFIX}inputs_node_{c}_{n}" for n in INPUT_NODES)
                                             for c in CELLS}
COLUMNS: tuple[str, ...] = (*EDGE_COLUMNS["normal"], *EDGE_COLUMNS["reduce"], *INPUT_COLUMNS["normal"],
                            *INPUT_COLUMNS["reduce"])


def pair_level(pair: tuple[int, int]) -> str:
    return f"{pair[0]}_{pair[1]}"


def _expected_levels(column: str) -> set[str]:
    if column.startswith(f"{PREFIX}edge_"):
        return {NA, *CELL_OPS}
    node = int(column.rsplit("_", 1)[1])
    return {NA, *(pair_level(p) for p in input_pairs(node))}


class Encoding:
    """The integer codes of every surrogate input; ``load`` checks the file describes this model's inputs."""

    def __init__(self, codes: dict[str, dict[str, int]], path: Path) -> None:
        self.codes, self.path = codes, path
        self._edge = {c: [codes[col] for col in EDGE_COLUMNS[c]] for c in CELLS}
        self._inputs = {c: [codes[col] for col in INPUT_COLUMNS[c]] for c in CELLS}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Encoding:
        path = Path(path)
        remedy = "give the encoding_v2.json of the YAHPO Gym nb301 surrogate"
        try:
            codes = json.loads(path.read_text())
        except FileNotFoundError:
            raise OracleError(f"{path}: encoding file not found; {remedy}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise OracleError(f"{path}: not a JSON encoding file ({exc}); {remedy}") from None
        if not isinstance(codes, dict) or set(codes) != set(COLUMNS):
            missing = sorted(set(COLUMNS) - set(codes)) if isinstance(codes, dict) else [COLUMNS[0]]
            raise OracleError(f"{path}: not the NAS-Bench-301 surrogate encoding (expected its {len(COLUMNS)} "
                              f"DARTS inputs{f', e.g. {missing[0]}' if missing else ''}); {remedy}")
        for column in COLUMNS:
            levels = codes[column]
            if (not isinstance(levels, dict) or set(levels) != _expected_levels(column) or levels[NA] != 0
                    or sorted(levels.values()) != list(range(len(levels)))):
                raise OracleError(f"{path}: the codes of {column} are not the surrogate's (levels "
                                  f"{sorted(_expected_levels(column))}, #na# = 0); {remedy}")
        return cls(codes, path)

    def encode(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        """``x_cat`` int32 [len(genotypes), 34]: inactive edges #na# (0)."""
        x = np.zeros((len(genotypes), len(COLUMNS)), dtype=np.int32)
        n_edges = len(EDGES)
        for b, genotype in enumerate(genotypes):
            for c, cell in enumerate(CELLS):
                pairs = genotype.cell(cell)
                for i, node in enumerate(NODES):
                    (op_a, a), (op_b, b_src) = pairs[2 * i], pairs[2 * i + 1]
                    for op, src in ((op_a, a), (op_b, b_src)):
                        e = EDGES.index((src, node))
                        x[b, c * n_edges + e] = self._edge[cell][e][op]
                    if node in INPUT_NODES:
                        j = INPUT_NODES.index(node)
                        x[b, 2 * n_edges + c * len(INPUT_NODES) + j] = self._inputs[cell][j][pair_level((a, b_src))]
        return x
