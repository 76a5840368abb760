"""Method names as the papers print them, derived from the registry so new methods get a label too."""

from __future__ import annotations

from methods.registry import registry

#: Registry names whose paper name differs from the registry title (GAEA Table 2 drops "first order").
PAPER_NAMES: dict[str, str] = {"darts": "DARTS", "gaea-darts": "GAEA DARTS"}
SETTING_NAMES: dict[str, str] = {"bilevel": "bilevel", "erm": "ERM"}


def method_label(method: str, setting: str) -> str:
    """``darts``/bilevel -> "DARTS (bilevel)"; the setting is named only for methods that have several."""
    entry = registry().get(method)
    base = PAPER_NAMES.get(method) or (entry.title if entry else method)
    if entry is not None and len(entry.settings) < 2:
        return base
    setting_name = SETTING_NAMES.get(setting, setting)
    if base.endswith(")"):
        return f"{base[:-1]}, {setting_name})"
    return f"{base} ({setting_name})"


def method_order(method: str) -> int:
    """Listing position: the registry's order (papers' order), unknown methods last."""
    names = list(registry())
    return names.index(method) if method in names else len(names)
