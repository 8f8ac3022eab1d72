"""Typed reads from one YAML mapping, each error naming file, check and field; unknown keys rejected."""

from __future__ import annotations

import builtins
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

_MISSING = object()


class Fields:
    """Reads keys from `raw` and remembers them, so that `done()` can reject the rest."""

    def __init__(self, raw: Any, file: builtins.str, where: builtins.str, prefix: builtins.str) -> None:
        from monitor.config import ConfigError

        self._error = ConfigError
        self.file, self.where, self.prefix = file, where, prefix
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(file, where, prefix.rstrip("."), f"must be a mapping, not {_kind(raw)}")
        for key in raw:
            if not isinstance(key, str):
                raise ConfigError(file, where, prefix.rstrip("."), f"keys must be strings, not {_kind(key)}")
        self.raw: Mapping[str, Any] = raw
        self.used: set[str] = set()

    def error(self, key: builtins.str, problem: builtins.str) -> Exception:
        return self._error(self.file, self.where, self.prefix + key, problem)

    def has(self, key: builtins.str) -> builtins.bool:
        return key in self.raw

    def get(self, key: builtins.str, default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key not in self.raw or self.raw[key] is None:
            if default is _MISSING:
                raise self.error(key, "required")
            return default
        return self.raw[key]

    def str(self, key: builtins.str, default: Any = _MISSING, *, choices: Sequence[builtins.str] | None = None) -> Any:
        value = self.get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.error(key, f"must be a string, not {_kind(value)}")
        value = str(value)
        if choices is not None and value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def opt_str(self, key: builtins.str, **kw: Any) -> builtins.str | None:
        value = self.str(key, None, **kw)
        return value if value else None

    def number(self, key: builtins.str, default: Any = _MISSING, *, lo: float | None = None,
               hi: float | None = None, integer: builtins.bool = False) -> Any:
        value = self.get(key, default)
        if value is default and default is not _MISSING:
            return value
        value = _from_env(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"must be a number, not {_kind(value)}")
        if integer and not isinstance(value, int):
            raise self.error(key, f"must be an integer, not {value!r}")
        if value != value:  # NaN
            raise self.error(key, "must be a number, not NaN")
        if isinstance(value, int) and not -1e308 < value < 1e308:  # float() and :g would overflow
            raise self.error(key, "is out of range")
        if lo is not None and value < lo:
            raise self.error(key, f"must be >= {lo:g}, not {value:g}")
        if hi is not None and value > hi:
            raise self.error(key, f"must be <= {hi:g}, not {value:g}")
        return int(value) if integer else float(value)

    def bool(self, key: builtins.str, default: Any = _MISSING) -> Any:
        value = _from_env(self.get(key, default))
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {_kind(value)}")
        return value

    def mapping(self, key: builtins.str) -> Mapping[builtins.str, Any]:
        value = self.get(key, {})
        if not isinstance(value, Mapping):
            raise self.error(key, f"must be a mapping, not {_kind(value)}")
        return value

    def list(self, key: builtins.str, default: Any = _MISSING) -> builtins.list[Any]:
        value = self.get(key, default)
        if not isinstance(value, list):
            raise self.error(key, f"must be a list, not {_kind(value)}")
        return value

    def str_list(self, key: builtins.str, default: Any = _MISSING, *, choices: Sequence[builtins.str] | None = None,
                 pattern: re.Pattern[builtins.str] | None = None) -> builtins.list[builtins.str]:
        value = self.get(key, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.error(key, f"must be a list of strings, not {_kind(value)}")
        for item in value:
            if not isinstance(item, str):
                raise self.error(key, f"must be a list of strings, found {_kind(item)}")
            if choices is not None and item not in choices:
                raise self.error(key, f"unknown value {item!r} (one of {', '.join(choices)})")
            if pattern is not None and not pattern.fullmatch(item):
                raise self.error(key, f'unknown event name "{item}"')
        return list(value)

    def str_map(self, key: builtins.str) -> builtins.dict[builtins.str, builtins.str]:
        value = self.mapping(key)
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(k, str) or isinstance(v, (dict, list, bool)) or v is None:
                raise self.error(key, f"must map strings to strings, found {k!r}: {_kind(v)}")
            out[k] = str(v)
        return out

    def timestamp(self, key: builtins.str) -> dt.datetime:
        value = self.get(key)
        if isinstance(value, dt.datetime):
            ts = value
        elif isinstance(value, str):
            try:
                ts = dt.datetime.fromisoformat(value)
            except ValueError:
                raise self.error(key, f"must be an ISO 8601 timestamp, not {value!r}") from None
        else:
            raise self.error(key, f"must be an ISO 8601 timestamp, not {_kind(value)}")
        return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)

    def done(self) -> None:
        unknown = [k for k in self.raw if k not in self.used]
        if unknown:
            raise self.error(str(unknown[0]), "unknown key")


def _from_env(value: Any) -> Any:
    """A number or boolean that came whole from one `${VAR}` (config.EnvStr), else `value`."""
    from monitor.config import EnvStr

    if isinstance(value, EnvStr):
        parsed = yaml.safe_load(value) if value.strip() else value
        if isinstance(parsed, (bool, int, float)):
            return parsed
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
