"""The seed system's `/api` routes, mapped onto v1 (API.md "Seed compatibility").

Every call goes through the same v1 services with the same identity, so tenancy, membership
and limits hold exactly as in v1; this module only translates shapes. A legacy numeric
`tenantId` maps to the tenant slug `t<tenantId>`, created on first use.
"""

import asyncio
import math
from collections.abc import Awaitable
from typing import Annotated, Any, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from parley_contracts.claims import AccessClaims
from parley_contracts.ids import ConversationId
from parley_contracts.problems import FieldError
from parley_contracts.resources import Password, Title, Username
from parley_contracts.validation import MessageContent, Metadata, RequestBody
from parley_gateway.routes import CONVERSATION, fill
from parley_gateway.upstreams import Service, Upstreams
from parley_kit.problems import Unprocessable

LegacyTenantId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,38}$")]
LegacyTenantNumber = Annotated[int, Field(ge=0, le=10**38)]
IgnoredRole = Annotated[str, StringConstraints(max_length=64)]
MAX_SEARCH_DEPTH = 1000  # results; deeper pages would need `from`, which the engine makes slow


class SeedSignup(RequestBody):
    # The seed accepted `roles` in the body; they are ignored (no self-granted roles).
    model_config = ConfigDict(extra="forbid")

    username: Username
    email: EmailStr
    password: Password
    tenantId: LegacyTenantId | LegacyTenantNumber = "1"  # noqa: N815 - the seed's field name
    roles: Annotated[list[IgnoredRole], Field(max_length=16)] | None = None


class SeedLogin(RequestBody):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class SeedConversationCreate(RequestBody):
    title: Title
    participants: Annotated[list[Username], Field(max_length=1000)] = Field(default_factory=list)


class SeedMessageCreate(RequestBody):
    conversationId: ConversationId  # noqa: N815
    content: MessageContent
    metadata: Metadata = Field(default_factory=dict)


class SeedToken(BaseModel):
    message: str
    token: str


class SeedPage(BaseModel):
    totalElements: int  # noqa: N815
    pageNo: int  # noqa: N815
    pageSize: int  # noqa: N815
    totalPages: int  # noqa: N815
    data: list[dict[str, Any]]


class Relayed(Exception):
    """A service answered with an error; the seed route answers with that same problem."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code} from upstream")
        self.response = response


def json_bytes(value: Any) -> bytes:
    return orjson.dumps(value)


def tenant_slug(legacy_id: str | int) -> str:
    return f"t{legacy_id}"


def seed_conversation(conversation: dict[str, Any]) -> dict[str, Any]:
    """The v1 conversation plus the seed's field names (`_id`, `participants`, camelCase)."""
    return conversation | {
        "_id": conversation["id"],
        "participants": [m["user_id"] for m in conversation.get("members", [])],
        "tenantId": conversation["tenant_id"],
        "createdAt": conversation["created_at"],
        "updatedAt": conversation["updated_at"],
    }


def seed_message(message: dict[str, Any]) -> dict[str, Any]:
    return message | {
        "_id": message["id"],
        "conversationId": message["conversation_id"],
        "senderId": message["sender_id"],
        "tenantId": message["tenant_id"],
        "createdAt": message["created_at"],
    }


