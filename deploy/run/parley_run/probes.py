"""What a port answers over HTTP: health, readiness (with the failing checks) and version."""

import asyncio
from dataclasses import dataclass

import httpx

TIMEOUT = httpx.Timeout(3.0, connect=1.0)


@dataclass(frozen=True)
class Readiness:
    answered: bool  # an HTTP server answered /readyz (any status)
    ready: bool
    failing: tuple[str, ...] = ()  # "kafka: KafkaConnectionError: ...", one per failing check

    @property
    def parley(self) -> bool:
        """It looked like a Parley service: ready, or a 503 that names its checks."""
        return self.ready or bool(self.failing)

    def reason(self) -> str:
        if self.ready:
            return "ready"
        if not self.answered:
            return "does not answer"
        return "; ".join(self.failing) or "not ready"


def _failing_checks(body: object) -> tuple[str, ...]:
    if not isinstance(body, dict):
        return ()
    checks = body.get("checks")
    if isinstance(checks, dict) and checks:
        failing = tuple(
            str(result) if str(result).startswith(f"{name}:") else f"{name}: {result}"
            for name, result in checks.items()
            if result != "ok"
        )
        if failing:
            return failing
    detail = body.get("detail")
    return (str(detail),) if detail else ()


async def readiness(client: httpx.AsyncClient, url: str) -> Readiness:
    try:
        response = await client.get(f"{url}/readyz", timeout=TIMEOUT)
    except httpx.HTTPError:
        return Readiness(answered=False, ready=False)
    if response.status_code == 200:
        return Readiness(answered=True, ready=True)
    try:
        body = response.json()
    except ValueError:
        body = None
    return Readiness(answered=True, ready=False, failing=_failing_checks(body))


async def version(client: httpx.AsyncClient, url: str) -> str | None:
    """The version the running service reports in its OpenAPI document."""
    try:
        response = await client.get(f"{url}/openapi.json", timeout=TIMEOUT)
        found = response.json().get("info", {}).get("version") if response.is_success else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return str(found) if found else None


async def readiness_of(urls: list[str]) -> list[Readiness]:
    async with httpx.AsyncClient() as client:
        return list(await asyncio.gather(*(readiness(client, url) for url in urls)))
