"""Lossless JSON for the frozen dataclasses stored in JSON columns.

Driven by the dataclasses' own type hints, so a field added to
``DialogueState`` (or ``Citation``, ``Option``) is stored without touching this
module.  Stored rows that lack a newer field get its default; a stored key the
dataclass no longer has is dropped with a warning (a removed field must not
make every old conversation unreadable).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar

from assistant.core.types import Citation, DialogueState, Option

log = logging.getLogger(__name__)
T = TypeVar("T")


def to_json(value: Any) -> Any:
    """A JSON-ready value (dicts, lists, str, numbers, bools, None) from a dataclass tree."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} value {value!r} as JSON; add a case to assistant.db.serde")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_json(tp: Any, data: Any) -> Any:
    """Rebuild a value of type ``tp`` from what :func:`to_json` produced."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return from_json(non_none[0], data)
        raise TypeError(f"cannot read a value of ambiguous type {tp} from JSON")
    if origin is typing.Literal:
        if data not in args:
            raise ValueError(f"stored value {data!r} is not one of {args}")
        return data
    if dataclasses.is_dataclass(tp):
        return _dataclass_from_json(tp, data)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if tp is datetime:
        return datetime.fromisoformat(data)
    if tp is date:
        return date.fromisoformat(data)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json(args[0], v) for v in data)
        return tuple(from_json(a, v) for a, v in zip(args, data, strict=True))
    if origin in (list, Sequence, typing.Sequence):
        return [from_json(args[0], v) for v in data]
    if origin in (dict, Mapping, typing.Mapping) or tp in (dict, Mapping):
        value_type = args[1] if args else Any
        return {k: from_json(value_type, v) for k, v in data.items()}
    if tp is float and isinstance(data, int):
        return float(data)
    if tp in (str, int, float, bool):
        if not isinstance(data, tp):
            raise TypeError(f"stored value {data!r} is not a {tp.__name__}")
        return data
    raise TypeError(f"cannot read type {tp} from JSON; add a case to assistant.db.serde")


def _dataclass_from_json(cls: type[T], data: Mapping[str, Any]) -> T:
    if not isinstance(data, Mapping):
        raise TypeError(f"stored {cls.__name__} is {type(data).__name__}, expected an object")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        log.warning("dropping stored %s fields that no longer exist: %s", cls.__name__, sorted(unknown))
    kwargs = {k: from_json(hints[k], v) for k, v in data.items() if k in names}
    return cls(**kwargs)


def state_to_json(state: DialogueState) -> dict[str, Any]:
    """A DialogueState as a JSON object."""
    return to_json(state)


def state_from_json(data: Mapping[str, Any]) -> DialogueState:
    """The DialogueState stored by :func:`state_to_json`."""
    return _dataclass_from_json(DialogueState, data)


def citations_to_json(citations: Sequence[Citation]) -> list[dict[str, Any]]:
    """Citations as a JSON list."""
    return [to_json(c) for c in citations]


def citations_from_json(data: Sequence[Mapping[str, Any]]) -> tuple[Citation, ...]:
    """The citations stored by :func:`citations_to_json`."""
    return tuple(_dataclass_from_json(Citation, c) for c in data)


def options_to_json(options: Sequence[Option]) -> list[dict[str, Any]]:
    """Clarify options as a JSON list."""
    return [to_json(o) for o in options]


def options_from_json(data: Sequence[Mapping[str, Any]]) -> tuple[Option, ...]:
    """The options stored by :func:`options_to_json`."""
    return tuple(_dataclass_from_json(Option, o) for o in data)
