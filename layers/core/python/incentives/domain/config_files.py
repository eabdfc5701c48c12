"""Config files (YAML) validated with pydantic: at synth (infra/config_store.py), in `make test` and when
`make run` reads config/. Deployed functions never import this module: they read the JSON document that synth
made from these files (ConfigBundle.from_document)."""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml
from pydantic import TypeAdapter, ValidationError

from .config import Campaign, ConfigBundle, Segment
from .programs import LoyaltyProgram, ReferralProgram
from .errors import ConfigError
from .schema import FieldInvalid, dump

M = TypeVar("M")


class _Named(Protocol):
    @property
    def id(self) -> str: ...


F = TypeVar("F", bound=_Named)  # a shape kept in a file named after its id


@cache
def _adapter(model: type) -> TypeAdapter:
    return TypeAdapter(model)


def validate(model: type[M], data: Any) -> M:
    """`data` as a `model` instance, validated by pydantic; raises ConfigError naming each field at fault."""
    try:
        cls: type = model  # a class, so hashable: mypy does not see that through type[M]
        return _adapter(cls).validate_python(data)
    except ValidationError as e:
        raise ConfigError(_describe(e)) from None


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc, msg = [str(p) for p in e["loc"] if not str(p).startswith("function-")], e["msg"]
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, FieldInvalid):  # an invariant of the class that names its field (schema.py)
            loc, msg = [*loc, cause.field], cause.message
        parts.append(f"{'.'.join(loc) or '(file)'}: {msg}")
    return "; ".join(parts)


def load_file(path: Path, model: type[M], named: bool = True) -> M:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of {model.__name__.lower()} fields")
    try:
        obj = validate(model, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    ident = getattr(obj, "id", None) if named else None
    if named and ident != path.stem:
        raise ConfigError(f"{path}: id: {ident!r} must equal the file name {path.stem!r}")
    return obj


def load_config_dir(path: str | Path) -> ConfigBundle:
    """Read and validate config/campaigns, segments, referral-programs, loyalty-programs, journeys (*.yaml) and
    config/messaging.yaml; raises ConfigError naming the file and field."""
    root = Path(path)
    bundle = ConfigBundle(_load_dir(root / "campaigns", Campaign), _load_dir(root / "segments", Segment),
                          _load_dir(root / "referral-programs", ReferralProgram),
                          _load_dir(root / "loyalty-programs", LoyaltyProgram),
                          journey_document=_journey_document(root))
    bundle.journey_config()  # cross-file checks of journeys now, not at their first use
    return bundle


def _journey_document(root: Path) -> dict:
    from .journeys import Journey, Messaging

    doc: dict = {"journeys": dump(_load_dir(root / "journeys", Journey))}
    if (root / "messaging.yaml").exists():
        doc["messaging"] = dump(load_file(root / "messaging.yaml", Messaging, named=False))
    return doc


def _load_dir(directory: Path, model: type[F]) -> dict[str, F]:
    return {obj.id: obj for obj in (load_file(f, model) for f in sorted(directory.glob("*.y*ml")))}
