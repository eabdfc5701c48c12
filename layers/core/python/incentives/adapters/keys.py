"""Every item key of the single table, in one place (docs/data-model.md mirrors this file)."""
from __future__ import annotations


def code(code: str) -> tuple[str, str]:
    return f"CODE#{code}", "CODE"


def campaign_counters(campaign_id: str) -> tuple[str, str]:
    """Limit-enforcing counters of a campaign: redeemed, discount_total, claims (one item: one condition)."""
    return f"CAMPAIGN#{campaign_id}", "COUNTERS"


def campaign_counter_shard(campaign_id: str, shard: int) -> tuple[str, str]:
    """Shard ``shard`` of the counters when limits.counter_shards > 1 (domain/shards.py): same attributes as
    campaign_counters, each limit its share. A partition key of its own, so each shard has its own partition."""
    return f"CAMPAIGN#{campaign_id}#SHARD#{shard:02d}", "COUNTERS"


def code_count_shard(code: str, shard: int) -> tuple[str, str]:
    """Shard ``shard`` of a public code's redemption count when its campaign has counter_shards > 1 (the code item
    itself then keeps its status and is not written by redemptions)."""
    return f"CODE#{code}#SHARD#{shard:02d}", "SHARD"


def campaign_issued_shard(campaign_id: str, shard: int) -> tuple[str, str]:
    """Issued-code counts, sharded so parallel bulk writers never contend on one item."""
    return f"CAMPAIGN#{campaign_id}", f"ISSUED#{shard:02d}"


def campaign_prefix(campaign_id: str) -> str:
    return f"CAMPAIGN#{campaign_id}"


def customer_usage(campaign_id: str, customer_id: str) -> tuple[str, str]:
    return f"CAMPAIGN#{campaign_id}#CUSTOMER#{customer_id}", "USAGE"


def redemption(redemption_id: str) -> tuple[str, str]:
    return f"REDEMPTION#{redemption_id}", "REDEMPTION"


def claim(campaign_id: str, email_hash: str) -> tuple[str, str]:
    return f"CLAIM#{campaign_id}#{email_hash}", "CLAIM"


def idempotency(scope: str, key: str) -> tuple[str, str]:
    return f"IDEMPOTENCY#{scope}#{key}", "IDEMPOTENCY"


def rate_window(scope: str, window: int) -> tuple[str, str]:
    return f"RATE#{scope}#{window}", "RATE"


def job(job_id: str) -> tuple[str, str]:
    return f"JOB#{job_id}", "JOB"


def job_chunk(job_id: str, chunk: int) -> tuple[str, str]:
    return f"JOB#{job_id}", f"CHUNK#{chunk:08d}"


def job_progress(job_id: str, shard: int) -> tuple[str, str]:
    return f"JOB#{job_id}", f"PROGRESS#{shard:02d}"


CAMPAIGN_STATUS_PK = "CAMPAIGNS"


def campaign_status(campaign_id: str) -> tuple[str, str]:
    """The last status the activation job recorded; all in one partition so the job reads them in one Query."""
    return CAMPAIGN_STATUS_PK, f"STATUS#{campaign_id}"


PROGRAMS_PK = "PROGRAMS"


def program_registry(kind: str, program_id: str) -> tuple[str, str]:
    """A referral or loyalty program ever configured (``kind``: REFERRAL | LOYALTY), recorded by the activation
    job, so erasure finds the data of programs since removed from config (one Query of the partition)."""
    return PROGRAMS_PK, f"{kind}#{program_id}"


def customer_gsi(customer_id: str) -> str:
    return f"CUSTOMER#{customer_id}"


def customer_profile(customer_id: str) -> tuple[str, str]:
    return f"CUSTOMER#{customer_id}", "PROFILE"


CONSENT_PREFIX = "CONSENT#"


def consent_statement(customer_id: str, at: str, channel: str, statement_id: str) -> tuple[str, str]:
    """One statement of the consent ledger (domain/consent.py), under the customer's profile partition, sorted by
    time: a Query of sk begins_with CONSENT# reads the whole ledger. Written in the transaction of the profile
    update the statement causes; ``statement_id`` is the event id (or the one-click unsubscribe's own id)."""
    return customer_profile(customer_id)[0], f"{CONSENT_PREFIX}{at}#{channel}#{statement_id}"


def unsubscribe(token_hash: str) -> tuple[str, str]:
    return f"UNSUB#{token_hash}", "UNSUB"


EVENT_PREFIX = "EVENT#"


def event(event_id: str) -> tuple[str, str]:
    """One item per ingested event id: its conditional put makes a repeated id change nothing. New ones reach
    the fan-out through the table's stream (incentives/subscriptions.py filters on this prefix)."""
    return f"{EVENT_PREFIX}{event_id}", "EVENT"


WHOLE_EVENT = "CONSUMED"


