"""The rules of tenants, accounts, sessions and roles. No HTTP here."""

from datetime import UTC, datetime

from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError, OperationFailure

from parley_auth.authz import AuthzVersions
from parley_auth.email_domains import check_email_domain, intranet_emails_allowed
from parley_auth.events import AuthEvents
from parley_auth.models import TenantRecord, UserRecord
from parley_auth.passwords import PasswordHashing
from parley_auth.repository import SessionRepository, TenantRepository, UserRepository
from parley_auth.sessions import ClientInfo, UserSessions, public_session_id
from parley_auth.settings import AuthSettings
from parley_auth.throttle import Bound, ProgressiveDelay, Reservation, Throttle, login_key
from parley_auth.tokens import SessionReplayed, TokenIssuer, aware
from parley_contracts.claims import AccessClaims, Role
from parley_contracts.cursors import Position, decode_cursor, encode_cursor
from parley_contracts.ids import UserId
from parley_contracts.resources import (
    Login,
    Page,
    PasswordChange,
    ProfileUpdate,
    Session,
    SignedUp,
    Signup,
    SignupPolicy,
    Tenant,
    TenantCreate,
    TenantCreated,
    Tokens,
    User,
)
from parley_kit.locks import RedisLock
from parley_kit.problems import (
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    Unauthorized,
)

BAD_CREDENTIALS = "invalid credentials"
DEACTIVATED = "the account is deactivated"


class UserPosition(Position):
    """Where a page of users ended: the last user's id."""

    after: UserId


class AuthzState(BaseModel):
    """What a token verifier needs to know about a user now."""

    version: int
    roles: list[Role]
    active: bool = True


