"""A typed validator for decoded JSON: the type annotations of the IR's dataclasses are the schema.

``convert(value, hint, where)`` checks a value decoded from JSON against a type hint and returns it in that type
(lists become tuples where the hint says tuple; a dataclass is built from an object with exactly its fields).
It knows the hints the IR uses: ``int``, ``float``, ``str``, ``bool``, ``None``, unions (``X | None``,
``int | float | str | bool``), ``tuple[X, ...]``, fixed tuples, ``list[X]``, ``dict[str, X]``, dataclasses and
``Any`` (any JSON value). Every rejection is a :class:`ModelFormatError` naming the place, the value and what it
must be. Integers must fit 64 bits, floats must be finite and strings valid Unicode of at most
:data:`MAX_STRING` characters, whatever the hint.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any

from errors import ModelFormatError

MAX_STRING = 1 << 16
_INT64 = 1 << 63


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(where: str, must: str, value: Any) -> ModelFormatError:
    return ModelFormatError(f"{where} must be {must}, not {_show(value)}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, "a string", value)
    if len(value) > MAX_STRING:
        raise ModelFormatError(f"{where} must be a string of at most {MAX_STRING} characters, not {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ModelFormatError(f"{where} must be valid Unicode, not {_show(value)}") from e
    return value


def _json(value: Any, where: str) -> Any:
    """Any JSON value, with the universal checks on every number and string inside it."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return convert(value, int, where)
    if isinstance(value, float):
        return convert(value, float, where)
    if isinstance(value, str):
        return _string(value, where)
    if isinstance(value, list):
        return [_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {_string(k, f"a key of {where}"): _json(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise _fail(where, "a JSON value", value)


def _union(value: Any, options: tuple[Any, ...], where: str) -> Any:
    # JSON's own type picks the option: bool before int (True is an int in Python), int before float.
    order = {bool: 0, int: 1, float: 2, str: 3, type(None): 4}
    for option in sorted(options, key=lambda o: order.get(o, 5)):
        if option is type(None) and value is None:
            return None
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return convert(value, int, where)
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return convert(value, float, where)
        if option is str and isinstance(value, str):
            return _string(value, where)
        if option not in order:
            try:
                return convert(value, option, where)
            except ModelFormatError:
                continue
    names = " or ".join("null" if o is type(None) else getattr(o, "__name__", str(o)) for o in options)
    raise _fail(where, names, value)


def convert(value: Any, hint: Any, where: str) -> Any:
    """``value`` (decoded JSON) as type ``hint``; a :class:`ModelFormatError` naming ``where`` if it is not one."""
    if hint is Any:
        return _json(value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise _fail(where, "true or false", value)
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, "an integer", value)
        if not -_INT64 <= value < _INT64:
            raise _fail(where, "an integer that fits 64 bits", value)
        return value
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _fail(where, "a number", value)
        if isinstance(value, int) and not -_INT64 <= value < _INT64:
            raise _fail(where, "a number of at most 64 bits", value)
        if not math.isfinite(value):
            raise _fail(where, "a finite number", value)
        return float(value)
    if hint is str:
        return _string(value, where)
    if hint is None or hint is type(None):
        if value is not None:
            raise _fail(where, "null", value)
        return None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _dataclass(value, hint, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _union(value, args, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise _fail(where, "a list", value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ModelFormatError(f"{where} must be a list of {len(args)}, not {len(value)} items")
        return tuple(convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is list:
        if not isinstance(value, list):
            raise _fail(where, "a list", value)
        return [convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        return {_string(k, f"a key of {where}"): convert(v, args[1], f"{where}[{k!r}]") for k, v in value.items()}
    raise TypeError(f"the schema validator has no rule for type hint {hint!r}")  # a programming error


def _dataclass(value: Any, cls: type, where: str) -> Any:
    if not isinstance(value, dict):
        raise _fail(where, f"an object with fields {', '.join(f.name for f in dataclasses.fields(cls))}", value)
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    extra = sorted(set(value) - set(fields))
    if extra:
        raise ModelFormatError(f"{where} has no field {_show(extra[0])} (its fields are {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ModelFormatError(f"{where} lacks field {name!r}")
            continue
        kwargs[name] = convert(value[name], hints[name], f"{where}, field {name!r}")
    return cls(**kwargs)


def field_hints(cls: type) -> dict[str, Any]:
    """The type hint of each dataclass field of ``cls`` (class variables excluded)."""
    hints = _hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}
