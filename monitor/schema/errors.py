"""Located config problems: a path in the document becomes `line:column`, the check and the dotted field.

pydantic-core's errors are translated here, once: their location (with the check type's tag) is mapped to
the YAML node it came from, and an unknown key gets the closest known key as "did you mean".
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from pydantic_core import ValidationError

from monitor.schema.checks import CHECK_SCHEMAS
from monitor.schema.document import DOCUMENT
from monitor.schema.values import kind
from monitor.yamldoc import Document, Path

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclasses.dataclass(frozen=True, order=True)
class Problem:
    line: int | None
    column: int | None
    where: str  # `checks[2] "golden-path"`, `maintenance[0]` or "" at the top level
    field: str  # `events.required[1]`
    problem: str

    def format(self, file: str) -> str:
        at = f"{file}:{self.line}:{self.column}" if self.line is not None else file
        return ": ".join(p for p in (at, self.where, self.field, self.problem) if p)


def locate(doc: Document, path: Path, problem: str, *, key: bool = False) -> Problem:
    """The problem at `path` of the document (at the key itself when `key`, e.g. an unknown key)."""
    line, column = doc.position(path, key=key)
    where, rest = "", path
    if len(path) >= 2 and path[0] in ("checks", "maintenance") and isinstance(path[1], int):
        where, rest = f"{path[0]}[{path[1]}]", path[2:]
        raw = _at(doc.data, path[:2])
        if path[0] == "checks" and isinstance(raw, dict) and isinstance(raw.get("name"), str):
            where += " " + json.dumps(raw["name"], ensure_ascii=False)  # quoted, control characters escaped
    field = ""
    for part in rest:
        if isinstance(part, str) and _PLAIN.fullmatch(part):
            field += f".{part}" if field else part
        else:  # an index, or a key that needs quoting to be seen (`''`, `' '`, `a.b`)
            field += f"[{part!r}]"
    return Problem(line, column, where, field, problem)


def translate(doc: Document, error: ValidationError, prefix: Path = ()) -> list[Problem]:
    """pydantic-core's errors for the value at `prefix` of the document."""
    return [_one(doc, e, prefix) for e in error.errors(include_url=False)]


def _one(doc: Document, e: Any, prefix: Path) -> Problem:
    loc = [*prefix, *e["loc"]]
    if len(loc) >= 3 and loc[0] == "checks" and isinstance(loc[1], int) and loc[2] in CHECK_SCHEMAS:
        tag = loc.pop(2)  # the discriminator's tag is not part of the document
    else:
        tag = None
    path = tuple(loc)
    kind_ = e["type"]
    value = e.get("input")
    if kind_ == "synthmon":
        return locate(doc, path, e["ctx"]["problem"])
    if kind_ == "missing":
        return locate(doc, path, "required")
    if kind_ == "extra_forbidden":
        return locate(doc, path, _unknown(path, tag), key=True)
    if kind_ == "invalid_key":
        return locate(doc, path, f"keys must be strings, not {kind(path[-1])}", key=True)
    if kind_ in ("model_type", "model_attributes_type", "dict_type"):
        return locate(doc, path, f"must be a mapping, not {kind(value)}")
    if kind_ in ("list_type", "tuple_type"):
        return locate(doc, path, f"must be a list, not {kind(value)}")
    if kind_ in ("union_tag_invalid", "union_tag_not_found"):
        if not isinstance(value, dict):
            return locate(doc, path, f"must be a mapping, not {kind(value)}")
        if "type" not in value or value["type"] is None:
            return locate(doc, (*path, "type"), "required")
        if not isinstance(value["type"], str):
            return locate(doc, (*path, "type"), f"must be a string, not {kind(value['type'])}")
        return locate(doc, (*path, "type"), f"must be one of {', '.join(CHECK_SCHEMAS)}, not {value['type']!r}")
    return locate(doc, path, str(e["msg"]))


def _unknown(path: Path, tag: str | None) -> str:
    import difflib  # only a config with a mistake needs it; a service start does not

    known = _known_keys(path[:-1], tag)
    close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
    return f"unknown key (did you mean {close[0]!r}?)" if close else "unknown key"


def _known_keys(path: Path, tag: str | None) -> list[str]:
    """The keys the mapping at `path` takes, read from the schema."""
    schema: Any = DOCUMENT
    for i, part in enumerate(path):
        schema = _unwrap(schema)
        if isinstance(part, int):
            schema = _unwrap(schema.get("items_schema", {}))
            if i == 1 and path[0] == "checks" and tag:
                schema = CHECK_SCHEMAS[tag]
            continue
        field = schema.get("fields", {}).get(part)
        if field is None:
            return []
        schema = field["schema"]
    return sorted(_unwrap(schema).get("fields", {}))


def _unwrap(schema: Any) -> Any:
    """Through nullable and before-validator schemas to the one that holds fields or items."""
    while schema.get("type") in ("nullable", "function-before"):
        schema = schema["schema"]
    return schema


def _at(data: Any, path: Path) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data
