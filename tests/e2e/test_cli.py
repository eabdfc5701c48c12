"""The `incentives` CLI against the local stack (`python -m local.run`, DynamoDB Local, the shipped config/): every
HTTP command as the installed console script, with its exit status, its output and the CSV it writes."""
from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import pytest

from tests.e2e.clitool import ROOT, SCRIPT, run_cli
from tests.e2e.localrun import OPERATOR_KEY, STOREFRONT_KEY, start_local_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]



@pytest.fixture(scope="module")
def config_dir(tmp_path_factory) -> Path:
    """A copy of the shipped config that the local run reads: `toggle` edits it while the run serves it."""
    target = tmp_path_factory.mktemp("cli-config") / "config"
    shutil.copytree(ROOT / "config", target)
    return target


@pytest.fixture(scope="module")
def run(tmp_path_factory, config_dir):
    r = start_local_run(tmp_path_factory.mktemp("cli-run"), INCENTIVES_CONFIG_DIR=str(config_dir),
                        CONFIG_MAX_AGE_SECONDS="1")
    yield r
    r.stop()


@pytest.fixture(scope="module")
def api_env(run, config_dir):
    return {"INCENTIVES_URL": run.base_url, "INCENTIVES_OPERATOR_KEY": OPERATOR_KEY,
            "INCENTIVES_CONFIG_DIR": str(config_dir)}


def cli(api_env, *args, **kw):
    return run_cli("--quiet", *args, env=api_env, **kw)


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def issued(run, campaign: str) -> int:
    return run.request("GET", f"/v1/campaigns/{campaign}", headers={"x-api-key": OPERATOR_KEY}).json()[
        "stats"]["issued"]


def validate(run, code: str, customer_id: str, amount: int = 5000) -> dict:
    body = {"code": code, "customer": {"id": customer_id, "country": "DE"},
            "order": {"currency": "EUR", "amount": amount,
                      "items": [{"sku": "A", "quantity": 1, "unit_price": amount}]}}
    return run.request("POST", "/v1/validations", body, headers={"x-api-key": STOREFRONT_KEY}).json()


def test_the_console_script_is_installed_in_the_venv():
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: `make setup` installs it (pip install -e .)"
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("incentives, version ")


def status(run, campaign: str) -> str:
    return run.request("GET", f"/v1/campaigns/{campaign}", headers={"x-api-key": OPERATOR_KEY}).json()["status"]


def wait_for_status(run, campaign: str, wanted: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while (seen := status(run, campaign)) != wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    return seen


def test_toggle_switches_a_campaign_the_local_run_serves(run, api_env, config_dir):
    path = config_dir / "campaigns" / "referrer-20.yaml"
    original = path.read_text()
    assert status(run, "referrer-20") == "active"
    out = cli(api_env, "toggle", "referrer-20", "off")
    assert out.returncode == 0, out.stderr
    assert wait_for_status(run, "referrer-20", "disabled") == "disabled"
    assert cli(api_env, "stats", "referrer-20").stdout.splitlines()[1].split() == ["status", "disabled"]
    assert path.read_text() == original.replace("enabled: true", "enabled: false")
    assert cli(api_env, "toggle", "referrer-20", "on").returncode == 0
    assert path.read_text() == original
    assert wait_for_status(run, "referrer-20", "active") == "active"


def test_stats_prints_status_and_numbers(run, api_env):
    out = cli(api_env, "stats", "welcome10")
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(None, 1) for line in out.stdout.splitlines())
    assert lines["status"] == "active" and lines["budget_remaining"] == "100000 EUR"
    assert int(lines["issued"]) == issued(run, "welcome10")
    as_json = json.loads(cli(api_env, "stats", "welcome10", "--json").stdout)
    assert as_json["id"] == "welcome10" and as_json["stats"]["remaining"] == 500


def test_codes_issue_writes_the_issued_codes_to_the_csv(run, api_env, tmp_path):
    before = issued(run, "welcome10")
    out_file = tmp_path / "codes.csv"
    out = cli(api_env, "codes", "issue", "welcome10", "--count", "5", "--out", str(out_file))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"issued 5 code(s) of welcome10: {out_file}"
    rows = read_csv(out_file)
    assert list(rows[0]) == ["code", "campaign_id", "expires_at", "customer"]
    assert len({r["code"] for r in rows}) == 5 and {r["campaign_id"] for r in rows} == {"welcome10"}
    assert all(r["code"].startswith("WELCOME-") and r["expires_at"].endswith("Z") for r in rows)
    assert issued(run, "welcome10") == before + 5
    for r in rows:  # real codes of the engine
        reply = run.request("GET", f"/v1/codes/{r['code']}", headers={"x-api-key": STOREFRONT_KEY})
        assert reply.status == 200 and reply.json()["campaign_id"] == "welcome10"


