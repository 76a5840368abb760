"""What reports read from a store: finished runs grouped into variants, their final epochs and curves.

A *variant* is a set of runs that differ only by seed: same benchmark, method, setting, profile, resolved
config and method and benchmark versions (so a quick-profile run is never pooled with a paper-profile one,
nor a run of a fixed method with one made before the fix). Runs superseded by a newer version's rerun
(``runs.superseded_by``) are left out. Everything here comes from the store: how a run was configured
(its ``--set`` overrides) is what it recorded, never re-resolved with today's code. Every number a
report shows is a mean and a population std (ddof=0, numpy's default, so one seed reads ± 0.00) over
the finished runs of one variant on one dataset, taken at the run's last epoch (GAEA Table 2's
convention, spec 6.3.1).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from results.reports.labels import method_label, method_order
from results.store import Store

VARIANT_KEYS = ("benchmark", "method", "setting", "profile", "config_hash", "method_version", "benchmark_version")
BUDGET_NAMES = {"hp200": "200-epoch table", "hp12": "12-epoch table"}


@dataclass(frozen=True)
class Stat:
    """Mean and population std of ``n`` values."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat | None:
        arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
        arr = arr[np.isfinite(arr)]
        if arr.size == 0:
            return None
        return cls(float(arr.mean()), float(arr.std()), int(arr.size))


@dataclass(frozen=True)
class Variant:
    """Runs that differ only by seed."""

    benchmark: str
    method: str
    setting: str
    profile: str
    config_hash: str
    method_version: int | None  # None: a run stored before versions were recorded
    benchmark_version: int | None
    epochs: int
    budget: str
    space: str = ""  # the benchmark's search space where it has several (1Shot1's ``search_space``)
    #: the runs' ``--set`` settings as "key=value"; None when the store did not record them (schema 1)
    overrides: tuple[str, ...] | None = ()
    tag: str = ""  # disambiguates variants that share everything shown (versions or a short config hash)

    @property
    def label(self) -> str:
        return method_label(self.method, self.setting)

    @property
    def description(self) -> str:
        """How the runs were made: profile, search epochs, oracle budget (never hide an hp12 number)."""
        profile = f"{self.profile}+set?" if self.overrides is None else \
            f"{self.profile}+set" if self.overrides else self.profile
        text = f"{profile} · {self.epochs} ep · {self.budget}"
        text = f"space {self.space} · {text}" if self.space else text
        return f"{text} · {self.tag}" if self.tag else text

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (method_order(self.method), self.method, self.setting, self.benchmark, self.profile,
                self.epochs, self.config_hash, self.method_version or 0, self.benchmark_version or 0)


class ReportData:
    """The runs of a store as reports need them (finished runs only, unless said otherwise), optionally only
    those of one ``profile`` and of the registry names in ``methods`` (``harness report --profile/--methods``)."""

    def __init__(self, store: Store, profile: str | None = None, methods: Iterable[str] | None = None) -> None:
        self.location = store.location
        self.note = store.note  # an older store read as it is: what its runs do not record
        runs = store.runs_df()
        self.selection = selection_text(profile, methods)
        if profile is not None:
            runs = runs[runs["profile"] == profile].reset_index(drop=True)
        if methods is not None:
            runs = runs[runs["method"].isin(list(methods))].reset_index(drop=True)
        for col in ("method_version", "benchmark_version"):  # None (not NaN) where unrecorded: keys compare equal
            runs[col] = pd.Series([None if v is None or v != v else int(v) for v in runs[col]], dtype=object,
                                  index=runs.index)
        epochs = store.epochs_df(with_runs=False)
        runs["epochs_cfg"] = [int(c.get("epochs", p)) for c, p in zip(runs["config"], runs["epochs_planned"],
                                                                        strict=True)]
        last = epochs.sort_values(["run_id", "epoch"]).groupby("run_id").tail(1)
        budgets = dict(zip(last["run_id"], last["oracle_budget"], strict=True))
        runs["budget"] = [budgets.get(r) or c.get("oracle_budget", "-") for r, c in
                          zip(runs["run_id"], runs["config"], strict=True)]
        variants = _variants(runs)
        runs["variant"] = [variants[_key(r)] for r in runs.itertuples()]
        self.runs = runs  # every run, whatever its status, with its Variant
        self.superseded = runs[runs["superseded_by"].notna()]  # made by an older version, rerun since
        finished = runs[(runs["status"] == "finished") & runs["superseded_by"].isna()]
        self.finished = finished.sort_values(["run_id"]).reset_index(drop=True)
        keep = set(self.finished["run_id"])
        cols = ["run_id", "variant", "dataset", "seed", "search_seconds"]
        self.epochs = epochs[epochs["run_id"].isin(keep)].merge(self.finished[cols], on="run_id")
        self.final = (self.epochs.sort_values(["run_id", "epoch"]).groupby("run_id").tail(1)
                      .sort_values(["run_id"]).reset_index(drop=True))
        lookups = store.lookups_df(run_ids=sorted(keep))
        final_epoch = dict(zip(self.final["run_id"], self.final["epoch"], strict=True))
        at_end = lookups["epoch"] == lookups["run_id"].map(final_epoch)
        self.final_lookups = lookups[at_end & (lookups["stat"] == "mean")].reset_index(drop=True)

    def runs_of(self, variant: Variant, dataset: str) -> pd.DataFrame:
        """Final rows of the finished runs of ``variant`` searched on ``dataset``, by seed."""
        rows = self.final[(self.final["variant"] == variant) & (self.final["dataset"] == dataset)]
        return rows.sort_values("seed")

    def has_runs(self, method: str, benchmark: str, dataset: str, setting: str | None = None,
                 space: str = "") -> bool:
        """Whether a finished run of ``method`` (in ``setting``, any if None) exists on benchmark:dataset."""
        f = self.finished
        hit = (f["method"] == method) & (f["benchmark"] == benchmark) & (f["dataset"] == dataset)
        hit &= f["variant"].map(lambda v: v.space) == space
        if setting is not None:
            hit &= f["setting"] == setting
        return bool(hit.any())

    def finished_variants(self, benchmark: str | None = None) -> list[Variant]:
        found = {v for v in self.finished["variant"] if benchmark is None or v.benchmark == benchmark}
        return sorted(found, key=lambda v: v.sort_key)

    def transfer(self, variant: Variant, target: str, split: str = "test") -> Stat | None:
        """The architectures ``variant`` found on CIFAR-10, evaluated on ``target`` through the oracle."""
        rids = self.runs_of(variant, "cifar10")["run_id"]
        lk = self.final_lookups
        rows = lk[lk["run_id"].isin(set(rids)) & (lk["dataset"] == target) & (lk["split"] == split)
                  & (lk["budget"] == variant.budget)]
        return Stat.of(rows.sort_values("run_id")["value"])

    def recorded_optimum(self, dataset: str, split: str = "test", budget: str = "hp200") -> float | None:
        """The optimum the runs recorded with their lookups (the oracle's, at run time)."""
        lk = self.final_lookups
        rows = lk[(lk["dataset"] == dataset) & (lk["split"] == split) & (lk["budget"] == budget)]
        return float(rows["optimum"].iloc[0]) if len(rows) else None


