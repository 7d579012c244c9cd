"""The layout's promises, checked on the source: no import cycles between modules (a cycle inside one feature
package is that feature's business), the engine names no feature outside the wiring, and no feature imports a
platform channel. Imports inside functions count (deferring an import does not remove the dependency); imports
under `if TYPE_CHECKING:` do not run and do not count."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "knowledge")
# Where the engine meets the FEATURES list: the app, the server, the command line and the migrations
# environment (which takes every feature's tables from Feature.models).
WIRING = {"bot.app", "bot.server", "bot.cli", "bot.store.migrations.env"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for n in ast.walk(stmt)
    }
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[
                    : len(module.split(".")) - node.level + (1 if path.name == "__init__.py" else 0)
                ]
                base = ".".join([*parts, base] if base else parts)
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        targets.update(t for n in names if (t := _resolve(n)) is not None and t != module)
    return targets


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _feature(module: str) -> str:
    """The unit a cycle may stay inside: a feature package of handlers/, else the module itself."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "handlers" and len(parts) > 2 else module


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_modules_outside_a_feature_package() -> None:
    between = {}
    for module, targets in GRAPH.items():
        between[module] = {t for t in targets if _feature(t) != _feature(module)}
    # A cycle is allowed only when all its modules belong to one feature package.
    cycles = [sorted(c) for c in _strongly_connected(GRAPH) if len({_feature(m) for m in c}) > 1]
    assert cycles == []


def test_the_engine_names_no_feature_outside_the_wiring() -> None:
    offenders = {
        m: sorted(t for t in targets if t.startswith("handlers"))
        for m, targets in GRAPH.items()
        if m.startswith("bot") and m not in WIRING
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def test_knowledge_is_pure() -> None:
    assert {
        m: sorted(t)
        for m, t in GRAPH.items()
        if m.startswith("knowledge") and any(x.startswith(("bot", "handlers")) for x in t)
    } == {}


def test_no_feature_imports_a_platform_channel() -> None:
    platforms = (
        "bot.channels.telegram",
        "bot.channels.wechat",
        "bot.channels.wecom",
        "bot.channels.wx_common",
        "bot.channels.web",
        "bot.channels.console",
    )
    assert {
        m: sorted(t) for m, t in GRAPH.items() if m.startswith("handlers") and any(x.startswith(platforms) for x in t)
    } == {}


def test_the_checker_sees_a_deferred_import(tmp_path: Path) -> None:
    # The checker itself must find what it is meant to forbid: an import inside a function.
    source = "def f():\n    from bot.app import build_services\n    return build_services\n"
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    assert "bot.app" in _imports("bot.example", path)


def test_features_depend_on_each_other_without_a_cycle() -> None:
    # One feature may use another's store or texts (reports reads casework); two features needing each other
    # would be one feature in two folders.
    features: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        if module.startswith("handlers."):
            own = _feature(module)
            features.setdefault(own, set()).update(
                _feature(t) for t in targets if t.startswith("handlers.") and _feature(t) != own
            )
    assert [sorted(c) for c in _strongly_connected(features)] == []


SHARED_MODELS = ("bot.store.models", "bot.store.casework_models", "bot.store.handoff_models")


def test_a_shared_table_is_used_by_the_core_or_by_several_features() -> None:
    # One feature's own table lives in its models.py (listed in its Feature); bot/store keeps what the core
    # store needs and what features that cannot import each other share.
    tables = {
        node.name: module
        for module in SHARED_MODELS
        for node in ast.parse(MODULES[module].read_text(encoding="utf-8")).body
        if isinstance(node, ast.ClassDef) and any(ast.unparse(b) == "Base" for b in node.bases)
    }
    users: dict[str, set[str]] = {name: set() for name in tables}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in SHARED_MODELS and module not in SHARED_MODELS:
                for alias in node.names:
                    if alias.name in users:
                        users[alias.name].add("core" if module.startswith("bot.") else _feature(module))
    assert {name: sorted(u) for name, u in users.items() if "core" not in u and len(u) < 2} == {}
