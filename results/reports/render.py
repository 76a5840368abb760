"""One table model, four renderings: Markdown, LaTeX, CSV and HTML.

Cells hold values, not text: a ``Stat`` (mean ± std), a ``Quoted`` paper number, a float, a string (in a
number column: why there is no number) or None (no value). Formatting is fixed per column, so a store
always renders to the same bytes. The CSV keeps numbers machine-readable: a mean ± std column becomes
``<name> mean`` and ``<name> std``.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from results.reports.data import Stat
from results.reports.paper import Quoted

DASH = "–"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    digits: int | None = None  # None: a text column
    signed: bool = False  # differences print their sign
    spread: bool = True  # values may carry a std (a CSV gets "<header> mean" and "<header> std" columns)


@dataclass
class ReportTable:
    name: str  # file stem
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)  # a row's "_group" starts a titled block
    notes: list[str] = field(default_factory=list)
    sortable: bool = False


def _pair(value: Any) -> tuple[float | None, float | None]:
    """(mean, std) of a cell value; std is None where there is none to show."""
    if isinstance(value, Stat):
        return value.mean, value.std
    if isinstance(value, Quoted):
        return value.mean, value.std
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), None
    return None, None


def cell_text(col: Column, value: Any, pm: str = " ± ") -> str:
    if value is None or value == "":
        return DASH
    if col.digits is None:
        return str(value)
    mean, std = _pair(value)
    if mean is None:
        return str(value)
    mean = round(mean, col.digits) + 0.0  # -0.004 prints as 0.00 (+0.00 when signed), never as -0.00
    text = f"{mean:+.{col.digits}f}" if col.signed else f"{mean:.{col.digits}f}"
    return text if std is None else f"{text}{pm}{std:.{col.digits}f}"


def _groups(table: ReportTable) -> list[tuple[str | None, list[dict[str, Any]]]]:
    out: list[tuple[str | None, list[dict[str, Any]]]] = []
    for row in table.rows:
        group = row.get("_group")
        if not out or out[-1][0] != group:
            out.append((group, []))
        out[-1][1].append(row)
    return out


def to_markdown(table: ReportTable) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [f"### {table.title}", "", line([c.header for c in table.columns]),
           "|" + "|".join("---" if c.digits is None else "---:" for c in table.columns) + "|"]
    for group, rows in _groups(table):
        if group:
            out.append(line([f"**{group}**", *[""] * (len(table.columns) - 1)]))
        out.extend(line([cell_text(c, r.get(c.key)) for c in table.columns]) for r in rows)
    out += ["", *(f"- {n}" for n in table.notes)]
    return "\n".join(out).rstrip() + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "†": r"\dag{}", "‡": r"\ddag{}",
          "±": r"$\pm$", "Δ": r"$\Delta$", "–": "--", "·": r"$\cdot$", "×": r"$\times$", "→": r"$\to$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)


def to_latex(table: ReportTable) -> str:
    """A booktabs tabular (needs \\usepackage{booktabs}) inside a table float with the title as caption."""
    spec = "".join("l" if c.digits is None else "r" for c in table.columns)
    out = [r"\begin{table}[t]", r"\centering", r"\small", f"\\caption{{{latex_escape(table.title)}}}",
           f"\\label{{tab:{table.name}}}", f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
           " & ".join(latex_escape(c.header) for c in table.columns) + r" \\", r"\midrule"]
    for i, (group, rows) in enumerate(_groups(table)):
        if group:
            if i:
                out.append(r"\midrule")
            out.append(f"\\multicolumn{{{len(table.columns)}}}{{l}}{{\\emph{{{latex_escape(group)}}}}} \\\\")
        out.extend(" & ".join(latex_escape(cell_text(c, r.get(c.key))) for c in table.columns) + r" \\"
                   for r in rows)
    out += [r"\bottomrule", r"\end{tabular}"]
    if table.notes:
        out.append(r"\par\smallskip\footnotesize " + " ".join(latex_escape(n) for n in table.notes))
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def _csv_number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits + 4}f}"


def to_csv(table: ReportTable) -> str:
    has_groups = any(r.get("_group") for r in table.rows)
    header = ["block"] if has_groups else []
    for c in table.columns:
        header += [f"{c.header} mean", f"{c.header} std"] if c.digits is not None and c.spread else [c.header]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in table.rows:
        cells = [r.get("_group") or ""] if has_groups else []
        for c in table.columns:
            value = r.get(c.key)
            if c.digits is None:
                cells.append("" if value is None else str(value))
                continue
            mean, std = _pair(value)
            if mean is None and isinstance(value, str):  # a reason in place of a number ("not comparable (...)")
                cells += [value, ""] if c.spread else [value]
                continue
            cells += [_csv_number(mean, c.digits), _csv_number(std, c.digits)] if c.spread else \
                [_csv_number(mean, c.digits)]
        writer.writerow(cells)
    return buf.getvalue()


def to_html(table: ReportTable) -> str:
    """A <table>; sortable tables carry each cell's number in data-sort for the page's script."""
    cls = ' class="sortable"' if table.sortable else ""
    out = [f'<table id="{table.name}"{cls}>', f"<caption>{html.escape(table.title)}</caption>", "<thead><tr>"]
    out += [f'<th class="{"num" if c.digits is not None else "text"}">{html.escape(c.header)}</th>'
            for c in table.columns]
    out.append("</tr></thead>")
    for group, rows in _groups(table):
        out.append("<tbody>")
        if group:
            out.append(f'<tr class="group"><th colspan="{len(table.columns)}">{html.escape(group)}</th></tr>')
        for r in rows:
            cells = []
            for c in table.columns:
                value = r.get(c.key)
                mean, _ = _pair(value) if c.digits is not None else (None, None)
                sort = f' data-sort="{mean!r}"' if mean is not None else ""
                reason = c.digits is not None and mean is None and isinstance(value, str) and value != ""
                num = ' class="reason"' if reason else ' class="num"' if c.digits is not None else ""
                cells.append(f"<td{num}{sort}>{html.escape(cell_text(c, value))}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody>")
    out.append("</table>")
    if table.notes:
        out.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in table.notes) + "</ul>")
    return "\n".join(out)


def write_table(table: ReportTable, directory: Path) -> list[Path]:
    """``<name>.md``, ``.tex`` and ``.csv`` under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, text in ((".md", to_markdown(table)), (".tex", to_latex(table)), (".csv", to_csv(table))):
        path = directory / f"{table.name}{suffix}"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
