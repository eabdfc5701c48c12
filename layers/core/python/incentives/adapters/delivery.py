"""Delivery of journey messages behind one port: Amazon SES (e-mail, raw MIME), Amazon SNS (SMS), an EventBridge
`message.requested` event for an external ESP, and locally an outbox of .eml and .json files.

Nothing heavy at import time: botocore and segno are imported when a message is first sent, so a function that
only imports this module (or never sends) pays nothing for them.

Every implementation answers a DeliveryResult instead of raising for the provider's answer: `sent` (with the
provider's id), `retry` (throttling, 5xx, timeouts: send the same message again later, without issuing a second
code) or `failed` (rejected, invalid address: record it, do not retry). `error` holds the provider's error code
only, never its message, which may repeat the address (no PII in logs or records).
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..subscriptions import ENGINE as SOURCE

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from ..domain.config import Campaign
    from ..domain.journeys import Journey

MESSAGE_REQUESTED = "message.requested"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Error codes worth another try: throttling, quotas that refill, the provider's own trouble.
# Header lines up to RFC 5322's hard limit of 998 characters: a List-Unsubscribe URL is longer than the
# recommended 78, and folding it before the URL leaves some parsers a value with a leading space.
WIRE = SMTP.clone(max_line_length=998)
RETRY_CODES = frozenset({
    "Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalError",
    "InternalErrorException", "InternalServerError", "InternalServerErrorException", "RequestTimeout",
    "RequestTimeoutException", "SendingPausedException", "KMSThrottlingException", "ThrottledException",
})


@dataclass(frozen=True)
class Message:
    """One message to one recipient. `to`: an e-mail address (email), an E.164 phone number (sms), or whatever
    the external ESP needs (event; may be empty when `meta` names the customer)."""

    message_id: str
    channel: Literal["email", "sms", "event"]
    to: str
    subject: str = ""
    text: str = ""
    html: str | None = None  # None: made from `text` (and the QR code, when there is one)
    code: str | None = None
    qr_png: bytes | None = None  # the code as a QR code; e-mail carries it inline (Content-ID qr_content_id)
    unsubscribe_url: str | None = None
    meta: dict = field(default_factory=dict)  # journey_id, customer_id, locale ...: carried by the event channel

    @property
    def qr_content_id(self) -> str:
        """The Content-ID of the inline QR image (without <>); HTML refers to it as src="cid:<this>"."""
        return f"qr-{self.message_id}@incentives"


@dataclass(frozen=True)
class DeliveryResult:
    status: Literal["sent", "retry", "failed"]
    provider_id: str | None = None
    error: str | None = None


class Delivery(Protocol):
    def send(self, message: Message) -> DeliveryResult: ...


def qr_png(data: str, scale: int = 6) -> bytes:
    """`data` as a QR code PNG (error correction M, the standard 4-module quiet zone)."""
    import io

    import segno  # pure Python, only in the sending path

    buf = io.BytesIO()
    segno.make(data, error="m", micro=False).save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def qr_svg(data: str, scale: int = 6) -> str:
    """`data` as a QR code SVG document (error correction M, 4-module quiet zone), for the landing page."""
    import io

    import segno

    buf = io.BytesIO()
    segno.make(data, error="m", micro=False).save(buf, kind="svg", scale=scale, border=4, xmldecl=False,
                                                  svgclass=None, lineclass=None)
    return buf.getvalue().decode("utf-8")


def compose(journey: Journey, channel: Literal["email", "sms", "event"], address: str, profile: dict, *,
            message_id: str, zone: ZoneInfo,
            code: str | None = None, campaign: Campaign | None = None, expires_at: datetime | str | None = None,
            unsubscribe_url: str | None = None, points: int | None = None) -> Message:
    """The message a journey sends one customer: text by their locale, the code as text and (e-mail, event) as a
    QR code, {expires_on} in their zone (`expires_at`: the code's expiry; for points_expiring the points'), the
    unsubscribe link (e-mail, event)."""
    from ..domain.journeys import discount_text, expires_on, render

    rendered = render(journey.message, profile.get("locale"), code=code,
                      discount=discount_text(campaign) if campaign is not None else None,
                      expires_on=expires_on(expires_at, zone), first_name=profile.get("first_name"), points=points)
    return Message(message_id=message_id, channel=channel, to=address, subject=rendered.subject,
                   text=rendered.text, code=code,
                   qr_png=qr_png(code) if code and channel != "sms" else None,
                   unsubscribe_url=unsubscribe_url if channel != "sms" else None,
                   meta={"journey_id": journey.id, "customer_id": profile.get("customer_id"),
                         "locale": rendered.locale})


# ---- MIME --------------------------------------------------------------------------------------------------

def html_body(message: Message) -> str:
    """A plain HTML version of the text: paragraphs, the QR code (inline, by Content-ID) and the unsubscribe
    link."""
    paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
                         for p in message.text.split("\n\n") if p.strip())
    qr = ""
    if message.qr_png is not None:
        alt = html.escape(f"QR code: {message.code}" if message.code else "QR code", quote=True)
        qr = f'<p><img src="cid:{message.qr_content_id}" alt="{alt}" width="200" height="200"></p>'
    unsubscribe = ""
    if message.unsubscribe_url:
        unsubscribe = f'<p style="font-size:small"><a href="{html.escape(message.unsubscribe_url, quote=True)}">' \
                      "Unsubscribe</a></p>"
    return f'<!DOCTYPE html><html><body>{paragraphs}{qr}{unsubscribe}</body></html>'


def mime_bytes(message: Message, from_email: str, now: datetime | None = None) -> bytes:
    """The message as sent (CRLF line ends, headers unfolded up to 998 characters)."""
    return mime(message, from_email, now).as_bytes(policy=WIRE)


def mime(message: Message, from_email: str, now: datetime | None = None) -> EmailMessage:
    """RFC 5322 message: multipart/alternative of text/plain and text/html; with a QR code the HTML part is a
    multipart/related holding the PNG inline under its Content-ID. One-click unsubscribe headers (RFC 8058)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = from_email
    msg["To"] = message.to
    msg["Subject"] = message.subject
    msg["Message-ID"] = f"<{message.message_id}@incentives>"
    if now is not None:
        msg["Date"] = format_datetime(now)
    if message.unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(message.text, subtype="plain", charset="utf-8")
    msg.add_alternative(message.html if message.html is not None else html_body(message), subtype="html",
                        charset="utf-8")
    if message.qr_png is not None:
        html_part = next(p for p in msg.iter_parts() if p.get_content_type() == "text/html")
        html_part.add_related(message.qr_png, maintype="image", subtype="png", cid=f"<{message.qr_content_id}>",
                              disposition="inline", filename="code.png")
    for part in msg.walk():  # the parts made by add_alternative/add_related each carry one; only the top needs it
        if part is not msg:
            del part["MIME-Version"]
    return msg