def quarantined(where: str, record: str) -> tuple[str, str]:
    """An unreadable event record set aside by the fan-out or a consumer (``where``), by its stream sequence
    number and event id or its event id alone (a repeat of it writes the same item): services/quarantine.py.
    Read by an operator (a Query on the partition) to redrive or drop it."""
    return f"QUARANTINE#{where}", record


def consumed(consumer: str, event_id: str, effect: str = WHOLE_EVENT) -> tuple[str, str]:
    """Marks that a consumer applied a customer event (or one ``effect`` of it, e.g. ``REDEMPTION#<id>``): put
    with attribute_not_exists in the effect's own transaction, so a repeated delivery applies nothing."""
    return f"CONSUMED#{consumer}#{event_id}", effect


# --- code export (services/code_export.py, docs/data-model.md "Code export") ------------------------------------
# Every unique code is filed in gsi2 under its campaign, spread over CODE_SHARDS partitions by a hash of the code
# (a bulk job writes thousands of codes a second into one campaign: one partition would throttle the index).
# gsi2sk is ``JOB#<job id>#<code>`` for a bulk job's codes and ``CODE#<code>`` for the others, so one job's codes
# are a key range (begins_with) of each shard.

CODE_SHARDS = 16  # may be raised only with a backfill: the export reads shards 0..CODE_SHARDS-1


def code_shard(code: str) -> int:
    """A stable shard of a code (not Python's salted hash()): the first 4 bytes of its SHA-256."""
    import hashlib

    return int.from_bytes(hashlib.sha256(code.encode("utf-8")).digest()[:4], "big") % CODE_SHARDS


def campaign_codes_gsi(campaign_id: str, shard: int) -> str:
    return f"CAMPAIGN#{campaign_id}#CODES#{shard:02d}"


def campaign_codes_sort(code: str, job_id: str | None = None) -> str:
    return f"JOB#{job_id}#{code}" if job_id else f"CODE#{code}"


def job_codes_prefix(job_id: str) -> str:
    return f"JOB#{job_id}#"


def cursor_key() -> tuple[str, str]:
    """The random key that signs the export's cursors (made on first use, like a code space's key)."""
    return "CURSORKEY", "STATE"


def holder_gsi(holder: str) -> str:
    """gsi1 partition of the codes bound to one holder (``id:<customer id>`` or ``email:<sha256>``)."""
    return f"HOLDER#{holder}"


def erasure(anonymised_id: str) -> tuple[str, str]:
    """The record of one finished (or running) erasure: counts and times, keyed by the random anonymised id.
    It holds neither the original customer id nor an e-mail."""
    return f"ERASURE#{anonymised_id}", "ERASURE"


def erasure_marker(customer_id: str) -> tuple[str, str]:
    """Exists only while an erasure of this customer is unfinished: the anonymised id (and e-mail hash) a
    retried DELETE must reuse. Deleted as the erasure's last write."""
    return f"CUSTOMER#{customer_id}", "ERASING"


# --- referral programs (docs/data-model.md "Referrals") -------------------------------------------------------

def referral_program(program_id: str) -> tuple[str, str]:
    """A program's counters (referrers, referrals, conversions, costs, revenue): the metrics read one item."""
    return f"REFPROGRAM#{program_id}", "COUNTERS"


def referrer(program_id: str, customer_id: str) -> tuple[str, str]:
    """A referrer's code and counters; its put (attribute_not_exists) makes enrolment happen once."""
    return f"REFERRER#{program_id}#{customer_id}", "REFERRER"


def referral_code(program_id: str, code: str) -> tuple[str, str]:
    """Referral code -> referrer (and the referrer's e-mail and signal hashes for the self-referral check)."""
    return f"REFCODE#{program_id}#{code}", "REFCODE"


def referee(program_id: str, customer_id: str) -> tuple[str, str]:
    """Attribution lock: one referral per referee and program (attribute_not_exists)."""
    return f"REFEREE#{program_id}#{customer_id}", "REFEREE"


def referee_mailbox(program_id: str, mailbox_hash: str) -> tuple[str, str]:
    """Attribution lock by the referee's normalised e-mail hash: one referral per mailbox and program."""
    return f"REFEMAIL#{program_id}#{mailbox_hash}", "REFEMAIL"


def referral(referral_id: str) -> tuple[str, str]:
    return f"REFERRAL#{referral_id}", "REFERRAL"


def referral_due(program_id: str, release_at: str, referral_id: str) -> tuple[str, str]:
    """A converted referral whose reward waits for its return window: the job queries sk <= now."""
    return f"REFDUE#{program_id}", f"{release_at}#{referral_id}"


def referral_held(program_id: str, referral_id: str) -> tuple[str, str]:
    """A conversion held for review: operators list the partition."""
    return f"REFHELD#{program_id}", referral_id


def referral_payout(referral_id: str) -> tuple[str, str]:
    """Cash credit owed to an affiliate for one conversion."""
    return f"PAYOUT#{referral_id}", "PAYOUT"


