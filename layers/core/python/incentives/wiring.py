"""What a function is connected to besides its table and config: the bus the fan-out publishes on and the
dispatcher that runs job functions. Deployed, both are built from the settings (EventBridge on EVENT_BUS_NAME,
Lambda Invoke of JOB_FUNCTIONS). The local run and the tests install their own with use_bus / use_dispatcher
before a handler is imported (local/wiring.py): production code never imports local/."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from .adapters.delivery import Delivery
    from .adapters.events import EventBus
    from .adapters.export_files import ExportFiles
    from .adapters.jobs import JobDispatcher
    from .adapters.work_queue import WorkQueue

_bus: EventBus | None = None
_dispatcher: JobDispatcher | None = None


def use_bus(bus: EventBus | None) -> None:
    """Publish on ``bus`` instead of EVENT_BUS_NAME's EventBridge bus (None: back to the deployed one)."""
    global _bus
    _bus = bus


def use_dispatcher(dispatcher: JobDispatcher | None) -> None:
    """Run jobs with ``dispatcher`` instead of Lambda Invoke of JOB_FUNCTIONS (None: back to Lambda)."""
    global _dispatcher
    _dispatcher = dispatcher


_work_queue: WorkQueue | None = None
_export_files: ExportFiles | None = None


def use_work_queue(queue: WorkQueue | None) -> None:
    """Send bulk slices to ``queue`` instead of BULK_QUEUE_URL's SQS queue (None: back to SQS)."""
    global _work_queue
    _work_queue = queue


def use_export_files(files: ExportFiles | None) -> None:
    """Keep code exports in ``files`` instead of EXPORT_BUCKET's S3 bucket (None: back to S3)."""
    global _export_files
    _export_files = files


def has_work_queue() -> bool:
    return _work_queue is not None


def has_export_files() -> bool:
    return _export_files is not None


def work_queue() -> WorkQueue:
    if _work_queue is not None:
        return _work_queue
    import os

    from .adapters.work_queue import SqsWorkQueue

    return SqsWorkQueue(os.environ["BULK_QUEUE_URL"])


def export_files() -> ExportFiles:
    if _export_files is not None:
        return _export_files
    import os

    from .adapters.export_files import S3ExportFiles

    return S3ExportFiles(os.environ["EXPORT_BUCKET"])


def has_bus() -> bool:
    return _bus is not None


def has_dispatcher() -> bool:
    return _dispatcher is not None


def bus() -> EventBus:
    if _bus is not None:
        return _bus
    from .adapters.events import EventBridgeBus
    from .settings import get_settings

    return EventBridgeBus(get_settings().event_bus_name)


def dispatcher() -> JobDispatcher:
    if _dispatcher is not None:
        return _dispatcher
    from .adapters.jobs import LambdaDispatcher
    from .settings import get_settings

    return LambdaDispatcher(get_settings().job_functions)


# ---- journey message delivery (adapters/delivery.py) -------------------------------------------------------
# factory(channel, from_email) -> Delivery. Deployed: SES for e-mail (SES_CONFIGURATION_SET), SNS for SMS. The
# local run installs the outbox of .eml/.json files; tests install moto-backed or failing ones.
_delivery: Callable[[str, str], Delivery] | None = None


def use_delivery(factory: Callable[[str, str], Delivery] | None) -> None:
    """Deliver journey messages with ``factory(channel, from_email)`` (None: back to SES / SNS)."""
    global _delivery
    _delivery = factory


def delivery(channel: str, from_email: str) -> Delivery:
    if _delivery is not None:
        return _delivery(channel, from_email)
    import os

    from .adapters.delivery import SesDelivery, SnsSmsDelivery

    if channel == "sms":
        return SnsSmsDelivery(os.environ.get("SMS_SENDER_ID") or None)
    return SesDelivery(os.environ.get("SES_FROM_EMAIL") or from_email,
                       os.environ.get("SES_CONFIGURATION_SET") or None)


def email_delivery(from_email: str) -> Delivery:
    """The e-mail port (landing-page claims delivered by e-mail): SES, or what use_delivery installed."""
    return delivery("email", from_email)
