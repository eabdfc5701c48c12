"""The config side of the CLI: validate config/ and switch a campaign on or off in its YAML file.

Validation and deployment are tools/config.py's (the runbook's emergency path), so the CLI checks exactly what
synth and `python -m tools.config` check and deploys the same bytes. The edit is a ruamel.yaml round trip:
comments, key order, quoting and flow style stay as the operator wrote them; only `enabled` changes.
"""
from __future__ import annotations

import io
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout: tools/ and the layer's domain core live there
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import config as config_tool  # noqa: E402  (puts layers/core/python on sys.path itself)

CAMPAIGN_ID = re.compile(r"^[a-z0-9-]+$")  # the config contract's id, also the file name


class ConfigProblem(Exception):
    """The config is invalid, or the file to edit is not there."""


def config_dir(given: str | os.PathLike | None = None) -> Path:
    """DIR if given, else INCENTIVES_CONFIG_DIR, else ./config, else the checkout's config/."""
    if given:
        return Path(given)
    if os.environ.get("INCENTIVES_CONFIG_DIR"):
        return Path(os.environ["INCENTIVES_CONFIG_DIR"])
    here = Path("config")
    return here if here.is_dir() else ROOT / "config"


def validate(directory: Path) -> str:
    """One line that says what the valid config holds; raises ConfigProblem naming the file and the field."""
    try:
        document = config_tool.build_document(directory)
    except config_tool.ConfigError as e:
        raise ConfigProblem(e.message) from None
    return f"{config_tool.summary(document)} ({len(config_tool.render(document).encode())} bytes)"


@dataclass
class Toggled:
    path: Path
    changed: bool  # False: the file said so already and was not rewritten
    original: bytes  # the file before the edit, to put back if the deployment fails


def _yaml(text: str):
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    _, indent, block_seq_indent = load_yaml_guess_indent(text)
    yaml = YAML()  # round-trip mode
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    indent = indent or 2
    yaml.indent(mapping=indent, sequence=indent, offset=block_seq_indent or 0)
    return yaml


def set_enabled(directory: Path, campaign_id: str, enabled: bool) -> Toggled:
    """Set `enabled` in campaigns/<id>.yaml, then validate the whole config; an invalid result puts the file
    back byte for byte and raises ConfigProblem."""
    if not CAMPAIGN_ID.match(campaign_id):
        raise ConfigProblem(f"{campaign_id!r} is not a campaign id ([a-z0-9-]+)")
    path = directory / "campaigns" / f"{campaign_id}.yaml"
    if not path.is_file():
        raise ConfigProblem(f"no campaign {campaign_id}: {path} does not exist")
    original = path.read_bytes()
    text = original.decode("utf-8")
    yaml = _yaml(text)
    data = yaml.load(text)
    if not hasattr(data, "insert"):
        raise ConfigProblem(f"{path}: not a YAML mapping")
    if data.get("enabled") is enabled:
        return Toggled(path, changed=False, original=original)
    if "enabled" in data:
        data["enabled"] = enabled
    else:  # the model's default applies; write the switch where the contract's example has it
        keys = list(data)
        after = "name" if "name" in keys else "id" if "id" in keys else None
        data.insert(keys.index(after) + 1 if after else 0, "enabled", enabled)
    out = io.StringIO()
    yaml.dump(data, out)
    _write(path, out.getvalue().encode("utf-8"))
    try:
        validate(directory)
    except ConfigProblem as e:
        _write(path, original)
        raise ConfigProblem(f"{e}; {path.name} was left unchanged") from None
    return Toggled(path, changed=True, original=original)


def restore(path: Path, content: bytes) -> None:
    _write(path, content)


def _write(path: Path, content: bytes) -> None:
    """Replace the file in one step (a crash never leaves half a file), keeping its permissions."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)


def deploy(directory: Path, application: str, description: str, region: str | None = None,
           environment: str | None = None, client=None) -> int:
    """tools/config.py's deploy: validate, upload a hosted configuration version, deploy it, wait. Its exit
    status (0 done, 1 an AWS call failed, 2 invalid); it prints its own progress."""
    argv = ["deploy", "--config-dir", str(directory), "--application", application, "--description", description]
    if region:
        argv += ["--region", region]
    if environment:
        argv += ["--environment", environment]
    return config_tool.main(argv, client=client)
