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
    from .adapters.jobs import JobDispatcher

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
