"""Password hashing: argon2id, no difference between unknown user and wrong password, and
bounded work per client and overall."""

import asyncio
import threading
from typing import Literal

import pytest
from argon2 import PasswordHasher

from parley_auth.passwords import PasswordHashing
from parley_kit.problems import ServiceUnavailable, TooManyRequests


class GatedHasher(PasswordHasher):
    """Verifies only once the test opens the gate, so work can be held in flight."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.gate = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.gate.wait(30)
        return super().verify(hash, password)


def hashing(hasher: PasswordHasher | None = None, **bounds: int) -> PasswordHashing:
    values = {"workers": 2, "in_flight": 8, "per_client": 4} | bounds
    return PasswordHashing(hasher=hasher, **values)


async def test_hash_is_argon2id_and_verifies() -> None:
    passwords = hashing()
    try:
        hashed = await passwords.hash("correct horse", "10.0.0.1")
        assert hashed.startswith("$argon2id$")
        assert await passwords.verify(hashed, "correct horse", "10.0.0.1")
        assert not await passwords.verify(hashed, "wrong horse", "10.0.0.1")
    finally:
        passwords.close()


async def test_unknown_user_never_verifies() -> None:
    passwords = hashing()
    try:
        assert not await passwords.verify(None, "parley-dummy-password-for-timing", "10.0.0.1")
    finally:
        passwords.close()


async def test_work_beyond_the_bounds_is_refused_at_once_and_slots_come_back() -> None:
    hasher = GatedHasher()
    passwords = hashing(hasher, in_flight=4, per_client=2)
    try:
        stored = hasher.hash("pw")
        held = [
            asyncio.create_task(passwords.verify(stored, "pw", ip))
            for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.2")
        ]
        await asyncio.sleep(0)  # every task takes its slot before the gate opens
        with pytest.raises(TooManyRequests) as per_client:
            await passwords.verify(stored, "pw", "10.0.0.1")

        held.append(asyncio.create_task(passwords.verify(stored, "pw", "10.0.0.3")))
        await asyncio.sleep(0)
        with pytest.raises(ServiceUnavailable) as overall:
            await passwords.verify(stored, "pw", "10.0.0.4")
        assert per_client.value.headers["Retry-After"] == "1"
        assert overall.value.headers["Retry-After"] == "1"

        hasher.gate.set()
        assert await asyncio.gather(*held) == [True] * 4
        assert await passwords.verify(stored, "pw", "10.0.0.1"), "the slots were given back"
    finally:
        hasher.gate.set()
        passwords.close()
