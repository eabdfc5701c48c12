"""The JSON Schema (draft-04) of the deployed config document, generated from the declarations schema.parse reads.

AWS AppConfig checks every new hosted version of the `campaigns` profile against this schema (the profile's
JSON_SCHEMA validator, infra/config_store.py) before it can be deployed, and the operator's emergency command
(tools/config.py) checks it before it uploads. It is made by walking the same frozen dataclasses and
`typing.Annotated` constraints (schema.Int, Text, Dec, Len, Tag, Literal, `X | None`, lists, dicts) that
schema.parse runs in Lambda, so there is no second, hand-written schema to drift.

Not imported by any Lambda handler (it is synth- and tool-time code): deployed functions keep schema.parse.
The same walker speaks JSON Schema 2020-12 (`Generator(DRAFT_2020_12, ref_prefix)`) for the OpenAPI 3.1 document
of the HTTP API (http/openapi.py): request bodies, query parameters and response declarations.

The runtime validator stays authoritative. JSON Schema cannot express, so this schema does not check:
- the classes' invariants in `__post_init__` (known ISO 4217 currency, IANA time zone, ends_at after starts_at,
  code pattern and charset rules, exactly one of sku/category, one currency per campaign, reward tiers in
  order, earning-rule combinations, ...): they are code, not declarations;
- references across files, checked with everything loaded (ConfigBundle: segments that exist, public codes
  used once, code spaces that cannot overlap, programs naming existing campaigns and loyalty programs);
- `max_digits` of a decimal, and the number of decimal places of a decimal written as a JSON number (only a
  decimal written as a string, which is how the document is made, has its places checked);
- that a date-time names a real day and time (only its ISO 8601 shape is checked).
It is a little stricter than schema.parse in corners the document built from config/ never reaches (synth and
the tool check the built document against it): decimal strings are plain notation (`12.5`, not `1.25E+1`,
` 12.5` or `+12.5`), date-times are ISO 8601 extended format (`2026-12-01T00:00:00+01:00`, not
`20261201T000000`), and a pattern's `$` does not match before a trailing newline as Python's does.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union

from .schema import Dec, Int, Len, OneOf, Tag, Text, _key_of

DRAFT_04 = "http://json-schema.org/draft-04/schema#"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"  # OpenAPI 3.1's dialect
# ISO 8601 extended date, optional time (T or space) with optional fraction, optional offset (Z or +hh[:mm]).
DATETIME_PATTERN = (r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}([.,]\d{1,6})?)?)?)?"
                    r"([Zz]|[+-]\d{2}(:?\d{2}(:?\d{2}(\.\d{1,6})?)?)?)?$")
DATETIME_MAX_LENGTH = 40  # as schema._datetime


@dataclass(frozen=True)
class Doc:
    """A field's description in the generated schema: `Annotated[int, Doc("minor units")]` (used by the HTTP
    response and query declarations; schema.parse and pydantic ignore it)."""

    text: str


@dataclass(frozen=True)
class Format:
    """A value's `format` in the generated schema (`date-time`, ...): an annotation for readers, asserted by no
    validator unless asked to (JSON Schema 2020-12)."""

    name: str


def document_schema() -> dict:
    """The schema of the whole document ConfigBundle.to_document() makes and ConfigBundle.from_document reads."""
    from .config import Campaign, Segment
    from .journeys import Journey, Messaging
    from .programs import LoyaltyProgram, ReferralProgram

    sections = {"campaigns": Campaign, "segments": Segment, "referral_programs": ReferralProgram,
                "loyalty_programs": LoyaltyProgram, "journeys": Journey}
    gen = Generator()
    # each section is parsed as dict[str, cls] (ConfigBundle.from_document): an object of entities by id
    properties = {name: {"type": "object", "additionalProperties": gen.schema(cls)} for name, cls in sections.items()}
    properties["messaging"] = gen.schema(Messaging)  # one object (config/messaging.yaml), not a map
    return {"$schema": DRAFT_04, "title": "incentives config document", "type": "object",
            "properties": properties, "definitions": dict(sorted(gen.definitions.items()))}


def model_schema(cls: Any) -> dict:
    """The schema of one declared dataclass (a campaign, a segment, ...), with the definitions it needs."""
    gen = Generator()
    root = gen.schema(cls)
    return {"$schema": DRAFT_04, **root, "definitions": gen.definitions}


def check_document(document: Any) -> None:
    """Raise ConfigError naming each field of the config document that the generated schema refuses (needs the
    jsonschema package: synth, tests and tools/config.py, never a Lambda function)."""
    from jsonschema import Draft4Validator

    from .errors import ConfigError

    errors = sorted(Draft4Validator(document_schema()).iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("the config document does not match its JSON Schema: " + "; ".join(
            f"{'.'.join(map(str, e.absolute_path)) or '(document)'}: {e.message}" for e in errors[:20]),
            details={"fields": [".".join(map(str, e.absolute_path)) for e in errors]})


def render(schema: dict) -> str:
    """Minified: AppConfig takes at most 32,768 characters of validator content."""
    return json.dumps(schema, separators=(",", ":"), sort_keys=True)


class Generator:
    """One walk over the annotations; each dataclass becomes one entry of `definitions`, referenced by name.

    `dialect` DRAFT_04 (the config document, AppConfig) or DRAFT_2020_12 (OpenAPI 3.1: `exclusiveMinimum` is a
    number there); `ref_prefix` where the definitions live (`#/components/schemas/` in OpenAPI). Two different
    classes of one name are an error, not a silent overwrite."""

    def __init__(self, dialect: str = DRAFT_04, ref_prefix: str = "#/definitions/") -> None:
        if dialect not in (DRAFT_04, DRAFT_2020_12):
            raise ValueError(f"unknown JSON Schema dialect {dialect}")
        self.dialect = dialect
        self.ref_prefix = ref_prefix
        self.definitions: dict[str, dict] = {}
        self.classes: dict[str, type] = {}  # definition name -> its class

    def schema(self, hint: Any) -> dict:
        if hint is Any:  # free-form (error details, a job's result): response declarations only
            return {}
        origin = typing.get_origin(hint)
        if origin is Annotated:
            tags = [m for m in hint.__metadata__ if isinstance(m, Tag)]
            if tags:
                members = typing.get_args(hint.__origin__)
                return {"oneOf": [self.schema(m) for m in members]}
            out = dict(self.schema(hint.__origin__))
            for m in hint.__metadata__:
                out.update(_constraint(m, out, self.dialect))
            return out
        if origin is Union or origin is types.UnionType:
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(args) != 1 or len(args) == len(typing.get_args(hint)):
                raise TypeError(f"only X | None unions (or Tag-ed unions) are supported, not {hint}")
            inner = self.schema(args[0])
            if isinstance(inner.get("type"), str):
                return {**inner, "type": [inner["type"], "null"]}
            return {"anyOf": [inner, {"type": "null"}]}
        if origin is Literal:
            return {"enum": list(typing.get_args(hint))}
        if origin is list:
            (item,) = typing.get_args(hint)
            return {"type": "array", "items": self.schema(item)}
        if origin is dict:
            _, value = typing.get_args(hint)
            return {"type": "object", "additionalProperties": self.schema(value)}
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self._dataclass(hint)
        if hint in _SCALARS:
            return dict(_SCALARS[hint])
        raise TypeError(f"no JSON Schema for {hint!r}")

    def _dataclass(self, cls: type) -> dict:
        name = cls.__name__
        ref = {"$ref": f"{self.ref_prefix}{name}"}
        if self.classes.setdefault(name, cls) is not cls:
            raise TypeError(f"two declarations named {name}: {self.classes[name]} and {cls}; rename one")
        if name in self.definitions:
            return ref
        self.definitions[name] = {}  # placeholder: a class may (indirectly) refer to itself
        key = _key_of(cls)
        hints = typing.get_type_hints(cls, include_extras=True)
        properties, required = {}, []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            properties[key(f.name)] = self.schema(hints[f.name])
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(key(f.name))
        out: dict = {"type": "object", "properties": properties}
        if required:
            out["required"] = required
        if getattr(cls, "__pydantic_config__", {}).get("extra") == "forbid":
            out["additionalProperties"] = False
        self.definitions[name] = out
        return ref


_SCALARS: dict[Any, dict] = {
    str: {"type": "string"},
    int: {"type": "integer"},  # draft-04: 1.0 is not an integer, as for schema.parse
    float: {"type": "number"},  # response declarations (rates, ratios); the config declares none
    bool: {"type": "boolean"},
    Decimal: {"type": ["number", "string"], "pattern": r"^-?\d+(\.\d+)?$"},
    datetime: {"type": "string", "maxLength": DATETIME_MAX_LENGTH, "pattern": DATETIME_PATTERN},
}


def _constraint(m: Any, base: dict, dialect: str = DRAFT_04) -> dict:
    """The keywords of one Annotated constraint (metadata that carries none, e.g. Strict, adds nothing)."""
    if isinstance(m, Doc):
        return {"description": m.text}
    if isinstance(m, Format):
        return {"format": m.name}
    if isinstance(m, OneOf):
        return {"enum": list(m.values)}
    if isinstance(m, Int):
        return _drop_none(minimum=m.ge, maximum=m.le)
    if isinstance(m, Text):
        return _drop_none(minLength=m.min_length, maxLength=m.max_length, pattern=m.pattern)
    if isinstance(m, Len):
        return _drop_none(minItems=m.min_length, maxItems=m.max_length)
    if isinstance(m, Dec):
        out = _drop_none(minimum=m.gt, maximum=m.le)
        if m.gt is not None:
            if dialect == DRAFT_04:
                out["exclusiveMinimum"] = True
            else:  # 2019-09 and later: the bound itself
                out["exclusiveMinimum"] = out.pop("minimum")
        out["pattern"] = decimal_pattern(m)
        return out
    if hasattr(m, "check"):
        raise TypeError(f"{type(m).__name__} constrains values but has no JSON Schema here: add it")
    return {}


def _drop_none(**kw: Any) -> dict:
    return {k: v for k, v in kw.items() if v is not None}


# ---- decimals written as strings ---------------------------------------------------------------------------

def decimal_pattern(d: Dec) -> str:
    """A regex for the plain-notation decimal strings within (gt, le] with at most `decimal_places` places
    (trailing zeros do not count, as in Dec.check). JSON Schema's minimum and maximum apply to numbers only,
    and the document writes decimals as strings, so the bounds are spelled out as digits."""
    n = d.decimal_places
    places = r"\d*" if n is None else rf"\d{{0,{n}}}0*"
    some = r"\d+" if n is None else rf"\d{{1,{n}}}0*"
    if d.gt is None and d.le is None:
        return rf"^-?\d+(\.{places})?$"
    if d.gt is None or d.gt < 0 or (d.le is not None and d.le <= d.gt):
        raise TypeError(f"{d}: only a lower bound gt >= 0 (with an optional le above it) has a pattern here")
    lo, hi = d.gt, d.le
    alternatives = []
    if hi is None or hi - 1 >= lo + 1:  # an integer part strictly between the bounds: any fraction
        alternatives.append(rf"({integer_pattern(lo + 1, None if hi is None else hi - 1)})(\.{places})?")
    alternatives.append(rf"{lo}\.(?=\d*[1-9]){some}")  # just above gt: a fraction that is not zero
    if hi is not None:
        alternatives.append(rf"{hi}(\.0*)?")  # le itself
    return "^0*(" + "|".join(alternatives) + ")$"


def integer_pattern(lo: int, hi: int | None) -> str:
    """A regex alternation for the integers lo..hi (hi None: no upper bound), written without leading zeros."""
    parts: list[str] = []
    width = len(str(lo))
    top = hi if hi is not None else 10 ** width - 1
    while lo <= top:
        end = min(top, 10 ** width - 1)
        parts += _same_width(str(lo), str(end))
        lo, width = end + 1, width + 1
    if hi is None:
        parts.append(rf"[1-9]\d{{{width - 1},}}")
    return "|".join(parts)


def _same_width(a: str, b: str) -> list[str]:
    if a == b:
        return [a]
    if len(a) == 1:
        return [f"[{a}-{b}]"]
    if a[0] == b[0]:
        return [a[0] + p for p in _same_width(a[1:], b[1:])]
    rest = len(a) - 1
    head: list[str] = []
    tail: list[str] = []
    first, last = int(a[0]), int(b[0])
    if a[1:] != "0" * rest:
        head = [a[0] + p for p in _same_width(a[1:], "9" * rest)]
        first += 1
    if b[1:] != "9" * rest:
        tail = [b[0] + p for p in _same_width("0" * rest, b[1:])]
        last -= 1
    middle = []
    if first <= last:
        digit = str(first) if first == last else f"[{first}-{last}]"
        middle = [digit + (r"\d" if rest == 1 else rf"\d{{{rest}}}")]
    return head + middle + tail
