"""Signing keys for access tokens (RS256), their rotation, and the JWKS that publishes them.

A key's life, each step taken by an operator (`python -m parley_auth.rotation`, `make keys`):

- **staged**: created and published in the JWKS (marked `"state": "staged"`); nothing signs
  with it yet. A verifier that sees it sign refetches the JWKS, which brings the retiring key's
  expiry.
- **current**: `promote` makes it the one key that signs, once it has been published for
  `key_publish_seconds` (every verifier's cached JWKS then holds it; a verifier that lacks it
  refetches on the unknown `kid` anyway). The key it replaces turns retiring.
- **retiring**: still published, with an `exp` member (when every token it signed has expired,
  plus `key_retire_margin_seconds`); verifiers refuse it past that time by themselves.
- **retired**: `retire` withdraws it from the JWKS and erases its private half; refused before
  its `exp` unless forced (a compromised key).

So no token is signed by a key a verifier cannot find, and no token is refused while it is valid.

The keys live in MongoDB so every auth replica signs with the same current key. Each step runs
under the `signing-keys` Redis lock (the store has no transactions) and then writes a new
generation token to Redis; every replica polls that token (`key_poll_seconds`) and reloads the
keys from MongoDB when it changes, and at least every `RELOAD_SECONDS` whatever Redis says. A
replica that has not yet noticed a promotion signs for at most one poll more with the retiring
key, which is still published and stays so for far longer than that.

With `signing_key_file` set, that PEM is the only key (production secret); rotating it means
publishing the next key through the store instead, or a new secret and a rolling restart.
"""

import asyncio
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Any

import jwt
import pymongo
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pymongo.errors import DuplicateKeyError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_auth.models import SigningKeyRecord
from parley_auth.settings import AuthSettings
from parley_kit.logs import get_logger

ALGORITHM = "RS256"
# Even with Redis silent, a replica re-reads the keys this often (a lost generation write).
RELOAD_SECONDS = 60.0
RELOAD_DEADLINE_SECONDS = 5.0  # a reload that takes longer is abandoned; the next poll retries

log = get_logger(__name__)


class KeyState(StrEnum):
    STAGED = "staged"
    CURRENT = "current"
    RETIRING = "retiring"
    RETIRED = "retired"


class RotationRefused(Exception):
    """A rotation step that would break tokens (or has nothing to act on); says why and when."""


@dataclass(frozen=True)
class KeyStatus:
    kid: str
    state: KeyState
    created_at: datetime
    promoted_at: datetime | None
    retiring_since: datetime | None  # when the next key was promoted
    retired_at: datetime | None
    # staged: may be promoted from then; retiring: may be retired from then (its JWKS `exp`)
    ready_at: datetime | None

    def describe(self) -> dict[str, str | None]:
        def text(value: datetime | None) -> str | None:
            return value.isoformat(timespec="seconds") if value else None

        return {
            "kid": self.kid,
            "state": self.state.value,
            "created_at": text(self.created_at),
            "promoted_at": text(self.promoted_at),
            "retiring_since": text(self.retiring_since),
            "retired_at": text(self.retired_at),
            "ready_at": text(self.ready_at),
        }


@dataclass(frozen=True)
class RotationTimes:
    """How long each step waits: `publish` before a promotion, `retire_after` a promotion
    before the key it replaced may be retired (token lifetime + margin)."""

    publish: timedelta
    retire_after: timedelta

    @classmethod
    def of(
        cls, access_token_seconds: int, publish_seconds: float, retire_margin_seconds: float
    ) -> "RotationTimes":
        return cls(
            timedelta(seconds=publish_seconds),
            timedelta(seconds=access_token_seconds + retire_margin_seconds),
        )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def key_statuses(records: list[SigningKeyRecord], times: RotationTimes) -> list[KeyStatus]:
    """Each key's state, derived from its three dates: the newest promoted key signs, an older
    promoted key has been retiring since the promotion that followed it."""
    promoted = sorted(
        (record for record in records if record.promoted_at is not None),
        key=lambda record: _aware(record.promoted_at or record.created_at),
    )
    successor_promoted: dict[str, datetime] = {}
    for older, newer in pairwise(promoted):
        successor_promoted[older.kid] = _aware(newer.promoted_at or newer.created_at)
    current_kid = next(
        (record.kid for record in reversed(promoted) if record.retired_at is None), None
    )
    statuses = []
    for record in sorted(records, key=lambda record: _aware(record.created_at)):
        created = _aware(record.created_at)
        promoted_at = _aware(record.promoted_at) if record.promoted_at else None
        retired_at = _aware(record.retired_at) if record.retired_at else None
        since = successor_promoted.get(record.kid)
        if retired_at is not None:
            state, ready = KeyState.RETIRED, None
        elif promoted_at is None:
            state, ready = KeyState.STAGED, created + times.publish
        elif record.kid == current_kid:
            state, ready, since = KeyState.CURRENT, None, None
        else:
            state, ready = KeyState.RETIRING, (since or promoted_at) + times.retire_after
        statuses.append(
            KeyStatus(record.kid, state, created, promoted_at, since, retired_at, ready)
        )
    return statuses


