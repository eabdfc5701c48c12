"""Check, build and deploy the campaign config without a code deploy: the runbook's emergency path.

    python -m tools.config check  [--config-dir config]
    python -m tools.config build  [--config-dir config] [--out document.json]
    python -m tools.config deploy --application <AppConfigApplicationId> [--dry-run] [--region eu-central-1]

Every command builds the AppConfig document from the YAML files in config/ exactly as synth does: pydantic
validates each file (an error names the file and the field), the bundle's cross-file checks run, and the
document is checked against the JSON Schema the AppConfig profile validates with (incentives.domain.json_schema).
Nothing is uploaded unless all of that passes. `deploy` then creates a hosted configuration version and starts
a deployment with the stack's all-at-once strategy, and waits for it to complete.

Operator tooling: it runs from a checkout with requirements-dev.txt installed and is not part of any Lambda
layer. `main(argv)` is the whole interface, so a wider `incentives` CLI can mount it as a sub-command.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "layers" / "core" / "python") not in sys.path:  # the domain core is a layer, not a package
    sys.path.insert(0, str(ROOT / "layers" / "core" / "python"))

from incentives.domain.errors import ConfigError  # noqa: E402

EXIT_INVALID, EXIT_AWS = 2, 1
DONE_STATES = {"COMPLETE"}
FAILED_STATES = {"ROLLING_BACK", "ROLLED_BACK", "REVERTED"}


def build_document(config_dir: Path) -> dict:
    """The deployed document made from config_dir, validated by pydantic and by the profile's JSON Schema;
    raises ConfigError naming the file (or document path) and the field."""
    from incentives.domain.config_files import load_config_dir
    from incentives.domain.json_schema import check_document

    if not config_dir.is_dir():
        raise ConfigError(f"{config_dir}: no such directory")
    document = load_config_dir(config_dir).to_document()
    check_document(document)
    return document


def render(document: dict) -> str:
    """As synth renders it (infra/config_store.py), so the same config gives the same bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def summary(document: dict) -> str:
    # messaging is one object (config/messaging.yaml), every other section a map of entities by id
    return ", ".join(f"{len(items)} {section.replace('_', ' ')}" if section != "messaging" else "messaging"
                     for section, items in document.items())


# ---- deploy -----------------------------------------------------------------------------------------------

class Deployer:
    """The appconfig control-plane calls of one emergency deployment, in order."""

    def __init__(self, client: Any, out: Callable[[str], None] = print, poll_seconds: float = 2.0,
                 timeout_seconds: float = 120.0):
        self.client, self.out = client, out
        self.poll_seconds, self.timeout_seconds = poll_seconds, timeout_seconds

    def resolve(self, application: str, environment: str, profile: str, strategy: str | None) -> dict[str, str]:
        """Ids by id or name: the application (the stack output AppConfigApplicationId, or the stack name), the
        environment (`live`), the profile (`campaigns`) and the strategy (`<stack>-all-at-once`)."""
        app = self._find("list_applications", {}, application, "application")
        ids = {"application": app["Id"]}
        ids["environment"] = self._find("list_environments", {"ApplicationId": app["Id"]}, environment,
                                        "environment")["Id"]
        ids["profile"] = self._find("list_configuration_profiles", {"ApplicationId": app["Id"]}, profile,
                                    "configuration profile")["Id"]
        ids["strategy"] = self._find("list_deployment_strategies", {}, strategy or f"{app['Name']}-all-at-once",
                                     "deployment strategy")["Id"]
        return ids

    def _find(self, operation: str, params: dict, wanted: str, what: str) -> dict:
        token, seen = None, []
        while True:
            page = getattr(self.client, operation)(**params, **({"NextToken": token} if token else {}))
            for item in page.get("Items", []):
                if wanted in (item.get("Id"), item.get("Name")):
                    return item
                seen.append(item.get("Name") or item.get("Id"))
            token = page.get("NextToken")
            if not token:
                raise LookupError(f"no {what} {wanted!r}; found {sorted(seen)}")

    def deploy(self, ids: dict[str, str], content: str, description: str) -> int:
        """Upload the document as a new hosted version, deploy it, wait for the deployment; its number."""
        version = self.client.create_hosted_configuration_version(
            ApplicationId=ids["application"], ConfigurationProfileId=ids["profile"], Content=content.encode(),
            ContentType="application/json", Description=description)["VersionNumber"]
        self.out(f"created hosted configuration version {version}")
        started = self.client.start_deployment(
            ApplicationId=ids["application"], EnvironmentId=ids["environment"],
            DeploymentStrategyId=ids["strategy"], ConfigurationProfileId=ids["profile"],
            ConfigurationVersion=str(version), Description=description)
        number = started["DeploymentNumber"]
        self.out(f"started deployment {number} of version {version}")
        deadline = time.monotonic() + self.timeout_seconds
        state = started.get("State")
        while state not in DONE_STATES:
            if state in FAILED_STATES:
                raise RuntimeError(f"deployment {number} ended {state}: the previous version stays live")
            if time.monotonic() > deadline:
                raise TimeoutError(f"deployment {number} is still {state} after {self.timeout_seconds:.0f} s")
            time.sleep(self.poll_seconds)
            state = self.client.get_deployment(ApplicationId=ids["application"], EnvironmentId=ids["environment"],
                                               DeploymentNumber=number)["State"]
        self.out(f"deployment {number} COMPLETE: functions pick it up within CONFIG_MAX_AGE_SECONDS (30 s)")
        return number


