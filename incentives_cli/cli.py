"""The `incentives` command line (click). Commands as in DESIGN.md "Operator tools":

    incentives validate [DIR]
    incentives toggle CAMPAIGN on|off [--deployed]
    incentives codes issue CAMPAIGN --count N --out FILE.csv
    incentives codes export CAMPAIGN --out FILE.csv [--as-file]
    incentives stats CAMPAIGN
    incentives metrics retention --from YYYY-MM-DD --to YYYY-MM-DD
    incentives jobs run NAME [--now T]
    incentives erase CUSTOMER | --email ADDRESS
    incentives import-orders FILE.csv

Exit status: 0 done; 1 the engine refused or the work failed (invalid config, an API error, a failed job, rejected
orders); 2 a usage error or a missing setting (INCENTIVES_URL, INCENTIVES_OPERATOR_KEY); 3 the API did not answer.
Every failure ends with one line on standard error; progress bars go to standard error too, results to
standard output.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

from incentives_cli import __version__
from incentives_cli.api import ApiError, Client, Unreachable

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3
EXPORT_PAGE = 1000  # the export route's largest page
JOB_POLL_S = 0.5
ERASE_ROUNDS = 30  # each DELETE works up to ~7 s; 202 means "repeat me"


class Failed(click.ClickException):
    """One line on standard error and a non-zero exit status."""

    exit_code = EXIT_FAILED


class MissingSetting(Failed):
    exit_code = EXIT_USAGE


class NoAnswer(Failed):
    exit_code = EXIT_UNREACHABLE


class Cli(click.Group):
    """Turns the API client's exceptions into one-line failures with their exit status."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ApiError as e:
            raise Failed(str(e)) from None
        except Unreachable as e:
            raise NoAnswer(str(e)) from None


class Settings:
    def __init__(self, url: str | None, key: str | None, quiet: bool):
        self.url, self.key, self.quiet = url, key, quiet

    def client(self) -> Client:
        if not self.url:
            raise MissingSetting("INCENTIVES_URL is not set: the API's base URL, e.g. http://127.0.0.1:3000 "
                                 "(or --url)")
        if not self.key:
            raise MissingSetting("INCENTIVES_OPERATOR_KEY is not set: an operator API key (or --key)")
        return Client(self.url, self.key)

    def bar(self, **kwargs):
        from tqdm import tqdm

        return tqdm(disable=self.quiet, file=sys.stderr, mininterval=0.2, dynamic_ncols=True,
                    **kwargs)


pass_settings = click.make_pass_decorator(Settings)


def _path(value: str) -> str:
    return urllib.parse.quote(value, safe="")


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="INCENTIVES_URL", metavar="URL", help="The API's base URL [env INCENTIVES_URL].")
@click.option("--key", envvar="INCENTIVES_OPERATOR_KEY", metavar="KEY",
              help="An operator API key [env INCENTIVES_OPERATOR_KEY].")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.version_option(__version__, prog_name="incentives")
@click.pass_context
def cli(ctx: click.Context, url: str | None, key: str | None, quiet: bool) -> None:
    """Operate the incentives engine: config files, codes, numbers, jobs, erasure, order import."""
    ctx.obj = Settings(url, key, quiet)


# ---- config files -------------------------------------------------------------------------------------------

@cli.command()
@click.argument("directory", required=False, metavar="[DIR]")
def validate(directory: str | None) -> None:
    """Validate the config files in DIR (default INCENTIVES_CONFIG_DIR, else config/) as synth does."""
    from incentives_cli import config_files

    path = config_files.config_dir(directory)
    try:
        summary = config_files.validate(path)
    except config_files.ConfigProblem as e:
        raise Failed(f"config is invalid: {e}") from None
    click.echo(f"{path}: config is valid: {summary}")


@cli.command()
@click.argument("campaign")
@click.argument("state", type=click.Choice(["on", "off"]), metavar="on|off")
@click.option("--config-dir", metavar="DIR", help="Default: INCENTIVES_CONFIG_DIR, else config/.")
@click.option("--deployed/--local-only", default=None,
              help="Also deploy the config to AWS AppConfig (default: when INCENTIVES_APPCONFIG_APPLICATION is set).")
@click.option("--application", envvar="INCENTIVES_APPCONFIG_APPLICATION", metavar="ID",
              help="The stack output AppConfigApplicationId, or its name [env INCENTIVES_APPCONFIG_APPLICATION].")
