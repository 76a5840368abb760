"""Every `--help` screen shows every option's help text whole, brackets included: "[env HARNESS_...; default
...]" hints are text, not markup for the help renderer to swallow."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from harness.cli import app

ROOT = typer.main.get_command(app)


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, command) for the app and every command and subcommand under it (groups have ``commands``)."""
    out = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        out += _commands(sub, (*path, name))
    return out


def _squeeze(text: str) -> str:
    """Without whitespace: the help formatter re-wraps lines (and may break after a hyphen)."""
    return "".join(text.split())


def test_every_help_screen_shows_every_help_text_whole():
    screens = _commands(ROOT)
    assert {p for p, _ in screens} >= {(), ("run",), ("status",), ("report",), ("bench",), ("methods",), ("data",),
                                       ("data", "import"), ("data", "download"), ("data", "info")}
    bracketed = 0
    for path, command in screens:
        result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        shown = _squeeze(result.output)
        texts = [command.help or ""] + [p.help or "" for p in command.params if getattr(p, "help", None)]
        for text in texts:
            assert _squeeze(text.split("\f")[0]) in shown, (path, text)
            bracketed += text.count("[")
    assert bracketed >= 4  # the [env HARNESS_...] hints of run, report, bench and data import are among them


def test_the_env_hints_survive():
    result = CliRunner().invoke(app, ["report", "--help"], terminal_width=100)
    assert "[env HARNESS_ORACLE_DIR; default $HARNESS_HOME/oracles]" in " ".join(result.output.split())
