"""Operators function: campaigns and their numbers, code issuance, jobs, customer erasure and consent, health."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives import wiring
from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain import errors
from incentives.domain.customers import valid_email
from incentives.domain.schema import dump
from incentives.http.api import Api, Request, Response, parse_time
from incentives.http.function import Observability
from incentives.http.routes import RUNNABLE_JOBS
from incentives.http.schemas import IssueCodesIn, RunJobIn
from incentives.services.campaign_stats import CampaignViews
from incentives.services.consents import Consents
from incentives.services.erasure import Erasure
from incentives.services.issuance import Issuance
from incentives.settings import check, get_settings

check("operators")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("operators")
logger, metrics = obs.logger, obs.metrics
api = Api("operators", logger)


class _Deps:
    table = Table()
    config = default_source()
    issuance = Issuance(table, config)
    views = CampaignViews(table, config)
    erasure = Erasure(table, config)
    consents = Consents(table)
    jobs = wiring.dispatcher()


@api.route("health")
def health(req: Request) -> Response:
    campaigns = len(_Deps.config.bundle().campaigns)
    _Deps.table.get("HEALTH", "HEALTH")  # the table answers
    return Response(200, {"status": "ok", "campaigns": campaigns})


@api.route("list_campaigns")
def list_campaigns(req: Request) -> Response:
    return Response(200, _Deps.views.list(req.now()))


@api.route("get_campaign")
def get_campaign(req: Request) -> Response:
    return Response(200, _Deps.views.get(req.path_params["campaign_id"], req.now()))


@api.route("issue_codes")
def issue_codes(req: Request) -> Response:
    body = req.parse(IssueCodesIn)
    customer = dump(body.customer) if body.customer else None
    if customer and customer.get("email") and not valid_email(customer["email"]):
        raise errors.InvalidRequest("customer.email is not a valid e-mail address", {"field": "customer.email"})
    if body.expires_at is not None:
        parse_time(body.expires_at, "expires_at")
    out = _Deps.issuance.issue(req.path_params["campaign_id"], body.count, customer, body.expires_at, req.now())
    if out.job is not None:
        _Deps.jobs.start("bulk-codes", {"job_id": out.job["job_id"]})
        metrics.add_metric("BulkJobStarted", MetricUnit.Count, 1)
        return Response(202, out.body)
    metrics.add_metric("CodesIssued", MetricUnit.Count, len(out.codes or []))  # set when no job
    return Response(201, out.body)


@api.route("get_job")
def get_job(req: Request) -> Response:
    return Response(200, _Deps.issuance.get_job(req.path_params["job"]))


@api.route("run_job")
def run_job(req: Request) -> Response:
    name = req.path_params["job"]
    if name not in RUNNABLE_JOBS:
        raise errors.NotFound(f"no runnable job {name}", {"jobs": list(RUNNABLE_JOBS)})
    body = req.parse(RunJobIn)
    if body.now and not get_settings().jobs_allow_now:
        raise errors.JobNowNotAllowed(details={"field": "now"})
    now = parse_time(body.now, "now") if body.now else req.now()
    result = _Deps.jobs.run(name, {"now": now.isoformat(), "job": name})
    if isinstance(result, dict) and result.get("status") == "busy":  # another run holds the job (journeys)
        raise errors.JobRunning(details={"job": name})
    return Response(200, {"job": name, "result": result})


@api.route("erase_customer")
def erase_customer(req: Request) -> Response:
    """GDPR erasure. No Idempotency-Key: a repeated DELETE finishes an unfinished erasure or changes nothing.
    Logs counts only: never the e-mail, and the customer id only where API Gateway has it (the path)."""
    customer_id = req.path_params["customer_id"]
    if not 1 <= len(customer_id) <= 128:
        raise errors.InvalidRequest("customer_id must be 1-128 characters", {"field": "customer_id"})
    out = _Deps.erasure.erase(customer_id, req.now())
    logger.info("customer erasure", extra={"erasure_status": out["status"],
                                           **{f"erased_{k}": n for k, n in out["erased"].items()}})
    if out["status"] == "erased" and any(out["erased"].values()):
        metrics.add_metric("CustomersErased", MetricUnit.Count, 1)
    return Response(200 if out["status"] == "erased" else 202, {"customer_id": customer_id, **out})


@api.route("erase_by_email")
def erase_by_email(req: Request) -> Response:
    """GDPR erasure of a person known only by e-mail. Logs counts only, never the address."""
    email = (req.query.get("email") or "").strip()
    if not valid_email(email):
        raise errors.InvalidRequest("email must be a valid e-mail address", {"field": "email"})
    out = _Deps.erasure.erase_email(email, req.now())
    logger.info("e-mail erasure", extra={"erasure_status": out["status"],
                                         **{f"erased_{k}": n for k, n in out["erased"].items()}})
    if out["status"] == "erased" and any(out["erased"].values()):
        metrics.add_metric("EmailsErased", MetricUnit.Count, 1)
    return Response(200 if out["status"] == "erased" else 202, out)


# ---- GET /v1/openapi.json (public): this API's OpenAPI 3.1 document -----------------------------------------

@cache
def _openapi_document() -> dict:
    from incentives.http.openapi import document  # loaded by this route only: no cost to any other cold start

    return document()


@api.route("openapi")
def openapi(req: Request) -> Response:
    from incentives.http.openapi import served

    return Response(200, served(_openapi_document(), req.event.get("requestContext")),
                    {"Cache-Control": "public, max-age=300"})


# --- consent (journeys: services/consents.py) ---------------------------------------------------------------

@api.route("get_consents")
def get_consents(req: Request) -> Response:
    """The current consent per stated channel and every statement with its proof (time, source, text)."""
    customer_id = req.path_params["customer_id"]
    if not 1 <= len(customer_id) <= 128:
        raise errors.InvalidRequest("customer_id must be 1-128 characters", {"field": "customer_id"})
    return Response(200, _Deps.consents.view(customer_id))


# --- journeys: a customer's messages ------------------------------------------------------------------------

@api.route("list_customer_messages")
def list_customer_messages(req: Request) -> Response:
    from incentives.services.journeys import list_messages

    customer_id = req.path_params["customer_id"]
    if not 1 <= len(customer_id) <= 128:
        raise errors.InvalidRequest("customer_id must be 1-128 characters", {"field": "customer_id"})
    return Response(200, list_messages(_Deps.table, customer_id))


# ---- code export: GET /v1/campaigns/{campaign_id}/codes?limit=&cursor=&format=&job_id= ------------------------

_exporter = None


def _export():
    global _exporter
    if _exporter is None:
        from incentives.services.code_export import CodeExport

        _exporter = CodeExport(_Deps.table, _Deps.config)
    return _exporter


@api.route("export_codes")
def export_codes(req: Request) -> Response:
    """A page of the campaign's issued codes, as JSON or (format=csv) CSV with the cursor in X-Next-Cursor."""
    from incentives.services.code_export import parse_format, parse_limit

    fmt, limit = parse_format(req.query.get("format")), parse_limit(req.query.get("limit"))
    page = _export().page(req.path_params["campaign_id"], limit, req.query.get("cursor") or None,
                          req.query.get("job_id"), req.now())
    metrics.add_metric("CodesExported", MetricUnit.Count, len(page.codes))
    if fmt == "csv":
        headers = {"Content-Type": "text/csv; charset=utf-8"}
        if page.next_cursor:
            headers["X-Next-Cursor"] = page.next_cursor
        return Response(200, None, headers, text=page.csv())
    return Response(200, page.body)


