"""The rules of tenants, accounts, sessions and roles. No HTTP here."""

import base64
import json

from pymongo.errors import DuplicateKeyError

from parley_auth.events import AuthEvents
from parley_auth.models import TenantRecord, UserRecord
from parley_auth.passwords import PasswordHashing
from parley_auth.repository import TenantRepository, UserRepository
from parley_auth.settings import AuthSettings
from parley_auth.throttle import Throttle
from parley_auth.tokens import TokenIssuer
from parley_contracts.claims import AccessClaims, Role
from parley_contracts.resources import (
    Login,
    Page,
    SignedUp,
    Signup,
    SignupPolicy,
    Tenant,
    TenantCreate,
    TenantCreated,
    Tokens,
    User,
)
from parley_kit.problems import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable

BAD_CREDENTIALS = "invalid credentials"


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode()


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"]
    except (ValueError, KeyError, TypeError) as exc:
        raise Unprocessable("the cursor is not valid") from exc
    if not isinstance(value, str):
        raise Unprocessable("the cursor is not valid")
    return value


class AuthService:
    def __init__(
        self,
        settings: AuthSettings,
        tokens: TokenIssuer,
        passwords: PasswordHashing,
        throttle: Throttle,
        events: AuthEvents,
        tenants: TenantRepository,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._passwords = passwords
        self._throttle = throttle
        self._events = events
        self._tenants = tenants

    # --- tenants ---------------------------------------------------------------------------

    async def create_tenant(self, body: TenantCreate, client_ip: str) -> TenantCreated:
        if not self._settings.tenant_creation_enabled:
            raise Forbidden("tenant creation is disabled on this deployment")
        ip_key = f"tenants:ip:{client_ip}"
        await self._throttle.check("tenant creations", [(ip_key, self._limit_tenants())])
        await self._throttle.hit([ip_key], 3600)
        try:
            tenant = await self._tenants.insert(
                TenantRecord(name=body.name, slug=body.slug, signup_policy=body.signup_policy)
            )
        except DuplicateKeyError as exc:
            raise Conflict(f"the tenant slug {body.slug!r} is taken") from exc
        resource = tenant.resource()
        await self._events.tenant_created(resource)
        owner = body.owner
        user = await self._create_user(
            resource.id,
            owner.username,
            str(owner.email),
            owner.password,
            owner.display_name,
            [Role.OWNER],
        )
        return TenantCreated(
            tenant=resource, user=user.resource(), tokens=await self._tokens.issue(user)
        )

    def _limit_tenants(self) -> int:
        return self._settings.tenant_creation_per_ip_per_hour

    async def ensure_tenant(self, slug: str, name: str) -> Tenant:
        existing = await self._tenants.by_slug(slug)
        if existing is not None:
            return existing.resource()
        try:
            tenant = await self._tenants.insert(TenantRecord(name=name, slug=slug))
        except DuplicateKeyError:
            raced = await self._tenants.by_slug(slug)
            if raced is None:
                raise
            return raced.resource()
        await self._events.tenant_created(tenant.resource())
        return tenant.resource()

    # --- accounts --------------------------------------------------------------------------

    async def signup(self, body: Signup) -> SignedUp:
        tenant = await self._tenants.by_slug(body.tenant)
        if tenant is None:
            raise NotFound(f"no tenant {body.tenant!r}")
        if tenant.signup_policy is SignupPolicy.INVITE:
            raise Forbidden("this tenant accepts members by invitation only")
        user = await self._create_user(
            str(tenant.id),
            body.username,
            str(body.email),
            body.password,
            body.display_name,
            [Role.MEMBER],
        )
        return SignedUp(user=user.resource(), tokens=await self._tokens.issue(user))

    async def _create_user(
        self,
        tenant_id: str,
        username: str,
        email: str,
        password: str,
        display_name: str | None,
        roles: list[Role],
    ) -> UserRecord:
        record = UserRecord(
            tenant_id=tenant_id,
            username=username,
            username_key=username.lower(),
            email=email.lower(),
            password_hash=self._passwords.hash(password),
            display_name=display_name,
            roles=roles,
        )
        try:
            user = await UserRepository(tenant_id).insert(record)
        except DuplicateKeyError as exc:
            raise Conflict("a user with this username or email already exists") from exc
        await self._events.user_created(user.resource())
        return user

    async def login(self, body: Login, client_ip: str) -> Tokens:
        login_key = f"login:{body.tenant}:{body.login.strip().lower()}"
        ip_key = f"login:ip:{client_ip}"
        limits = [
            (login_key, self._settings.login_failures_per_login),
            (ip_key, self._settings.login_failures_per_ip),
        ]
        await self._throttle.check("failed logins", limits)
        tenant = await self._tenants.by_slug(body.tenant)
        user = await UserRepository(str(tenant.id)).by_login(body.login) if tenant else None
        # Verify even without a user, so the answer takes as long either way.
        valid = self._passwords.verify(user.password_hash if user else None, body.password)
        if user is None or not valid:
            await self._throttle.hit(
                [login_key, ip_key], self._settings.login_failure_window_seconds
            )
            raise Unauthorized(BAD_CREDENTIALS)
        await self._throttle.clear(login_key)
        return await self._tokens.issue(user)

    async def refresh(self, refresh_token: str) -> Tokens:
        spent = await self._tokens.spend(refresh_token)
        user = await UserRepository(spent.tenant_id).by_id(spent.user_id)
        if user is None:
            raise Unauthorized("the account no longer exists")
        return await self._tokens.issue(user, family_id=spent.family_id)

    async def logout(self, refresh_token: str) -> None:
        await self._tokens.revoke(refresh_token)

    # --- users -----------------------------------------------------------------------------

    async def me(self, claims: AccessClaims) -> User:
        user = await UserRepository(claims.tenant_id).by_id(claims.user_id)
        if user is None:
            raise NotFound("the account no longer exists")
        return user.resource()

    async def list_users(
        self, claims: AccessClaims, query: str | None, cursor: str | None, limit: int
    ) -> Page[User]:
        records = await UserRepository(claims.tenant_id).page(
            query, decode_cursor(cursor), limit + 1
        )
        more = len(records) > limit
        records = records[:limit]
        next_cursor = encode_cursor(str(records[-1].id)) if more and records else None
        return Page[User](items=[r.resource() for r in records], next_cursor=next_cursor)

    async def set_roles(self, claims: AccessClaims, user_id: str, roles: list[Role]) -> User:
        if not claims.is_tenant_admin:
            raise Forbidden("only tenant owners and admins change roles")
        users = UserRepository(claims.tenant_id)
        user = await users.by_id(user_id)
        if user is None:
            raise NotFound("no such user")
        wanted = list(dict.fromkeys(roles))
        touches_owner = Role.OWNER in wanted or Role.OWNER in user.roles
        if touches_owner and not claims.has_role(Role.OWNER):
            raise Forbidden("only owners grant or remove the owner role")
        if (
            Role.OWNER in user.roles
            and Role.OWNER not in wanted
            and await users.count_owners() <= 1
        ):
            raise Conflict("the last owner of a tenant cannot be demoted")
        updated = await users.set_roles(user, wanted)
        await self._events.user_updated(updated.resource())
        return updated.resource()

    # --- internal --------------------------------------------------------------------------

    async def resolve(self, tenant_id: str, user_ids: list[str]) -> list[User]:
        return [u.resource() for u in await UserRepository(tenant_id).by_ids(user_ids)]

    async def by_usernames(self, tenant_id: str, usernames: list[str]) -> list[User]:
        return [u.resource() for u in await UserRepository(tenant_id).by_usernames(usernames)]
