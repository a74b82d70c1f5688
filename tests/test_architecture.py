"""The layout's one rule: imports point one way, as docs/ARCHITECTURE.md draws them.

core is pure and uses nothing of ours; render and data build on core; slack and engine
build on data, render and core; cli puts everything together. A module that imports
against the arrows fails here with the line that does it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bot

PACKAGE = Path(bot.__file__).resolve().parent

# What each part of `bot` may import from the rest of `bot` (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "render": frozenset({"core", "ids"}),
    "data": frozenset({"core"}),
    "slack": frozenset({"core", "render", "data", "ids", "metrics", "settings", "logs"}),
    "engine": frozenset({"core", "render", "data", "metrics"}),
    # Top-level modules: leaves, except settings, which validates with core and data.
    "ids": frozenset(),
    "metrics": frozenset(),
    "logs": frozenset(),
    "settings": frozenset({"core", "data"}),
    # The sandbox composes like cli: a built-in Slack and the bot wired to it.
    "sandbox": frozenset(
        {"core", "render", "data", "slack", "engine", "ids", "metrics", "logs", "settings"}
    ),
    "cli": frozenset(
        {
            "core",
            "render",
            "data",
            "slack",
            "engine",
            "sandbox",
            "ids",
            "metrics",
            "logs",
            "settings",
        }
    ),
}


def part_of(module: str) -> str:
    """`bot.core.grammar` -> `core`; `bot.cli` -> `cli`."""
    return module.split(".")[1]


def imported_parts(source: str, module: str) -> list[tuple[int, str]]:
    """(line, part of `bot`) for every import of our own code in `source`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, part_of(a.name)) for a in node.names if a.name.startswith("bot.")
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.split(".")[: -node.level]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target == "bot":  # `from bot import ids`
                found += [(node.lineno, a.name) for a in node.names]
            elif target.startswith("bot."):
                found.append((node.lineno, part_of(target)))
    return found


def violations(source: str, module: str) -> list[str]:
    mine = part_of(module)
    allowed = ALLOWED[mine] | {mine}
    return [
        f"{module}:{line} imports bot.{part} ({mine} may use: {', '.join(sorted(allowed))})"
        for line, part in imported_parts(source, module)
        if part not in allowed
    ]


def our_modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        if name != "bot":
            modules.append((name, path))
    return modules


def test_every_part_of_the_package_has_a_rule() -> None:
    parts = {part_of(name) for name, _ in our_modules()}
    assert parts <= set(ALLOWED), f"no import rule for: {sorted(parts - set(ALLOWED))}"
    assert {"core", "render", "data", "slack", "engine"} <= parts


@pytest.mark.parametrize(("module", "path"), our_modules(), ids=lambda v: str(v))
def test_imports_point_one_way(module: str, path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8"), module) == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("bot.core.grammar", "from bot.render.kit import escape"),
        ("bot.core.schedule", "from bot import ids"),
        ("bot.data.people", "from bot.slack.context import Who"),
        ("bot.render.home", "import bot.data.models"),
        ("bot.engine.tick", "from ..slack import app"),
        ("bot.data.activity", "from .. import metrics"),
    ],
)
def test_an_import_against_the_arrows_is_caught(module: str, source: str) -> None:
    assert len(violations(source, module)) == 1
