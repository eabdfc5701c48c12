"""The journey jobs against DynamoDB Local: profiles kept by real event ingestion, the due-date index kept by the
journey_events consumer, runs as of given moments (services/journeys.py), delivery through the local outbox of
.eml files (and fakes for provider failures)."""
from __future__ import annotations

import email
import threading
from datetime import datetime
from email import policy

import pytest
import yaml

from incentives.adapters import keys
from incentives.adapters.delivery import DeliveryResult, OutboxDelivery
from incentives.domain.clock import iso
from incentives.domain.profiles import Event
from incentives.services.consumers import Consumer
from incentives.services.events import Events
from incentives.services.journey_index import JourneyIndex
from incentives.services.journeys import JourneyRuns, list_messages
from tests.support import retry_transient



def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


CAMPAIGN = {"id": "gift", "name": "Gift", "enabled": True, "codes": {"type": "unique", "pattern": "GIFT-####-####",
            "expires_in_days": 30, "bind_to_customer": True}, "reward": {"type": "percent_off", "percent": 15},
            "limits": {"per_code": 1}}


def journey(jid: str, trigger: dict, **over) -> dict:
    j = {"id": jid, "enabled": True, "trigger": trigger, "offer": {"campaign": "gift"}, "channels": ["email", "sms"],
         "send_at": "10:00", "timezone": "Europe/Berlin",
         "message": {"subject": "For you: {discount} off", "text": "Use {code} before {expires_on}.",
                     "locales": {"de": {"subject": "Für dich: {discount}", "text": "Mit {code} bis {expires_on}."}}}}
    j.update(over)
    return j


class Journeys:
    def __init__(self, table, config_dir, tmp_path):
        self.table, self.config_dir = table, config_dir
        self.outbox = tmp_path / "outbox" / "messages"
        self.events = Events(table)
        self.delivery_override = None
        self.n = 0

    def configure(self, *journeys: dict, cap: dict | None = None):
        d = self.config_dir.path
        (d / "journeys").mkdir(exist_ok=True)
        for j in journeys:
            (d / "journeys" / f"{j['id']}.yaml").write_text(yaml.safe_dump(j), encoding="utf-8")
        messaging = {"from_email": "Shop <shop@example.com>", "public_base_url": "https://shop.example"}
        if cap:
            messaging["frequency_cap"] = cap
        (d / "messaging.yaml").write_text(yaml.safe_dump(messaging), encoding="utf-8")
        self.config = self.config_dir(CAMPAIGN)
        self.index = JourneyIndex(self.table, self.config, Consumer("journey_events", self.table))
        self.runs = JourneyRuns(self.table, self.config, delivery=self._delivery)
        return self

    def _delivery(self, channel, from_email):
        if self.delivery_override is not None:
            return self.delivery_override
        return OutboxDelivery(str(self.outbox), from_email)

    def event(self, cid: str, etype: str, occurred: str, now: str | None = None, *, tz: str | None = None,
              email_consent: bool | None = True, order: dict | None = None, **data):
        self.n += 1
        customer = {"id": cid, "email": f"{cid}@example.com"}
        if tz:
            customer["timezone"] = tz
        if email_consent is not None:
            data["consents"] = {"email": email_consent}
        ev = Event(f"ev-{cid}-{self.n}", etype, at(occurred), customer, order, data)
        self.events.ingest(ev, at(now or occurred))
        return self.index.handle({"id": ev.id, "type": etype, "customer_id": cid, "occurred_at": iso(at(occurred))},
                                 at(now or occurred))

    def order(self, cid: str, occurred: str, **kw):
        return self.event(cid, "order.paid", occurred, order={"id": f"o{self.n}", "currency": "EUR", "amount": 1000,
                                                             "items": []}, **kw)

    def run(self, job: str, now: str, lease: bool = False) -> dict:
        return self.runs.run(job, at(now), lease=lease)

    def messages(self, cid: str) -> list[dict]:
        return list_messages(self.table, cid)["messages"]

    def record(self, cid: str, jid: str) -> dict:
        (item,) = [m for m in self.table.query(f"MSG#{cid}") if m["journey_id"] == jid]
        return item

    def eml_files(self) -> list:
        return sorted(self.outbox.glob("*.eml")) if self.outbox.exists() else []

    def issued(self) -> int:
        item = self.table.get(*keys.campaign_issued_shard("gift", 0))
        return (item or {}).get("issued", 0)


@pytest.fixture
def jx(table, config_dir, tmp_path):
    return Journeys(table, config_dir, tmp_path)


