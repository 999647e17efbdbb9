"""Signing keys for access tokens (RS256) and the JWKS that publishes their public halves.

With `signing_key_file` set, that PEM is the key (production: mounted from a secret). Otherwise
keys live in MongoDB so every auth replica signs with the same key: the first replica to start
generates one. `rotate()` adds a new key and retires the old ones; a retired key stays in the
JWKS until every token it signed has expired.
"""

import asyncio
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pymongo.errors import DuplicateKeyError

from parley_auth.models import SigningKeyRecord

ALGORITHM = "RS256"


def _generate_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _public_jwk(private_pem: str) -> tuple[str, dict[str, str]]:
    private_key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError("the signing key must be an RSA private key")
    full = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    public = {k: str(full[k]) for k in ("e", "kty", "n")}
    thumbprint = json.dumps(public, separators=(",", ":"), sort_keys=True)
    kid = hashlib.sha256(thumbprint.encode()).hexdigest()[:16]
    return kid, public | {"kid": kid, "alg": ALGORITHM, "use": "sig"}


class SigningKeys:
    def __init__(self, access_token_seconds: int) -> None:
        self._lifetime = timedelta(seconds=access_token_seconds)
        self._current: tuple[str, Any] | None = None
        self._published: list[dict[str, str]] = []

    async def load(self, key_file: str | None) -> None:
        if key_file:
            pem = await asyncio.to_thread(Path(key_file).read_text)
            kid, jwk = _public_jwk(pem)
            self._current = (kid, serialization.load_pem_private_key(pem.encode(), password=None))
            self._published = [jwk]
            return
        if not await self._active_records():
            await self._store_new()
        await self.reload()

    async def reload(self) -> None:
        records = await self._active_records()
        newest = records[-1]
        self._current = (
            newest.kid,
            serialization.load_pem_private_key(newest.private_pem.encode(), password=None),
        )
        horizon = datetime.now(UTC) - self._lifetime - timedelta(minutes=1)
        # unscoped: signing keys are service-wide, not tenant data
        all_keys = await SigningKeyRecord.find_all().sort("created_at").to_list()
        self._published = [
            record.public_jwk
            for record in all_keys
            if record.retired_at is None or _aware(record.retired_at) > horizon
        ]

    async def rotate(self) -> str:
        """Add a new signing key and retire the others; returns the new key id."""
        retired_at = datetime.now(UTC)
        kid = await self._store_new()
        collection = SigningKeyRecord.get_pymongo_collection()  # unscoped: keys are service-wide
        await collection.update_many(
            {"kid": {"$ne": kid}, "retired_at": None}, {"$set": {"retired_at": retired_at}}
        )
        await self.reload()
        return kid

    async def _active_records(self) -> list[SigningKeyRecord]:
        return (
            await SigningKeyRecord.find({"retired_at": None})  # unscoped: keys are service-wide
            .sort("created_at")
            .to_list()
        )

    async def _store_new(self) -> str:
        pem = _generate_pem()
        kid, jwk = _public_jwk(pem)
        try:
            await SigningKeyRecord(kid=kid, private_pem=pem, public_jwk=jwk).insert()
        except DuplicateKeyError:
            pass  # vanishingly unlikely: the same key generated twice
        return kid

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": list(self._published)}

    def sign(self, claims: dict[str, Any]) -> str:
        if self._current is None:
            raise RuntimeError("signing keys are not loaded")
        kid, key = self._current
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})

    @staticmethod
    def now() -> int:
        return int(time.time())


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