class AuthService:
    def __init__(
        self,
        settings: AuthSettings,
        tokens: TokenIssuer,
        passwords: PasswordHashing,
        throttle: Throttle,
        role_changes: RedisLock,
        authz_versions: AuthzVersions,
        events: AuthEvents,
        tenants: TenantRepository,
        sessions: UserSessions,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._passwords = passwords
        self._throttle = throttle
        self._role_changes = role_changes
        self._authz_versions = authz_versions
        self._events = events
        self._tenants = tenants
        self._sessions = sessions

    # --- limits ----------------------------------------------------------------------------

    def _tenant_creations(self, client_ip: str) -> Bound:
        return Bound(
            f"tenants:ip:{client_ip}", self._settings.tenant_creation_per_ip_per_hour, 3600
        )

    def _signups(self, client_ip: str) -> Bound:
        settings = self._settings
        return Bound(
            f"signups:ip:{client_ip}", settings.signups_per_ip, settings.signup_window_seconds
        )

    async def _hash_or_release(self, password: str, client_ip: str, reserved: Reservation) -> str:
        try:
            return await self._passwords.hash(password, client_ip)
        except ProblemError:
            await reserved.release()  # refused for capacity: nothing was attempted
            raise

    # --- tenants ---------------------------------------------------------------------------

    async def create_tenant(
        self, body: TenantCreate, client_ip: str, client: ClientInfo | None = None
    ) -> TenantCreated:
        if not self._settings.tenant_creation_enabled:
            raise Forbidden("tenant creation is disabled on this deployment")
        owner = body.owner
        check_email_domain(
            str(owner.email),
            allowed=intranet_emails_allowed(
                body.special_use_email_domains, self._settings.special_use_email_domains
            ),
            loc="body.owner.email",
        )
        reserved = await self._throttle.reserve(
            "tenant creations", [self._tenant_creations(client_ip), self._signups(client_ip)]
        )
        # Hash first: a tenant is never left without its owner because hashing was busy.
        password_hash = await self._hash_or_release(owner.password, client_ip, reserved)
        try:
            tenant = await self._tenants.insert(
                TenantRecord(
                    name=body.name,
                    slug=body.slug,
                    signup_policy=body.signup_policy,
                    special_use_email_domains=body.special_use_email_domains,
                )
            )
        except DuplicateKeyError as exc:
            raise Conflict(f"the tenant slug {body.slug!r} is taken") from exc
        resource = tenant.resource()
        await self._events.tenant_created(resource)
        user = await self._create_user(
            resource.id,
            owner.username,
            str(owner.email),
            password_hash,
            owner.display_name,
            [Role.OWNER],
        )
        return TenantCreated(
            tenant=resource,
            user=user.resource(),
            tokens=await self._tokens.issue(user, client or ClientInfo(ip=client_ip)),
        )

    async def ensure_tenant(self, slug: str, name: str, client_ip: str) -> Tenant:
        """The tenant `slug`, created on first use (legacy `/api` signup) under the same
        per-address bound of tenant creations as `POST /v1/tenants`."""
        existing = await self._tenants.by_slug(slug)
        if existing is not None:
            return existing.resource()
        if not self._settings.tenant_creation_enabled:
            raise Forbidden("tenant creation is disabled on this deployment")
        await self._throttle.reserve("tenant creations", [self._tenant_creations(client_ip)])
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

    async def signup(
        self, body: Signup, client_ip: str, client: ClientInfo | None = None
    ) -> SignedUp:
        reserved = await self._throttle.reserve("signups", [self._signups(client_ip)])
        tenant = await self._tenants.by_slug(body.tenant)
        if tenant is None:
            raise NotFound(f"no tenant {body.tenant!r}")
        if tenant.signup_policy is SignupPolicy.INVITE:
            raise Forbidden("this tenant accepts members by invitation only")
        check_email_domain(
            str(body.email),
            allowed=intranet_emails_allowed(
                tenant.special_use_email_domains, self._settings.special_use_email_domains
            ),
            loc="body.email",
        )
        password_hash = await self._hash_or_release(body.password, client_ip, reserved)
        user = await self._create_user(
            str(tenant.id),
            body.username,
            str(body.email),
            password_hash,
            body.display_name,
            [Role.MEMBER],
        )
        return SignedUp(
            user=user.resource(),
            tokens=await self._tokens.issue(user, client or ClientInfo(ip=client_ip)),
        )

    async def _create_user(
        self,
        tenant_id: str,
        username: str,
        email: str,
        password_hash: str,
        display_name: str | None,
        roles: list[Role],
    ) -> UserRecord:
        record = UserRecord(
            tenant_id=tenant_id,
            username=username,
            username_key=username.lower(),
            email=email.lower(),
            password_hash=password_hash,
            display_name=display_name,
            roles=roles,
        )
        try:
            user = await UserRepository(tenant_id).insert(record)
        except DuplicateKeyError as exc:
            raise Conflict("a user with this username or email already exists") from exc
        await self._events.user_created(user.resource())
        return user

    async def login(self, body: Login, client_ip: str, client: ClientInfo | None = None) -> Tokens:
        settings = self._settings
        window = settings.login_failure_window_seconds
        account = f"{body.tenant}:{login_key(body.login)}"
        # The place is taken before the password is checked, so parallel guesses cannot all
        # pass the check; a login that succeeds gives it back (only failures count).
        reserved = await self._throttle.reserve(
            "failed logins",
            [
                Bound(f"login:{account}:ip:{client_ip}", settings.login_failures_per_login, window),
                Bound(f"login:ip:{client_ip}", settings.login_failures_per_ip, window),
            ],
            ProgressiveDelay(
                f"login:{account}",
                free=settings.login_failures_per_account,
                window_seconds=window,
                max_seconds=settings.login_delay_max_seconds,
            ),
        )
        try:
            tenant = await self._tenants.by_slug(body.tenant)
            user = await UserRepository(str(tenant.id)).by_login(body.login) if tenant else None
            # Verify even without a user, so the answer takes as long either way.
            valid = await self._passwords.verify(
                user.password_hash if user else None, body.password, client_ip
            )
        except Exception:
            await reserved.release()  # refused for capacity or a store fault: not a guess
            raise
        if user is None or not valid:
            raise Unauthorized(BAD_CREDENTIALS)
        await reserved.release()
        if not user.active:
            # Said only to whoever knows the password: it is no guess that counts.
            raise Unauthorized(DEACTIVATED)
        return await self._tokens.issue(user, client or ClientInfo(ip=client_ip))

    async def refresh(self, refresh_token: str, client: ClientInfo | None = None) -> Tokens:
        try:
            spent = await self._tokens.spend(refresh_token)
        except SessionReplayed as replayed:
            # The replayed session may have handed access tokens to a thief: outdate them all.
            await self._outdate_tokens(replayed.tenant_id, replayed.user_id)
            raise
        user = await UserRepository(spent.tenant_id).by_id(spent.user_id)
        if user is None:
            raise Unauthorized("the account no longer exists")
        if not user.active:
            await self._sessions.end_all(spent.tenant_id, spent.user_id)
            raise Unauthorized(DEACTIVATED)
        changed = user.password_changed_at
        if changed is not None and spent.valid_from < aware(changed):
            await SessionRepository(spent.tenant_id).end(spent.session_id)
            raise Unauthorized("the password was changed; sign in again")
        return await self._tokens.issue(user, client or ClientInfo(), session_id=spent.session_id)

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
        after = decode_cursor(cursor, UserPosition).after if cursor else None
        records = await UserRepository(claims.tenant_id).page(query, after, limit + 1)
        more = len(records) > limit
        records = records[:limit]
        last = str(records[-1].id) if records else ""
        next_cursor = encode_cursor(UserPosition(after=last)) if more and records else None
        return Page[User](items=[r.resource() for r in records], next_cursor=next_cursor)

    async def set_roles(self, claims: AccessClaims, user_id: str, roles: list[Role]) -> User:
        users = UserRepository(claims.tenant_id)
        # One role change of a tenant at a time: the last-owner rule reads every owner before
        # it writes, which the document engine cannot make atomic.
        async with self._role_changes.held(f"roles:{claims.tenant_id}"):
            caller = await _tenant_admin(users, claims, "change roles")
            user = await users.by_id(user_id)
            if user is None:
                raise NotFound("no such user")
            wanted = list(dict.fromkeys(roles))
            touches_owner = Role.OWNER in wanted or Role.OWNER in user.roles
            if touches_owner and Role.OWNER not in caller.roles:
                raise Forbidden("only owners grant or remove the owner role")
            if (
                Role.OWNER in user.roles
                and Role.OWNER not in wanted
                and await users.count_owners() <= 1
            ):
                raise Conflict("the last owner of a tenant cannot be demoted")
            await users.set_roles(user, wanted, user.authz_version + 1)
        # After the store (the truth): the tokens stating the old roles are refused from now.
        await self._authz_versions.publish(claims.tenant_id, str(user.id), user.authz_version)
        await self._events.user_updated(user.resource())
        return user.resource()

    async def _outdate_tokens(self, tenant_id: str, user_id: str) -> None:
        users = UserRepository(tenant_id)
        async with self._role_changes.held(f"roles:{tenant_id}"):
            user = await users.by_id(user_id)
            if user is None:
                return
            await users.set_authz_version(user, user.authz_version + 1)
        await self._authz_versions.publish(tenant_id, user_id, user.authz_version)

    async def authz_version(self, tenant_id: str, user_id: str) -> AuthzState:
        """The user's current authorization version and roles, from the store; the Redis copy
        is raised to it (a seed after a flush)."""
        user = await UserRepository(tenant_id).by_id(user_id)
        if user is None:
            raise NotFound("no such user")
        version = await self._authz_versions.publish(tenant_id, user_id, user.authz_version)
        return AuthzState(version=version, roles=list(user.roles), active=user.active)

    # --- own account and sessions ---------------------------------------------------------

    async def _own(self, claims: AccessClaims) -> UserRecord:
        user = await UserRepository(claims.tenant_id).by_id(claims.user_id)
        if user is None or not user.active:
            raise Unauthorized("the account no longer exists or is deactivated")
        return user

    async def update_profile(self, claims: AccessClaims, body: ProfileUpdate) -> User:
        """Change the caller's display name and/or email; 409 when the email is another
        user's in the tenant (the unique (tenant, email) index decides, atomically)."""
        user = await self._own(claims)
        given = body.model_fields_set
        fields: dict[str, object] = {}
        if "display_name" in given and body.display_name != user.display_name:
            fields["display_name"] = body.display_name  # null clears it
        if body.email is not None and str(body.email).lower() != user.email:
            tenant = await self._tenants.by_id(claims.tenant_id)
            check_email_domain(
                str(body.email),
                allowed=intranet_emails_allowed(
                    tenant.special_use_email_domains if tenant else None,
                    self._settings.special_use_email_domains,
                ),
                loc="body.email",
            )
            fields["email"] = str(body.email).lower()
        if not fields:
            return user.resource()
        users = UserRepository(claims.tenant_id)
        try:
            await users.set_fields(user, fields)
        except OperationFailure as exc:
            # MongoDB says DuplicateKeyError; FerretDB (SQLite) fails an update against a
            # unique index with a generic error. Either way: taken if another user has it.
            taken = "email" in fields and await users.by_login(str(fields["email"]))
            if isinstance(exc, DuplicateKeyError) or (taken and str(taken.id) != claims.user_id):
                raise Conflict("this email is taken by another user of the tenant") from exc
            raise
        await self._events.user_updated(user.resource())
        return user.resource()

    async def change_password(
        self, claims: AccessClaims, body: PasswordChange, client_ip: str
    ) -> None:
        """Replace the caller's password and end every other session of theirs; 403 when the
        current password is wrong (counted like failed logins of the account)."""
        settings = self._settings
        reserved = await self._throttle.reserve(
            "password checks",
            [
                Bound(
                    f"password:{claims.tenant_id}:{claims.user_id}",
                    settings.login_failures_per_login,
                    settings.login_failure_window_seconds,
                )
            ],
        )
        try:
            user = await self._own(claims)
            valid = await self._passwords.verify(
                user.password_hash, body.current_password, client_ip
            )
        except Exception:
            await reserved.release()  # refused for capacity or a store fault: not a guess
            raise
        if not valid:
            raise Forbidden("the current password is wrong")
        await reserved.release()
        new_hash = await self._passwords.hash(body.new_password, client_ip)
        changed_at = datetime.now(UTC)
        if claims.sid is not None:
            # Marked before the change is stored, so no refresh of the caller's own session
            # sees the change without the mark.
            await self._sessions.keep(claims.tenant_id, claims.user_id, claims.sid, changed_at)
        await UserRepository(claims.tenant_id).set_fields(
            user, {"password_hash": new_hash, "password_changed_at": changed_at}
        )
        # After the store: a login that checked the old password is refused or ended here.
        await self._sessions.end_all(claims.tenant_id, claims.user_id, keep=claims.sid)
        # Whoever held another session (the reason people change a password) also loses its
        # access tokens at once, not at their expiry: every token predating the change is
        # outdated. The caller refreshes its own session (still live) for a current token.
        await self._outdate_tokens(claims.tenant_id, claims.user_id)

    async def sessions(self, claims: AccessClaims) -> list[Session]:
        records = await self._sessions.live(claims.tenant_id, claims.user_id)
        items = []
        for record in records:
            public_id = public_session_id(record.id)
            items.append(
                Session(
                    id=public_id,
                    created_at=record.created_at,
                    last_used_at=record.last_used_at or record.created_at,
                    user_agent=record.user_agent,
                    ip=record.ip,
                    current=public_id == claims.sid,
                )
            )
        return items

    async def end_session(self, claims: AccessClaims, session_id: str) -> None:
        """End one of the caller's sessions; 404 for any id that is not one of theirs."""
        if not await self._sessions.end(claims.tenant_id, claims.user_id, session_id):
            raise NotFound("no such session")

    # --- deactivation ----------------------------------------------------------------------

    async def deactivate(self, claims: AccessClaims, user_id: str) -> User:
        """The user can no longer sign in or refresh; every session ends and every access
        token they hold is refused from the next request (their version is raised)."""
        user, _ = await self._set_active(claims, user_id, active=False)
        # Repeated on a retry of an already deactivated user: each step is idempotent, so a
        # call that failed half-way is completed by calling again.
        await self._authz_versions.publish(claims.tenant_id, user_id, user.authz_version)
        await self._sessions.end_all(claims.tenant_id, user_id)
        await self._events.user_deactivated(user.resource(), user.authz_version)
        return user.resource()

    async def reactivate(self, claims: AccessClaims, user_id: str) -> User:
        """The user may sign in again (tokens from before the deactivation stay refused)."""
        user, changed = await self._set_active(claims, user_id, active=True)
        if changed:  # nothing follows a reactivation: a retry has nothing to complete
            await self._events.user_reactivated(user.resource(), user.authz_version)
        return user.resource()

    async def _set_active(
        self, claims: AccessClaims, user_id: str, *, active: bool
    ) -> tuple[UserRecord, bool]:
        """The user with `active` set (and whether it changed), after the permission rules."""
        users = UserRepository(claims.tenant_id)
        # The tenant's role-change lock: who is owner or admin is read before the write.
        async with self._role_changes.held(f"roles:{claims.tenant_id}"):
            caller = await _tenant_admin(users, claims, "deactivate or reactivate users")
            user = await users.by_id(user_id)
            if user is None:
                raise NotFound("no such user")
            if str(user.id) == str(caller.id):
                raise Forbidden("you cannot deactivate or reactivate yourself")
            if Role.OWNER in user.roles and Role.OWNER not in caller.roles:
                raise Forbidden("only owners deactivate or reactivate an owner")
            changed = user.active != active
            if changed:
                fields: dict[str, object] = {"active": active}
                if not active:
                    fields["authz_version"] = user.authz_version + 1
                await users.set_fields(user, fields)
        return user, changed

    # --- internal --------------------------------------------------------------------------

    async def resolve(self, tenant_id: str, user_ids: list[str]) -> list[User]:
        return [u.resource() for u in await UserRepository(tenant_id).by_ids(user_ids)]

    async def by_usernames(self, tenant_id: str, usernames: list[str]) -> list[User]:
        return [u.resource() for u in await UserRepository(tenant_id).by_usernames(usernames)]


async def _tenant_admin(users: UserRepository, claims: AccessClaims, action: str) -> UserRecord:
    """The caller as stored now (not as their token says: it may predate a demotion), when an
    active tenant owner or admin; else 401 (gone or deactivated) or 403 naming `action`."""
    caller = await users.by_id(claims.user_id)
    if caller is None or not caller.active:
        raise Unauthorized("the account no longer exists or is deactivated")
    if not any(role in caller.roles for role in (Role.OWNER, Role.ADMIN)):
        raise Forbidden(f"only tenant owners and admins {action}")
    return caller