def _unstaged(records: list[SigningKeyRecord]) -> bool:
    """Keys written before rotation had stages (none was ever promoted)."""
    return bool(records) and all(record.promoted_at is None for record in records)


def _generate_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _load_private(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode(), password=None)


def _public_jwk(private_pem: str) -> tuple[str, dict[str, str]]:
    private_key = _load_private(private_pem)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError("the signing key must be an RSA private key")
    full = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    public = {k: str(full[k]) for k in ("e", "kty", "n")}
    thumbprint = json.dumps(public, separators=(",", ":"), sort_keys=True)
    kid = hashlib.sha256(thumbprint.encode()).hexdigest()[:16]
    return kid, public | {"kid": kid, "alg": ALGORITHM, "use": "sig"}


class KeyStore:
    """The signing keys in MongoDB and their generation token in Redis. Callers of the
    changing methods hold the `signing-keys` lock."""

    def __init__(self, redis: Redis, redis_prefix: str, times: RotationTimes) -> None:
        self._redis = redis
        self._generation_key = f"{redis_prefix}auth:signing-keys:generation"
        self.times = times

    async def records(self) -> list[SigningKeyRecord]:
        # unscoped: signing keys are service-wide, not tenant data (a handful of documents)
        return await SigningKeyRecord.find_all().to_list()

    async def statuses(self) -> list[KeyStatus]:
        records = await self.records()
        if _unstaged(records):
            records = self._adopted(records)
        return key_statuses(records, self.times)

    def _adopted(self, records: list[SigningKeyRecord]) -> list[SigningKeyRecord]:
        # Before stages, a key signed from its creation and `retired_at` meant "stopped
        # signing"; it stayed published for a token lifetime. Read them as exactly that.
        now = datetime.now(UTC)
        adopted = []
        for record in records:
            update: dict[str, Any] = {"promoted_at": _aware(record.created_at)}
            if record.retired_at and _aware(record.retired_at) + self.times.retire_after > now:
                update["retired_at"] = None
            adopted.append(record.model_copy(update=update))
        return adopted

    async def generation(self) -> str | None:
        value = await self._redis.get(self._generation_key)
        return value.decode() if isinstance(value, bytes) else value

    async def _changed(self) -> None:
        await self._redis.set(self._generation_key, secrets.token_hex(8))

    async def _insert(self, promoted_at: datetime | None) -> str:
        pem = _generate_pem()
        kid, jwk = _public_jwk(pem)
        try:
            await SigningKeyRecord(
                kid=kid, private_pem=pem, public_jwk=jwk, promoted_at=promoted_at
            ).insert()
        except DuplicateKeyError:
            pass  # vanishingly unlikely: the same key generated twice
        return kid

    async def ensure_current(self) -> None:
        """A first key on an empty store (signing at once: nothing can have cached another),
        and keys written before rotation had stages brought up to date."""
        records = await self.records()
        if not records:
            await self._insert(promoted_at=datetime.now(UTC))
            await self._changed()
            return
        if _unstaged(records):
            collection = SigningKeyRecord.get_pymongo_collection()  # unscoped: service-wide
            for record in self._adopted(records):
                update = {"promoted_at": record.promoted_at, "retired_at": record.retired_at}
                await collection.update_one({"_id": record.id}, {"$set": update})
            await self._changed()

    async def stage(self) -> KeyStatus:
        """A new key, published but not signing; the staged key itself if there is one."""
        staged = [s for s in await self.statuses() if s.state is KeyState.STAGED]
        if not staged:
            kid = await self._insert(promoted_at=None)
            await self._changed()
            staged = [s for s in await self.statuses() if s.kid == kid]
        return staged[-1]

    async def promote(self, *, force: bool = False) -> KeyStatus:
        statuses = await self.statuses()
        staged = [s for s in statuses if s.state is KeyState.STAGED]
        if not staged:
            raise RotationRefused("no staged key: stage one first")
        key = staged[-1]
        now = datetime.now(UTC)
        if key.ready_at and now < key.ready_at and not force:
            raise RotationRefused(
                f"key {key.kid} has been published only since {key.created_at:%H:%M:%S}; "
                f"verifiers may not all hold it before {key.ready_at.isoformat()} "
                "(--force promotes now; verifiers then fetch it on its first token)"
            )
        collection = SigningKeyRecord.get_pymongo_collection()  # unscoped: service-wide keys
        await collection.update_one({"kid": key.kid}, {"$set": {"promoted_at": now}})
        await self._changed()
        return next(s for s in await self.statuses() if s.kid == key.kid)

    async def retire(self, *, force: bool = False) -> list[KeyStatus]:
        """Withdraw every retiring key; refused while any of them may still have signed a
        valid token, unless forced."""
        retiring = [s for s in await self.statuses() if s.state is KeyState.RETIRING]
        if not retiring:
            raise RotationRefused("no retiring key: promote a staged key first")
        now = datetime.now(UTC)
        early = [s for s in retiring if s.ready_at and now < s.ready_at]
        if early and not force:
            raise RotationRefused(
                "tokens signed by "
                + ", ".join(f"{s.kid} (until {s.ready_at:%Y-%m-%dT%H:%M:%S%z})" for s in early)
                + " may still be valid; retire after that, or --force for a compromised key"
            )
        collection = SigningKeyRecord.get_pymongo_collection()  # unscoped: service-wide keys
        for key in retiring:
            await collection.update_one(
                {"kid": key.kid}, {"$set": {"retired_at": now, "private_pem": ""}}
            )
        await self._changed()
        kids = {key.kid for key in retiring}
        return [s for s in await self.statuses() if s.kid in kids]


