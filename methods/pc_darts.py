"""PC-DARTS (Xu et al. 2020) and GAEA PC-DARTS (Li et al. 2021): partial channels plus edge normalization.

Both parts compose from shared pieces, nothing here re-implements a cell:

- partial channels are a supernet option: the entries set ``partial_channels`` = K = 4, so only C/K
  channels of each edge's input go through the ops and the rest bypass them, followed by a channel
  shuffle (PC-DARTS model_search.py ``MixedOp``);
- edge normalization is a relaxation option (``edge_normalization=True``): one weight per row, normalized
  over the rows feeding the same node (``DecisionGroup.nodes``), folded into the op weights passed to the
  supernet (weight of op o on row r = edge weight of r x op weight [r, o]).

On NB201 there is no edge pruning: the derived cell is the argmax op per row (spec 1.5); the edge
weights only rescale the supernet's edges during search. Their entropy is logged as ``H_edges`` (mean
over nodes with at least two inputs: a single-input node has no choice and is always 0).

- ``pc-darts``: alpha and beta softmax logits (init 1e-3 N(0, 1)), Adam lr 6e-4, betas (0.5, 0.999),
  weight decay 1e-3, architecture frozen for 15 warm-up epochs (spec 6.1 row 8 [C]; PC-DARTS
  train_search.py); 50 search epochs (train_search.py; NB201 has no paper value).
- ``gaea-pc-darts``: op weights on per-row simplices and edge weights on per-node simplices, both uniform
  at init and updated by the shared exponentiated-gradient step (``methods.eg``), op step 0.1 (P0 C.1) and
  edge step 0.1 (gaea_release ``edge_learning_rate``); 10 warm-up epochs, the DARTS-space value (P0 C.1),
  kept on NB201 with the 50-epoch run of gaea_release's PC-DARTS search (same fraction of the run).
"""

from __future__ import annotations

import torch

from methods.base import MethodEntry
from methods.darts import DARTS_ARCH_ADAM_TYPES, Darts
from methods.eg import ExponentiatedGradient
from methods.entropy import mean_entropy, normalized_mean_entropy
from methods.gaea import GAEA_EG_TYPES, GaeaDarts
from methods.relaxations import Relaxation, Simplex, SoftmaxLogits
from nasbench_settings import integer, number


def edge_entropy_fields(relaxation: Relaxation) -> dict[str, float]:
    """H_edges (mean entropy of the node input-edge distributions) and H_edges_norm (each / ln #inputs),
    over nodes with at least two inputs; empty when there are none."""
    probs = relaxation.edge_probabilities()
    rows, masks = [], []
    for g in relaxation.edge_groups:
        choice = g.mask.sum(dim=-1) > 1
        rows.append(probs[g.name].cpu()[choice])
        masks.append(g.mask[choice])
    if not rows or sum(r.shape[0] for r in rows) == 0:
        return {}
    p, m = torch.cat(rows), torch.cat(masks)
    return {"H_edges": mean_entropy(p), "H_edges_norm": normalized_mean_entropy(p, m)}


class PcDarts(Darts):
    """DARTS's softmax logits and Adam, with softmax edge logits beta per node folded into the op weights."""

    def build_relaxation(self) -> Relaxation:
        return SoftmaxLogits(self.space, self.generator, init_scale=float(self.config["arch_init_scale"]),
                             edge_normalization=True)

    def epoch_fields(self) -> dict[str, float]:
        return {**super().epoch_fields(), **edge_entropy_fields(self.relaxation)}


class GaeaPcDarts(GaeaDarts):
    """GAEA's simplices for op weights and for each node's edge weights; one EG optimizer, two step sizes."""

    def build_relaxation(self) -> Relaxation:
        return Simplex(self.space, edge_normalization=True)

    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        edge_names = self.relaxation.edge_weight_names
        params = self.relaxation.params
        groups = [{"params": [p for n, p in params.items() if n not in edge_names]}]
        edges = [p for n, p in params.items() if n in edge_names]
        if edges:
            # the released code floors op weights only (architect_edarts.py renormalizes edges per node)
            groups.append({"params": edges, "lr": float(self.config["edge_lr"]), "floor": 0.0})
        return ExponentiatedGradient(groups, lr=float(self.config["arch_lr"]), floor=float(self.config["eg_floor"]))

    def epoch_fields(self) -> dict[str, float]:
        return {**super().epoch_fields(), "lr_edges": float(self.config["edge_lr"]),
                **edge_entropy_fields(self.relaxation)}


