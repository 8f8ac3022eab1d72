"""Code, docstrings and docs name only files the repository has: every `NAME.md` they mention exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("monitor", "probes", "tests", "bench", "docs", "terraform", "examples")
MD_NAME = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")


def _files() -> list[Path]:
    out = [ROOT / "README.md", ROOT / "Makefile", ROOT / "Dockerfile"]
    for top in SCANNED:
        out += [p for p in (ROOT / top).rglob("*") if p.suffix in (".py", ".md", ".tf", ".json", ".yaml", ".html")
                and "out" not in p.relative_to(ROOT).parts]
    return [p for p in out if p.is_file()]


def _exists(name: str, where: Path) -> bool:
    if (ROOT / name).exists() or (where.parent / name).exists():
        return True
    return "/" not in name and any(p.name == name for p in _files())


def test_every_markdown_file_named_exists() -> None:
    """Every `X.md` named in code, docstrings, Terraform or docs exists (at the root, beside the file,
    or, for a bare name such as README.md, somewhere in the scanned tree)."""
    found = set()
    for path in _files():
        if path == Path(__file__):
            continue
        for name in MD_NAME.findall(path.read_text(encoding="utf-8", errors="replace")):
            if not _exists(name, path):
                found.add((str(path.relative_to(ROOT)), name))
    assert found == set()
