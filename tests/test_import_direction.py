"""The layout of ARCHITECTURE.md, checked by parsing every module under app/ (function bodies too).

- Dependencies run one way, in DOMAIN_ORDER: a module imports only earlier packages (and its own).
- Views compose pages from any domain's reads and services, but nothing imports another
  package's views or forms, and nothing but the edge imports reports.
- app/permissions.py, the one judge, reads models only; every domain may ask it.
- No import of app code inside a function, except to break a cycle that a comment names.
- No import cycle between modules.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"

# Earlier packages never import later ones. `core` imports no domain; `web` only core.
DOMAIN_ORDER = ["core", "web", "jobs", "audit", "org", "auth", "catalog", "scheduling", "enrollment",
                "attendance", "assessment", "completion", "cohorts", "elearning", "reminders", "reports", "backup"]
# The edge composes everything: the factory, the model registry, the CLI, the demo, the home page,
# the operator's metrics, retention (it deletes across every domain), privacy (a person's own data
# and HR's disclosure file read across every domain).
# The JSON API (app/api) too: like the views, it calls any domain's services and queries.
EDGE = {"__init__", "models", "cli", "demo", "home", "ops", "retention", "privacy", "api"}
TOP_LEVEL_FILES = {"__init__.py", "models.py", "permissions.py"}


@dataclass(frozen=True)
class Import:
    source: str  # app.enrollment.views
    target: str  # app.catalog.queries
    line: int
    in_function: bool
    names_a_cycle: bool  # a comment on the line (or the one above) says which cycle it breaks


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in APP.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found: list[Import] = []

    def comment_names_cycle(line: int) -> bool:
        nearby = " ".join(lines[max(0, line - 2):line]).lower()
        return "cycle" in nearby

    def add(target: str, node: ast.stmt, depth: int) -> None:
        while target not in known and "." in target:
            target = target.rsplit(".", 1)[0]
        if target.split(".")[0] == "app":
            found.append(Import(name, target, node.lineno, depth > 0, comment_names_cycle(node.lineno)))

    def visit(node: ast.AST, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only: never executed
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child, depth)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                for alias in child.names:
                    add(f"{child.module}.{alias.name}", child, depth)
            inner = depth + isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, inner)

    visit(ast.parse(source), 0)
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def leaf_of(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def why_not_allowed(item: Import) -> str | None:
    source, target = package_of(item.source), package_of(item.target)
    if source == target or source in EDGE or (item.in_function and item.names_a_cycle):
        return None
    if leaf_of(item.target) in {"views", "forms"}:
        return "another package's views or forms"
    if target == "reports":
        return "reports (nothing but the edge reads it)"
    if target in EDGE:
        return f"the edge ({target})"
    if source == "permissions":
        ok = target in {"core", "web"} or leaf_of(item.target) == "models"
        return None if ok else "permissions reads models only"
    if target == "permissions":
        return "permissions from core or web" if source in {"core", "web"} else None
    if leaf_of(item.source) == "views" and target in DOMAIN_ORDER:
        return None  # pages are composed in views from any domain
    if source not in DOMAIN_ORDER or target not in DOMAIN_ORDER:
        return f"a package the order does not name ({source} -> {target})"
    if DOMAIN_ORDER.index(target) > DOMAIN_ORDER.index(source):
        return f"a later package ({source} comes before {target})"
    return None


def all_imports() -> list[Import]:
    modules = all_modules()
    known = set(modules)
    return [item for name, path in sorted(modules.items()) for item in imports_of(name, path, known)]


def test_app_top_level_holds_only_the_factory_models_permissions_and_packages():
    loose = sorted(p.name for p in APP.glob("*.py") if p.name not in TOP_LEVEL_FILES)
    assert loose == []
    packages = {p.name for p in APP.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - EDGE <= set(DOMAIN_ORDER), "every package has a place in DOMAIN_ORDER or the edge"


def test_imports_follow_the_domain_order():
    wrong = [f"{item.source}:{item.line} imports {item.target}: {reason}"
             for item in all_imports() if (reason := why_not_allowed(item))]
    assert wrong == []


def test_no_app_import_inside_a_function_unless_it_names_the_cycle_it_breaks():
    hidden = [f"{item.source}:{item.line} imports {item.target}" for item in all_imports()
              if item.in_function and not item.names_a_cycle]
    assert hidden == []


def test_no_import_cycle_between_modules():
    graph: dict[str, set[str]] = defaultdict(set)
    for item in all_imports():
        if item.target != item.source and not item.names_a_cycle:
            graph[item.source].add(item.target)
    # A package imports its own __init__ when any submodule loads: not a dependency to follow.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert cycles == []


def test_the_checker_sees_a_wrong_import(tmp_path):
    """The rules bite: an earlier domain importing a later one, hidden in a function."""
    module = tmp_path / "app" / "catalog" / "bad.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from app.enrollment.services import enrol\n    return enrol\n", encoding="utf-8")
    (item,) = list(imports_of("app.catalog.bad", module, {"app.enrollment.services"}))
    assert item.in_function and not item.names_a_cycle
    assert why_not_allowed(item) == "a later package (catalog comes before enrollment)"
    assert why_not_allowed(Import("app.org.services", "app.reports.figures", 1, False, False))
    assert why_not_allowed(Import("app.catalog.views", "app.enrollment.forms", 1, False, False))
    assert why_not_allowed(Import("app.enrollment.views", "app.catalog.queries", 1, False, False)) is None