# ---- error classification ----------------------------------------------------------------------------------

def classify(error: BaseException) -> DeliveryResult:
    """A provider exception as a result: retry for throttling, 5xx and connection trouble; failed otherwise."""
    from botocore.exceptions import ClientError, HTTPClientError, ReadTimeoutError
    from botocore.exceptions import ConnectionError as BotocoreConnectionError

    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in RETRY_CODES or status >= 500:
            return DeliveryResult("retry", error=code or str(status))
        return DeliveryResult("failed", error=code or str(status))
    if isinstance(error, (BotocoreConnectionError, HTTPClientError, ReadTimeoutError)):
        return DeliveryResult("retry", error=type(error).__name__)
    raise error


def _client(service: str, region: str | None) -> Any:
    import botocore.session

    return botocore.session.get_session().create_client(service, region_name=region)


# ---- implementations ---------------------------------------------------------------------------------------

class SesDelivery:
    """E-mail through SES v2 SendEmail with raw content (the MIME above), in a configuration set (event
    publishing: bounces, complaints, deliveries)."""

    def __init__(self, from_email: str, configuration_set: str | None = None, *, client: Any = None,
                 region: str | None = None, clock: Any = None):
        self.from_email, self.configuration_set = from_email, configuration_set
        self._client, self._region, self._clock = client, region, clock

    def send(self, message: Message) -> DeliveryResult:
        if message.channel != "email":
            return DeliveryResult("failed", error="wrong_channel")
        if self._client is None:
            self._client = _client("sesv2", self._region)
        raw = mime_bytes(message, self.from_email, self._clock() if self._clock else None)
        params: dict = {"FromEmailAddress": self.from_email, "Destination": {"ToAddresses": [message.to]},
                        "Content": {"Raw": {"Data": raw}}}
        if self.configuration_set:
            params["ConfigurationSetName"] = self.configuration_set
        try:
            r = self._client.send_email(**params)
        except Exception as e:  # noqa: BLE001 - classify() re-raises what is not a provider error
            return classify(e)
        return DeliveryResult("sent", provider_id=r.get("MessageId"))


