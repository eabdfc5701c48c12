"""The CLI's HTTP side against a scripted stand-in server on loopback: the parts of the contract the local stack
may not serve yet (the code export route, retention), a bulk job from 202 to the downloaded CSV, paging by
cursor, retries of 429/503 with Retry-After, and error answers that are not the engine's JSON."""
from __future__ import annotations

import csv
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

import incentives_cli.api as api_module
import incentives_cli.cli as cli_module

KEY = "op-key"


class Scripted:
    """Answers from a script: (method, path) -> list of (status, headers, body) taken in order (the last one
    repeats); every request is recorded."""

    def __init__(self):
        self.script: dict[tuple[str, str], list] = {}
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urllib.parse.unquote(url.path)
                outer.requests.append({"method": self.command, "path": path,
                                       "query": dict(urllib.parse.parse_qsl(url.query)),
                                       "key": self.headers.get("x-api-key"),
                                       "body": json.loads(body) if body else None})
                answers = outer.script.get((self.command, path))
                if not answers:
                    status, headers, payload = 404, {}, {"error": {"code": "not_found", "message": "no route"}}
                else:
                    status, headers, payload = answers.pop(0) if len(answers) > 1 else answers[0]
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def on(self, method: str, path: str, *answers) -> None:
        self.script[(method, path)] = list(answers)

    def seen(self, method: str, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]


@pytest.fixture
def server(monkeypatch):
    s = Scripted()
    monkeypatch.setattr(cli_module, "JOB_POLL_S", 0)
    yield s
    s.server.shutdown()


def invoke(server, *args):
    return CliRunner().invoke(cli_module.cli, ["--quiet", *args],
                              env={"INCENTIVES_URL": server.url, "INCENTIVES_OPERATOR_KEY": KEY})


def codes_page(start: int, n: int, cursor: str | None):
    return (200, {}, {"codes": [{"code": f"BULK-{i:05d}", "status": "active", "expires_at": "2027-01-01T00:00:00Z",
                                 "redemptions": 0} for i in range(start, start + n)], "next_cursor": cursor})


