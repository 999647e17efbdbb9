"""What auth stores: tenants, users, refresh tokens and signing keys."""

from datetime import UTC, datetime

import pymongo
from beanie import Document
from pydantic import Field

from parley_contracts.claims import Role
from parley_contracts.resources import SignupPolicy, Tenant, User


def now() -> datetime:
    return datetime.now(UTC)


class TenantRecord(Document):
    name: str
    slug: str
    signup_policy: SignupPolicy = SignupPolicy.OPEN
    created_at: datetime = Field(default_factory=now)

    class Settings:
        name = "tenants"
        indexes = [pymongo.IndexModel([("slug", 1)], unique=True)]

    def resource(self) -> Tenant:
        return Tenant(
            id=str(self.id),
            name=self.name,
            slug=self.slug,
            signup_policy=self.signup_policy,
            created_at=self.created_at,
        )


class UserRecord(Document):
    tenant_id: str
    username: str
    username_key: str  # lowercased: usernames are unique per tenant regardless of case
    email: str  # lowercased
    password_hash: str
    display_name: str | None = None
    roles: list[Role] = Field(default_factory=lambda: [Role.MEMBER])
    created_at: datetime = Field(default_factory=now)

    class Settings:
        name = "users"
        indexes = [
            pymongo.IndexModel([("tenant_id", 1), ("username_key", 1)], unique=True),
            pymongo.IndexModel([("tenant_id", 1), ("email", 1)], unique=True),
        ]

    def resource(self) -> User:
        return User(
            id=str(self.id),
            tenant_id=self.tenant_id,
            username=self.username,
            email=self.email,
            display_name=self.display_name,
            roles=list(self.roles),
            created_at=self.created_at,
        )


class RefreshTokenRecord(Document):
    """One refresh token of a family; only its SHA-256 is stored."""

    tenant_id: str
    user_id: str
    family_id: str
    token_hash: str
    expires_at: datetime
    created_at: datetime = Field(default_factory=now)
    spent_at: datetime | None = None
    revoked: bool = False

    class Settings:
        name = "refresh_tokens"
        indexes = [
            pymongo.IndexModel([("token_hash", 1)], unique=True),
            pymongo.IndexModel([("tenant_id", 1), ("family_id", 1)]),
        ]


class SigningKeyRecord(Document):
    kid: str
    private_pem: str
    public_jwk: dict[str, str]
    created_at: datetime = Field(default_factory=now)
    retired_at: datetime | None = None

    class Settings:
        name = "signing_keys"
        indexes = [pymongo.IndexModel([("kid", 1)], unique=True)]


AUTH_MODELS: list[type[Document]] = [TenantRecord, UserRecord, RefreshTokenRecord, SigningKeyRecord]