def selection_text(profile: str | None, methods: Iterable[str] | None) -> str:
    """How a report was restricted ("" for the whole store)."""
    parts = ([f"profile {profile}"] if profile is not None else []) + (
        [f"methods {', '.join(sorted(methods))}"] if methods is not None else [])
    return "; ".join(parts)


def _key(run: Any) -> tuple[str, ...]:
    return tuple(getattr(run, k) for k in VARIANT_KEYS)


def _variants(runs: pd.DataFrame) -> dict[tuple[str, ...], Variant]:
    """One Variant per distinct key; a config tag where two would otherwise read the same."""
    first = runs.sort_values("run_id").drop_duplicates(list(VARIANT_KEYS))
    plain = {_key(r): Variant(*_key(r), epochs=int(r.epochs_cfg), budget=str(r.budget), space=space_of(r.config),
                              overrides=overrides_of(r.overrides))
             for r in first.itertuples()}
    groups: dict[tuple[Any, ...], list[Variant]] = {}
    for v in plain.values():
        groups.setdefault((v.benchmark, v.method, v.setting, v.description), []).append(v)
    return {k: replace(v, tag=_tag(v, groups[(v.benchmark, v.method, v.setting, v.description)]))
            for k, v in plain.items()}


def _tag(variant: Variant, alike: list[Variant]) -> str:
    """What tells apart variants that read the same: their versions where those differ, then a short config
    hash where that is still not enough ("" for a variant that reads unlike any other)."""
    if len(alike) == 1:
        return ""
    versions = f"v{variant.method_version or '?'}/{variant.benchmark_version or '?'}"
    same = [v for v in alike if (v.method_version, v.benchmark_version) ==
            (variant.method_version, variant.benchmark_version)]
    if len(same) == len(alike):
        return f"cfg {variant.config_hash[:6]}"
    return versions if len(same) == 1 else f"{versions} cfg {variant.config_hash[:6]}"


def overrides_of(recorded: dict[str, Any] | None) -> tuple[str, ...] | None:
    """A run's recorded ``--set`` settings as sorted "key=value" strings; None when it recorded none (schema 1)."""
    if recorded is None:
        return None
    return tuple(f"{k}={json.dumps(recorded[k])}" for k in sorted(recorded))


def space_of(config: dict[str, Any]) -> str:
    """The search space a run's config names ("" for single-space benchmarks such as NB201)."""
    value = config.get("search_space")
    return "" if value is None else str(value)


def curve(epochs: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per epoch: mean, population std, min, max and count over runs of ``column`` (rows of one series)."""
    rows = epochs[["epoch", "run_id", column]].dropna()
    grouped = rows.sort_values(["epoch", "run_id"]).groupby("epoch")[column]
    return pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=0), "min": grouped.min(),
                         "max": grouped.max(), "n": grouped.count()}).reset_index()


def value_at_time(epochs: pd.DataFrame, column: str, seconds: float) -> pd.Series:
    """Per run: ``column`` of the last epoch recorded by ``seconds`` of cumulative search time.

    A search's answer at time t is the architecture it derived at its last finished epoch, so the value
    is a step function of ``seconds_total``; runs that had not finished epoch 0 by then, or whose last epoch by
    then holds no cell (``results.summary.no_cell_reason``), read NaN and drop out of a mean over runs.
    """
    out: dict[str, float] = {}
    for run_id, rows in epochs.sort_values(["run_id", "epoch"]).groupby("run_id"):
        done = rows[rows["seconds_total"] <= seconds]
        out[str(run_id)] = float(done[column].iloc[-1]) if len(done) else float("nan")
    return pd.Series(out, name=column, dtype=np.float64)
