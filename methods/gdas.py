"""GDAS (Dong & Yang 2019) and GAEA GDAS (Li et al. 2021): single-path search by hard Gumbel-max sampling.

Both are entries, not classes: DARTS's relaxation and Adam (``methods.darts.Darts``) or GAEA's simplex
and EG step (``methods.gaea.GaeaDarts``) with the ``gumbel-hard`` sampler (``methods.samplers``). Every
forward draws one op per operation row, h = onehot(argmax p) - sg(p) + p with p = softmax((logits + g) / tau)
(``methods.gumbel``); the supernet computes only the sampled op in the forward and backward pass. The
weight step uses a fresh sample (detached), the architecture step another one whose straight-through
gradient reaches the architecture parameters. tau decays linearly from ``tau_max`` to ``tau_min`` over the
epochs after the warm-up (spec 1.4, GAEA GDAS sampling [C]; AutoDL-Projects GDAS.py ``set_tau``).

Rows of role ``edges`` (which inputs feed a node: NAS-Bench-1Shot1's input/output weights, the DARTS
space's node inputs; NB201 has none) use the soft Gumbel-softmax p itself (``edge_sampler=gumbel-soft``), as
the NAS-Bench-1Shot1 GDAS reference does (optimizers/gdas/model_search.py: hard only for the mixed ops,
"Don't use hard for the rest, because it very quickly gave exploding gradients"), so every input keeps a
weight; ``edge_sampler=gumbel-hard`` gives every node exactly one sampled parent (the harness before this
option). The reference draws a fresh sample for every cell; here one sample serves all cells of a step.

The gradient of a non-sampled op's weight (``unsampled_grad``): its op is never computed, so its
output is unknown. ``scalar`` (default) asks the supernet to add the zero weight itself to the edge's
target node (``zero_ops="scalar"``), so the weight's gradient is the sum of the node's upstream
gradient, as the released code does (AutoDL-Projects ``forward_gdas``, also what GAEA's release runs;
the maintainer explains in AutoDL-Projects#36 that this lets the gradient reach every architecture
parameter). ``zero`` gives those weights no gradient, so only the sampled entry's softmax Jacobian row
reaches alpha (AutoDL-Projects ``forward_gdas_v1``, issue #119).

- ``gdas``: logits alpha (init 1e-3 N(0, 1)); Adam lr 3e-4, betas (0.5, 0.999), weight decay 1e-3
  (AutoDL-Projects exps/NAS-Bench-201-algos/GDAS.py and scripts-search/algos/GDAS.sh); 250 epochs
  (P0 C.3: "GDAS in NB201: 250"); the weight step before the arch step (GDAS.py ``search_func``).
- ``gaea-gdas``: theta on the simplex, logits = log theta in the sampler, exponentiated gradient through
  ``methods.eg`` with step 0.1 (P0 C.3); 150 epochs; the arch step first (gaea_release train_search.py).
  The released config (method_egdas_space_nasbench201.yaml) differs: arch lr 0.01, arch_weight_decay
  0.01 (KL-to-uniform regularizer), warmup_epochs 50; each is an option.

``eval_weights`` (the supernet's "continuous" metric) is the probability mixture softmax(alpha) or
theta: deterministic, unlike a sampled path; the discrete metric uses the argmax path as for every method.
"""

from __future__ import annotations

from methods.base import MethodEntry
from methods.darts import DARTS_ARCH_ADAM_TYPES, Darts
from methods.gaea import GAEA_EG_TYPES, GaeaDarts
from methods.loop import STEP_ORDER_TYPES
from methods.samplers import SAMPLER_TYPES, TEMPERATURE_TYPES
from nasbench_settings import number, one_of