_PARTIAL = {"partial_channels": 4, "epochs": 50, "exclude_none": False}
PARTIAL_TYPES = {"partial_channels": integer(ge=1, help="K: the ops see 1/K of the channels (1: all of them)")}

ENTRIES = (
    MethodEntry(
        name="pc-darts",
        cls=PcDarts,
        families=("pc-darts", "darts"),
        title="PC-DARTS",
        paper="Xu, Xie, Zhang, Chen, Qi, Tian, Xiong. PC-DARTS: Partial Channel Connections for "
              "Memory-Efficient Architecture Search. ICLR 2020",
        relaxation="softmax(alpha) mixture on 1/K of the channels (K=4, channel shuffle) x per-node softmax(beta) "
                   "edge weights",
        update_rule="(alpha, beta) <- Adam(grad L_arch(w, alpha, beta)) after 15 warm-up epochs; "
                    "w <- SGD(grad_w L_train)",
        default_setting="bilevel",
        defaults={"arch_lr": 6e-4, "arch_betas": (0.5, 0.999), "arch_weight_decay": 1e-3, "arch_init_scale": 1e-3,
                  "warmup_epochs": 15, **_PARTIAL},
        # 1Shot1's PC-DARTS train_search.py: arch Adam lr 3e-4, no warm start (spec 1.6.4 [C])
        # DARTS space (nb301): PC-DARTS train_search.py weights, batch 256, lr 0.1 cosine to 0.001 (spec 1.6.1 [C])
        per_benchmark={"nb1shot1": {"arch_lr": 3e-4, "warmup_epochs": 0},
                       "nb301": {"batch_size": 256, "lr": 0.1, "lr_min": 0.001}},
        choices={
            "arch_lr": "6e-4 (the released PC-DARTS train_search.py of Xu et al., ICLR 2020) | 3e-4 (1Shot1's "
                       "PC-DARTS: its per-benchmark value once 1Shot1 exists)",
            "epochs": "50 (PC-DARTS train_search.py on the DARTS space; no NB201 value in any paper)",
            "partial_channels": "4 (PC-DARTS K) | 1: every channel through the ops (edge normalization only)",
            "weight optimizer": "NB201 preset | PC-DARTS DARTS-space batch 256, lr 0.1 (not used on NB201)",
        },
        order=40,
        types={**DARTS_ARCH_ADAM_TYPES, **PARTIAL_TYPES},
    ),
    MethodEntry(
        name="gaea-pc-darts",
        cls=GaeaPcDarts,
        families=("gaea", "pc-darts", "darts"),
        title="GAEA PC-DARTS",
        paper="Li, Khodak, Balcan, Talwalkar. Geometry-Aware Gradient Algorithms for NAS. ICLR 2021",
        relaxation="theta on per-row op simplices on 1/K of the channels (K=4) x per-node edge simplices",
        update_rule="theta_op, theta_edge <- normalize(. * exp(-0.1 grad L_arch)) per row / per node after 10 "
                    "warm-up epochs; w <- SGD(grad_w L_train)",
        default_setting="bilevel",
        defaults={"arch_lr": 0.1, "edge_lr": 0.1, "eg_floor": 0.0, "warmup_epochs": 10, **_PARTIAL},
        # 1Shot1 (P0 C.2): uniform init, EG step 0.1 the only architecture setting; no warm start there
        # DARTS space (nb301): GAEA's stage-1 config, batch 256, lr 0.1 cosine to 0.0 (P0 C.1.1; PC-DARTS's code
        # anneals to 0.001: AMBIGUOUS, spec 1.6.1)
        per_benchmark={"nb1shot1": {"warmup_epochs": 0}, "nb301": {"batch_size": 256, "lr": 0.1, "lr_min": 0.0}},
        choices={
            "warmup_epochs": "10 (P0 C.1, DARTS space; kept on NB201: 10 of 50 epochs as in gaea_release's "
                             "PC-DARTS search)",
            "edge_lr": "0.1 (gaea_release edge_learning_rate)",
            "eg_floor": "0 (paper Eq. 8) | 1e-5 (released code clamps op weights; edge weights never)",
            "epochs": "50 (gaea_release run.epochs for the PC-DARTS search; NB201 has no paper value)",
            "partial_channels": "4 (PC-DARTS K) | 1",
        },
        order=41,
        types={**GAEA_EG_TYPES, **PARTIAL_TYPES,
               "edge_lr": number(gt=0, help="exponentiated-gradient step size of the edge simplices")},
    ),
)
