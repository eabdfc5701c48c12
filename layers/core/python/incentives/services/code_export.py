"""The code export (GET /v1/campaigns/{campaign_id}/codes): a campaign's issued unique codes, a page at a time,
as JSON or CSV. Reads gsi2 only (adapters/code_export_store.py): the cost of a page grows with the page, never
with the table.

The cursor is opaque and signed: base64url of a small JSON position (campaign, job filter, shard, last sort key)
and an HMAC-SHA256 of it with a random key kept in the table. A cursor that does not verify, or that names
another campaign or another job filter, is 422 invalid_request: the engine only follows positions it handed out.
"""
from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import io
import json
from dataclasses import dataclass
from datetime import datetime

from ..adapters.code_export_store import CodeExportStore, Position
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..domain import errors
from ..domain.checkout import CODE_ACTIVE, CODE_DISABLED
from ..domain.clock import iso
from ..domain.text import ascii_int

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
FORMATS = ("json", "csv")
CSV_HEADER = ["code", "status", "customer_id", "customer_email_hash", "expires_at", "redemptions"]
_MAC_BYTES = 16


def _bad_cursor() -> errors.IncentiveError:
    return errors.InvalidRequest("cursor is not one this API returned", {"field": "cursor"})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(key: bytes, campaign_id: str, job_id: str | None, at: Position) -> str:
    payload = json.dumps({"c": campaign_id, "j": job_id, "s": at.shard, "k": at.after}, separators=(",", ":"),
                         sort_keys=True).encode("utf-8")
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return f"{_b64(payload)}.{_b64(mac)}"


def decode_cursor(key: bytes, cursor: str, campaign_id: str, job_id: str | None) -> Position:
    """The position a cursor names, or 422 for anything the engine did not hand out for this listing."""
    if not isinstance(cursor, str) or len(cursor) > 1024 or cursor.count(".") != 1:
        raise _bad_cursor()
    body, mac = cursor.split(".")
    try:
        payload, given = _unb64(body), _unb64(mac)
    except (ValueError, binascii.Error):
        raise _bad_cursor() from None
    if not hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES], given):
        raise _bad_cursor()
    try:
        data = json.loads(payload)
    except ValueError:
        raise _bad_cursor() from None
    # signed by us, so well formed; still checked: it must be a cursor of this very listing
    if not isinstance(data, dict) or data.get("c") != campaign_id or data.get("j") != job_id:
        raise _bad_cursor()
    shard, after = data.get("s"), data.get("k")
    if not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < CodeExportStore.SHARDS:
        raise _bad_cursor()
    if after is not None:
        if not isinstance(after, str) or not CodeExportStore.sort_key_of_listing(job_id, after):
            raise _bad_cursor()
    return Position(shard, after)


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    limit = ascii_int(raw, 1, MAX_LIMIT)
    if limit is None:
        raise errors.InvalidRequest(f"limit must be an integer from 1 to {MAX_LIMIT}", {"field": "limit"})
    return limit


def parse_format(raw: str | None) -> str:
    fmt = raw or "json"
    if fmt not in FORMATS:
        raise errors.InvalidRequest("format must be json or csv", {"field": "format"})
    return fmt


def _status(item: dict, per_code: int | None, now: str) -> str:
    """As GET /v1/codes/{code} tells it: disabled, expired, redeemed (used up) or active."""
    if item.get("status") == CODE_DISABLED:
        return "disabled"
    expires_at = item.get("expires_at")
    if expires_at is not None and expires_at <= now:
        return "expired"
    if per_code is not None and int(item.get("redemptions") or 0) >= per_code:
        return "redeemed"
    return CODE_ACTIVE


def _customer(holder: str | None) -> dict | None:
    """Whom a code is bound to: the customer id, or the SHA-256 of the e-mail (the address is never stored)."""
    if not holder:
        return None
    kind, _, value = holder.partition(":")
    return {"id": value} if kind == "id" else {"email_hash": value}


@dataclass(frozen=True)
class ExportPage:
    codes: list[dict]
    next_cursor: str | None

    @property
    def body(self) -> dict:
        return {"codes": self.codes, "next_cursor": self.next_cursor}

    def csv(self) -> str:
        """The same page as RFC 4180 CSV with a header row (the cursor travels in X-Next-Cursor)."""
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(CSV_HEADER)
        for c in self.codes:
            w.writerow(csv_row(c))
        return out.getvalue()


def csv_row(code: dict) -> list:
    """One code of the export (as ``CodeExport.page`` shows it) as a CSV_HEADER row."""
    customer = code.get("customer") or {}
    return [code["code"], code["status"], customer.get("id", ""), customer.get("email_hash", ""),
            code["expires_at"] or "", code["redemptions"]]


def export_view(item: dict, per_code: int | None, now_iso: str) -> dict:
    """A gsi2 code item as the export shows it."""
    row = {"code": item["code"], "status": _status(item, per_code, now_iso), "expires_at": item.get("expires_at"),
           "redemptions": int(item.get("redemptions") or 0)}
    customer = _customer(item.get("holder"))
    if customer:
        row["customer"] = customer
    return row


class CodeExport:
    def __init__(self, table: Table, config: ConfigSource):
        self.config = config
        self.store = CodeExportStore(table)

    def page(self, campaign_id: str, limit: int, cursor: str | None, job_id: str | None,
             now: datetime) -> ExportPage:
        campaign = self.config.bundle().campaign(campaign_id)  # campaign_not_found
        if job_id is not None and (not 1 <= len(job_id) <= 64 or "#" in job_id):
            raise errors.InvalidRequest("job_id is not a job id", {"field": "job_id"})
        key = self.store.signing_key()
        start = decode_cursor(key, cursor, campaign_id, job_id) if cursor else Position(0)
        items, following = self.store.page(campaign_id, job_id, start, limit)
        per_code, at = campaign.limits.per_code, iso(now)
        codes = [export_view(i, per_code, at) for i in items]
        next_cursor = encode_cursor(key, campaign_id, job_id, following) if following else None
        return ExportPage(codes, next_cursor)
