"""The value types of synthmon.yaml as pydantic-core schemas: numbers, strings, choices, URLs, headers, JSON.

Each validator raises one located error with synthmon's own wording; strings are not coerced to
numbers or booleans unless they came whole from one `${VAR}` (monitor.yamldoc.EnvStr).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json as jsonlib
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from pydantic_core import PydanticCustomError
from pydantic_core import core_schema as cs

from monitor.yamldoc import EnvStr
from probes.checks import EVENT, NAME, SEVERITIES, VPC_CONNECTOR

_HEADER = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_METHOD = re.compile(r"[A-Z]{1,16}")


def invalid(problem: str) -> PydanticCustomError:
    return PydanticCustomError("synthmon", "{problem}", {"problem": problem})


def kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", EnvStr: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _from_env(value: Any) -> Any:
    """A number or boolean that came whole from one `${VAR}`, else `value`."""
    if isinstance(value, EnvStr) and value.strip():
        try:
            parsed = yaml.safe_load(value)
        except (yaml.YAMLError, ValueError, ArithmeticError):
            return value
        if isinstance(parsed, (bool, int, float)):
            return parsed
    return value


def number(lo: float | None = None, hi: float | None = None, *, integer: bool = False) -> Callable[[Any], Any]:
    def check(value: Any) -> int | float:
        value = _from_env(value)
        if value is None:
            raise invalid("required")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid(f"must be a number, not {kind(value)}")
        if integer and not isinstance(value, int):
            raise invalid(f"must be an integer, not {value!r}")
        if value != value:
            raise invalid("must be a number, not NaN")
        if isinstance(value, int) and not -1e308 < value < 1e308:  # float() and :g would overflow
            raise invalid("is out of range")
        if lo is not None and value < lo:
            raise invalid(f"must be >= {lo:g}, not {value:g}")
        if hi is not None and value > hi:
            raise invalid(f"must be <= {hi:g}, not {value:g}")
        return int(value) if integer else float(value)
    return check


def _string(value: Any) -> str:
    if value is None:
        raise invalid("required")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise invalid(f"must be a string, not {kind(value)}")
    return str(value)


def choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = _string(value)
        if text not in choices:
            raise invalid(f"must be one of {', '.join(choices)}, not {text!r}")
        return text
    return check


def _boolean(value: Any) -> bool:
    value = _from_env(value)
    if not isinstance(value, bool):
        raise invalid(f"must be true or false, not {kind(value)}")
    return value


def _name(value: Any) -> str:
    text = _string(value)
    if not NAME.fullmatch(text):
        raise invalid(f"must match {NAME.pattern} (it is a metric label), not {text!r}")
    return text


def _event(value: Any) -> str:
    text = _string(value)
    if not EVENT.fullmatch(text):
        raise invalid(f'unknown event name "{text}"')
    return text


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value


def url(*schemes: str) -> Callable[[Any], str]:
    """An absolute URL of one of `schemes`, with a valid port and no credentials."""
    def check(value: Any) -> str:
        text = _string(value)
        try:
            parts = urllib.parse.urlsplit(text)
            _ = parts.port  # ValueError when out of 0-65535
        except ValueError as exc:
            if "out of range" in str(exc):
                raise invalid(f"port out of range 0-65535 in {text!r}") from None
            parts = None
        # libcurl refuses spaces and control characters (CURLE_URL_MALFORMAT), which would be `internal`.
        if (parts is None or parts.scheme not in schemes or not parts.hostname
                or any(c.isspace() or not c.isprintable() for c in text)):
            raise invalid(f"must be an absolute {' or '.join(schemes)} URL, not {text!r}")
        if parts.username or parts.password:
            raise invalid("must not carry credentials; use headers or login")
        return text
    return check


def _method(value: Any) -> str:
    text = _string(value).upper()
    if not _METHOD.fullmatch(text):
        raise invalid(f"invalid HTTP method {text!r}")
    return text


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise invalid(f"must be a mapping, not {kind(value)}")
    out = []
    for k, v in value.items():
        if not isinstance(k, str) or isinstance(v, (dict, list, bool)) or v is None:
            raise invalid(f"must map strings to strings, found {k!r}: {kind(v)}")
        v = str(v)
        if not _HEADER.fullmatch(k) or "\n" in v or "\r" in v:
            raise invalid(f"invalid header {k!r}")
        out.append((k, v))
    return tuple(out)


def _json(value: Any) -> Any:
    """A value that is JSON; YAML-only values (dates, binary, sets, NaN) are config errors."""
    try:
        jsonlib.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise invalid(f"must hold JSON values only: {exc}") from None
    return value


def _json_mapping(value: Any) -> tuple[tuple[str, Any], ...]:
    if not isinstance(value, Mapping):
        raise invalid(f"must be a mapping, not {kind(value)}")
    _json(dict(value))
    return tuple((str(k), v) for k, v in value.items())


def _regex(value: Any) -> re.Pattern[str]:
    text = _string(value)
    try:
        return re.compile(text)
    except re.error as exc:
        raise invalid(f"invalid regular expression: {exc}") from None
    except (OverflowError, RecursionError):  # `a{4294967296}`, thousands of nested groups
        raise invalid("invalid regular expression: too large") from None


def _status(value: Any) -> tuple[int, ...]:
    value = _one_or_many(value)
    if not isinstance(value, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                              and 100 <= s <= 599 for s in value):
        raise invalid("must be a list of HTTP status codes (100-599)")
    return tuple(value)


def _timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        ts = value
    elif isinstance(value, str):
        try:
            ts = dt.datetime.fromisoformat(value)
        except ValueError:
            raise invalid(f"must be an ISO 8601 timestamp, not {value!r}") from None
    else:
        raise invalid(f"must be an ISO 8601 timestamp, not {kind(value)}")
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def _vpc_connector(value: Any) -> str:
    text = _string(value)
    if text and not VPC_CONNECTOR.fullmatch(text):  # "" is as if absent
        raise invalid("must be projects/PROJECT/locations/REGION/connectors/NAME")
    return text


def _millis_or_off(value: Any) -> float | bool:
    """`false` turns a threshold off; else a number of milliseconds."""
    return False if value is False else number(0, None)(value)


def _host_port(value: Any) -> str:
    """`host` or `host:port` (`[v6]:port`), port 1-65535."""
    text = _string(value)
    try:
        parts = urllib.parse.urlsplit(f"//{text}")
        port = parts.port
    except ValueError:
        raise invalid(f"port out of range 1-65535 in {text!r}") from None
    if not parts.hostname or port == 0 or any(c.isspace() or c in "/?#@" for c in text):
        raise invalid(f"must be host or host:port, not {text!r}")
    return text


_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"(?=.{{1,253}}\.?$)(?:{_LABEL}\.)*{_LABEL}\.?")


def _dns_name(value: Any) -> str:
    """A name a resolver can be asked for: labels of 1-63 letters, digits, `-` or `_`."""
    text = _string(value)
    if not _DNS_NAME.fullmatch(text):
        raise invalid(f"must be a DNS name, not {text!r}")
    return text


def _nameserver(value: Any) -> str:
    """`IP` or `IP:port` (`[v6]:port`): the probe asks that server itself, so no name to resolve first."""
    text = _host_port(value)
    host = urllib.parse.urlsplit(f"//{text}").hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise invalid(f"must be an IP address with an optional port, not {text!r}") from None
    return text


def _plain(fn: Callable[[Any], Any]) -> cs.CoreSchema:
    return cs.no_info_plain_validator_function(fn)


def num(lo: float | None = None, hi: float | None = None) -> cs.CoreSchema:
    return _plain(number(lo, hi))


def integer(lo: float | None = None, hi: float | None = None) -> cs.CoreSchema:
    return _plain(number(lo, hi, integer=True))


def one_of(*choices: str) -> cs.CoreSchema:
    return _plain(choice(*choices))


def any_url(*schemes: str) -> cs.CoreSchema:
    return _plain(url(*schemes))


def many(item: cs.CoreSchema) -> cs.CoreSchema:
    """A list of `item` (a single value counts as a list of one); errors name the item's index."""
    return cs.no_info_before_validator_function(_one_or_many, cs.tuple_schema([item], variadic_item_index=0))


def section(fields: dict[str, cs.CoreSchema], *, required: tuple[str, ...] = ()) -> cs.CoreSchema:
    """A mapping of these keys only; every value may be null (as if absent) unless `required`."""
    return cs.typed_dict_schema(
        {k: cs.typed_dict_field(v if k in required else cs.nullable_schema(v), required=k in required)
         for k, v in fields.items()}, extra_behavior="forbid")


STR = _plain(_string)
BOOL = _plain(_boolean)
NAME_ = _plain(_name)
EVENT_ = _plain(_event)
METHOD = _plain(_method)
HEADERS = _plain(_headers)
JSON = _plain(_json)
JSON_MAPPING = _plain(_json_mapping)
REGEX = _plain(_regex)
STATUS = _plain(_status)
TIMESTAMP = _plain(_timestamp)
VPC_CONNECTOR_ = _plain(_vpc_connector)
MILLIS_OR_OFF = _plain(_millis_or_off)
HOST_PORT = _plain(_host_port)
DNS_NAME = _plain(_dns_name)
NAMESERVER = _plain(_nameserver)
SEVERITY = _plain(choice(*SEVERITIES))