def test_a_birthday_goes_out_at_send_at_in_each_customers_own_zone(jx):
    jx.configure(journey("bday", {"type": "birthday"}))
    jx.event("tokyo", "customer.created", "2027-05-01T00:00:00Z", tz="Asia/Tokyo", birthday="1990-06-15")
    jx.event("ny", "customer.created", "2027-05-01T00:00:00Z", tz="America/New_York", birthday="1990-06-15")
    assert jx.run("birthdays", "2027-06-15T00:59:00Z")["sent"] == {}  # 09:59 in Tokyo
    out = jx.run("birthdays", "2027-06-15T01:30:00Z")  # 10:30 in Tokyo, 21:30 the day before in New York
    assert out["sent"] == {"email": 1}
    assert [m["status"] for m in jx.messages("tokyo")] == ["sent"] and jx.messages("ny") == []
    (tokyo,) = jx.messages("tokyo")
    assert tokyo["timezone"] == "Asia/Tokyo" and tokyo["code"].startswith("GIFT-") and tokyo["journey_id"] == "bday"
    assert jx.run("birthdays", "2027-06-15T13:59:00Z")["sent"] == {}  # 09:59 in New York
    assert jx.run("birthdays", "2027-06-15T14:00:00Z")["sent"] == {"email": 1}
    assert [m["status"] for m in jx.messages("ny")] == ["sent"] and len(jx.eml_files()) == 2
    # next year's birthday is in the index already (the send transaction put it)
    assert jx.table.get("JDUE#bday#2028-06-15T01", "tokyo") is not None
    assert jx.table.query("JDUE#bday#2027-06-15T01") == []


