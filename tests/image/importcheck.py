"""Prove an installed synthmon can import all of itself: the image build's guard against shipping a
module that is imported but not packaged, or a library that is used but not declared.

`list SRC_DIR...` (run on the source tree) prints every module under the given package directories
and every absolute module (or `module:name`) any of them imports, even inside a function (lazy imports are the ones a
smoke test misses). `check FILE` (run where only the wheel and its declared dependencies are
installed) imports each listed module and exits 1 naming each failure. Standard library only.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_modules(tree: ast.AST) -> set[str]:
    """Absolute module names imported anywhere in `tree`, except under `if TYPE_CHECKING:`."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from google.cloud import firestore`: the name may be a submodule that is not installed.
            found.update(f"{node.module}:{alias.name}" for alias in node.names if alias.name != "*")
        stack.extend(ast.iter_child_nodes(node))
    return {n for n in found if not n.startswith("__future__")}


def list_modules(src_dirs: list[str]) -> list[str]:
    """Own modules of the package directories plus everything they import."""
    names: set[str] = set()
    for src in src_dirs:
        root = Path(src)
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root.parent).with_suffix("").parts
            if parts[-1] != "__main__":  # importing it would run the program
                names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
            names.update(imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path))))
    return sorted(names)


def _import(name: str) -> None:
    module_name, _, attr = name.partition(":")
    module = importlib.import_module(module_name)
    if attr and not hasattr(module, attr):
        importlib.import_module(f"{module_name}.{attr}")


def check(names: list[str]) -> list[str]:
    """`module: error` for each name (`module` or `module:name`) that does not import."""
    failures = []
    for name in names:
        try:
            _import(name)
        except Exception as exc:  # any failure to import is exactly what this check reports
            failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
    return failures


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "list":
        print("\n".join(list_modules(argv[1:])))
        return 0
    if len(argv) == 2 and argv[0] == "check":
        names = [n.strip() for n in Path(argv[1]).read_text(encoding="utf-8").splitlines() if n.strip()]
        failures = check(names)
        for f in failures:
            print(f"importcheck: cannot import {f}", file=sys.stderr)
        print(f"importcheck: {len(names) - len(failures)}/{len(names)} modules import", file=sys.stderr)
        return 1 if failures else 0
    print("usage: python importcheck.py list SRC_DIR... | check MODULES_FILE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