def referral_signal(program_id: str, kind: str, value_hash: str, day: str) -> tuple[str, str]:
    """Referrals per hashed IP address or device and day (fraud signal, not a hard limit)."""
    return f"REFSIGNAL#{program_id}#{kind}#{value_hash}", day


def referrals_gsi(program_id: str, referrer_id: str) -> str:
    """gsi1 partition of a referrer's referrals (their rewards list, erasure)."""
    return f"REFERRALS#{program_id}#{referrer_id}"


def leaderboard_gsi(program_id: str) -> str:
    """gsi1 partition of a program's referrers with at least one conversion, sorted by the count."""
    return f"LEADERBOARD#{program_id}"


def payouts_gsi(program_id: str, status: str) -> str:
    return f"PAYOUTS#{program_id}#{status}"


# ---- loyalty (services/loyalty*.py, docs/data-model.md "Loyalty") ----------------------------------------------
# The member item is found by customer id; the member's lots, ledger and balance live under a random member id
# (no customer id in their keys), so erasure moves one item and leaves the ledger as it is.

def loyalty_member(program_id: str, customer_id: str) -> tuple[str, str]:
    """Tier, lifetime points, tier window, caps, milestones, debt; holds the random member id."""
    return f"LOYALTY#{program_id}#CUSTOMER#{customer_id}", "MEMBER"


def loyalty_ledger(member_id: str) -> str:
    """The partition of one member's balance, lots and ledger entries."""
    return f"LOYALTY#MEMBER#{member_id}"


def loyalty_balance(member_id: str) -> tuple[str, str]:
    return loyalty_ledger(member_id), "BALANCE"


def loyalty_lot(member_id: str, expires_at: str, lot_id: str) -> tuple[str, str]:
    """Sorted by expiry: a Query from LOT#<now> reads the unexpired lots, earliest-expiring first."""
    return loyalty_ledger(member_id), f"LOT#{expires_at}#{lot_id}"


def loyalty_entry(member_id: str, created_at: str, entry_id: str) -> tuple[str, str]:
    return loyalty_ledger(member_id), f"TX#{created_at}#{entry_id}"


def loyalty_order(program_id: str, order_id: str) -> tuple[str, str]:
    """What an order earned and how much of it was refunded (one per program and order id)."""
    return f"LOYALTY#{program_id}#ORDER#{order_id}", "ORDER"


def loyalty_lots_due(phase: str, program_id: str, shard: int) -> str:
    """gsi1 partition of the lots waiting for their expiry warning (phase WARN, gsi1sk = warn_at#...) or their
    expiry (phase EXPIRE, gsi1sk = expires_at#...): the job queries gsi1sk < now, so it reads only due lots."""
    return f"LOYALTY#{program_id}#{phase}#{shard:02d}"


def loyalty_tier_review(program_id: str, shard: int) -> str:
    """gsi1 partition of members above the lowest tier, gsi1sk = <review_at>#<member id>."""
    return f"LOYALTY#{program_id}#TIERREVIEW#{shard:02d}"


# ---- journeys (sending side) -------------------------------------------------------------------------------
# (the unsubscribe token's key is `unsubscribe` above, next to the consent ledger)


def journey_due(journey_id: str, bucket: str) -> str:
    """Due-date index partition: the customers whose send_at of a journey falls in UTC hour ``bucket``
    (2027-06-15T01); sk = customer id. A job run queries the buckets of its window only."""
    return f"JDUE#{journey_id}#{bucket}"


def message(customer_id: str, journey_id: str, occurrence: str) -> tuple[str, str]:
    """A journey's message record: exactly one per customer, journey and occurrence (attribute_not_exists)."""
    return f"MSG#{customer_id}", f"{journey_id}#{occurrence}"


def journey_pending(journey_id: str) -> str:
    """Messages committed but not yet handed to the provider (a retryable failure): sk = <customer>#<occurrence>.
    The next run of the journey's job delivers them again with the same code."""
    return f"JPEND#{journey_id}"


def frequency(customer_id: str) -> tuple[str, str]:
    """The customer's recent send instants across all journeys (the frequency cap), under a version."""
    return f"FREQ#{customer_id}", "FREQ"


def job_lease(job: str) -> tuple[str, str]:
    """Held by the run of a job that may not overlap another run of it (conditional put with an expiry)."""
    return f"JOBLEASE#{job}", "LEASE"


# --- retention metrics (services/retention.py) ----------------------------------------------------------------

def retention_order(order_id: str) -> tuple[str, str]:
    """An order as the metrics consumer knows it: amount, currency, customer, UTC day, refunded so far, version."""
    return f"RORDER#{order_id}", "RORDER"


def retention_day(day: str) -> str:
    """The partition of the orders paid on one UTC day (``YYYY-MM-DD``), sk ``<customer id>#<order id>``."""
    return f"RDAY#{day}"


def retention_day_order(day: str, customer_id: str, order_id: str) -> tuple[str, str]:
    return retention_day(day), f"{customer_id}#{order_id}"