def test_a_sorry_code_bound_to_one_customer(run, api_env, tmp_path):
    out_file = tmp_path / "sorry.csv"
    out = cli(api_env, "codes", "issue", "sorry", "--customer", "cust-sorry", "--out", str(out_file))
    assert out.returncode == 0, out.stderr
    [row] = read_csv(out_file)
    assert row["customer"] == "cust-sorry" and row["code"].startswith("SORRY-")
    assert validate(run, row["code"], "someone-else")["reason"] == "code_assigned_to_other_customer"
    assert validate(run, row["code"], "cust-sorry")["valid"] is True


def test_codes_issue_errors_write_no_file(api_env, tmp_path):
    out_file = tmp_path / "none.csv"
    out = cli(api_env, "codes", "issue", "no-such-campaign", "--count", "2", "--out", str(out_file))
    assert out.returncode == 1
    assert out.stderr.strip() == "Error: campaign_not_found (404): no such campaign"
    # a public-code campaign issues no unique codes
    out = cli(api_env, "codes", "issue", "blackfriday", "--count", "2", "--out", str(out_file))
    assert out.returncode == 1 and out.stderr.startswith("Error: codes_not_issuable (422)")
    assert not out_file.exists() and list(tmp_path.iterdir()) == []


def test_codes_issue_in_bulk_shows_the_job_progress_and_writes_exactly_the_jobs_codes(run, api_env, tmp_path):
    cli(api_env, "codes", "issue", "welcome10", "--count", "3", "--out", str(tmp_path / "other.csv"))
    before = issued(run, "welcome10")
    out_file = tmp_path / "bulk.csv"
    out = run_cli("codes", "issue", "welcome10", "--count", "120", "--out", str(out_file), env=api_env)
    assert out.returncode == 0, out.stderr
    assert "120/120" in out.stderr  # the progress bar
    rows = read_csv(out_file)
    assert len(rows) == 120 and len({r["code"] for r in rows}) == 120
    others = {r["code"] for r in read_csv(tmp_path / "other.csv")}
    assert not others & {r["code"] for r in rows}
    assert issued(run, "welcome10") == before + 120


def test_codes_export_writes_every_code_of_the_campaign(run, api_env, tmp_path):
    first = tmp_path / "first.csv"
    assert cli(api_env, "codes", "issue", "sorry", "--customer", "cust-export", "--out", str(first)).returncode == 0
    out_file = tmp_path / "export.csv"
    out = cli(api_env, "codes", "export", "sorry", "--out", str(out_file))
    assert out.returncode == 0, out.stderr
    rows = read_csv(out_file)
    assert len(rows) == issued(run, "sorry") == len({r["code"] for r in rows})
    assert read_csv(first)[0]["code"] in {r["code"] for r in rows}
    assert {"code", "status", "expires_at", "redemptions"} <= set(rows[0])
    bound = next(r for r in rows if r["code"] == read_csv(first)[0]["code"])
    assert (bound["customer_id"], bound["status"], bound["redemptions"]) == ("cust-export", "active", "0")


def test_codes_export_as_one_file_from_the_export_job_matches_the_paged_export(run, api_env, tmp_path):
    cli(api_env, "codes", "issue", "welcome10", "--count", "60", "--out", str(tmp_path / "issued.csv"))
    paged, whole = tmp_path / "paged.csv", tmp_path / "whole.csv"
    assert cli(api_env, "codes", "export", "welcome10", "--out", str(paged)).returncode == 0
    out = run_cli("codes", "export", "welcome10", "--as-file", "--out", str(whole), env=api_env)
    assert out.returncode == 0, out.stderr
    assert "export exp_" in out.stderr  # the export job's progress bar
    rows = read_csv(whole)
    assert len(rows) == issued(run, "welcome10") == len({r["code"] for r in rows}) >= 60
    assert sorted(rows, key=lambda r: r["code"]) == sorted(read_csv(paged), key=lambda r: r["code"])


