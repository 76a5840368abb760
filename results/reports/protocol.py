"""Whether a variant's runs followed the paper's protocol, so that "ours minus the paper's" means something.

A difference from a paper's number is shown only for runs made with the ``paper`` profile (the papers'
network size, data and search epochs), with no setting changed by ``--set`` other than ones that change
how the numbers are computed and not what (``channels_last``: float rounding only), and looked up in the
table the paper reports (NAS-Bench-201's 200-epoch table). Everywhere else the cell says why the numbers
are not comparable. Tables, the overview and the notebook all ask ``protocol_gap``.
"""

from __future__ import annotations

from results.reports.data import BUDGET_NAMES, Variant

PAPER_PROFILE = "paper"
#: settings that change how a run computes, not what: memory layout only (bf16 changes numbers beyond rounding)
NEUTRAL_SETTINGS = frozenset({"channels_last"})
#: the oracle budget the papers report, for benchmarks whose tables hold several
PAPER_BUDGETS: dict[str, str] = {"nb201": "hp200"}


def protocol_gap(variant: Variant) -> str | None:
    """Why ``variant``'s numbers cannot be compared with the paper's, or None when they can."""
    reasons = []
    changed = [k for k in (o.partition("=")[0] for o in variant.overrides) if k not in NEUTRAL_SETTINGS]
    if variant.profile != PAPER_PROFILE:
        reasons.append(f"{variant.profile}{'+set' if changed else ''} profile")
    elif changed:
        reasons.append("--set " + ", ".join(changed))
    paper_budget = PAPER_BUDGETS.get(variant.benchmark)
    if paper_budget is not None and variant.budget != paper_budget:
        reasons.append(BUDGET_NAMES.get(variant.budget, f"{variant.budget} table"))
    return ", ".join(reasons) or None


def not_comparable(variant: Variant) -> str | None:
    """The text a difference cell shows instead of a number, or None when the difference is meaningful."""
    gap = protocol_gap(variant)
    return None if gap is None else f"not comparable: {gap}"


def protocol_text(variant: Variant) -> str:
    """One cell saying whether the runs followed the paper's protocol."""
    gap = protocol_gap(variant)
    return "paper" if gap is None else f"no: {gap}"
