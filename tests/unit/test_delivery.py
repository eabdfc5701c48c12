"""The delivery port: SES (raw MIME with text, HTML and the QR code inline), SNS SMS, EventBridge
message.requested and the local outbox. moto stands in for AWS (it records what it was sent); every QR code is
decoded back with zxing-cpp from the PNG the recipient would get."""
from __future__ import annotations

import base64
import email
import json
import struct
import subprocess
import sys
import zlib
from datetime import datetime, UTC
from email import policy

import numpy as np
import pytest
import zxingcpp
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from incentives.adapters.delivery import (
    DeliveryResult, EventBridgeDelivery, Message, OutboxDelivery, SesDelivery, SnsSmsDelivery, classify, qr_png,
)
from incentives.subscriptions import ENGINE as SOURCE
from tests.support import ROOT

REGION = "eu-central-1"
FROM = "Example Shop <hello@shop.example>"
CODE = "BDAY-2345-6789"
UNSUBSCRIBE = "https://api.shop.example/v1/public/unsubscribe/Zm9vYmFyYmF6cXV4cXV1eA"
NOW = datetime(2027, 6, 15, 8, 0, tzinfo=UTC)


def email_message(**kw) -> Message:
    base = dict(message_id="msg_01", channel="email", to="anna@example.com", subject="Alles Gute: 15% Rabatt",
                text=f"Alles Gute zum Geburtstag! Mit {CODE} bekommst du 15% Rabatt.", code=CODE,
                qr_png=qr_png(CODE), unsubscribe_url=UNSUBSCRIBE)
    base.update(kw)
    return Message(**base)


# ---- reading what a recipient gets -------------------------------------------------------------------------

