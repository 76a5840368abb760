"""SETN (Dong, Yang. One-Shot Neural Architecture Search via Self-Evaluated Template Network. ICCV 2019).

Two parts, as in the NAS-Bench-201 reference (AutoDL-Projects exps/algos/SETN.py, scripts-search/algos/SETN.sh,
configs/nas-benchmark/algos/SETN.config), whose runs gave the NAS-Bench-201 paper's SETN row:

- the *template network*: the shared weights train on single paths drawn uniformly, one architecture per
  minibatch shared by all cells (the ``uniform-path`` sampler; the reference's ``dync_genotype(True)``), the
  weight step first;
- the *evaluator*: softmax(alpha) per decision (init 1e-3 N(0, 1)), trained after each weight step on the
  arch batch through the DARTS mixture of all ops (the reference's ``joint`` mode), Adam lr 3e-4, betas
  (0.5, 0.999), weight decay 1e-3.

What ``derive()`` returns each epoch: at the end of epoch e >= 1, the ``setn_candidates`` = 100 architectures
of highest log-probability under the evaluator (sum over decisions of log softmax(alpha); the reference's
``return_topK``, here found by a best-first walk, not by enumerating the space) are each scored with the shared
weights on ``setn_eval_batches`` = 8 batches of 64 arch-stream images (one 512-image batch, the reference's
``test_batch_size``; BN in inference mode; ``methods.candidates``), and the most accurate one (the first, i.e.
the more probable, on ties) is epoch e's architecture; the supernet's metrics run it as a single path. At epoch
0 (nothing trained) it is the evaluator's most probable architecture, the argmax of alpha. Probabilities and
entropy are the evaluator's softmax(alpha).

In the DARTS space (which the reference's SETN does not search) a node's inputs have no evaluator weights: a
candidate's log-probability sums those of the ops on the edges it keeps (``methods.candidates``), so the top
100 are distinct cells and the most probable one is DARTS's derivation (each node's 2 inputs with the strongest
non-``none`` op).

The SETN paper samples candidates from the evaluator; its NAS-Bench-201 runs took the top 100 by
probability, which is the default here. Departures: the reference scores on un-augmented validation images,
here on the arch stream as RS-WS does; its URS mode draws a path per cell, the dynamic mode it trains with
(and this) one path for all cells.
"""

from __future__ import annotations

import torch

from benchmarks.space import Selection
from methods.base import MethodEntry, QuotedResult
from methods.candidates import CandidateSearch, space_size, top_k_selections
from methods.darts import DARTS_ARCH_ADAM, DARTS_ARCH_ADAM_TYPES
from methods.loop import STEP_ORDER_TYPES
from methods.relaxations import Relaxation, SoftmaxLogits
from nasbench_settings import integer


class Setn(CandidateSearch):
    """Uniform single-path weight training, a DARTS-trained evaluator, and the best of its top-K candidates."""

    sampling = {"sampler": "dense", "edge_sampler": None, "weight_sampler": "uniform-path"}
    count_keys = ("setn_candidates", "setn_eval_batches")

    def build_relaxation(self) -> Relaxation:
        return SoftmaxLogits(self.space, self.generator, init_scale=float(self.config["arch_init_scale"]))

    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.relaxation.parameters(), lr=float(self.config["arch_lr"]),
                                betas=tuple(self.config["arch_betas"]),
                                weight_decay=float(self.config["arch_weight_decay"]))

    def initial_architecture(self) -> Selection:
        return self.relaxation.derive()

    def candidates(self) -> list[Selection]:
        wanted = min(int(self.config["setn_candidates"]), space_size(self.space))
        return top_k_selections(self.space, self.relaxation.probabilities(), wanted)


_NB201 = ("Dong & Yang, ICLR 2020 (NAS-Bench-201), SETN, search on CIFAR-10 (transfer); as quoted in "
          "Li et al., ICLR 2021 (GAEA) Table 2")

ENTRIES = (
    MethodEntry(
        name="setn",
        cls=Setn,
        families=("setn",),
        title="SETN (self-evaluated template network)",
        paper="Dong, Yang. One-Shot Neural Architecture Search via Self-Evaluated Template Network. ICCV 2019",
        relaxation="template network trained on uniform single paths; evaluator softmax(alpha) per decision",
        update_rule="w <- SGD(grad_w L_train(w, a)), a ~ Unif(A); alpha <- Adam(grad_alpha L_arch(w, softmax(alpha))); "
                    "per epoch the best of the 100 most probable architectures by shared-weight accuracy on 512 "
                    "search-valid images",
        default_setting="bilevel",
        defaults={**DARTS_ARCH_ADAM, "setn_candidates": 100, "setn_eval_batches": 8, "epochs": 250,
                  "warmup_epochs": 0, "step_order": "weights_first", "exclude_none": False},
        choices={
            "setn_candidates": "100 (SETN.sh select_num)",
            "setn_eval_batches": "8 x 64 = one 512-image batch (SETN.config test_batch_size)",
            "epochs": "250 (SETN.config)",
            "step_order": "weights_first (SETN.py search_func) | arch_first",
            "candidates": "the top 100 by evaluator probability (the NB201 reference's return_topK) | sampling "
                          "from the evaluator (the SETN paper's wording): not built",
            "weight optimizer": "NB201 preset (wd 3e-4, no Nesterov) | SETN.config: wd 5e-4, Nesterov (not an option)",
        },
        order=6,
        types={**DARTS_ARCH_ADAM_TYPES, **STEP_ORDER_TYPES,
               "setn_candidates": integer(ge=1, help="most probable cells of the evaluator scored at each epoch's end"),
               "setn_eval_batches": integer(ge=1, help="arch-stream batches each candidate is scored on")},
        quoted=(
            QuotedResult("nb201", "cifar10", "test_acc", 87.64, 0.00, _NB201),
            QuotedResult("nb201", "cifar100", "test_acc", 59.05, 0.24, _NB201),
            QuotedResult("nb201", "ImageNet16-120", "test_acc", 32.52, 0.21, _NB201),
        ),
    ),
)
