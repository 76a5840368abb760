"""``index.html``: one static page (no server, no external assets) with the tables, the figures, the run
metadata and the missing items. Figures are linked relative to the page; sortable tables sort on a
header click with a few lines of inline script."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from results.reports.data import ReportData
from results.reports.missing import MissingItem
from results.reports.render import ReportTable, to_html

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; padding: 0 1em; }
h1 { font-size: 1.7em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.86em; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.4em; }
th, td { border: 1px solid #d0d0d0; padding: 3px 7px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.reason { font-size: 0.85em; color: #666; font-style: italic; min-width: 6em; }
thead th { background: #eef2f7; } tr.group th { background: #f6f6f6; text-align: left; font-style: italic; }
table.sortable thead th { cursor: pointer; } ul.notes { font-size: 0.85em; color: #444; }
figure { margin: 1em 0; } figure img { max-width: 100%; max-height: 520px; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #333; max-width: 1100px; }
code { background: #f3f3f3; padding: 1px 4px; } .links a { margin-right: 0.8em; }
ul#missing li { margin-bottom: 0.5em; }
"""

SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir === 1 ? 'asc' : 'desc';
      function key(row) {
        var c = row.cells[col], text = c.textContent, number = parseFloat(c.dataset.sort !== undefined
                                                                           ? c.dataset.sort : text);
        return isNaN(number) ? text : number;
      }
      rows.sort(function (a, b) { var x = key(a), y = key(b); return (x > y ? 1 : x < y ? -1 : 0) * dir; });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


@dataclass(frozen=True)
class FigureEntry:
    title: str
    files: list[Path]  # PNG first; empty when the figure has no runs
    caption: str


def _links(paths: Sequence[Path], root: Path) -> str:
    return '<p class="links">' + "".join(
        f'<a href="{html.escape(p.relative_to(root).as_posix())}">{p.suffix[1:].upper()}</a>' for p in paths) + "</p>"


def metadata_rows(data: ReportData) -> list[tuple[str, str]]:
    """What the runs were made with: profiles, seeds, versions, devices, hosts, statuses."""
    runs = data.runs
    where = [("store", data.location), ("selection", data.selection or "every run of the store")]
    if runs.empty:
        return [*where, ("runs", "none")]
    names = runs["variant"].map(lambda v: f"{v.label} · {v.benchmark} · {v.description}")
    seeds = runs.groupby(names)["seed"]
    changed = sorted({f"{n}: {', '.join(v.overrides) if v.overrides is not None else 'not recorded (schema 1)'}"
                      for n, v in zip(names, runs["variant"], strict=True) if v.overrides != ()})
    versions = sorted({json.dumps(v, sort_keys=True) for v in runs["versions"]})
    status = runs["status"].value_counts().sort_index()
    return [
        *where,
        ("store note", data.note or "none"),
        ("runs", ", ".join(f"{n} {s}" for s, n in status.items())),
        ("superseded (left out: made by an older method or benchmark version, rerun since)",
         str(len(data.superseded)) if len(data.superseded) else "none"),
        ("profiles", ", ".join(sorted(set(runs["profile"])))),
        ("seeds", "; ".join(f"{k}: {', '.join(str(s) for s in sorted(set(v)))}" for k, v in seeds)),
        ("settings changed from the profile (+set)", "; ".join(changed) or "none"),
        ("method and benchmark versions", "; ".join(sorted({
            f"{r.method} v{_version(r.method_version)} on {r.benchmark} v{_version(r.benchmark_version)}"
            for r in runs.itertuples()}))),
        ("source revisions", "; ".join(sorted({_revision(r.source_revision, r.source_dirty)
                                                for r in runs.itertuples()}))),
        ("versions", "; ".join(versions)),
        ("devices", "; ".join(sorted(set(runs["device"].dropna())))),
        ("threads", ", ".join(str(t) for t in sorted({int(t) for t in runs["threads"].dropna()})) or "not recorded"),
        ("hosts", ", ".join(sorted(set(runs["host"].dropna())))),
        ("created", f"{runs['created_at'].min()} to {runs['updated_at'].max()}"),
    ]


def _version(value: int | None) -> str:
    return "?" if value is None else str(value)


def _revision(commit: str | None, dirty: bool | None) -> str:
    """A short commit, "+modified" when the checkout had uncommitted changes; "not recorded" when unknown."""
    if not isinstance(commit, str):
        return "not recorded (not a git checkout, or stored before schema 2)"
    return commit[:12] + (" +modified" if dirty else "")


def page(data: ReportData, root: Path, tables: Sequence[tuple[ReportTable, list[Path]]],
         figures: Sequence[FigureEntry], missing: Sequence[MissingItem], notes: Sequence[str]) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>nasbench-harness report</title>", f"<style>{STYLE}</style></head><body>",
           "<h1>nasbench-harness report</h1>",
           f"<p>Regenerated from the results store <code>{e(data.location)}</code>. Every number of ours comes "
           "from the store's runs; paper numbers are quoted and say so.</p>"]
    out += ["<h2>Run metadata</h2>", '<table id="metadata"><tbody>']
    out += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in metadata_rows(data)]
    out.append("</tbody></table>")
    out += [f"<p>{e(n)}</p>" for n in notes]
    out.append("<h2>Tables</h2>")
    for table, files in tables:
        out += [to_html(table), _links(files, root)]
    out.append("<h2>Figures</h2>")
    for fig in figures:
        out.append(f"<h3>{e(fig.title)}</h3>")
        if fig.files:
            png = fig.files[0].relative_to(root).as_posix()
            out += [f'<figure><img src="{e(png)}" alt="{e(fig.title)}">',
                    f"<figcaption>{e(fig.caption)}</figcaption></figure>", _links(fig.files, root)]
        else:
            out.append(f"<p><em>Not drawn: the store has no runs for it (see Missing items).</em> {e(fig.caption)}</p>")
    out.append("<h2>Missing items</h2>")
    if not missing:
        out.append("<p>None: the store holds runs for every item.</p>")
    out.append('<ul id="missing">')
    for m in missing:
        what = e(m.reason) if m.command else f"<em>{e(m.reason)}</em>"
        if m.command:
            what += f"<br>paper protocol: <code>{e(m.command)}</code>"
        if m.cpu_command:
            what += f"<br>CPU-sized (not comparable with the paper): <code>{e(m.cpu_command)}</code>"
        out.append(f"<li><strong>{e(m.item)}</strong>: {what}</li>")
    out += ["</ul>", f"<script>{SORT_SCRIPT}</script>", "</body></html>"]
    return "\n".join(out) + "\n"
