"""JSON from outside, made safe before any model or database sees it.

`parse_json` refuses what would otherwise crash deeper down or be stored wrongly: nesting deeper
than `MAX_DEPTH` (Python's parser recurses), NUL characters (PostgreSQL text cannot hold them),
``NaN``, ``Infinity`` and numbers that overflow to infinity (not JSON; PostgreSQL refuses them and
SQLite would store invalid JSON). `BoundedDatetime` is a zone-aware time whose UTC form exists
(years 1 and 9999 with an offset overflow when converted). Every refusal is a `ValueError` with a
message that never quotes the input.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime

MAX_DEPTH = 32
EARLIEST, LATEST = 1900, 9000


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number is too large to represent")
    return value


def _constant(name: str) -> Any:
    raise ValueError("a number is not finite (JSON has no NaN or infinities)")


def check_value(value: Any, depth: int = 0) -> None:
    """Refuse deep nesting and NUL characters anywhere in parsed JSON (keys included)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a string contains a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_value(key, depth + 1)
            check_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_value(item, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a number is not finite")


def parse_json(text: str) -> Any:
    """Parse and check ``text``; `ValueError` (message without input) when it is refused."""
    try:
        data = json.loads(text, parse_float=_finite, parse_constant=_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise ValueError(f"malformed JSON at {where}: {exc.msg}") from None
    check_value(data)
    return data


def _bounded(value: dt.datetime) -> dt.datetime:
    if not EARLIEST <= value.year <= LATEST:
        raise ValueError(f"the year must be between {EARLIEST} and {LATEST}")
    return value


#: A zone-aware datetime within years 1900..9000 (its UTC form always exists).
BoundedDatetime = Annotated[AwareDatetime, AfterValidator(_bounded)]


def no_nul(value: str) -> str:
    """A string validator: refuse NUL characters (PostgreSQL text cannot hold them)."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value
