"""The documentation stays true: docs/methods.md is what `harness methods --markdown` prints from the registry,
the README fits on a few screens, and every relative link in the README and docs/ reaches a file."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app

ROOT = Path(__file__).resolve().parents[1]
METHODS = ROOT / "docs" / "methods.md"
#: written by `harness reproduction` once the reproduction stores are committed; until then links to it dangle
NOT_YET = {ROOT / "docs" / "reproduction.md"}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_docs_methods_md_is_what_the_registry_generates():
    result = CliRunner().invoke(app, ["methods", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == METHODS.read_text(encoding="utf-8"), (
        "docs/methods.md is stale: rerun `harness methods --markdown > docs/methods.md`")


def test_the_methods_page_holds_every_method_with_its_paper_and_presets():
    from methods.registry import registry

    page = METHODS.read_text(encoding="utf-8")
    for entry in registry().values():
        assert f"## `{entry.name}`: {entry.title}" in page and entry.paper in page
    assert "| `batch_size` | 64 | 96 | **256** |" in page  # PC-DARTS's own batch on the DARTS space, in bold


def test_the_readme_fits_on_a_few_screens():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 100, f"README.md has {len(lines)} lines; move detail into docs/"


def _relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)  # code is not a link
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_every_relative_link_in_the_readme_and_docs_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    checked, broken = 0, []
    for page in pages:
        for target in _relative_links(page):
            path = (page.parent / target.split("#")[0]).resolve()
            if path in NOT_YET and not path.exists():
                continue
            checked += 1
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken
    assert checked >= 40  # the methods page alone links every method's source module