def _client(region: str | None) -> Any:
    import boto3

    return boto3.client("appconfig", region_name=region)


# ---- command line -------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.config", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("check", "validate config/ as synth does; upload nothing"),
                       ("build", "validate, then write the AppConfig document"),
                       ("deploy", "validate, upload as a new hosted version and deploy it")):
        cmd = commands.add_parser(name, help=text, description=text)
        cmd.add_argument("--config-dir", type=Path, default=ROOT / "config", help="default: the repo's config/")
        if name == "build":
            cmd.add_argument("--out", type=Path, help="write here instead of standard output")
        if name == "deploy":
            cmd.add_argument("--application", required=True, help="AppConfigApplicationId (stack output) or name")
            cmd.add_argument("--environment", default="live")
            cmd.add_argument("--configuration-profile", default="campaigns")
            cmd.add_argument("--strategy", help="default: <application name>-all-at-once")
            cmd.add_argument("--description", default="emergency change via tools/config.py")
            cmd.add_argument("--region", help="default: the AWS SDK's (AWS_REGION, profile)")
            cmd.add_argument("--dry-run", action="store_true", help="validate and resolve ids; upload nothing")
    return parser


def main(argv: list[str] | None = None, client: Any = None) -> int:
    """Exit status: 0 done, 2 the config is invalid (nothing uploaded), 1 an AWS call failed."""
    args = build_parser().parse_args(argv)
    try:
        document = build_document(args.config_dir)
    except ConfigError as e:
        print(f"config is invalid, nothing was uploaded: {e.message}", file=sys.stderr)
        return EXIT_INVALID
    from incentives.domain.config import ConfigBundle

    for warning in ConfigBundle.from_document(document).warnings():  # valid, but maybe not what was meant
        print(f"warning: {warning}", file=sys.stderr)
    content = render(document)
    if args.command == "check":
        print(f"config is valid: {summary(document)} ({len(content.encode())} bytes)")
        return 0
    if args.command == "build":
        if args.out:
            args.out.write_text(content + "\n", encoding="utf-8")
            print(f"wrote {args.out}: {summary(document)}", file=sys.stderr)
        else:
            print(content)
        return 0
    from botocore.exceptions import BotoCoreError, ClientError

    deployer = Deployer(client if client is not None else _client(args.region))
    try:
        ids = deployer.resolve(args.application, args.environment, args.configuration_profile, args.strategy)
        print("target: " + ", ".join(f"{k} {v}" for k, v in ids.items()))
        if args.dry_run:
            print(f"dry run: would deploy {summary(document)} ({len(content.encode())} bytes)")
            return 0
        deployer.deploy(ids, content, args.description)
    except (BotoCoreError, ClientError, LookupError, RuntimeError, TimeoutError) as e:  # no credentials, a refused
        # call, a name that is not there, a rolled-back or stuck deployment
        print(f"deploy failed: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_AWS
    return 0


if __name__ == "__main__":
    sys.exit(main())