#: GDAS's sampling: one op per operation row; soft Gumbel-softmax weights on input/output rows (1Shot1 reference)
GDAS_SAMPLING = {"sampler": "gumbel-hard", "edge_sampler": "gumbel-soft"}
_SCHEDULE = {**GDAS_SAMPLING, "tau_max": 10.0, "tau_min": 0.1, "unsampled_grad": "scalar", "exclude_none": False}
_SCHEDULE_TYPES = {
    **TEMPERATURE_TYPES, **SAMPLER_TYPES,
    "unsampled_grad": one_of("scalar", "zero", help="gradient of the unsampled options' weights"),
    **STEP_ORDER_TYPES,
}
_CHOICES = {
    "unsampled_grad": "scalar (released code forward_gdas; AutoDL-Projects#36) | zero (forward_gdas_v1, #119: "
                      "only the sampled weight gets a gradient)",
    "tau_max, tau_min": "10 -> 0.1 linear (GDAS.sh; gaea_release egdas config)",
    "edge_sampler": "gumbel-soft: input/output (edge) rows get soft Gumbel-softmax weights (NAS-Bench-1Shot1 GDAS "
                    "model_search.py) | gumbel-hard: one sampled parent per node (the harness before issue 14)",
}

ENTRIES = (
    MethodEntry(
        name="gdas",
        cls=Darts,
        families=("gdas",),
        title="GDAS",
        paper="Dong, Yang. Searching for A Robust Neural Architecture in Four GPU Hours. CVPR 2019",
        relaxation="categorical softmax(alpha) per decision; one hard Gumbel-max sample per forward",
        update_rule="h = onehot(argmax p) - sg(p) + p, p = softmax((alpha + g)/tau); alpha <- Adam(grad L_arch(w, h)); "
                    "w <- SGD(grad_w L_train(w, h')) through the sampled ops only",
        default_setting="bilevel",
        defaults={"arch_lr": 3e-4, "arch_betas": (0.5, 0.999), "arch_weight_decay": 1e-3, "arch_init_scale": 1e-3,
                  "epochs": 250, "warmup_epochs": 0, "step_order": "weights_first", **_SCHEDULE},
        choices={
            **_CHOICES,
            "epochs": "250 (P0 C.3, NB201 paper) | 240 (AutoDL configs/nas-benchmark/algos/GDAS.config)",
            "step_order": "weights_first (AutoDL GDAS.py search_func) | arch_first (the GAEA/DARTS/PC-DARTS loop)",
            "weight optimizer": "NB201 preset (wd 3e-4, no Nesterov) | GDAS.config: wd 5e-4, Nesterov (not an option)",
        },
        order=30,
        types={**DARTS_ARCH_ADAM_TYPES, **_SCHEDULE_TYPES},
    ),
    MethodEntry(
        name="gaea-gdas",
        cls=GaeaDarts,
        families=("gaea", "gdas"),
        title="GAEA GDAS",
        paper="Li, Khodak, Balcan, Talwalkar. Geometry-Aware Gradient Algorithms for NAS. ICLR 2021",
        relaxation="theta on the per-decision simplex; one hard Gumbel-max sample of log theta per forward",
        update_rule="h = onehot(argmax p) - sg(p) + p, p = softmax((log theta + g)/tau); "
                    "theta <- normalize(theta * exp(-0.1 grad_theta L_arch(w, h))); w <- SGD through the sampled ops",
        default_setting="bilevel",
        defaults={"arch_lr": 0.1, "eg_floor": 0.0, "arch_weight_decay": 0.0, "epochs": 150, "warmup_epochs": 0,
                  "step_order": "arch_first", **_SCHEDULE},
        choices={
            **_CHOICES,
            "arch_lr": "0.1 (P0 C.3) | 0.01 (released method_egdas_space_nasbench201.yaml, contradicting P0 C.3)",
            "arch_weight_decay": "0 (P0 §4: no arch weight decay) | 0.01 (released config: KL-to-uniform regularizer)",
            "warmup_epochs": "0 (paper: GDAS settings) | 50 (released config; tau then starts decaying after it)",
            "eg_floor": "0 (paper Eq. 8) | 1e-5 (released code; its egdas architect clamps after normalizing, "
                        "here clamp then renormalize as methods.eg does: row sums differ by < 5e-5)",
            "step_order": "arch_first (gaea_release train_search.py) | weights_first (GDAS's code)",
        },
        order=31,
        types={**GAEA_EG_TYPES, **_SCHEDULE_TYPES,
               "arch_weight_decay": number(ge=0, help="weight of the KL-to-uniform regularizer of theta (not "
                                                       "Adam's weight decay as in gdas)")},
    ),
)