def test_the_email_carries_the_code_as_text_and_as_a_qr_code_and_the_unsubscribe_headers(jx):
    from tests.unit.test_delivery import decode_qr

    jx.configure(journey("bday", {"type": "birthday"}))
    jx.event("c1", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15")
    jx.run("birthdays", "2027-06-15T08:05:00Z")
    (path,) = jx.eml_files()
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    (m,) = jx.messages("c1")
    assert m["code"] in msg.get_body(("plain",)).get_content()
    (png,) = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert decode_qr(png.get_content()) == m["code"]
    url = msg["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://shop.example/v1/public/unsubscribe/") and "c1" not in url
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = url.rsplit("/", 1)[1]
    from incentives.domain.consent import token_key

    unsub = jx.table.get(*keys.unsubscribe(token_key(token)))
    assert unsub["customer_id"] == "c1" and unsub["channel"] == "email"
    assert "c1" in str(jx.table.get(*keys.code(m["code"]))["holder"])  # the code is bound to the customer


def test_win_back_sixty_days_after_the_last_order_in_the_customers_zone_and_not_after_a_newer_order(jx):
    jx.configure(journey("wb", {"type": "win_back", "days_since_last_order": 60}))
    # 20:00 UTC on 1 March is 2 March in Tokyo: due 1 May (local), 10:00 JST = 01:00 UTC
    jx.order("loyal", "2027-03-01T20:00:00Z", tz="Asia/Tokyo")
    jx.order("back", "2027-03-01T20:00:00Z", tz="Asia/Tokyo")
    jx.order("back", "2027-04-01T20:00:00Z", tz="Asia/Tokyo")  # bought again: due 1 June instead
    assert jx.run("win-back", "2027-04-30T01:30:00Z")["sent"] == {}
    out = jx.run("win-back", "2027-05-01T01:30:00Z")
    assert out["sent"] == {"email": 1}
    assert [m["status"] for m in jx.messages("loyal")] == ["sent"] and jx.messages("back") == []
    assert jx.run("win-back", "2027-06-01T01:30:00Z")["sent"] == {"email": 1}
    assert [m["status"] for m in jx.messages("back")] == ["sent"]
    assert len(jx.messages("loyal")) == 1


def test_replenishment_after_the_lifespan_unless_bought_again(jx):
    jx.configure(journey("refill", {"type": "replenishment", "lifespan_days": {"skus": {"COFFEE-1KG": 30}}}))
    for cid, bought in (("once", "2027-03-01T08:00:00Z"), ("again", "2027-03-20T08:00:00Z")):
        jx.event(cid, "customer.created", "2027-03-01T07:00:00Z", tz="Europe/Berlin")
        # the profile's latest paid purchase per sku (the profile field the events keep)
        jx.table.update(*keys.customer_profile(cid), "SET purchases = :p",
                        vals={":p": {"M": {"sku:COFFEE-1KG": {"S": bought}}}})
        jx.event(cid, "customer.updated", "2027-03-20T09:00:00Z", tz="Europe/Berlin")
    assert jx.run("replenishment", "2027-03-31T08:30:00Z")["sent"] == {"email": 1}  # 10:30 Berlin, 30 days on
    assert [m["status"] for m in jx.messages("once")] == ["sent"] and jx.messages("again") == []
    assert jx.run("replenishment", "2027-04-19T08:30:00Z")["sent"] == {"email": 1}
    assert len(jx.messages("again")) == 1


def test_no_consent_is_skipped_and_issues_no_code(jx):
    jx.configure(journey("bday", {"type": "birthday"}))
    jx.event("quiet", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15",
             email_consent=False)
    out = jx.run("birthdays", "2027-06-15T08:30:00Z")
    assert out["skipped"] == {"no_consent": 1} and out["sent"] == {}
    (m,) = jx.messages("quiet")
    assert m["status"] == "skipped" and m["reason"] == "no_consent" and "code" not in m
    assert jx.issued() == 0 and jx.eml_files() == []
    assert jx.run("birthdays", "2027-06-15T09:30:00Z")["skipped"] == {}  # recorded once


@pytest.mark.concurrency
def test_concurrent_and_repeated_runs_send_once(jx):
    jx.configure(journey("bday", {"type": "birthday"}))
    for i in range(6):
        jx.event(f"c{i}", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15")
    results = []

    def run():
        results.append(retry_transient(lambda: jx.run("birthdays", "2027-06-15T08:30:00Z")))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["sent"].get("email", 0) for r in results) == 6
    assert jx.run("birthdays", "2027-06-15T08:30:00Z")["sent"] == {}
    assert jx.run("birthdays", "2027-06-15T09:30:00Z")["sent"] == {}
    assert len(jx.eml_files()) == 6 and jx.issued() == 6
    assert all(len(jx.messages(f"c{i}")) == 1 for i in range(6))


def test_an_overlapping_run_of_the_same_job_is_refused_while_the_lease_is_held(jx):
    from incentives.domain import errors

    jx.configure(journey("bday", {"type": "birthday"}))
    holder = jx.runs.acquire("birthdays")
    assert holder is not None
    with pytest.raises(errors.JobRunning):
        jx.run("birthdays", "2027-06-15T08:30:00Z", lease=True)
    jx.runs.release("birthdays", holder)
    assert jx.run("birthdays", "2027-06-15T08:30:00Z", lease=True)["sent"] == {}


def test_quiet_hours_defer_and_the_message_goes_out_later(jx):
    jx.configure(journey("bday", {"type": "birthday"}, send_at="22:00", quiet_hours={"from": "21:00", "to": "08:00"}))
    jx.event("night", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15")
    out = jx.run("birthdays", "2027-06-15T20:10:00Z")  # 22:10 Berlin
    assert out["deferred"] == 1 and out["sent"] == {}
    assert [m["status"] for m in jx.messages("night")] == ["deferred"] and jx.issued() == 0
    assert jx.run("birthdays", "2027-06-16T05:30:00Z")["sent"] == {}  # 07:30 Berlin: still quiet
    assert jx.run("birthdays", "2027-06-16T06:05:00Z")["sent"] == {"email": 1}  # 08:05 Berlin
    (m,) = jx.messages("night")
    assert m["status"] == "sent" and m["code"]
    assert jx.run("birthdays", "2027-06-16T07:05:00Z")["sent"] == {} and len(jx.eml_files()) == 1


def test_the_frequency_cap_holds_across_journeys(jx):
    jx.configure(journey("bday", {"type": "birthday"}),
                 journey("wb", {"type": "win_back", "days_since_last_order": 60}),
                 cap={"max_messages": 1, "per_days": 7})
    jx.event("both", "customer.created", "2027-03-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-04-30")
    jx.order("both", "2027-03-01T10:00:00Z", tz="Europe/Berlin")  # win-back due 30 April too
    a = jx.run("birthdays", "2027-04-30T08:30:00Z")
    b = jx.run("win-back", "2027-04-30T08:30:00Z")
    assert a["sent"] == {"email": 1} and b["skipped"] == {"frequency_capped": 1}
    statuses = {m["journey_id"]: (m["status"], m.get("reason")) for m in jx.messages("both")}
    assert statuses == {"bday": ("sent", None), "wb": ("skipped", "frequency_capped")}
    assert jx.issued() == 1


@pytest.mark.concurrency
def test_the_frequency_cap_holds_when_two_journeys_send_at_once(jx):
    jx.configure(journey("bday", {"type": "birthday"}),
                 journey("wb", {"type": "win_back", "days_since_last_order": 60}),
                 cap={"max_messages": 1, "per_days": 7})
    for i in range(4):
        jx.event(f"p{i}", "customer.created", "2027-03-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-04-30")
        jx.order(f"p{i}", "2027-03-01T10:00:00Z", tz="Europe/Berlin")
    out = []
    threads = [threading.Thread(
        target=lambda j=j: out.append(retry_transient(lambda: jx.run(j, "2027-04-30T08:30:00Z"))))
               for j in ("birthdays", "win-back")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert sorted(m["status"] for m in jx.messages(f"p{i}")) == ["sent", "skipped"]
    assert jx.issued() == 4


def test_a_retryable_delivery_failure_is_delivered_later_with_the_same_code(jx):
    class Flaky:
        def __init__(self):
            self.seen = []

        def send(self, message):
            self.seen.append(message)
            return DeliveryResult("retry", error="Throttling")

    flaky = Flaky()
    jx.configure(journey("bday", {"type": "birthday"}))
    jx.event("c1", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15")
    jx.delivery_override = flaky
    out = jx.run("birthdays", "2027-06-15T08:30:00Z")
    assert out["pending"] == 1 and out["sent"] == {}
    assert jx.record("c1", "bday")["status"] == "pending"
    jx.delivery_override = None
    assert jx.run("birthdays", "2027-06-15T09:30:00Z")["sent"] == {"email": 1}
    rec = jx.record("c1", "bday")
    assert rec["status"] == "sent" and rec["code"] == flaky.seen[0].code and jx.issued() == 1
    (path,) = jx.eml_files()
    assert rec["code"] in path.read_text()


def test_a_permanent_delivery_failure_is_recorded(jx):
    class Rejecting:
        def send(self, message):
            return DeliveryResult("failed", error="MessageRejected")

    jx.configure(journey("bday", {"type": "birthday"}))
    jx.event("c1", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15")
    jx.delivery_override = Rejecting()
    assert jx.run("birthdays", "2027-06-15T08:30:00Z")["failed"] == {"email": 1}
    rec = jx.record("c1", "bday")
    assert (rec["status"], rec["reason"]) == ("failed", "MessageRejected")
    assert jx.table.query("JPEND#bday") == []


OP = {"key_id": "key-operator"}


def test_the_one_click_unsubscribe_of_a_sent_email_makes_the_next_send_skip_and_a_get_changes_nothing(jx, handlers):
    jx.configure(journey("bday", {"type": "birthday"}))
    jx.event("u1", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15")
    assert jx.run("birthdays", "2027-06-15T08:05:00Z")["sent"] == {"email": 1}
    (path,) = jx.eml_files()
    url = email.message_from_bytes(path.read_bytes(), policy=policy.default)["List-Unsubscribe"].strip("<>")
    link = {"path_params": {"token": url.rsplit("/", 1)[1]}, "key_id": None}
    status, page, _ = handlers.call("events", "GET", "/v1/public/unsubscribe/{token}", **link)
    assert status == 200 and 'name="List-Unsubscribe" value="One-Click"' in page  # the button; nothing withdrawn
    assert jx.table.get(*keys.customer_profile("u1"))["consents"]["email"]["given"] is True
    status, out, _ = handlers.call("events", "POST", "/v1/public/unsubscribe/{token}", raw_body="List-Unsubscribe="
                                   "One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}, **link)
    assert (status, out) == (200, {"status": "unsubscribed", "channel": "email"})
    issued = jx.issued()
    out = jx.run("birthdays", "2028-06-15T08:05:00Z")  # next year's birthday: no consent any more
    assert out["sent"] == {} and jx.issued() == issued and len(jx.eml_files()) == 1
    skipped = [m for m in jx.messages("u1") if m["status"] == "skipped"]
    assert [(m["reason"], m.get("code")) for m in skipped] == [("no_consent", None)]


def test_over_http_a_run_answers_409_while_another_holds_the_job_and_messages_are_listed(jx, handlers):
    jx.configure(journey("bday", {"type": "birthday"}))
    jx.event("h1", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15")
    holder = jx.runs.acquire("birthdays")
    status, out, _ = handlers.call("operators", "POST", "/v1/jobs/{job}/run", path_params={"job": "birthdays"},
                                   body={"now": "2027-06-15T08:30:00Z"}, **OP)
    assert status == 409 and out["error"]["code"] == "job_running"
    jx.runs.release("birthdays", holder)
    status, out, _ = handlers.call("operators", "POST", "/v1/jobs/{job}/run", path_params={"job": "birthdays"},
                                   body={"now": "2027-06-15T08:30:00Z"}, **OP)
    assert status == 200 and out["result"]["sent"] == {"email": 1}, out
    status, out, _ = handlers.call("operators", "GET", "/v1/customers/{customer_id}/messages",
                                   path_params={"customer_id": "h1"}, **OP)
    assert status == 200
    (m,) = out["messages"]
    assert (m["journey_id"], m["channel"], m["status"], m["timezone"]) == ("bday", "email", "sent", "Europe/Berlin")
    assert m["code"].startswith("GIFT-") and m["campaign_id"] == "gift" and m["created_at"] == "2027-06-15T08:30:00Z"
    status, out, _ = handlers.call("operators", "GET", "/v1/customers/{customer_id}/messages",
                                   path_params={"customer_id": "nobody"}, **OP)
    assert (status, out) == (200, {"messages": []})


def test_a_leap_day_birthday_is_sent_on_28_february_in_a_non_leap_year(jx):
    jx.configure(journey("bday", {"type": "birthday"}))
    jx.event("leap", "customer.created", "2027-01-10T00:00:00Z", tz="Europe/Berlin", birthday="1992-02-29")
    assert jx.run("birthdays", "2027-02-27T09:30:00Z")["sent"] == {}
    assert jx.run("birthdays", "2027-02-28T09:30:00Z")["sent"] == {"email": 1}  # 10:30 Berlin (CET)
    assert [m["status"] for m in jx.messages("leap")] == ["sent"]
    assert jx.table.get("JDUE#bday#2028-02-29T09", "leap") is not None  # next year is a leap year


def test_the_event_channel_writes_message_requested_to_the_outbox_in_the_send_transaction(jx):
    jx.configure(journey("bday", {"type": "birthday"}, channels=["event"]))
    jx.event("esp", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15")
    assert jx.run("birthdays", "2027-06-15T08:30:00Z")["sent"] == {"event": 1}
    (m,) = jx.messages("esp")
    event = jx.table.get(f"EVENT#message.{m['id']}.requested", "EVENT")
    assert event["type"] == "message.requested" and event["source"] == "incentives.engine"
    assert event["data"]["code"] == m["code"] and event["data"]["customer_id"] == "esp"
    assert "to" not in event["data"] and "esp@example.com" not in str(event)  # no address in the event store
    assert jx.eml_files() == []


def test_sms_goes_through_sns_with_the_code_in_the_text(jx):
    from moto import mock_aws

    import boto3
    from incentives.adapters.delivery import SnsSmsDelivery

    jx.configure(journey("bday", {"type": "birthday"}, channels=["email", "sms"]))
    jx.event("txt", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15",
             email_consent=None, consents={"sms": True})
    jx.table.update(*keys.customer_profile("txt"), "SET phone = :p", vals={":p": {"S": "+4915112345678"}})
    with mock_aws():
        sns = boto3.client("sns", region_name="eu-central-1")
        jx.delivery_override = SnsSmsDelivery(client=sns)
        assert jx.run("birthdays", "2027-06-15T08:30:00Z")["sent"] == {"sms": 1}
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sns import sns_backends

        sent = sns_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"].sms_messages
        ((number, text),) = sent.values()
    (m,) = jx.messages("txt")
    assert m["channel"] == "sms" and number == "+4915112345678" and m["code"] in text


def test_erasure_deletes_the_customers_message_records_frequency_item_and_unsubscribe_links(jx, handlers):
    jx.configure(journey("bday", {"type": "birthday"}), cap={"max_messages": 3, "per_days": 7})
    jx.event("gone", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15")
    assert jx.run("birthdays", "2027-06-15T08:30:00Z")["sent"] == {"email": 1}
    assert jx.table.get(*keys.frequency("gone")) is not None
    (path,) = jx.eml_files()
    url = email.message_from_bytes(path.read_bytes(), policy=policy.default)["List-Unsubscribe"].strip("<>")
    link = {"path_params": {"token": url.rsplit("/", 1)[1]}, "key_id": None}
    assert handlers.call("events", "GET", "/v1/public/unsubscribe/{token}", **link)[0] == 200
    status, out, _ = handlers.call("operators", "DELETE", "/v1/customers/{customer_id}",
                                   path_params={"customer_id": "gone"}, **OP)
    assert status == 200 and out["erased"]["messages"] == 1, out
    assert jx.messages("gone") == [] and jx.table.query("MSG#gone") == []
    assert jx.table.get(*keys.frequency("gone")) is None
    # the link named the customer: it goes with the rest (it was kept, and kept working, before)
    assert handlers.call("events", "GET", "/v1/public/unsubscribe/{token}", **link)[0] == 404