class SnsSmsDelivery:
    """SMS through SNS Publish to an E.164 number, transactional (delivered even to numbers that opted out of
    promotional messages' priority routes; SNS still honours opt-outs)."""

    def __init__(self, sender_id: str | None = None, *, client: Any = None, region: str | None = None):
        self.sender_id, self._client, self._region = sender_id, client, region

    def send(self, message: Message) -> DeliveryResult:
        if message.channel != "sms":
            return DeliveryResult("failed", error="wrong_channel")
        if not E164.fullmatch(message.to):
            return DeliveryResult("failed", error="invalid_phone")
        if self._client is None:
            self._client = _client("sns", self._region)
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if self.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self.sender_id}
        try:
            r = self._client.publish(PhoneNumber=message.to, Message=sms_text(message), MessageAttributes=attributes)
        except Exception as e:  # noqa: BLE001
            return classify(e)
        return DeliveryResult("sent", provider_id=r.get("MessageId"))


def sms_text(message: Message) -> str:
    """The SMS body: the text, which always carries the code (journeys.render makes sure of it)."""
    if message.code and message.code not in message.text:
        return f"{message.text} {message.code}".strip()
    return message.text


def event_detail(message: Message) -> dict:
    """The `message.requested` detail an external ESP receives: everything it needs to send the message itself
    (the QR code as base64 PNG)."""
    detail = {"message_id": message.message_id, "channel": message.channel, "to": message.to,
              "subject": message.subject, "text": message.text, "html": message.html,
              "code": message.code, "unsubscribe_url": message.unsubscribe_url, **message.meta}
    if message.qr_png is not None:
        detail["qr_png_base64"] = base64.b64encode(message.qr_png).decode("ascii")
    return {k: v for k, v in detail.items() if v is not None}


class EventBridgeDelivery:
    """Publishes `message.requested` on the engine's bus (source incentives.engine) for an external ESP."""

    def __init__(self, bus_name: str, *, client: Any = None, region: str | None = None, clock: Any = None):
        self.bus_name, self._client, self._region, self._clock = bus_name, client, region, clock

    def send(self, message: Message) -> DeliveryResult:
        if self._client is None:
            self._client = _client("events", self._region)
        entry = {"Source": SOURCE, "DetailType": MESSAGE_REQUESTED, "Detail": json.dumps(event_detail(message)),
                 "EventBusName": self.bus_name}
        if self._clock is not None:
            entry["Time"] = self._clock()
        try:
            r = self._client.put_events(Entries=[entry])
        except Exception as e:  # noqa: BLE001
            return classify(e)
        (result,) = r["Entries"]
        code = result.get("ErrorCode")
        if code:
            return DeliveryResult("retry" if code in RETRY_CODES else "failed", error=code)
        return DeliveryResult("sent", provider_id=result.get("EventId"))


class OutboxDelivery:
    """Local run: every e-mail as an RFC 5322 <message_id>.eml, every SMS and event as <message_id>.json, under
    `directory` (the local run passes $INCENTIVES_DATA_DIR/outbox/messages). Files appear whole (write, then
    rename), so a reader never sees half a message."""

    def __init__(self, directory: str, from_email: str, *, clock: Any = None):
        self.directory, self.from_email, self._clock = directory, from_email, clock

    def send(self, message: Message) -> DeliveryResult:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", message.message_id):
            return DeliveryResult("failed", error="invalid_message_id")
        os.makedirs(self.directory, exist_ok=True)
        now = self._clock() if self._clock else None
        if message.channel == "email":
            name, data = f"{message.message_id}.eml", mime_bytes(message, self.from_email, now)
        else:
            if message.channel == "sms" and not E164.fullmatch(message.to):
                return DeliveryResult("failed", error="invalid_phone")
            body = ({"channel": "sms", "message_id": message.message_id, "to": message.to,
                     "text": sms_text(message), **message.meta} if message.channel == "sms"
                    else {"source": SOURCE, "detail-type": MESSAGE_REQUESTED, "detail": event_detail(message)})
            if now is not None:
                body["time"] = now.isoformat()
            name, data = f"{message.message_id}.json", json.dumps(body, indent=2, ensure_ascii=False).encode()
        path = os.path.join(self.directory, name)
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return DeliveryResult("sent", provider_id=path)