@dataclass(frozen=True)
class _Loaded:
    kid: str
    private_key: Any
    published: list[dict[str, str | int]]


def key_store(redis: Redis, settings: AuthSettings) -> KeyStore:
    times = RotationTimes.of(
        settings.access_token_seconds,
        settings.key_publish_seconds,
        settings.key_retire_margin_seconds,
    )
    return KeyStore(redis, settings.redis_prefix, times)


class SigningKeys:
    """What one auth replica signs with and publishes, kept in step with the store."""

    def __init__(self, store: KeyStore | None, poll_seconds: float = 1.0) -> None:
        self._store = store
        self._poll = poll_seconds
        self._loaded: _Loaded | None = None
        self._generation: str | None = None
        self._private: dict[str, Any] = {}  # parsed private keys by kid (parsing is slow)

    async def load(self, key_file: str | None) -> None:
        """Load the keys once (the caller holds the `signing-keys` lock)."""
        if key_file:
            pem = await asyncio.to_thread(Path(key_file).read_text)
            kid, jwk = _public_jwk(pem)
            self._loaded = _Loaded(kid, _load_private(pem), [{**jwk}])
            self._store = None  # a key file is the one key: nothing to follow
            return
        if self._store is None:
            raise RuntimeError("keys kept in the store need a KeyStore")
        await self._store.ensure_current()
        await self.reload()

    async def reload(self) -> None:
        if self._store is None:
            return
        try:
            generation = await self._store.generation()
        except RedisError:
            generation = self._generation  # the reload itself still reads the store
        statuses = await self._store.statuses()
        records = {record.kid: record for record in await self._store.records()}
        current = next((s for s in statuses if s.state is KeyState.CURRENT), None)
        if current is None:
            raise RuntimeError("no current signing key in the store")
        published: list[dict[str, str | int]] = []
        for status in statuses:
            if status.state is KeyState.RETIRED:
                continue
            jwk: dict[str, str | int] = dict(records[status.kid].public_jwk)
            if status.state is KeyState.STAGED:
                # A verifier that sees this key sign refetches, and so learns the expiry of
                # the key it replaced.
                jwk["state"] = status.state.value
            if status.state is KeyState.RETIRING and status.ready_at is not None:
                # Verifiers refuse this key past its `exp` without waiting for a refetch.
                jwk |= {"state": status.state.value, "exp": int(status.ready_at.timestamp())}
            published.append(jwk)
        if current.kid not in self._private:
            self._private[current.kid] = _load_private(records[current.kid].private_pem)
        self._loaded = _Loaded(current.kid, self._private[current.kid], published)
        self._generation = generation

    async def follow(self) -> None:
        """Poll the store's generation and reload when it changes (run as a task)."""
        if self._store is None:
            return
        last_reload = time.monotonic()
        while True:
            await asyncio.sleep(self._poll)
            try:
                generation = await self._store.generation()
                due = time.monotonic() - last_reload > RELOAD_SECONDS
                if generation != self._generation or due:
                    with pymongo.timeout(RELOAD_DEADLINE_SECONDS):
                        await self.reload()
                    last_reload = time.monotonic()
            except Exception as exc:  # the loop outlives any one failure (store, Redis, data)
                log.warning("signing keys not refreshed", error=str(exc))

    @property
    def current_kid(self) -> str:
        if self._loaded is None:
            raise RuntimeError("signing keys are not loaded")
        return self._loaded.kid

    def jwks(self) -> dict[str, list[dict[str, str | int]]]:
        return {"keys": list(self._loaded.published) if self._loaded else []}

    async def current_jwks(self) -> dict[str, Any]:
        """The JWKS as this replica publishes it now (auth's own verifier reads it here)."""
        return dict(self.jwks())

    def sign(self, claims: dict[str, Any]) -> str:
        if self._loaded is None:
            raise RuntimeError("signing keys are not loaded")
        return jwt.encode(
            claims, self._loaded.private_key, algorithm=ALGORITHM, headers={"kid": self._loaded.kid}
        )

    @staticmethod
    def now() -> int:
        return int(time.time())
