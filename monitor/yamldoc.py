"""Read synthmon.yaml into plain values, the line and column of every key and value, and `${VAR}` resolved.

`${VAR}` is swapped for a token before YAML parsing (so that `{email: ${PROBE_USER}}` is valid flow
YAML) and resolved after it, in string values only: a value can never inject YAML structure.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import yaml

_VAR = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")
_REF = re.compile(r"__synthmon_ref_(\d+)__")
# Environment variables whose values are secrets wherever they are used.
SECRET_VAR = re.compile(r"PASS|SECRET|TOKEN|KEY|DSN|CREDENTIAL|AUTH", re.IGNORECASE)
# An alias may repeat a subtree; past this many nodes the document is an alias bomb, not a config.
_MAX_NODES = 100_000
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path = tuple[str | int, ...]


class EnvStr(str):
    """A value that is exactly one `${VAR}`: numeric and boolean fields may read it as such."""


class YamlError(Exception):
    """The document is not YAML synthmon can read; `line`/`column` (1-based) when the parser knows."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.line, self.column = problem, line, column


@dataclasses.dataclass
class Document:
    data: Any
    values: dict[Path, tuple[int, int]]  # path -> (line, column) of the value
    keys: dict[Path, tuple[int, int]]  # path -> (line, column) of the mapping key
    secrets: set[str]
    problems: list[tuple[Path, str]]  # `${VAR}` that is not set, by path

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Where `path` is written; for a missing key, its nearest written parent."""
        if key and path in self.keys:
            return self.keys[path]
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, (1, 1))


def parse(text: str, environ: Mapping[str, str]) -> Document:
    """Parse and interpolate `text`; raises YamlError for what is not a YAML document of plain values."""
    refs: list[tuple[str, str | None, str | None]] = []  # (variable, default, literal text)
    shifts: dict[int, list[tuple[int, int]]] = {}  # line -> [(column in the new text, added length)]

    def protect(m: re.Match[str]) -> str:
        refs.append(("", None, m.group(0)[1:]) if m.group(1) else (m.group(2), m.group(3), None))
        token = f"__synthmon_ref_{len(refs) - 1}__"
        line = text.count("\n", 0, m.start())
        line_start = text.rfind("\n", 0, m.start()) + 1
        added = sum(d for _, d in shifts.get(line, []))
        shifts.setdefault(line, []).append((m.end() - line_start + added + len(token) - len(m.group(0)),
                                            len(token) - len(m.group(0))))
        return token

    def at(mark: Any) -> tuple[int, int]:
        col = mark.column - sum(d for end, d in shifts.get(mark.line, []) if end <= mark.column)
        return mark.line + 1, col + 1

    protected = _VAR.sub(protect, text)
    try:
        loader = _Loader(protected)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, protected) from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise YamlError(f"invalid YAML: {problem}", *(at(mark) if mark else (None, None))) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, protected) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlError("invalid YAML: nested too deeply") from None
    except (ValueError, ArithmeticError, LookupError, AttributeError, TypeError) as exc:
        # PyYAML's scalar constructors let conversion errors escape: `!!int _`, `!!bool x`,
        # `!!timestamp x`, `2024-02-30`, an integer of more than 4300 digits.
        raise YamlError(f"invalid YAML value: {str(exc)[:80]}") from None
    finally:
        loader.dispose()
    doc = Document(None, {}, {}, set(), [])
    if node is None:
        return doc
    walker = _Walker(doc, loader, environ, refs, at)
    try:
        doc.data = walker.walk(node, data, ())
    except RecursionError:
        raise YamlError("invalid YAML: nested too deeply") from None
    return doc


def _reader_error(exc: yaml.reader.ReaderError, text: str) -> YamlError:
    char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
    before = text[:exc.position]
    return YamlError(f"invalid YAML: {exc.reason} #x{char:04x}", before.count("\n") + 1,
                     exc.position - before.rfind("\n"))


class _Walker:
    """Walks the node tree beside the values built from it: records positions, resolves `${VAR}`."""

    def __init__(self, doc: Document, loader: yaml.SafeLoader, environ: Mapping[str, str],
                 refs: list[tuple[str, str | None, str | None]], at: Any) -> None:
        self.doc, self.loader, self.environ, self.refs, self.at = doc, loader, environ, refs, at
        self.active: set[int] = set()
        self.count = 0

    def walk(self, node: yaml.Node, value: Any, path: Path) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise YamlError("invalid YAML: aliases expand to too many values")
        if id(node) in self.active:
            raise YamlError("invalid YAML: recursive alias", *self.at(node.start_mark))
        self.doc.values[path] = self.at(node.start_mark)
        if isinstance(node, yaml.MappingNode) and isinstance(value, dict):
            self.active.add(id(node))
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:  # merge keys (`<<`) are already flattened in
                key = self.loader.construct_object(key_node, deep=True)
                if key in out:  # a repeated key: the last one wins, as in the built value
                    del out[key]
                self.doc.keys[(*path, key)] = self.at(key_node.start_mark)
                out[key] = self.walk(value_node, value[key], (*path, key))
            self.active.discard(id(node))
            return out
        if isinstance(node, yaml.SequenceNode) and isinstance(value, list):
            self.active.add(id(node))
            items = [self.walk(n, v, (*path, i)) for i, (n, v) in enumerate(zip(node.value, value, strict=False))]
            self.active.discard(id(node))
            return items
        if isinstance(value, str) and "__synthmon_ref_" in value:
            return self.interpolate(value, path)
        return value

    def interpolate(self, text: str, path: Path) -> str:
        def sub(m: re.Match[str]) -> str:
            index = int(m.group(1))
            if index >= len(self.refs):
                return m.group(0)
            var, fallback, literal = self.refs[index]
            if literal is not None:  # $${X} is a literal ${X}
                return literal
            value = self.environ.get(var)
            if value is None:
                if fallback is None:
                    self.doc.problems.append((path, f"environment variable {var} is not set"))
                    return ""
                value = fallback
            if SECRET_VAR.search(var):
                self.doc.secrets.add(value)
            return value

        whole = _REF.fullmatch(text)
        value = _REF.sub(sub, text)
        if whole and int(whole.group(1)) < len(self.refs) and self.refs[int(whole.group(1))][2] is None:
            return EnvStr(value)
        return value
