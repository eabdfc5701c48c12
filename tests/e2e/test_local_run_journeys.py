"""`make run` sends journey messages: a journey in the config folder, a customer whose birthday it is (events),
`POST /v1/jobs/birthdays/run {now}` -> an .eml in $INCENTIVES_DATA_DIR/outbox/messages with the code as text and
as a QR code, and `GET /v1/customers/{id}/messages` shows the send."""
from __future__ import annotations

import email
import shutil
import time
from datetime import UTC, datetime, timedelta
from email import policy

import pytest

from tests.e2e.localrun import OPERATOR_KEY, ROOT, STOREFRONT_KEY, start_local_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    config = workdir / "config"
    (config / "campaigns").mkdir(parents=True)
    (config / "journeys").mkdir()
    shutil.copy(ROOT / "config" / "campaigns" / "birthday-gift.yaml", config / "campaigns")
    shutil.copy(ROOT / "config" / "journeys" / "birthday.yaml", config / "journeys")
    shutil.copy(ROOT / "config" / "messaging.yaml", config)
    r = start_local_run(workdir, INCENTIVES_CONFIG_DIR=str(config), LOCAL_SCHEDULES="off")
    yield r
    assert r.stop() == 0, r.log()


def test_a_birthday_run_writes_an_eml_with_the_code_and_its_qr_code(run):
    from tests.unit.test_delivery import decode_qr

    birthday = (datetime.now(UTC) + timedelta(days=10)).date()
    accepted = run.request("POST", "/v1/events", headers={"x-api-key": STOREFRONT_KEY}, body={
        "id": "signup-1", "type": "customer.created", "occurred_at": datetime.now(UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "customer": {"id": "b1", "email": "b1@example.com", "timezone": "UTC"},
        "data": {"birthday": f"1990-{birthday:%m-%d}", "consents": {"email": True}}})
    assert accepted.status == 202, accepted.body
    now = f"{birthday.isoformat()}T10:30:00Z"  # 10:30 in the customer's zone (UTC), after send_at 10:00
    op = {"x-api-key": OPERATOR_KEY}
    deadline = time.monotonic() + 20
    while True:  # the due-date index follows the event asynchronously (stream -> fan-out -> journey_events)
        ran = run.request("POST", "/v1/jobs/birthdays/run", headers=op, body={"now": now})
        assert ran.status == 200, ran.body
        if ran.json()["result"]["sent"]:
            break
        assert time.monotonic() < deadline, f"nothing sent after 20 s:\n{run.log()}"
        time.sleep(0.5)
    assert ran.json()["result"]["sent"] == {"email": 1}
    messages = run.request("GET", "/v1/customers/b1/messages", headers=op)
    assert messages.status == 200, messages.body
    (m,) = messages.json()["messages"]
    assert (m["journey_id"], m["channel"], m["status"], m["timezone"]) == ("birthday", "email", "sent", "UTC")
    assert m["code"].startswith("BDAY-") and m["campaign_id"] == "birthday-gift"
    outbox = run.log_path.parent / "data" / "outbox" / "messages"
    (path,) = list(outbox.glob("*.eml"))
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert msg["To"] == "b1@example.com"
    assert m["code"] in msg.get_body(("plain",)).get_content()
    (png,) = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert decode_qr(png.get_content()) == m["code"]
    assert msg["List-Unsubscribe"].startswith(f"<{run.base_url}/v1/public/unsubscribe/")
    # a second run as of the same moment sends nothing more
    again = run.request("POST", "/v1/jobs/birthdays/run", headers=op, body={"now": now})
    assert again.json()["result"]["sent"] == {} and len(list(outbox.glob("*.eml"))) == 1
