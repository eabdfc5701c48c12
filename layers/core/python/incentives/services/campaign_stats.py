"""Operator views of campaigns: config, effective status and the numbers (one Query per campaign, and one
BatchGetItem of its counter shards when limits.counter_shards > 1)."""
from __future__ import annotations

from datetime import datetime

from ..adapters.campaign_store import CampaignStore
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..domain.campaigns import effective_status
from ..domain.config import Campaign
from ..domain.schema import dump
from ..domain.shards import sum_counters as sum_shards
from ..domain.variants import comparison, rate, sum_counters


def variant_stats(campaign: Campaign, items: list[dict]) -> tuple[list[dict], dict]:
    """Each variant's numbers and the comparison of their redemption rates, from the campaign's items (the
    counter item, however many shards it has, and the issued shards: every ``v_<id>_<name>`` summed)."""
    totals = sum_counters(items)
    rows: list[dict] = []
    trials: list[tuple[str, int, int]] = []
    for v in campaign.variants or ():
        mine = totals.get(v.id, {})
        by_currency = [{"amount": n, "currency": k[len("discount_"):]} for k, n in sorted(mine.items())
                       if k.startswith("discount_")]
        issued, redeemed = mine.get("issued", 0), mine.get("redeemed", 0)
        trials.append((v.id, redeemed, issued))
        rows.append({"id": v.id, "weight": v.weight, "issued": issued, "redeemed": redeemed,
                     "redemption_rate": rate(redeemed, issued),
                     "discount_total": by_currency[0] if len(by_currency) == 1 else
                     {"amount": sum(d["amount"] for d in by_currency), "currency": campaign.currency},
                     "discount_by_currency": by_currency,
                     "revenue": [{"amount": n, "currency": k[len("revenue_"):]} for k, n in sorted(mine.items())
                                 if k.startswith("revenue_")]})
    return rows, comparison("redemption_rate", trials)


class CampaignViews:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.campaigns = CampaignStore(table)

    def stats(self, campaign: Campaign) -> dict:
        stored = self.campaigns.counters(campaign.id, campaign.limits.counter_shards)
        counters = stored.counters
        # every counter summed over the counter item (claims) and the K shards (domain/shards.py)
        if campaign.limits.counter_shards > 1:
            counters = sum_shards([counters, *stored.shards])
        issued = stored.issued_total
        redeemed = counters.get("redeemed", 0)
        discount_total = counters.get("discount_total", 0)
        by_currency = [{"amount": v, "currency": k[len("discount_"):]} for k, v in sorted(counters.items())
                       if k.startswith("discount_") and k != "discount_total"]
        spend_by_day = []
        for k, v in sorted(counters.items()):
            if k.startswith("spend_"):  # spend_<YYYY-MM-DD>_<CUR> (adapters/checkout_store.spend_day)
                day, _, currency = k[len("spend_"):].partition("_")
                spend_by_day.append({"date": day, "amount": v, "currency": currency})
        lim = campaign.limits
        out = {"spend_by_day": spend_by_day,
               "issued": issued, "redeemed": redeemed, "claims": counters.get("claims", 0),
               "discount_total": by_currency[0] if len(by_currency) == 1 else
               {"amount": discount_total, "currency": campaign.currency},
               "discount_by_currency": by_currency,
               "revenue": [{"amount": v, "currency": k[len("revenue_"):]} for k, v in sorted(counters.items())
                           if k.startswith("revenue_")],
               "remaining": (lim.total_redemptions - redeemed) if lim.total_redemptions is not None else None}
        if lim.budget is not None:
            out["budget_remaining"] = {"amount": lim.budget.amount - discount_total, "currency": lim.budget.currency}
        if campaign.claims is not None and campaign.claims.max_claims is not None:
            out["claims_remaining"] = campaign.claims.max_claims - out["claims"]
        out["variants"] = []  # an experiment's arms (empty without one) and, with one, their comparison
        if campaign.variants:
            out["variants"], out["comparison"] = variant_stats(campaign, stored.items())
        return out

    def view(self, campaign: Campaign, now: datetime, with_stats: bool = True) -> dict:
        out = {"id": campaign.id, "name": campaign.name, "status": effective_status(campaign, now),
               "config": dump(campaign)}
        if with_stats:
            out["stats"] = self.stats(campaign)
        return out

    def get(self, campaign_id: str, now: datetime) -> dict:
        return self.view(self.config.bundle().campaign(campaign_id), now)

    def list(self, now: datetime) -> dict:
        return {"campaigns": [self.view(c, now, with_stats=False) for c in self.config.bundle().campaigns.values()]}