class SeedCompat:
    def __init__(self, upstreams: Upstreams) -> None:
        self._upstreams = upstreams

    async def _call(
        self,
        service: Service,
        method: str,
        path: str,
        *,
        identity: str | None = None,
        client_ip: str | None = None,
        json: Any = None,
        params: list[tuple[str, str]] | None = None,
    ) -> Any:
        headers = self._upstreams.internal_headers(identity, client_ip=client_ip)
        headers["content-type"] = "application/json"
        response = await self._upstreams.send(
            service,
            method,
            path,
            headers=headers,
            params=params,
            content=json_bytes(json) if json is not None else None,
        )
        if response.status_code >= 400:
            raise Relayed(response)
        return orjson.loads(response.content) if response.content else None

    async def signup(self, body: SeedSignup, client_ip: str) -> SeedToken:
        slug = tenant_slug(body.tenantId)
        await self._call(
            Service.AUTH,
            "POST",
            "/internal/v1/tenants:ensure",
            client_ip=client_ip,  # a tenant created on first use counts against its client
            json={"slug": slug, "name": f"Tenant {body.tenantId}"},
        )
        signed_up = await self._call(
            Service.AUTH,
            "POST",
            "/v1/auth/signup",
            client_ip=client_ip,
            json={
                "tenant": slug,
                "username": body.username,
                "email": body.email,
                "password": body.password,
            },
        )
        return SeedToken(
            message="User registered successfully", token=signed_up["tokens"]["access_token"]
        )

    async def login(self, body: SeedLogin, tenant: str, client_ip: str) -> SeedToken:
        tokens = await self._call(
            Service.AUTH,
            "POST",
            "/v1/auth/login",
            client_ip=client_ip,
            json={"tenant": tenant, "login": body.email, "password": body.password},
        )
        return SeedToken(message="Login successful", token=tokens["access_token"])

    async def create_conversation(
        self, claims: AccessClaims, identity: str, body: SeedConversationCreate
    ) -> dict[str, Any]:
        member_ids: list[str] = []
        if body.participants:
            found = await self._call(
                Service.AUTH,
                "POST",
                "/internal/v1/users:by-username",
                json={"tenant_id": claims.tid, "usernames": body.participants},
            )
            by_name = {user["username"]: user["id"] for user in found["users"]}
            unknown = [name for name in body.participants if name not in by_name]
            if unknown:
                raise Unprocessable(
                    "unknown participants",
                    errors=[
                        FieldError(
                            loc="body.participants",
                            msg=f"unknown user {name!r}",
                            type="unknown_user",
                        )
                        for name in unknown
                    ],
                )
            member_ids = [
                by_name[name] for name in body.participants if by_name[name] != claims.sub
            ]
        conversation = await self._call(
            Service.MESSAGING,
            "POST",
            "/v1/conversations",
            identity=identity,
            json={"kind": "group", "title": body.title, "member_ids": member_ids},
        )
        return seed_conversation(conversation)

    async def conversation(self, identity: str, conversation_id: str) -> dict[str, Any]:
        conversation = await self._call(
            Service.MESSAGING,
            "GET",
            fill(CONVERSATION, {"conversation_id": conversation_id}),
            identity=identity,
        )
        return seed_conversation(conversation)

    async def send(self, identity: str, body: SeedMessageCreate) -> dict[str, Any]:
        message = await self._call(
            Service.MESSAGING,
            "POST",
            fill(f"{CONVERSATION}/messages", {"conversation_id": body.conversationId}),
            identity=identity,
            json={"content": body.content, "metadata": body.metadata},
        )
        return seed_message(message)

    async def history(
        self,
        identity: str,
        conversation_id: str,
        page_no: int,
        page_size: int,
        sort: Literal["asc", "desc"],
    ) -> dict[str, Any]:
        """Page `page_no` of the history (a `SeedPage` body). `seq` is gap-free, so a page is a
        seq range and `totalElements` is the newest seq.

        The default (newest first, page 1) is the v1 newest page: one call, which also tells
        the newest seq. Oldest-first pages fetch their range and the newest seq side by side;
        older newest-first pages need the newest seq first to place their range.
        """
        offset = (page_no - 1) * page_size
        if sort == "desc" and page_no == 1:
            items = await self._history_page(identity, conversation_id, [("limit", str(page_size))])
            total = int(items[0]["seq"]) if items else 0
        elif sort == "asc":
            newest, items = await _both(
                self._history_page(identity, conversation_id, [("limit", "1")]),
                self._history_page(
                    identity,
                    conversation_id,
                    [("after_seq", str(offset)), ("limit", str(page_size))],
                ),
            )
            total = int(newest[0]["seq"]) if newest else 0
        else:
            newest = await self._history_page(identity, conversation_id, [("limit", "1")])
            total = int(newest[0]["seq"]) if newest else 0
            items = []
            if offset < total:
                items = await self._history_page(
                    identity,
                    conversation_id,
                    [("before_seq", str(total - offset + 1)), ("limit", str(page_size))],
                )
        return {
            "totalElements": total,
            "pageNo": page_no,
            "pageSize": page_size,
            "totalPages": math.ceil(total / page_size) if total else 0,
            # Deleted messages keep their seq (and their place in the count) but the seed
            # never had tombstones, so they are left out of `data`.
            "data": [seed_message(m) for m in items if not m.get("deleted")],
        }

    async def _history_page(
        self, identity: str, conversation_id: str, params: list[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        page = await self._call(
            Service.MESSAGING,
            "GET",
            fill(f"{CONVERSATION}/messages", {"conversation_id": conversation_id}),
            identity=identity,
            params=params,
        )
        items: list[dict[str, Any]] = page["items"]
        return items

    async def search(
        self, identity: str, conversation_id: str, q: str, page_no: int, page_size: int
    ) -> SeedPage:
        if page_no * page_size > MAX_SEARCH_DEPTH:
            raise Unprocessable(
                f"pageNo * pageSize must be at most {MAX_SEARCH_DEPTH}; refine the query",
                errors=[FieldError(loc="query.pageNo", msg="too deep", type="too_deep")],
            )
        cursor: str | None = None
        items: list[dict[str, Any]] = []
        total = 0
        for page in range(1, page_no + 1):
            params = [("q", q), ("conversation_id", conversation_id), ("limit", str(page_size))]
            if cursor is not None:
                params.append(("cursor", cursor))
            result = await self._call(
                Service.SEARCH, "GET", "/v1/search/messages", identity=identity, params=params
            )
            total = int(result.get("total", 0))
            if page == page_no:
                items = [seed_message(hit["message"]) for hit in result["items"]]
            cursor = result.get("next_cursor")
            if cursor is None:
                break
        return SeedPage(
            totalElements=total,
            pageNo=page_no,
            pageSize=page_size,
            totalPages=math.ceil(total / page_size) if total else 0,
            data=items,
        )


async def _both(
    first: Awaitable[list[dict[str, Any]]], second: Awaitable[list[dict[str, Any]]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two calls side by side; the first error (e.g. a relayed 404) is raised as it is."""
    outcomes = await asyncio.gather(first, second, return_exceptions=True)
    one, two = outcomes
    if isinstance(one, BaseException):
        raise one
    if isinstance(two, BaseException):
        raise two
    return one, two