@click.option("--environment", metavar="NAME", help="The AppConfig environment (default: live).")
@click.option("--region", envvar="AWS_REGION", metavar="REGION", help="Default: the AWS SDK's.")
def toggle(campaign: str, state: str, config_dir: str | None, deployed: bool | None, application: str | None,
           environment: str | None, region: str | None) -> None:
    """Switch CAMPAIGN on or off: edit `enabled` in campaigns/CAMPAIGN.yaml (comments and order kept).

    Deployed, the edited config is validated, uploaded as a new AppConfig version and deployed; if that fails,
    the file is put back as it was."""
    from incentives_cli import config_files

    if deployed is None:
        deployed = bool(application)
    if deployed and not application:
        raise click.UsageError("--deployed needs --application or INCENTIVES_APPCONFIG_APPLICATION")
    directory = config_files.config_dir(config_dir)
    enabled = state == "on"
    try:
        result = config_files.set_enabled(directory, campaign, enabled)
    except config_files.ConfigProblem as e:
        raise Failed(str(e)) from None
    click.echo(f"{campaign}: enabled: {str(enabled).lower()} in {result.path}"
               + ("" if result.changed else " (it was already)"))
    if not deployed or not application:
        return
    code = config_files.deploy(directory, application, f"incentives toggle {campaign} {state}", region,
                               environment, client=_appconfig_client())
    if code != 0:
        if result.changed:
            config_files.restore(result.path, result.original)
        raise Failed(f"{campaign} was not deployed; "
                     + (f"{result.path} was put back as it was" if result.changed else "the file is unchanged"))
    click.echo(f"{campaign} is {state} in AppConfig application {application}")


def _appconfig_client():
    """None: tools/config.py makes its own boto3 client. Tests replace this to hand in a stubbed one."""
    return None


# ---- codes ----------------------------------------------------------------------------------------------

@cli.group(cls=Cli)
def codes() -> None:
    """Issue and export a campaign's unique codes."""


def _write_csv(out: Path, header: list[str], rows) -> int:
    """Write next to the target, then rename: a failure never leaves half a file under its name."""
    tmp = out.with_name(f".{out.name}.part")
    n = 0
    try:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            for row in rows:
                w.writerow(row)
                n += 1
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return n


ISSUE_HEADER = ["code", "campaign_id", "expires_at", "customer"]


def _bound(customer: dict | None) -> str:
    if not customer:
        return ""
    return str(customer.get("id") or customer.get("email") or "")


@codes.command("issue")
@click.argument("campaign")
@click.option("--count", type=click.IntRange(1, 1_000_000), default=1, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True,
              metavar="FILE.csv", help="Where the codes are written (code, campaign_id, expires_at, customer).")
@click.option("--expires-at", metavar="RFC3339", help="Instead of the campaign's expiry.")
@click.option("--customer", "customer_id", metavar="ID", help="Bind the code to this customer id (count 1).")
@click.option("--email", metavar="ADDRESS", help="Bind the code to this e-mail address (count 1).")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600, show_default=True,
              help="Seconds to wait for a bulk job.")
@pass_settings
def codes_issue(settings: Settings, campaign: str, count: int, out: Path, expires_at: str | None,
                customer_id: str | None, email: str | None, timeout: float) -> None:
    """Issue COUNT unique codes of CAMPAIGN and write them to FILE.csv.

    Up to 50 codes come back at once; more run as a job on the engine, shown as a progress bar, and are
    downloaded when it has finished."""
    if customer_id and email:
        raise click.UsageError("give --customer or --email, not both")
    client = settings.client()
    body: dict = {"count": count}
    if expires_at:
        body["expires_at"] = expires_at
    if customer_id or email:
        body["customer"] = {"id": customer_id} if customer_id else {"email": email}
    answer = client.call("POST", f"/v1/campaigns/{_path(campaign)}/codes", body)
    started = answer.json()
    if answer.status != 202:
        rows = ([c["code"], c.get("campaign_id", campaign), c.get("expires_at") or "", _bound(c.get("customer"))]
                for c in started["codes"])
        n = _write_csv(out, ISSUE_HEADER, rows)
        click.echo(f"issued {n} code(s) of {campaign}: {out}")
        return
    job_id = started["job_id"]
    job = _wait_for_job(settings, client, job_id, started.get("total", count), timeout)
    try:
        n = _write_csv(out, ISSUE_HEADER, _job_codes(settings, client, campaign, job_id, job["total"]))
    except ApiError as e:
        raise Failed(f"job {job_id} issued {job['total']} codes, but downloading them failed: {e}") from None
    click.echo(f"issued {n} codes of {campaign} (job {job_id}): {out}")


