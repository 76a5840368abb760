"""ReinMax (Liu, Dong, Liu, Yu, Gao. NeurIPS 2023) as a NAS method: GDAS with the ReinMax estimator.

ReinMax is a gradient estimator for categorical samples, "Straight-Through and beyond" to second order
(``methods.gumbel.reinmax``): the forward value is a one-hot sample D of softmax(alpha), the backward
dL/dalpha = 2 J(pi_1) g - J(softmax(alpha)) g / 2 with pi_1 = (softmax(alpha / tau) + D) / 2. In NAS it
replaces GDAS's straight-through Gumbel estimator, as confopt does (its ReinMaxSampler is its GDAS sampler
with ``reinmax`` in place of the hard Gumbel-softmax, and its ReinMaxProfile is the GDAS profile): DARTS's
logits and Adam, one sampled op per operation row for every weight and architecture step, soft
Gumbel-softmax weights on edge rows (GDAS's ``edge_sampler``), GDAS's NB201 preset.

Temperature: GDAS's linear schedule from 10, but down to ``tau_min`` = 1 (default), not 0.1: the ReinMax
paper's estimator is meant for tau >= 1 and its released package refuses tau < 1, which confopt's GDAS
profile (10 -> 0.1) reaches in the last epochs. A ``tau_min`` below 1 is a config error.

The ReinMax paper reports no NAS benchmark numbers (its experiments: polynomial programming, ListOps parsing,
MNIST VAEs), so no reference rows are quoted.
"""

from __future__ import annotations

from methods.base import MethodEntry
from methods.darts import Darts
from methods.gdas import ENTRIES as GDAS_ENTRIES

_GDAS = GDAS_ENTRIES[0]

ENTRIES = (
    MethodEntry(
        name="reinmax",
        cls=Darts,
        families=("reinmax",),
        title="ReinMax (GDAS-style sampling)",
        paper="Liu, Dong, Liu, Yu, Gao. Bridging Discrete and Backpropagation: Straight-Through and Beyond. "
              "NeurIPS 2023",
        relaxation="categorical softmax(alpha) per decision; one sample D of softmax(alpha) per forward (Gumbel-max), "
                   "soft Gumbel-softmax on edge rows",
        update_rule="D forward; dL/dalpha = 2 J((softmax(alpha/tau) + D)/2) dL/dD - J(softmax(alpha)) dL/dD / 2; "
                    "alpha <- Adam; w <- SGD through the sampled ops only",
        default_setting="bilevel",
        defaults={**_GDAS.defaults, "sampler": "reinmax", "tau_min": 1.0},
        choices={
            **{k: v for k, v in _GDAS.choices.items() if k != "tau_max, tau_min"},
            "tau_max, tau_min": "10 -> 1 linear (GDAS's schedule, floored at ReinMax's tau >= 1) | any tau_min >= 1",
        },
        order=33,
        types=_GDAS.types,
    ),
)