def test_codes_export_of_an_unknown_campaign_fails_without_a_file(api_env, tmp_path):
    out = cli(api_env, "codes", "export", "no-such-campaign", "--out", str(tmp_path / "x.csv"))
    assert out.returncode == 1 and out.stderr.startswith("Error: campaign_not_found (404)")
    assert list(tmp_path.iterdir()) == []


def test_metrics_retention(api_env, tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,order_id,occurred_at,amount,currency\n"
                      "ret-1,ret-o1,2025-05-02T10:00:00Z,4000,EUR\n"
                      "ret-1,ret-o2,2025-05-20T10:00:00Z,2000,EUR\n"
                      "ret-2,ret-o3,2025-05-03T10:00:00Z,3000,EUR\n")
    assert cli(api_env, "import-orders", str(orders)).returncode == 0
    deadline = time.monotonic() + 60
    while True:  # the metrics follow the events asynchronously (stream -> fan-out -> metrics_events)
        out = cli(api_env, "metrics", "retention", "--from", "2025-05-01", "--to", "2025-05-31", "--json")
        assert out.returncode == 0, out.stderr
        eur = json.loads(out.stdout)["currencies"].get("EUR", {})
        if eur.get("orders") == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (eur["customers"], eur["repeat_customers"], eur["orders"], eur["revenue"]) == (2, 1, 3, 9000)
    table = cli(api_env, "metrics", "retention", "--from", "2025-05-01", "--to", "2025-05-31")
    assert table.returncode == 0 and "EUR" in table.stdout and "repeat_purchase_rate" in table.stdout


def test_metrics_retention_usage_errors_exit_2(api_env):
    out = cli(api_env, "metrics", "retention", "--from", "2025-05-31", "--to", "2025-05-01")
    assert out.returncode == 2 and "--from is after --to" in out.stderr
    out = cli(api_env, "metrics", "retention", "--from", "May 1st", "--to", "2025-05-01")
    assert out.returncode == 2 and "Usage:" in out.stderr


def test_jobs_run_as_of_a_moment(api_env):
    out = cli(api_env, "jobs", "run", "campaign-activation", "--now", "2026-11-28T12:00:00Z")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["job"] == "campaign-activation" and answer["result"]["now"].startswith("2026-11-28T12:00:00")
    out = cli(api_env, "jobs", "run", "no-such-job")
    assert out.returncode == 1 and out.stderr.startswith("Error: not_found (404)")