def _wait_for_job(settings: Settings, client: Client, job_id: str, total: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    with settings.bar(total=total, unit="code", desc=f"job {job_id}") as bar:
        while True:
            job = client.json("GET", f"/v1/jobs/{_path(job_id)}")
            bar.total = job.get("total", total)
            bar.update(max(0, job.get("done", 0) - bar.n))
            if job["status"] == "succeeded":
                return job
            if job["status"] == "failed":
                raise Failed(f"job {job_id} failed after {job.get('done', 0)} of {job.get('total')} codes: "
                             f"{job.get('error') or 'no reason given'}")
            if time.monotonic() > deadline:
                raise Failed(f"job {job_id} is still {job['status']} ({job.get('done')} of {job.get('total')}) "
                             f"after {timeout:.0f} s; it goes on: export the codes later with `incentives codes "
                             f"export`")
            time.sleep(JOB_POLL_S)


def _job_codes(settings: Settings, client: Client, campaign: str, job_id: str, total: int):
    """The job's codes from the export route (GET /v1/campaigns/{id}/codes?job_id=), page by page. Codes
    that name another job are left out; codes that name none are trusted to be the filter's, up to the job's
    total (more means the server ignored the filter)."""
    n, cursor = 0, None
    with settings.bar(total=total, unit="code", desc="download") as bar:
        while True:
            page = client.json("GET", f"/v1/campaigns/{_path(campaign)}/codes",
                               query={"job_id": job_id, "limit": EXPORT_PAGE, "cursor": cursor})
            for c in page["codes"]:
                if c.get("job_id", job_id) != job_id:  # an export that names each code's job: keep this job's
                    continue
                n += 1
                if n > total:  # the server ignored job_id: these would be other codes of the campaign too
                    raise Failed(f"the export answered more than the job's {total} codes: this server cannot "
                                 f"filter by job; use `incentives codes export` for all codes of {campaign}")
                yield [c["code"], campaign, c.get("expires_at") or "", _bound(c.get("customer"))]
            bar.update(len(page["codes"]))
            cursor = page.get("next_cursor")
            if not cursor:
                break
    if n != total:
        raise Failed(f"job {job_id} issued {total} codes but the export listed {n}")


EXPORT_HEADER = ["code", "status", "customer_id", "customer_email_hash", "expires_at", "redemptions"]  # the route's


def _csv_pages(settings: Settings, client: Client, campaign: str, total: int):
    """The export route's CSV pages (format=csv), each parsed into rows with its header row first; the next
    page's cursor comes in X-Next-Cursor."""
    cursor = None
    with settings.bar(total=total, unit="code", desc=campaign) as bar:
        while True:
            answer = client.call("GET", f"/v1/campaigns/{_path(campaign)}/codes",
                                 query={"format": "csv", "limit": EXPORT_PAGE, "cursor": cursor}, accept="text/csv")
            page = list(csv.reader(io.StringIO(answer.text)))
            bar.update(max(0, len(page) - 1))
            yield page
            cursor = answer.headers.get("X-Next-Cursor")
            if not cursor:
                return


def _export_file(settings: Settings, client: Client, campaign: str, issued: int, out: Path, timeout: float) -> int:
    """POST /v1/campaigns/{id}/exports, its progress as a bar, then the file: downloaded from the pre-signed link
    (deployed) or copied from the local run's path. Answers the number of codes."""
    import shutil
    import urllib.request

    started = client.json("POST", f"/v1/campaigns/{_path(campaign)}/exports")
    export_id = started["export_id"]
    deadline = time.monotonic() + timeout
    with settings.bar(total=issued, unit="code", desc=f"export {export_id}") as bar:
        while True:
            state = client.json("GET", f"/v1/campaigns/{_path(campaign)}/exports/{_path(export_id)}")
            bar.total = max(bar.total or 0, state.get("done", 0))
            bar.update(max(0, state.get("done", 0) - bar.n))
            if state["status"] == "succeeded":
                break
            if state["status"] == "failed":
                raise Failed(f"export {export_id} failed: {state.get('error') or 'no reason given'}")
            if time.monotonic() > deadline:
                raise Failed(f"export {export_id} is still {state['status']} after {timeout:.0f} s; it goes on")
            time.sleep(1)
    if state.get("url"):
        # the engine's own pre-signed https link
        with urllib.request.urlopen(state["url"], timeout=60) as answer, out.open("wb") as f:  # noqa: S310  # nosec B310
            shutil.copyfileobj(answer, f)
    else:
        shutil.copyfile(state["path"], out)  # the local run, on this machine
    return int(state["done"])


@codes.command("export")
@click.argument("campaign")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True,
              metavar="FILE.csv", help="Where the codes are written (the engine's CSV columns).")
