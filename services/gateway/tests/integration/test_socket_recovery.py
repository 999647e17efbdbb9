"""Sockets after faults: Redis losing every key (as in a restart without persistence) does not
cut a socket off from conversations it joins or leaves afterwards, and the users of a gateway
that was killed are announced offline."""

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from gateway_factories import Listener, listen, new_group, new_tenant, new_user, send
from gateway_suite import backend, platform, wait_ready
from pydantic import SecretStr
from redis.asyncio import Redis

from parley_gateway.main import create_app
from parley_gateway.realtime.connections import ConnectionRegistry
from parley_gateway.settings import GatewaySettings
from parley_kit.testing.servers import free_port, serving
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration

PRESENCE_TTL = 3  # seconds: a dead gateway's users are offline within 4/3 of it


async def _forget_every_key(redis_url: str, prefix: str) -> int:
    """What a Redis restart without persistence does, to this test's keys only (the Redis
    is shared: never FLUSHALL)."""
    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()
    return len(keys)


async def _until(
    condition: Callable[[], bool], *, step: Callable[[], Awaitable[None]], timeout: float
) -> None:
    """Take `step` until `condition` holds, within `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await step()


async def test_after_redis_loses_every_key_an_old_socket_joins_a_new_conversation(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        platform(stack_urls, isolation, socket_registry_check_seconds=0.2) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        bob = await new_user(http, owner, "bob")
        conversation = await new_group(http, owner, ann)
        bob_socket = await listen(running.url, bob)
        redis = Redis.from_url(stack_urls.redis_url)
        registry = ConnectionRegistry(
            redis, isolation.redis_prefix, ttl_seconds=60, max_per_user=20
        )
        try:
            registered_before = await registry.sockets(owner.tenant_id, bob.user_id)
            forgotten = await _forget_every_key(stack_urls.redis_url, isolation.redis_prefix)
            added = await http.post(
                f"/v1/conversations/{conversation}/members",
                json={"user_ids": [bob.user_id]},
                headers=owner.headers,
            )
            await bob_socket.wait_for(lambda name, _: name == "member.added")
            sent = 0

            async def send_and_listen() -> None:
                nonlocal sent
                await send(http, ann, conversation, f"welcome {sent}")
                sent += 1
                with contextlib.suppress(TimeoutError):
                    await bob_socket.wait_for(lambda name, _: name == "message.created", 0.5)

            await _until(
                lambda: bool(bob_socket.of_type("message.created")),
                step=send_and_listen,
                timeout=20,
            )
            # And the gateway registered the socket again (the relay finds it from now on).
            registered_after: list[str] = []

            async def look() -> None:
                registered_after.extend(await registry.sockets(owner.tenant_id, bob.user_id))
                await asyncio.sleep(0.05)

            await _until(lambda: bool(registered_after), step=look, timeout=10)
        finally:
            await bob_socket.client.disconnect()
            await redis.aclose()
    assert len(registered_before) == 1
    assert forgotten > 0
    assert added.status_code == 200
    assert registered_after == registered_before
    assert bob_socket.of_type("message.created")[0]["data"]["content"].startswith("welcome")


async def test_after_redis_loses_every_key_a_removed_member_stops_hearing_the_room(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        platform(stack_urls, isolation, socket_registry_check_seconds=0.2) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        bob = await new_user(http, owner, "bob")
        conversation = await new_group(http, owner, ann, bob)
        ann_socket, bob_socket = await listen(running.url, ann), await listen(running.url, bob)
        try:
            await _forget_every_key(stack_urls.redis_url, isolation.redis_prefix)
            removed = await http.delete(
                f"/v1/conversations/{conversation}/members/{bob.user_id}", headers=owner.headers
            )
            await bob_socket.wait_for(lambda name, _: name == "member.removed")
            markers: list[str] = []

            async def send_a_marker() -> None:
                markers.append(f"marker {len(markers)}")
                await send(http, owner, conversation, markers[-1])
                await ann_socket.wait_for(lambda _, p: _content(p) == markers[-1])
                await asyncio.sleep(0.5)  # bob's copy, if he were still in the room

            # Until a message reaches the members and not bob (only once he left the room).
            await _until(
                lambda: bool(markers) and not _heard(bob_socket, markers[-1]),
                step=send_a_marker,
                timeout=20,
            )
        finally:
            await ann_socket.client.disconnect()
            await bob_socket.client.disconnect()
    assert removed.status_code == 204
    assert _heard(ann_socket, markers[-1])


def _content(payload: dict[str, object]) -> object:
    data = payload.get("data")
    return data.get("content") if isinstance(data, dict) else None


def _heard(listener: Listener, content: str) -> bool:
    return any(_content(p) == content for p in listener.of_type("message.created"))


def _environment(settings: GatewaySettings) -> dict[str, str]:
    """`settings` as the environment of a `python -m parley_gateway` process."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is None:  # unset (a CA file, say): the process's default is unset too
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list | dict):
            value = json.dumps(value)
        env[f"PARLEY_GATEWAY_{name.upper()}"] = str(value)
    return env


