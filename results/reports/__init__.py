"""Reports: the papers' tables and figures regenerated from whatever a results store holds.

``build_report(store, out_dir)`` writes GAEA Table 2, an overview table of every method x benchmark x
dataset, the GAEA figures (entropy, 1Shot1 regret, NB201 learning curves, XNAS) and ``index.html``.
Items whose runs the store lacks are listed with the ``harness run`` command that produces them.
"""

from results.reports.build import Report, build_report

__all__ = ["Report", "build_report"]