def test_import_orders_then_a_reimport_changes_nothing(run, api_env, tmp_path):
    # a referee's welcome code is for a first order only: imported history makes the customer a returning one
    codes_file = tmp_path / "friend.csv"
    for customer in ("imp-1", "imp-new"):
        out = cli(api_env, "codes", "issue", "friend-welcome", "--customer", customer, "--out", str(codes_file))
        assert out.returncode == 0, out.stderr
        code = read_csv(codes_file)[0]["code"]
        assert validate(run, code, customer)["valid"] is True
        if customer == "imp-1":
            imp1_code = code
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,order_id,occurred_at,amount,currency,email,country\n"
                      "imp-1,imp-o1,2026-01-05T10:00:00Z,5000,EUR,imp1@example.com,DE\n"
                      "imp-1,imp-o2,2026-02-05T10:00:00+01:00,3000,EUR,,\n"
                      "imp-2,imp-o3,2026-03-05T10:00:00Z,1999,USD,,AT\n")
    out = run_cli("import-orders", str(orders), env=api_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3 orders of 2 customers: 3 imported, 0 already there"
    assert "3/3" in out.stderr  # the progress bar
    assert validate(run, imp1_code, "imp-1")["reason"] == "not_first_order"

    again = cli(api_env, "import-orders", str(orders))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "3 orders of 2 customers: 0 imported, 3 already there"
    # the erasure counts the customer's stored events: two, not four
    out = cli(api_env, "erase", "imp-1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("imp-1: erased (profile 1, redemptions 0, events 2,")


def test_import_orders_checks_the_whole_file_before_sending_anything(api_env, tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,order_id,occurred_at,amount,currency\n"
                      "bad-1,bad-o1,2026-01-05T10:00:00Z,5000,EUR\n"
                      "bad-1,bad-o2,2026-01-06T10:00:00Z,19.99,EUR\n"
                      "bad-2,bad-o3,2026-01-07 10:00:00,100,EUR\n")
    out = cli(api_env, "import-orders", str(orders))
    assert out.returncode == 1
    err = out.stderr.strip()
    assert "\n" not in err and "2 bad row(s), nothing was imported" in err
    assert "line 3: amount '19.99'" in err and "line 4: occurred_at needs an offset" in err
    assert cli(api_env, "erase", "bad-1").stdout.startswith("bad-1: erased (profile 0, redemptions 0, events 0,")

    orders.write_text("customer,order,when,amount,currency\nx,y,2026-01-05T10:00:00Z,1,EUR\n")
    out = cli(api_env, "import-orders", str(orders))
    assert out.returncode == 1 and "the header row lacks customer_id, order_id, occurred_at" in out.stderr


def test_import_orders_reports_rows_the_engine_rejects(api_env, tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,order_id,occurred_at,amount,currency\n"
                      "rej-1,rej-o1,2026-01-05T10:00:00Z,5000,EUR\n"
                      "rej-2,rej-o2,2026-01-05T10:00:00Z,5000,XXX\n")
    out = cli(api_env, "import-orders", str(orders))
    assert out.returncode == 1
    assert out.stderr.startswith("Error: 2 orders of 2 customers: 1 imported, 0 already there, 1 rejected: "
                                 "line 3 (order rej-o2): invalid_request (422)")


def test_erase_repeats_until_done_and_a_second_erase_changes_nothing(api_env, tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,order_id,occurred_at,amount,currency,email\n"
                      "era-1,era-o1,2026-01-05T10:00:00Z,5000,EUR,era@example.com\n")
    assert cli(api_env, "import-orders", str(orders)).returncode == 0
    out = cli(api_env, "erase", "era-1")
    assert out.returncode == 0 and out.stdout.startswith("era-1: erased (profile 1, redemptions 0, events 1,")
    out = cli(api_env, "erase", "era-1")
    assert out.returncode == 0 and out.stdout.startswith("era-1: erased (profile 0, redemptions 0, events 0,")


def test_erase_by_email_erases_a_landing_page_claim(run, api_env):
    claim = run.request("POST", "/v1/public/campaigns/welcome10/claims",
                        {"email": "Cli.Erase+lp@gmail.com", "country": "DE"})
    assert claim.status in (200, 201), claim.json()
    out = cli(api_env, "erase", "--email", "clierase@googlemail.com")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("clierase@googlemail.com: erased (codes ") and "claims 1" in out.stdout
    again = run.request("POST", "/v1/public/campaigns/welcome10/claims", {"email": "clierase@gmail.com",
                                                                          "country": "DE"})
    assert again.status == 201 and again.json()["code"] != claim.json()["code"]  # a new claim: the old one is gone


def test_api_errors_and_settings(run, api_env):
    out = run_cli("stats", "welcome10", env={**api_env, "INCENTIVES_OPERATOR_KEY": "wrong"})
    assert out.returncode == 1 and out.stderr.startswith("Error: unauthorized (401)")
    assert out.stderr.count("\n") == 1
    out = run_cli("stats", "welcome10", env={**api_env, "INCENTIVES_OPERATOR_KEY": STOREFRONT_KEY})
    assert out.returncode == 1 and out.stderr.startswith("Error: forbidden (403)")
    out = run_cli("stats", "welcome10", env={"INCENTIVES_OPERATOR_KEY": OPERATOR_KEY})
    assert out.returncode == 2 and out.stderr.startswith("Error: INCENTIVES_URL is not set")
    out = run_cli("erase", "x", env={"INCENTIVES_URL": run.base_url})
    assert out.returncode == 2 and out.stderr.startswith("Error: INCENTIVES_OPERATOR_KEY is not set")
    out = run_cli("stats", "welcome10", "--url", run.base_url, "--key", OPERATOR_KEY)  # usage: options first
    assert out.returncode == 2 and "Usage: incentives stats" in out.stderr
    out = run_cli("--url", run.base_url + "/v1/", "--key", OPERATOR_KEY, "stats", "welcome10")
    assert out.returncode == 0, out.stderr


def test_a_server_that_is_not_there_exits_3():
    from local.dynamodb_local import free_port

    url = f"http://127.0.0.1:{free_port()}"
    out = run_cli("erase", "x", env={"INCENTIVES_URL": url, "INCENTIVES_OPERATOR_KEY": "k"})
    assert out.returncode == 3
    assert out.stderr.strip() == f"Error: cannot reach {url}: [Errno 111] Connection refused"