async def _wait_started(settings: GatewaySettings, process: asyncio.subprocess.Process) -> None:
    """Until the process answers on its port, then until it is ready."""
    url = f"http://127.0.0.1:{settings.port}"
    async with httpx.AsyncClient(base_url=url, timeout=5.0) as http, asyncio.timeout(60):
        while True:
            assert process.returncode is None, "the gateway process exited while starting"
            with contextlib.suppress(httpx.TransportError):
                await http.get("/healthz")
                break
            await asyncio.sleep(0.1)
    await wait_ready(settings)


async def test_the_users_of_a_killed_gateway_are_announced_offline(
    stack_urls: StackUrls, isolation: Isolation, tmp_path: Path
) -> None:
    async with backend(stack_urls, isolation, presence_ttl_seconds=PRESENCE_TTL) as behind:
        doomed_settings = behind.gateway.model_copy(
            update={"port": free_port(), "ops_port": free_port(), "relay_group_id": "doomed-relay"}
        )
        doomed_url = f"http://127.0.0.1:{doomed_settings.port}"
        with (tmp_path / "doomed-gateway.log").open("wb") as output:
            doomed = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "parley_gateway",
                env=_environment(doomed_settings),
                stdout=output,
                stderr=output,
            )
        sockets: list[Listener] = []
        try:
            async with serving(
                create_app(behind.gateway),
                behind.gateway.port,
                ops_port=behind.gateway.resolved_ops_port,
            ):
                await wait_ready(behind.gateway)
                await _wait_started(doomed_settings, doomed)
                async with httpx.AsyncClient(base_url=behind.url, timeout=10) as http:
                    owner = await new_tenant(http)
                    ann = await new_user(http, owner, "ann")
                    await new_group(http, owner, ann)
                owner_socket = await listen(behind.url, owner)
                sockets.append(owner_socket)
                sockets.append(await listen(doomed_url, ann))

                def about_ann(status: str) -> Callable[[str, dict[str, object]], bool]:
                    return lambda name, payload: (
                        name == "presence"
                        and payload["data"]
                        == {
                            "user_id": ann.user_id,
                            "status": status,
                        }
                    )

                await owner_socket.wait_for(about_ann("online"))
                doomed.kill()  # no goodbye: its sockets stay registered until they expire
                await doomed.wait()
                await owner_socket.wait_for(about_ann("offline"), timeout=PRESENCE_TTL * 4 / 3 + 10)
        finally:
            if doomed.returncode is None:
                doomed.kill()
                await doomed.wait()
            for listener in sockets:
                with contextlib.suppress(Exception):
                    await listener.client.disconnect()
    statuses = [
        p["data"]["status"]
        for p in owner_socket.of_type("presence")
        if p["data"]["user_id"] == ann.user_id
    ]
    assert statuses == ["online", "offline"]
