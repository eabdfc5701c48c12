"""Declared shapes: frozen dataclasses whose fields carry their constraints in `typing.Annotated`.

One declaration, two readers:
- `parse` here, a small strict validator with no dependencies: request bodies at the edge and the config
  document a function reads from AppConfig. It is what runs in Lambda, so pydantic's import (~140 ms, about
  half of `import boto3`) stays out of every cold start (docs/decision-log.md, "Validation without pydantic
  at run time").
- pydantic, which reads the same constraints through `__get_pydantic_core_schema__`: config files at synth,
  in `make test` and in `make run` (errors naming file and field), and the JSON Schema of the config document.
  tests/unit/test_schema.py holds the two to the same verdicts.

Strict on purpose: "100" is not an integer, 1 is not a boolean, 1.5 is not an amount.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypeVar, Union

T = TypeVar("T")
Path = tuple  # of str | int
Converter = Callable[[Any, Path, list], Any]
_MISSING = dataclasses.MISSING


class SchemaError(ValueError):
    """The input does not match the declared shape; `errors` lists {"field", "message"} (dotted paths)."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


class FieldInvalid(ValueError):
    """Raised by a class's __post_init__ when one field is at fault: reported at that field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


# ---- constraints (hashable, so converters can be cached per annotation) -------------------------------------

@dataclass(frozen=True)
class Int:
    """A strict integer (never a bool, float or string) within [ge, le]."""

    ge: int | None = None
    le: int | None = None

    def check(self, v: int) -> str | None:
        if self.ge is not None and v < self.ge:
            return f"must be at least {self.ge}"
        if self.le is not None and v > self.le:
            return f"must be at most {self.le}"
        return None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> dict:
        return _with(handler(source), strict=True, ge=self.ge, le=self.le)


@dataclass(frozen=True)
class Text:
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None

    def check(self, v: str) -> str | None:
        if self.min_length is not None and len(v) < self.min_length:
            return f"must have at least {self.min_length} characters"
        if self.max_length is not None and len(v) > self.max_length:
            return f"must have at most {self.max_length} characters"
        if self.pattern is not None and not _regex(self.pattern).search(v):
            return f"must match {self.pattern}"
        return None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> dict:
        return _with(handler(source), strict=True, min_length=self.min_length, max_length=self.max_length,
                     pattern=self.pattern)


@dataclass(frozen=True)
class Dec:
    """A decimal number (an int, a decimal string or a float from YAML) with bounds and precision."""

    gt: int | None = None
    le: int | None = None
    max_digits: int | None = None
    decimal_places: int | None = None

    def check(self, v: Decimal) -> str | None:
        if self.gt is not None and not v > self.gt:
            return f"must be greater than {self.gt}"
        if self.le is not None and v > self.le:
            return f"must be at most {self.le}"
        _, digits, exp = v.normalize().as_tuple()
        places = max(0, -int(exp))
        if self.decimal_places is not None and places > self.decimal_places:
            return f"must have at most {self.decimal_places} decimal places"
        if self.max_digits is not None and max(len(digits), places) > self.max_digits:
            return f"must have at most {self.max_digits} digits"
        return None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> dict:
        return _with(handler(source), gt=self.gt, le=self.le, max_digits=self.max_digits,
                     decimal_places=self.decimal_places, allow_inf_nan=False)


@dataclass(frozen=True)
class Len:
    """Bounds on the number of items of a list."""

    min_length: int | None = None
    max_length: int | None = None

    def check(self, v: list) -> str | None:
        if self.min_length is not None and len(v) < self.min_length:
            return f"must have at least {self.min_length} items"
        if self.max_length is not None and len(v) > self.max_length:
            return f"must have at most {self.max_length} items"
        return None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> dict:
        return _with(handler(source), min_length=self.min_length, max_length=self.max_length)


@dataclass(frozen=True)
class OneOf:
    """The values a string may take, for the generated JSON Schema only (`enum`; parse checks nothing here): the
    declaring class checks them itself with a better message than a list (e.g. OrderIn.currency, ISO 4217), and
    the document must not call valid what the API refuses (the fuzzer's positive cases)."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class Strict:
    """No coercion (for pydantic; schema.parse never coerces)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> dict:
        return _with(handler(source), strict=True)


@dataclass(frozen=True)
class Tag:
    """A union of dataclasses told apart by the value of one field (e.g. reward `type`)."""

    field: str

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> dict:
        from pydantic import Discriminator  # only where pydantic reads the declarations

        return handler.generate_schema(Annotated[source, Discriminator(self.field)])


def _with(schema: dict, **kw: Any) -> dict:
    schema.update({k: v for k, v in kw.items() if v is not None})
    return schema


_REGEX: dict[str, re.Pattern] = {}


def _regex(pattern: str) -> re.Pattern:
    rx = _REGEX.get(pattern)
    if rx is None:
        rx = _REGEX[pattern] = re.compile(pattern)
    return rx


# Aliases for the common shapes
StrictInt = Annotated[int, Int()]
StrictBool = Annotated[bool, Strict()]


# ---- the validator -------------------------------------------------------------------------------------------

@typing.dataclass_transform(frozen_default=True, kw_only_default=True)
def model(cls: type[T]) -> type[T]:
    """A declared shape: a frozen, slotted, keyword-only dataclass (a function, so type checkers see one)."""
    return dataclass(frozen=True, slots=True, kw_only=True)(cls)


def parse(cls: type[T], data: Any) -> T:
    """`data` (JSON-like) as an instance of the dataclass `cls`, or SchemaError listing every problem."""
    errors: list[dict] = []
    value = _converter(cls)(data, (), errors)
    if errors:
        raise SchemaError(errors)
    return value


def dump(obj: Any) -> Any:
    """A dataclass (or list/dict of them) as JSON-ready data, leaving out fields that are None."""
    if dataclasses.is_dataclass(obj):
        key = _key_of(type(obj))
        return {key(f.name): dump(v) for f in dataclasses.fields(obj) if (v := getattr(obj, f.name)) is not None}
    if isinstance(obj, (list, tuple)):
        return [dump(v) for v in obj]
    if isinstance(obj, dict):
        return {k: dump(v) for k, v in obj.items()}
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return str(obj)
    return obj


def keyword_alias(name: str) -> str:
    """`from_` is written `from`: a field named after a Python keyword. Set as the class's alias_generator
    (`__pydantic_config__`), which pydantic and this module both apply."""
    return name[:-1] if name.endswith("_") else name


def _key_of(cls: type) -> Callable[[str], str]:
    return getattr(cls, "__pydantic_config__", {}).get("alias_generator") or str


def _fail(errors: list, path: Path, message: str) -> None:
    errors.append({"field": ".".join(str(p) for p in path) or "(body)", "message": message})


_CONVERTERS: dict[Any, Converter] = {}


def _converter(hint: Any) -> Converter:
    conv = _CONVERTERS.get(hint)
    if conv is None:
        conv = _CONVERTERS[hint] = _build(hint)
    return conv


def _build(hint: Any) -> Converter:  # noqa: C901 - one branch per kind of annotation
    origin = typing.get_origin(hint)
    if origin is Annotated:
        tags = [m for m in hint.__metadata__ if isinstance(m, Tag)]
        if tags:
            inner = _tagged(typing.get_args(hint.__origin__), tags[0].field)
        else:
            inner = _converter(hint.__origin__)
        checks = [m.check for m in hint.__metadata__ if hasattr(m, "check")]

        def annotated(v: Any, path: Path, errors: list) -> Any:
            n = len(errors)
            v = inner(v, path, errors)
            if len(errors) == n and v is not None:
                for check in checks:
                    msg = check(v)
                    if msg:
                        _fail(errors, path, msg)
                        break
            return v
        return annotated
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1 or len(args) == len(typing.get_args(hint)):
            raise TypeError(f"only X | None unions (or Tag-ed unions) are supported, not {hint}")
        inner = _converter(args[0])
        return lambda v, path, errors: None if v is None else inner(v, path, errors)
    if origin is Literal:
        allowed = typing.get_args(hint)

        def literal(v: Any, path: Path, errors: list) -> Any:
            if isinstance(v, str) and v in allowed:
                return v
            _fail(errors, path, "must be one of " + ", ".join(map(str, allowed)))
            return None
        return literal
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        item = _converter(item_hint)

        def list_(v: Any, path: Path, errors: list) -> Any:
            if not isinstance(v, list):
                _fail(errors, path, "must be a list")
                return None
            return [item(x, (*path, i), errors) for i, x in enumerate(v)]
        return list_
    if origin is dict:
        _, value_hint = typing.get_args(hint)
        value = _converter(value_hint)

        def dict_(v: Any, path: Path, errors: list) -> Any:
            if not isinstance(v, dict):
                _fail(errors, path, "must be an object")
                return None
            return {k: value(x, (*path, k), errors) for k, x in v.items()}
        return dict_
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass(hint)
    if hint in _SCALARS:
        return _SCALARS[hint]
    raise TypeError(f"no converter for {hint!r}")


def _tagged(members: tuple, field: str) -> Converter:
    by_tag = {}
    for m in members:
        (tag,) = typing.get_args(typing.get_type_hints(m)[field])
        by_tag[tag] = _converter(m)

    def tagged(v: Any, path: Path, errors: list) -> Any:
        if not isinstance(v, dict):
            _fail(errors, path, "must be an object")
            return None
        tag = v.get(field)
        conv = by_tag.get(tag) if isinstance(tag, str) else None  # a list or object here is an error, not a crash
        if conv is None:
            _fail(errors, (*path, field), "must be one of " + ", ".join(by_tag))
            return None
        return conv(v, path, errors)
    return tagged


def _dataclass(cls: type) -> Converter:
    key = _key_of(cls)
    fields = [(f.name, key(f.name), f.default is _MISSING and f.default_factory is _MISSING)
              for f in dataclasses.fields(cls) if f.init]
    forbid = getattr(cls, "__pydantic_config__", {}).get("extra") == "forbid"
    known = {k for _, k, _ in fields}
    plan: list[tuple[str, str, bool, Converter]] = []

    def convert(v: Any, path: Path, errors: list) -> Any:
        if not isinstance(v, dict):
            _fail(errors, path, "must be an object")
            return None
        if not plan:  # built on first use (declarations refer to classes defined further down); thread-safe
            hints = typing.get_type_hints(cls, include_extras=True)
            plan[:] = [(name, k, required, _converter(hints[name])) for name, k, required in fields]
        n = len(errors)
        kwargs = {}
        for name, k, required, conv in plan:
            if k in v:
                kwargs[name] = conv(v[k], (*path, k), errors)
            elif required:
                _fail(errors, (*path, k), "is required")
        if forbid:
            for extra in v.keys() - known:
                _fail(errors, (*path, extra), "is not a known field")
        if len(errors) > n:
            return None
        try:
            return cls(**kwargs)
        except FieldInvalid as e:  # the class's own invariants (__post_init__)
            _fail(errors, (*path, e.field), e.message)
        except ValueError as e:
            _fail(errors, path, str(e))
            return None
    return convert


def _str(v: Any, path: Path, errors: list) -> Any:
    if isinstance(v, str):
        return v
    _fail(errors, path, "must be a string")
    return None


def _int(v: Any, path: Path, errors: list) -> Any:
    if type(v) is int:
        return v
    _fail(errors, path, "must be an integer")
    return None


def _bool(v: Any, path: Path, errors: list) -> Any:
    if type(v) is bool:
        return v
    _fail(errors, path, "must be true or false")
    return None


def _decimal(v: Any, path: Path, errors: list) -> Any:
    if type(v) in (int, float, str):
        try:
            d = Decimal(str(v))
            if d.is_finite():
                return d
        except InvalidOperation:
            pass
    _fail(errors, path, "must be a decimal number")
    return None


def _datetime(v: Any, path: Path, errors: list) -> Any:
    if isinstance(v, datetime):
        return v
    if isinstance(v, str) and len(v) <= 40:
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
    _fail(errors, path, "must be an ISO 8601 date-time")
    return None


_SCALARS: dict[Any, Converter] = {str: _str, int: _int, bool: _bool, Decimal: _decimal, datetime: _datetime}
