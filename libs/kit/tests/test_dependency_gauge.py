"""`parley_dependency_ready{service,dependency}`: every /readyz check sets it to 1 or 0, so an
alert names the engine a service cannot reach."""

import uuid

import httpx
from prometheus_client import REGISTRY

from parley_kit.app import create_service_app
from parley_kit.settings import ServiceSettings


class Engine:
    """A dependency whose health the test switches."""

    def __init__(self) -> None:
        self.up = True

    async def ping(self) -> None:
        if not self.up:
            raise ConnectionError("engine down")


def ready(service: str, dependency: str) -> float | None:
    return REGISTRY.get_sample_value(
        "parley_dependency_ready", {"service": service, "dependency": dependency}
    )


async def test_each_readiness_check_sets_the_gauge_of_its_dependency() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"  # its own series, whatever other tests did
    mongo, kafka = Engine(), Engine()
    kafka.up = False
    app = create_service_app(
        service=service,
        settings=ServiceSettings(),
        readiness=lambda _app: {"mongo": mongo.ping, "kafka": kafka.ping},
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert ready(service, "mongo") is None  # nothing is known before a check ran
        assert (await c.get("/readyz")).status_code == 503
        assert (ready(service, "mongo"), ready(service, "kafka")) == (1.0, 0.0)
        exported = (await c.get("/metrics")).text
        kafka.up, mongo.up = True, False
        assert (await c.get("/readyz")).status_code == 503
        assert (ready(service, "mongo"), ready(service, "kafka")) == (0.0, 1.0)
        mongo.up = True
        assert (await c.get("/readyz")).status_code == 200
    assert (ready(service, "mongo"), ready(service, "kafka")) == (1.0, 1.0)
    assert f'parley_dependency_ready{{dependency="kafka",service="{service}"}} 0.0' in exported
