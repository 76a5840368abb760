"""RS-WS / RSPS: random search with weight sharing (Li & Talwalkar 2019; spec 1.1 and 6.1 row 10).

The weights follow SGD on single paths drawn uniformly (the ``uniform-path`` sampler), one architecture per
minibatch, from the method's own generator (checkpointed, so a resumed run draws the same paths). Nothing
about the architecture is learned: the distribution stays uniform (entropy ln |O| per decision, by design).
After every epoch ``rsws_candidates`` distinct architectures drawn uniformly are scored with the shared
weights on ``rsws_eval_batches`` batches each of the arch stream (``methods.candidates``: the search-valid
half in the bilevel setting; each candidate gets the next batches, cycling over the epoch's pass, joined
into one forward, BN in inference mode), and the most accurate one (the first on ties) is the epoch's
architecture.

Defaults follow the NAS-Bench-201 reference code, AutoDL-Projects exps/NATS-algos/search-cell.py
(``--algo random``): 100 candidates (``eval_candidate_num``), each on one valid batch of 512 images
(``test_batch_size`` in weight-sharing.config), i.e. 8 batches of the harness's 64, every epoch. The
RSPS release (liamcli/randomNAS_release ``get_eval_arch``) scores 1000 candidates on 10 batches of 64
once after training, then re-scores the best 10 on the whole validation split; that last stage is not
implemented. The NB201 paper's RSPS row ran 250 epochs (configs/nas-benchmark/algos/RANDOM.config).
"""

from __future__ import annotations

import torch

from benchmarks.space import Selection
from methods.base import MethodEntry
from methods.candidates import CandidateSearch, selection_key, space_size
from methods.relaxations import Relaxation
from nasbench_settings import integer

__all__ = ["RandomSearchWS", "Uniform", "space_size"]


class Uniform(Relaxation):
    """No parameters: every row is the uniform distribution over its real options."""

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        out = {}
        for g in self.groups:
            m = self.mask(g.name).to(torch.float32)
            out[g.name] = m / m.sum(dim=-1, keepdim=True)
        return out


class RandomSearchWS(CandidateSearch):
    """Uniform single-path weight training (the ``uniform-path`` sampler); the epoch's architecture is the best
    of ``rsws_candidates`` uniform draws."""

    sampling = {"sampler": "dense", "edge_sampler": None, "weight_sampler": "uniform-path"}

    def build_relaxation(self) -> Relaxation:
        return Uniform(self.space)

    def build_arch_optimizer(self) -> None:
        return None

    def updates_architecture(self, epoch: int) -> bool:
        return False

    def initial_architecture(self) -> Selection:
        """One uniform draw (the reference code starts from a random genotype)."""
        return self.space.uniform_selection_sample(self.generator)

    def candidates(self) -> list[Selection]:
        """``rsws_candidates`` distinct uniform draws (all architectures when the space is smaller)."""
        wanted = min(int(self.config["rsws_candidates"]), space_size(self.space))
        seen: dict[tuple, Selection] = {}
        while len(seen) < wanted:
            selection = self.space.uniform_selection_sample(self.generator)
            seen.setdefault(selection_key(selection), selection)
        return list(seen.values())


ENTRIES = (
    MethodEntry(
        name="rs-ws",
        cls=RandomSearchWS,
        families=("rs-ws", "random"),
        title="RS-WS / RSPS (random search with weight sharing)",
        paper="Li, Talwalkar. Random Search and Reproducibility for Neural Architecture Search. UAI 2019",
        relaxation="fixed uniform distribution over architectures (nothing learned)",
        update_rule="a ~ Unif(A) per minibatch, w <- SGD(grad_w L_train(w, a)); per epoch the best of "
                    "100 uniform candidates by shared-weight accuracy on 512 search-valid images",
        default_setting="bilevel",
        defaults={"rsws_candidates": 100, "rsws_eval_batches": 8, "epochs": 250, "exclude_none": False},
        choices={
            "rsws_candidates": "100 (NB201 reference: NATS-algos/search-cell.py eval_candidate_num) | 1000 "
                               "(RSPS release get_eval_arch)",
            "rsws_eval_batches": "8 x 64 = one 512-image batch (NB201 reference test_batch_size) | 10 (RSPS "
                                 "release: 10 minibatches of 64)",
            "epochs": "250 (NB201 RSPS, configs/nas-benchmark/algos/RANDOM.config) | 100 (NATS weight-sharing.config)",
            "selection stage": "per epoch, one scoring stage (NB201 reference) | RSPS's re-scoring of the top 10 "
                               "on the full validation split is not implemented",
        },
        order=5,
        types={"rsws_candidates": integer(ge=1, help="uniform candidates scored at the end of each epoch"),
               "rsws_eval_batches": integer(ge=1, help="search-valid minibatches each candidate is scored on")},
    ),
)