@click.option("--as-file", is_flag=True,
              help="Let the engine write one file (an export job: S3 deployed, a file locally) instead of paging.")
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="Seconds to wait for --as-file.")
@pass_settings
def codes_export(settings: Settings, campaign: str, out: Path, as_file: bool, timeout: float) -> None:
    """Write every issued code of CAMPAIGN to FILE.csv (code, status, customer_id, customer_email_hash,
    expires_at, redemptions)."""
    client = settings.client()
    issued = client.json("GET", f"/v1/campaigns/{_path(campaign)}")["stats"]["issued"]  # a 404 before any file
    if as_file:
        n = _export_file(settings, client, campaign, issued, out, timeout)
        click.echo(f"exported {n} code(s) of {campaign}: {out}")
        return
    pages = _csv_pages(settings, client, campaign, issued)
    first = next(pages)
    header = first[0] if first else EXPORT_HEADER

    def rows():
        yield from first[1:]
        for page in pages:
            yield from (page[1:] if page and page[0] == header else page)

    n = _write_csv(out, header, rows())
    click.echo(f"exported {n} code(s) of {campaign}: {out}")


# ---- numbers ----------------------------------------------------------------------------------------------

def _money(m: dict | None) -> str:
    return "-" if not m else f"{m['amount']} {m['currency']}"


def _plain(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict) and set(value) == {"amount", "currency"}:
        return _money(value)
    if isinstance(value, list) and all(isinstance(v, dict) and set(v) == {"amount", "currency"} for v in value):
        return ", ".join(_money(v) for v in value) or "-"
    return str(value)


@cli.command()
@click.argument("campaign")
@click.option("--json", "as_json", is_flag=True, help="The API's answer as JSON.")
@pass_settings
def stats(settings: Settings, campaign: str, as_json: bool) -> None:
    """A campaign's status and numbers: issued, redeemed, discount spent, remaining (amounts in minor units)."""
    view = settings.client().json("GET", f"/v1/campaigns/{_path(campaign)}")
    if as_json:
        click.echo(json.dumps(view, indent=2, sort_keys=True))
        return
    s = view.get("stats", {})
    lines = [("campaign", f"{view['id']} ({view.get('name') or view['id']})"), ("status", view.get("status"))]
    for key in ("issued", "redeemed", "claims", "discount_total", "discount_by_currency", "revenue", "remaining",
                "budget_remaining", "claims_remaining"):
        if key in s:
            lines.append((key, _plain(s[key])))
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        click.echo(f"{k:<{width}}  {v}")
    if s.get("variants"):
        click.echo("variants:")
        cols = ("id", "issued", "redeemed", "redemption_rate", "discount_total", "revenue")
        _table([[_plain(v.get(c)) for c in cols] for v in s["variants"]], cols)
    if s.get("comparison"):
        c = s["comparison"]
        click.echo(f"comparison: {c.get('metric')} p={c.get('p_value')} "
                   f"{'significant' if c.get('significant') else 'not significant'} at 95 %")


def _table(rows: list[list[str]], header) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for row in (list(header), *rows):
        cells = zip(row, widths, strict=True)
        click.echo("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(cells)))


@cli.group(cls=Cli)
def metrics() -> None:
    """Retention numbers."""


RETENTION_COLUMNS = ("currency", "customers", "repeat_customers", "orders", "revenue", "repeat_purchase_rate",
                     "purchase_frequency", "average_order_value", "customer_value")


def _retention_rows(currencies: dict, period: str | None = None) -> list[list[str]]:
    out = []
    for currency, m in sorted(currencies.items()):
        row = [currency] + [_number(m.get(c)) for c in RETENTION_COLUMNS[1:]]
        out.append(([period] if period else []) + row)
    return out


def _number(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}".rstrip("0").rstrip(".") if v else "0"
    return "-" if v is None else str(v)


@metrics.command("retention")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), required=True, metavar="YYYY-MM-DD")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), required=True, metavar="YYYY-MM-DD")
@click.option("--granularity", type=click.Choice(["day", "week", "month"]), help="Also a series.")
@click.option("--campaign", metavar="ID", help="Only the customers who redeemed a code of this campaign.")
@click.option("--json", "as_json", is_flag=True, help="The API's answer as JSON.")
@pass_settings
def retention(settings: Settings, start, end, granularity: str | None, campaign: str | None, as_json: bool) -> None:
    """Repeat purchase rate, purchase frequency, AOV and customer value from --from to --to (inclusive, UTC)."""
    if start > end:
        raise click.BadParameter("--from is after --to", param_hint="--from")
    answer = settings.client().json("GET", "/v1/metrics/retention", query={
        "from": start.date().isoformat(), "to": end.date().isoformat(), "granularity": granularity,
        "campaign_id": campaign})
    if as_json:
        click.echo(json.dumps(answer, indent=2, sort_keys=True))
        return
    click.echo(f"retention {answer['from']} .. {answer['to']}" + (f", campaign {campaign}" if campaign else "")
               + " (amounts in minor units)")
    if answer.get("currencies"):
        _table(_retention_rows(answer["currencies"]), RETENTION_COLUMNS)
    else:
        click.echo("no orders in this window")
    if answer.get("series"):
        click.echo(f"by {granularity}:")
        rows = [r for p in answer["series"] for r in _retention_rows(p["currencies"], p["period"])]
        _table(rows, ("period", *RETENTION_COLUMNS))