def test_a_bulk_issue_waits_for_the_job_and_downloads_its_codes_page_by_page(server, tmp_path):
    server.on("POST", "/v1/campaigns/spring/codes", (202, {}, {"job_id": "job_1", "status": "queued", "total": 1200}))
    server.on("GET", "/v1/jobs/job_1",
              (200, {}, {"job_id": "job_1", "status": "running", "done": 500, "total": 1200}),
              (200, {}, {"job_id": "job_1", "status": "succeeded", "done": 1200, "total": 1200}))
    server.on("GET", "/v1/campaigns/spring/codes", codes_page(0, 1000, "cur-2"), codes_page(1000, 200, None))
    out = tmp_path / "codes.csv"
    result = invoke(server, "codes", "issue", "spring", "--count", "1200", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"issued 1200 codes of spring (job job_1): {out}"
    assert server.seen("POST", "/v1/campaigns/spring/codes")[0]["body"] == {"count": 1200}
    assert all(r["key"] == KEY for r in server.requests)
    assert len(server.seen("GET", "/v1/jobs/job_1")) == 2
    pages = server.seen("GET", "/v1/campaigns/spring/codes")
    assert [p["query"] for p in pages] == [{"job_id": "job_1", "limit": "1000"},
                                           {"job_id": "job_1", "limit": "1000", "cursor": "cur-2"}]
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1200 and rows[0] == {"code": "BULK-00000", "campaign_id": "spring",
                                             "expires_at": "2027-01-01T00:00:00Z", "customer": ""}
    assert rows[-1]["code"] == "BULK-01199"


def test_a_failed_job_exits_1_with_its_error_and_writes_nothing(server, tmp_path):
    server.on("POST", "/v1/campaigns/spring/codes", (202, {}, {"job_id": "job_2", "status": "queued", "total": 900}))
    server.on("GET", "/v1/jobs/job_2", (200, {}, {"status": "failed", "done": 500, "total": 900, "error": "boom"}))
    out = tmp_path / "codes.csv"
    result = invoke(server, "codes", "issue", "spring", "--count", "900", "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: job job_2 failed after 500 of 900 codes: boom"
    assert list(tmp_path.iterdir()) == []


def test_an_export_that_ignores_the_job_filter_is_refused(server, tmp_path):
    server.on("POST", "/v1/campaigns/spring/codes", (202, {}, {"job_id": "job_3", "status": "queued", "total": 60}))
    server.on("GET", "/v1/jobs/job_3", (200, {}, {"status": "succeeded", "done": 60, "total": 60}))
    server.on("GET", "/v1/campaigns/spring/codes", codes_page(0, 100, None))  # every code of the campaign
    out = tmp_path / "codes.csv"
    result = invoke(server, "codes", "issue", "spring", "--count", "60", "--out", str(out))
    assert result.exit_code == 1 and "cannot filter by job" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_codes_that_name_another_job_are_left_out(server, tmp_path):
    server.on("POST", "/v1/campaigns/spring/codes", (202, {}, {"job_id": "job_5", "status": "queued", "total": 2}))
    server.on("GET", "/v1/jobs/job_5", (200, {}, {"status": "succeeded", "done": 2, "total": 2}))
    page = [{"code": c, "job_id": j, "status": "active", "expires_at": None, "redemptions": 0}
            for c, j in (("OLD-1", "job_0"), ("NEW-1", "job_5"), ("NEW-2", "job_5"))]
    server.on("GET", "/v1/campaigns/spring/codes", (200, {}, {"codes": page, "next_cursor": None}))
    out = tmp_path / "codes.csv"
    result = invoke(server, "codes", "issue", "spring", "--count", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert [r["code"] for r in csv.DictReader(out.open())] == ["NEW-1", "NEW-2"]


def test_a_bulk_issue_against_a_server_without_the_export_says_the_codes_exist(server, tmp_path):
    server.on("POST", "/v1/campaigns/spring/codes", (202, {}, {"job_id": "job_4", "status": "queued", "total": 60}))
    server.on("GET", "/v1/jobs/job_4", (200, {}, {"status": "succeeded", "done": 60, "total": 60}))
    result = invoke(server, "codes", "issue", "spring", "--count", "60", "--out", str(tmp_path / "c.csv"))
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Error: job job_4 issued 60 codes, but downloading them failed: "
                                     "not_found (404): no route")


def test_codes_export_joins_the_csv_pages_with_one_header(server, tmp_path):
    server.on("GET", "/v1/campaigns/spring", (200, {}, {"id": "spring", "stats": {"issued": 3}}))
    header = "code,status,customer,expires_at,redemptions\r\n"
    server.on("GET", "/v1/campaigns/spring/codes",
              (200, {"Content-Type": "text/csv", "X-Next-Cursor": "c2"},
               (header + 'A-1,active,"id,with,commas",2027-01-01T00:00:00Z,0\r\nA-2,redeemed,,,1\r\n').encode()),
              (200, {"Content-Type": "text/csv"}, (header + "A-3,expired,,2026-01-01T00:00:00Z,0\r\n").encode()))
    out = tmp_path / "export.csv"
    result = invoke(server, "codes", "export", "spring", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"exported 3 code(s) of spring: {out}"
    assert [p["query"] for p in server.seen("GET", "/v1/campaigns/spring/codes")] == [
        {"format": "csv", "limit": "1000"}, {"format": "csv", "limit": "1000", "cursor": "c2"}]
    rows = list(csv.reader(out.open()))
    assert rows == [["code", "status", "customer", "expires_at", "redemptions"],
                    ["A-1", "active", "id,with,commas", "2027-01-01T00:00:00Z", "0"], ["A-2", "redeemed", "", "", "1"],
                    ["A-3", "expired", "", "2026-01-01T00:00:00Z", "0"]]


def test_retention_prints_a_table_per_currency_and_the_series(server):
    eur = {"customers": 2, "repeat_customers": 1, "orders": 3, "revenue": 9000, "repeat_purchase_rate": 0.5,
           "purchase_frequency": 1.5, "average_order_value": 3000, "customer_value": 4500}
    server.on("GET", "/v1/metrics/retention", (200, {}, {
        "from": "2026-01-01", "to": "2026-02-28", "currencies": {"EUR": eur},
        "series": [{"period": "2026-01-01", "currencies": {"EUR": eur}}, {"period": "2026-02-01", "currencies": {}}]}))
    result = invoke(server, "metrics", "retention", "--from", "2026-01-01", "--to", "2026-02-28",
                    "--granularity", "month", "--campaign", "welcome10")
    assert result.exit_code == 0, result.output
    assert server.seen("GET", "/v1/metrics/retention")[0]["query"] == {
        "from": "2026-01-01", "to": "2026-02-28", "granularity": "month", "campaign_id": "welcome10"}
    lines = result.stdout.splitlines()
    assert lines[0] == "retention 2026-01-01 .. 2026-02-28, campaign welcome10 (amounts in minor units)"
    assert lines[1].split() == ["currency", "customers", "repeat_customers", "orders", "revenue",
                                "repeat_purchase_rate", "purchase_frequency", "average_order_value", "customer_value"]
    assert lines[2].split() == ["EUR", "2", "1", "3", "9000", "0.5", "1.5", "3000", "4500"]
    assert lines[3] == "by month:" and lines[5].split()[:2] == ["2026-01-01", "EUR"] and len(lines) == 6


def test_429_and_503_with_retry_after_are_retried(server, monkeypatch):
    slept = []
    monkeypatch.setattr(api_module.time, "sleep", slept.append)
    busy = {"error": {"code": "rate_limited", "message": "slow down"}}
    server.on("DELETE", "/v1/customers/c 1",
              (429, {"Retry-After": "2"}, busy), (503, {"Retry-After": "30"}, busy),
              (200, {}, {"customer_id": "c 1", "status": "erased", "erased": {"profile": 1}}))
    result = invoke(server, "erase", "c 1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "c 1: erased (profile 1)"
    assert slept == [2.0, 5.0]  # Retry-After, capped


def test_an_unfinished_erasure_is_repeated_until_it_is_done(server):
    server.on("DELETE", "/v1/customers/c2",
              (202, {}, {"customer_id": "c2", "status": "in_progress", "erased": {"events": 500}}),
              (200, {}, {"customer_id": "c2", "status": "erased", "erased": {"events": 20}}))
    result = invoke(server, "erase", "c2")
    assert result.exit_code == 0 and result.stdout.strip() == "c2: erased (events 20)"
    assert len(server.seen("DELETE", "/v1/customers/c2")) == 2


def test_answers_that_are_not_the_engines_json_still_give_one_line(server):
    server.on("GET", "/v1/campaigns/x", (403, {}, {"message": "Missing Authentication Token"}))
    result = invoke(server, "stats", "x")
    assert result.exit_code == 1
    assert result.stderr == ('Error: http_error (403): GET /v1/campaigns/x: '
                             '{"message": "Missing Authentication Token"}\n')
    server.on("GET", "/v1/campaigns/y", (503, {}, b"<html>\n<body>Service Unavailable</body>\n</html>"))
    result = invoke(server, "stats", "y")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "Service Unavailable" in result.stderr


def test_stats_prints_variants_and_the_comparison(server):
    server.on("GET", "/v1/campaigns/ab", (200, {}, {"id": "ab", "name": "AB", "status": "active", "stats": {
        "issued": 200, "redeemed": 30, "discount_total": {"amount": 900, "currency": "EUR"}, "remaining": None,
        "revenue": {"amount": 90000, "currency": "EUR"},
        "variants": [{"id": v, "issued": 100, "redeemed": n, "redemption_rate": n / 100,
                      "discount_total": {"amount": 30 * n, "currency": "EUR"},
                      "revenue": {"amount": 3000 * n, "currency": "EUR"}} for v, n in (("a", 10), ("b", 20))],
        "comparison": {"metric": "redemption_rate", "p_value": 0.046, "significant": True}}}))
    result = invoke(server, "stats", "ab")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["campaign", "ab", "(AB)"] and lines[1].split() == ["status", "active"]
    assert ["revenue", "90000", "EUR"] in [line.split() for line in lines]
    assert lines[lines.index("variants:") + 2].split() == ["a", "100", "10", "0.1", "300", "EUR", "30000", "EUR"]
    assert lines[-1] == "comparison: redemption_rate p=0.046 significant at 95 %"


def test_jobs_run_sends_now_only_when_given(server):
    server.on("POST", "/v1/jobs/win-back/run", (200, {}, {"job": "win-back", "result": {"sent": 1}}))
    assert json.loads(invoke(server, "jobs", "run", "win-back").stdout) == {"job": "win-back", "result": {"sent": 1}}
    assert invoke(server, "jobs", "run", "win-back", "--now", "2027-01-01T09:00:00Z").exit_code == 0
    assert [r["body"] for r in server.seen("POST", "/v1/jobs/win-back/run")] == [{}, {"now": "2027-01-01T09:00:00Z"}]


def test_import_orders_sends_each_customers_orders_oldest_first_with_ids_from_the_order(server, tmp_path):
    server.on("POST", "/v1/events", (202, {}, {"status": "accepted"}))
    orders = tmp_path / "orders.csv"
    orders.write_bytes("\ufeffcustomer_id,order_id,occurred_at,amount,currency,email,country\n"
                       "c1,o-2,2026-02-01T00:00:00Z,200,EUR,,\n"
                       "c1,o-1,2026-01-01T00:00:00+02:00,100,EUR,c1@example.com,DE\n"
                       "\n".encode())
    result = invoke(server, "import-orders", str(orders))
    assert result.exit_code == 0, result.output
    sent = [r["body"] for r in server.seen("POST", "/v1/events")]
    assert [e["order"]["id"] for e in sent] == ["o-1", "o-2"]
    assert sent[0] == {"id": sent[0]["id"], "type": "order.paid", "occurred_at": "2026-01-01T00:00:00+02:00",
                       "customer": {"id": "c1", "email": "c1@example.com", "country": "DE"},
                       "order": {"id": "o-1", "currency": "EUR", "amount": 100}}
    from incentives_cli.orders import event_id

    assert [e["id"] for e in sent] == [event_id("o-1"), event_id("o-2")] and event_id("o-1") != event_id("o-2")
    assert invoke(server, "import-orders", "--dry-run", str(orders)).stdout.strip() == (
        f"{orders}: 2 orders of 1 customers; nothing sent (dry run)")
    assert len(server.seen("POST", "/v1/events")) == 2
