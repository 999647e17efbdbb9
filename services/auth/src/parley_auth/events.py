"""What auth publishes (to `parley.users.v1`, through the outbox)."""

import uuid

from parley_contracts.events import new_event
from parley_contracts.resources import Tenant, User
from parley_contracts.topics import USERS, EventType
from parley_kit.outbox import Outbox

TOPICS = [USERS]


class AuthEvents:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def tenant_created(self, tenant: Tenant) -> None:
        await self._outbox.enqueue(
            new_event(
                EventType.TENANT_CREATED,
                tenant_id=tenant.id,
                key=tenant.id,
                data=tenant,
                event_id=f"tenant:{tenant.id}:created",
            )
        )

    async def user_created(self, user: User) -> None:
        await self._user_event(EventType.USER_CREATED, user, f"user:{user.id}:created")

    async def user_updated(self, user: User) -> None:
        await self._user_event(
            EventType.USER_UPDATED, user, f"user:{user.id}:updated:{uuid.uuid4().hex}"
        )

    async def user_deactivated(self, user: User, authz_version: int) -> None:
        """Once per deactivation (its id names the version it raised), however often retried."""
        await self._user_event(
            EventType.USER_DEACTIVATED, user, f"user:{user.id}:deactivated:{authz_version}"
        )

    async def user_reactivated(self, user: User, authz_version: int) -> None:
        await self._user_event(
            EventType.USER_REACTIVATED, user, f"user:{user.id}:reactivated:{authz_version}"
        )

    async def _user_event(self, event_type: EventType, user: User, event_id: str) -> None:
        """A user event, keyed by the tenant so one tenant's user events stay in order."""
        await self._outbox.enqueue(
            new_event(
                event_type,
                tenant_id=user.tenant_id,
                key=user.tenant_id,
                data=user,
                event_id=event_id,
            )
        )
