"""RS: random search without weight sharing (NAS-Bench-201 Table 5 / GAEA Table 2 "RS").

Cells are drawn uniformly (with repetition, as the reference ``RANDOM.py``) and each is charged its
simulated training time; the result is the best by the 12-epoch validation accuracy. The sampling
distribution is uniform throughout, so the reported entropy is ln |O| per decision by design.
"""

from __future__ import annotations

from methods.base import MethodEntry
from methods.blackbox import BLACKBOX_CHOICES, BLACKBOX_DEFAULTS, BLACKBOX_TYPES, Arch, BlackBoxMethod


class RandomSearch(BlackBoxMethod):
    def propose(self) -> Arch:
        return self.random_arch()


ENTRIES = (
    MethodEntry(
        name="rs",
        cls=RandomSearch,
        families=("random-search", "black-box"),
        title="RS (random search, black-box)",
        paper="Bergstra, Bengio. Random Search for Hyper-Parameter Optimization. JMLR 2012; NAS-Bench-201 protocol",
        relaxation="none: uniform draws, no supernet",
        update_rule="a ~ Unif(A), charged 12 x its training seconds per epoch; keep the best hp12 validation "
                    "accuracy until the simulated budget is spent",
        default_setting="bilevel",
        defaults=dict(BLACKBOX_DEFAULTS),
        settings=("bilevel",),
        choices=dict(BLACKBOX_CHOICES),
        order=1,
        types=BLACKBOX_TYPES,
    ),
)