# ---- whole-campaign export: POST /v1/campaigns/{campaign_id}/exports, GET .../exports/{export_id} ------------

_export_jobs = None


def _exports():
    global _export_jobs
    if _export_jobs is None:
        from incentives.services.export_jobs import ExportJobs

        _export_jobs = ExportJobs(_Deps.table, _Deps.config, wiring.export_files())
    return _export_jobs


@api.route("create_export")
def create_export(req: Request) -> Response:
    """202 and the export's id; the code-export job writes the file (poll get_export)."""
    out = _exports().create(req.path_params["campaign_id"], req.now())
    _Deps.jobs.start("code-export", {"export_id": out["export_id"]})
    metrics.add_metric("CodeExportStarted", MetricUnit.Count, 1)
    return Response(202, out)


@api.route("get_export")
def get_export(req: Request) -> Response:
    return Response(200, _exports().get(req.path_params["campaign_id"], req.path_params["export_id"]))


# --- retention metrics ----------------------------------------------------------------------------------------

@api.route("retention_metrics")
def retention_metrics(req: Request) -> Response:
    """Repeat purchase rate, purchase frequency, AOV and customer value of the window, per currency."""
    from incentives.services.retention import RetentionMetrics, Window

    window = Window.parse(req.query.get("from"), req.query.get("to"), req.query.get("granularity"),
                          req.query.get("campaign_id"))
    out = RetentionMetrics(_Deps.table, _Deps.config.bundle().campaigns).get(window)
    return Response(200, out)


lambda_handler = obs.entry(api)