def png_pixels(data: bytes) -> np.ndarray:
    """A greyscale or palette PNG (any filter) as an 8-bit greyscale array: enough of PNG to read QR codes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, palette = 8, b"", None
    while pos < len(data):
        (n,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = [body[i] for i in range(0, len(body), 3)]  # the red channel of black/white palettes
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert colour in (0, 3) and interlace == 0 and depth in (1, 2, 4, 8), (colour, depth)
    raw, stride = zlib.decompress(idat), (width * depth + 7) // 8
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a, b = (line[i - 1] if i else 0), prev[i]
            c = prev[i - 1] if i else 0
            p = a + b - c
            pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2,
                    4: a if abs(p - a) <= min(abs(p - b), abs(p - c)) else (b if abs(p - b) <= abs(p - c) else c)}[f]
            line[i] = (line[i] + pred) & 0xFF
        bits = np.unpackbits(np.frombuffer(bytes(line), np.uint8)).reshape(-1, depth) if depth < 8 else None
        values = (bits @ (1 << np.arange(depth - 1, -1, -1)))[:width] if bits is not None \
            else np.frombuffer(bytes(line), np.uint8)[:width]
        if palette is not None:
            values = np.array([palette[v] for v in values])
        elif depth < 8:
            values = values * (255 // ((1 << depth) - 1))
        rows.append(values.astype(np.uint8))
        prev = line
    return np.vstack(rows)


def decode_qr(png: bytes) -> str:
    (barcode,) = zxingcpp.read_barcodes(png_pixels(png))
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    return barcode.text


def inline_qr(raw: bytes | str) -> tuple[email.message.EmailMessage, str]:
    """The message as parsed by a mail client, and the text of the QR image its HTML refers to by Content-ID."""
    msg = email.message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default)
    html_part = msg.get_body(("html",))
    cid = html_part.get_content().split('src="cid:')[1].split('"')[0]
    (image,) = [p for p in msg.walk() if p.get("Content-ID") == f"<{cid}>"]
    assert image.get_content_type() == "image/png" and image.get_content_disposition() == "inline"
    return msg, decode_qr(image.get_content())


def assert_is_the_birthday_email(raw: bytes | str) -> None:
    msg, decoded = inline_qr(raw)
    assert decoded == CODE
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "multipart/related"]
    assert CODE in msg.get_body(("plain",)).get_content()
    assert msg["Subject"] == "Alles Gute: 15% Rabatt" and msg["To"] == "anna@example.com"
    assert msg["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert UNSUBSCRIBE in msg.get_body(("html",)).get_content()


# ---- QR codes ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [CODE, "https://shop.example/redeem?code=WELCOME-ABCD-EFGH"])
def test_a_qr_code_decodes_back_to_what_it_encodes(data):
    assert decode_qr(qr_png(data)) == data


# ---- SES ---------------------------------------------------------------------------------------------------

@mock_aws
def test_ses_sends_raw_mime_with_text_html_inline_qr_and_one_click_unsubscribe():
    import boto3
    from moto.ses.models import ses_backends

    client = boto3.client("sesv2", region_name=REGION)
    client.create_email_identity(EmailIdentity="shop.example")
    client.create_configuration_set(ConfigurationSetName="journeys")
    seen = []
    client.meta.events.register("provide-client-params.sesv2.SendEmail", lambda params, **_: seen.append(params))
    result = SesDelivery(FROM, "journeys", client=client, clock=lambda: NOW).send(email_message())
    assert result.status == "sent" and result.provider_id
    assert seen[0]["ConfigurationSetName"] == "journeys"
    (sent,) = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert sent.id == result.provider_id
    assert_is_the_birthday_email(sent.raw_data)


@mock_aws
def test_ses_rejects_are_failed_and_not_retried():
    import boto3

    client = boto3.client("sesv2", region_name=REGION)  # shop.example is not a verified identity
    result = SesDelivery(FROM, client=client).send(email_message())
    assert result == DeliveryResult("failed", error="MessageRejected")


# ---- SNS ---------------------------------------------------------------------------------------------------

@mock_aws
def test_sns_sends_a_transactional_sms_with_the_code():
    import boto3
    from moto.sns.models import sns_backends

    client = boto3.client("sns", region_name=REGION)
    seen = []
    client.meta.events.register("provide-client-params.sns.Publish", lambda params, **_: seen.append(params))
    sms = Message(message_id="msg_02", channel="sms", to="+4915112345678", text="Happy birthday! 15% off:",
                  code=CODE)
    result = SnsSmsDelivery(client=client).send(sms)
    assert result.status == "sent"
    assert dict(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages) == {
        result.provider_id: ("+4915112345678", f"Happy birthday! 15% off: {CODE}")}
    assert seen[0]["MessageAttributes"]["AWS.SNS.SMS.SMSType"]["StringValue"] == "Transactional"


def test_an_sms_to_a_number_that_is_not_e164_fails_without_a_call():
    class NoCalls:
        def publish(self, **_):
            raise AssertionError("SNS called")

    for to in ("015112345678", "+49 151 1234", "anna@example.com", ""):
        result = SnsSmsDelivery(client=NoCalls()).send(Message(message_id="m", channel="sms", to=to, text="x"))
        assert result == DeliveryResult("failed", error="invalid_phone")


# ---- EventBridge -------------------------------------------------------------------------------------------

@mock_aws
def test_the_event_channel_publishes_message_requested_for_an_external_esp():
    import boto3

    events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name="engine")
    queue = sqs.create_queue(QueueName="esp")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="esp", EventBusName="engine",
                    EventPattern=json.dumps({"source": [SOURCE], "detail-type": ["message.requested"]}))
    events.put_targets(Rule="esp", EventBusName="engine", Targets=[{"Id": "q", "Arn": arn}])
    msg = email_message(channel="event", meta={"journey_id": "birthday", "customer_id": "c1"})
    result = EventBridgeDelivery("engine", client=events).send(msg)
    assert result.status == "sent"
    (received,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    event = json.loads(received["Body"])
    assert (event["source"], event["detail-type"]) == (SOURCE, "message.requested")
    detail = event["detail"]
    assert detail["code"] == CODE and detail["journey_id"] == "birthday" and detail["to"] == "anna@example.com"
    assert decode_qr(base64.b64decode(detail["qr_png_base64"])) == CODE


# ---- the local outbox --------------------------------------------------------------------------------------

def test_the_outbox_writes_an_eml_a_mail_client_reads_and_json_for_sms_and_events(tmp_path):
    outbox = OutboxDelivery(str(tmp_path / "outbox" / "messages"), FROM, clock=lambda: NOW)
    result = outbox.send(email_message())
    eml = tmp_path / "outbox" / "messages" / "msg_01.eml"
    assert result == DeliveryResult("sent", provider_id=str(eml))
    assert_is_the_birthday_email(eml.read_bytes())
    parsed = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert parsed["From"] == FROM and parsed["Date"] and parsed["Message-ID"] == "<msg_01@incentives>"

    outbox.send(Message(message_id="msg_02", channel="sms", to="+4915112345678", text="15% off:", code=CODE,
                        meta={"journey_id": "birthday"}))
    sms = json.loads((tmp_path / "outbox" / "messages" / "msg_02.json").read_text())
    assert sms["to"] == "+4915112345678" and sms["text"] == f"15% off: {CODE}" and sms["journey_id"] == "birthday"
    outbox.send(email_message(message_id="msg_03", channel="event"))
    event = json.loads((tmp_path / "outbox" / "messages" / "msg_03.json").read_text())
    assert event["detail-type"] == "message.requested" and event["detail"]["code"] == CODE
    assert sorted(p.name for p in (tmp_path / "outbox" / "messages").iterdir()) == [
        "msg_01.eml", "msg_02.json", "msg_03.json"]


def test_an_email_without_a_code_has_no_image_and_a_given_html_is_kept(tmp_path):
    outbox = OutboxDelivery(str(tmp_path), FROM)
    outbox.send(Message(message_id="m1", channel="email", to="a@example.com", subject="Hi", text="Hello <you>",
                        unsubscribe_url=UNSUBSCRIBE))
    msg = email.message_from_bytes((tmp_path / "m1.eml").read_bytes(), policy=policy.default)
    assert [p.get_content_type() for p in msg.walk()] == ["multipart/alternative", "text/plain", "text/html"]
    assert "Hello &lt;you&gt;" in msg.get_body(("html",)).get_content()
    custom = email_message(message_id="m2", html='<p>Gift</p><img src="cid:qr-m2@incentives">')
    outbox.send(custom)
    assert inline_qr((tmp_path / "m2.eml").read_bytes())[1] == CODE


# ---- errors ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stubbed_ses():
    import botocore.session

    return botocore.session.get_session().create_client("sesv2", region_name=REGION, aws_access_key_id="x",
                                                        aws_secret_access_key="y")


@pytest.mark.parametrize("code,status,expected", [
    ("Throttling", 400, "retry"),
    ("TooManyRequestsException", 429, "retry"),
    ("LimitExceededException", 400, "retry"),
    ("ServiceUnavailable", 503, "retry"),
    ("SomethingNew", 500, "retry"),
    ("MessageRejected", 400, "failed"),
    ("MailFromDomainNotVerifiedException", 400, "failed"),
    ("InvalidParameter", 400, "failed"),
    ("BadRequestException", 400, "failed"),
])
def test_provider_errors_are_retried_or_failed(stubbed_ses, code, status, expected):
    from botocore.stub import Stubber

    client = stubbed_ses
    with Stubber(client) as stub:
        stub.add_client_error("send_email", service_error_code=code, http_status_code=status)
        result = SesDelivery(FROM, client=client).send(email_message())
    assert result == DeliveryResult(expected, error=code)


def test_a_connection_failure_is_retried_and_anything_else_is_a_bug():
    from botocore.exceptions import EndpointConnectionError

    assert classify(EndpointConnectionError(endpoint_url="https://x")).status == "retry"
    with pytest.raises(KeyError):
        classify(KeyError("x"))


def test_eventbridge_entry_errors_are_classified():
    class Bus:
        def __init__(self, code):
            self.code = code

        def put_events(self, Entries):
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": self.code, "ErrorMessage": "..."}]}

    assert EventBridgeDelivery("b", client=Bus("ThrottlingException")).send(email_message()).status == "retry"
    assert EventBridgeDelivery("b", client=Bus("InternalFailure")).send(email_message()).status == "retry"
    assert EventBridgeDelivery("b", client=Bus("MalformedDetail")).send(email_message()) == \
        DeliveryResult("failed", error="MalformedDetail")


def test_importing_the_port_imports_neither_botocore_nor_segno():
    code = ("import sys; import incentives.adapters.delivery; "
            "print(sorted(m for m in ('botocore', 'boto3', 'segno') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT / "layers" / "core" / "python")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---- a journey's message, end to end -----------------------------------------------------------------------

def test_the_shipped_birthday_journey_composes_an_email_whose_qr_code_is_its_code(tmp_path):
    from zoneinfo import ZoneInfo

    from incentives.adapters.delivery import compose
    from incentives.domain.config_files import load_config_dir
    from incentives.domain.consent import new_unsubscribe_token, unsubscribe_url

    bundle = load_config_dir(ROOT / "config")
    journey = bundle.journeys["birthday"]
    profile = {"customer_id": "c1", "email": "anna@example.com", "locale": "de-AT", "timezone": "Asia/Tokyo"}
    url = unsubscribe_url("http://localhost:3000", new_unsubscribe_token())
    msg = compose(journey, "email", profile["email"], profile, message_id="msg_7", zone=ZoneInfo("Asia/Tokyo"),
                  code=CODE, campaign=bundle.campaign(journey.offer.campaign), expires_at="2027-07-15T16:00:00Z",
                  unsubscribe_url=url)
    assert msg.text == f"Alles Gute zum Geburtstag! Mit {CODE} bekommst du 15% Rabatt, gültig bis 2027-07-16."
    OutboxDelivery(str(tmp_path), bundle.messaging.from_email).send(msg)
    parsed, decoded = inline_qr((tmp_path / "msg_7.eml").read_bytes())
    assert decoded == CODE and parsed["List-Unsubscribe"] == f"<{url}>"
    assert parsed["Subject"] == "Alles Gute zum Geburtstag: 15% Rabatt für dich"
    sms = compose(journey, "sms", "+4915112345678", {**profile, "locale": "en"}, message_id="msg_8",
                  zone=ZoneInfo("Asia/Tokyo"), code=CODE, campaign=bundle.campaign("birthday-gift"),
                  expires_at="2027-07-15T16:00:00Z", unsubscribe_url=url)
    assert sms.qr_png is None and sms.unsubscribe_url is None and CODE in sms.text and "2027-07-16" in sms.text