# ---- jobs, erasure, import ------------------------------------------------------------------------------

@cli.group(cls=Cli)
def jobs() -> None:
    """Scheduled jobs."""


@jobs.command("run")
@click.argument("name")
@click.option("--now", metavar="RFC3339", help="Run as of this moment (e.g. 2027-01-01T09:00:00Z).")
@pass_settings
def jobs_run(settings: Settings, name: str, now: str | None) -> None:
    """Run the scheduled job NAME now (e.g. campaign-activation, points-expiry, win-back); prints its result."""
    answer = settings.client().json("POST", f"/v1/jobs/{_path(name)}/run", {"now": now} if now else {})
    click.echo(json.dumps(answer, indent=2, sort_keys=True))


@cli.command()
@click.argument("customer")
@click.option("--email", "by_email", is_flag=True,
              help="CUSTOMER is an e-mail address: erase a person known only by it (claims, codes bound to it).")
@pass_settings
def erase(settings: Settings, customer: str, by_email: bool) -> None:
    """Erase CUSTOMER's personal data (GDPR); ledgers and counters stay. Repeats until the engine is done."""
    client = settings.client()
    for _ in range(ERASE_ROUNDS):
        answer = (client.call("DELETE", "/v1/customers", query={"email": customer}) if by_email
                  else client.call("DELETE", f"/v1/customers/{_path(customer)}"))
        body = answer.json()
        if answer.status != 202:
            counts = ", ".join(f"{k} {v}" for k, v in body.get("erased", {}).items())
            click.echo(f"{customer}: {body.get('status', 'erased')} ({counts})")
            return
    raise Failed(f"{customer}: the erasure is still in progress after {ERASE_ROUNDS} calls; run it again")


@cli.command("import-orders")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE.csv")
@click.option("--workers", type=click.IntRange(1, 32), default=8, show_default=True,
              help="Customers sent in parallel (one customer's orders go one after the other).")
@click.option("--dry-run", is_flag=True, help="Check the file; send nothing.")
@pass_settings
def import_orders(settings: Settings, file: Path, workers: int, dry_run: bool) -> None:
    """Send an order history as `order.paid` events, so segments and win-back know the customers at once.

    FILE.csv has a header row with customer_id, order_id, occurred_at (RFC 3339 with offset), amount (minor
    units), currency and optional email, country. Each order's event id comes from its order_id: importing the
    same file again changes nothing."""
    from incentives_cli.orders import BadFile, by_customer, read_orders

    try:
        rows = read_orders(file)
    except BadFile as e:
        raise Failed(str(e)) from None
    groups = by_customer(rows)
    if dry_run:
        click.echo(f"{file}: {len(rows)} orders of {len(groups)} customers; nothing sent (dry run)")
        return
    client = settings.client()
    counts = {"accepted": 0, "duplicate": 0}
    rejected: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()
    with settings.bar(total=len(rows), unit="order", desc="import") as bar:
        def send(group) -> None:
            for row in group:
                if stop.is_set():
                    return
                try:
                    status = client.json("POST", "/v1/events", row.event).get("status", "accepted")
                except ApiError as e:
                    with lock:
                        rejected.append(f"line {row.line} (order {row.event['order']['id']}): {e}")
                        bar.update(1)
                    continue
                with lock:
                    counts[status if status in counts else "accepted"] += 1
                    bar.update(1)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(send, g) for g in groups]
            try:
                for f in futures:
                    f.result()
            except Unreachable:
                stop.set()
                raise
    summary = (f"{len(rows)} orders of {len(groups)} customers: {counts['accepted']} imported, "
               f"{counts['duplicate']} already there")
    if rejected:
        shown = "; ".join(sorted(rejected)[:3]) + (f" (and {len(rejected) - 3} more)" if len(rejected) > 3 else "")
        raise Failed(f"{summary}, {len(rejected)} rejected: {shown}")
    click.echo(summary)


def main() -> None:
    cli.main(prog_name="incentives")
