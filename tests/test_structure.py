"""The shape of the package: imports go one way, no private name crosses a
module boundary, and no module grows past what one reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "intake_persistplus"
TESTS = Path(__file__).resolve().parent

#: lowest first: a module may import only modules listed before it
ORDER = [
    "errors",
    "walk",
    "config",
    "secrets",
    "locks",
    "diskuse",
    "layout",
    "record",
    "index.text",
    "index.heads",
    "index.edits",
    "index.listing",
    "index.core",
    "index",
    "originals",
    "fingerprint",
    "provenance",
    "containers._common",
    "containers.restore",
    "containers.asread",
    "containers.csvbools",
    "containers.parquet",
    "containers.csvfast",
    "containers.dataframe",
    "containers.ndarray",
    "containers.zarrcopy",
    "containers.xarray",
    "containers.python",
    "containers",
    "gc",
    "versions",
    "copies",
    "dedupe",
    "writer",
    "upkeep",
    "rekey",
    "freshness",
    "pipeline",
    "train",
    "persist_store",
    "schedule",
    "redirect",
    "export",
    "source_api",
    "patches",
    "activate",
    "",  # the package itself: its public names, imported lazily
    "demo",
    "cli.format",
    "cli.pipelines",
    "cli.commands",
    "cli",
    "__main__",
]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports, at any depth of its code."""
    name = module_name(path)
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if name else []
    base = here if is_pkg else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*anchor, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.split(".")[0] == "intake_persistplus":
                target = node.module.partition(".")[2]
            else:
                continue
            for alias in node.names:  # `from . import gc` imports the module gc
                sub = f"{target}.{alias.name}" if target else alias.name
                found.add(sub if (PACKAGE / sub.replace(".", "/")).exists()
                          or (PACKAGE / (sub.replace(".", "/") + ".py")).exists() else target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "intake_persistplus":
                    found.add(alias.name.partition(".")[2])
    found.discard(name)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_place_in_the_order():
    names = {module_name(p) for p in MODULES}
    assert names == set(ORDER), f"add to ORDER: {names - set(ORDER)}; gone: {set(ORDER) - names}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_imports_go_one_way(path):
    name = module_name(path)
    rank = ORDER.index(name)
    upward = {m for m in package_imports(path) if ORDER.index(m) >= rank}
    assert not upward, f"{name or 'intake_persistplus'} imports {sorted(upward)}, which come after it"


def private_imports(path: Path) -> list[str]:
    """``from intake_persistplus... import _name`` and ``module._name`` uses in ``path``."""
    tree = ast.parse(path.read_text())
    in_package = PACKAGE in path.parents
    modules = set()
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            ours = (node.module or "").startswith("intake_persistplus") or (in_package and node.level)
            if not ours:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    bad.append(f"import of {alias.name}")
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("intake_persistplus"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            bad.append(f"{node.value.id}.{node.attr}")
    return bad


@pytest.mark.parametrize(
    "path", MODULES + sorted(TESTS.glob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE.parent))
)
def test_no_private_name_crosses_a_module(path):
    assert private_imports(path) == []


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_is_too_long(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 420, f"{module_name(path)} has {lines} lines: split it by concept"


def test_the_checks_can_fail(tmp_path):
    """The import check sees relative, absolute and function-level imports."""
    bad = PACKAGE / "errors.py"
    assert package_imports(bad) == set()
    assert "persist_store" in package_imports(PACKAGE / "redirect.py")
    assert "containers" in package_imports(PACKAGE / "persist_store.py")  # inside a function
    sample = tmp_path / "t.py"
    sample.write_text("from intake_persistplus import containers\ncontainers._registry\n"
                      "from intake_persistplus.redirect import _label\n")
    assert private_imports(sample) == ["import of _label", "containers._registry"]


def test_every_exception_is_exported():
    import intake_persistplus
    from intake_persistplus import errors

    names = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, Warning | Exception)}
    assert names == set(errors.__all__)
    assert {n for n in names if getattr(intake_persistplus, n) is getattr(errors, n)} == names
    bases = {n for n in names if not issubclass(getattr(errors, n), errors.PersistError)}
    assert bases == {"PersistWarning"}
