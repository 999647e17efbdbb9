"""The seed system's `/api` routes, mapped onto v1 (API.md "Seed compatibility").

Every call goes through the same v1 services with the same identity, so tenancy, membership
and limits hold exactly as in v1; this module only translates shapes. A legacy numeric
`tenantId` maps to the tenant slug `t<tenantId>`, created on first use.

The seed's request collection (its Postman export) and DTOs are what "the body its clients
send" means here; docs/api.md lists every deliberate difference from the seed.
"""

import asyncio
import math
from collections.abc import Awaitable
from typing import Annotated, Any, Final, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from parley_contracts.claims import AccessClaims
from parley_contracts.emails import EmailAddress
from parley_contracts.ids import ConversationId
from parley_contracts.problems import FieldError
from parley_contracts.resources import Password, Title, Username
from parley_contracts.validation import MessageContent, Metadata, RequestBody
from parley_gateway.routes import CONVERSATION, fill
from parley_gateway.upstreams import Service, Upstreams
from parley_kit.problems import Forbidden, Unprocessable

LegacyTenantId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,38}$")]
LegacyTenantNumber = Annotated[int, Field(ge=0, le=10**38)]
IgnoredRole = Annotated[str, StringConstraints(max_length=64)]
SenderId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
MAX_SEARCH_DEPTH = 1000  # results; deeper pages would need `from`, which the engine makes slow


class SeedSignup(RequestBody):
    # The seed accepted `roles` in the body; they are ignored (no self-granted roles).
    model_config = ConfigDict(extra="forbid")

    username: Username
    email: EmailAddress
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
    # The seed required it and then ignored it (it always sent as the token's user); here it
    # must name the caller (id or username), so a client cannot believe it impersonated.
    senderId: SenderId | None = Field(  # noqa: N815
        default=None,
        description="the caller's user id or username; anyone else is refused with 403",
    )
    content: MessageContent
    metadata: Metadata = Field(default_factory=dict)


class SeedTokenData(BaseModel):
    token: str


class SeedToken(BaseModel):
    message: str
    token: str
    # The seed's own request collection reads the token at `data.token` (its test script),
    # although the seed answered it at `token`: both are served.
    data: SeedTokenData

    @classmethod
    def of(cls, message: str, token: str) -> "SeedToken":
        return cls(message=message, token=token, data=SeedTokenData(token=token))


class SeedSearchMeta(BaseModel):
    total: int
    page: int
    limit: int
    pages: int


class SeedPage(BaseModel):
    totalElements: int  # noqa: N815
    pageNo: int  # noqa: N815
    pageSize: int  # noqa: N815
    totalPages: int  # noqa: N815
    data: list[dict[str, Any]]


class SeedSearchPage(SeedPage):
    # The seed answered a search from its engine as `{data, meta}` and from its database
    # fallback as a `SeedPage`; both shapes are served.
    meta: SeedSearchMeta


HistoryOrder = Literal["asc", "desc"]
SEQ_ORDERED_FIELDS: Final = ("timestamp", "createdAt", "_id", "id", "seq")
"""Message fields whose order is the order of `seq` (each is set once, when it is sent)."""
DIRECTIONS: Final[dict[str, HistoryOrder]] = {
    "asc": "asc",
    "ascending": "asc",
    "1": "asc",
    "desc": "desc",
    "descending": "desc",
    "-1": "desc",
}
SORT_FORMS = (
    "asc, desc, ascending, descending, 1, -1, or a field of "
    + ", ".join(SEQ_ORDERED_FIELDS)
    + " (descending with a leading -)"
)


def history_order(sort: str) -> HistoryOrder:
    """The order a seed `sort` asks for. The seed passed it to its database as a sort string
    (`-timestamp`); every field it could name that orders messages as they were sent maps to
    `seq` order. An empty value is the seed's default (newest first)."""
    value = sort.strip()  # a `+` in a query string arrives as a space
    if not value:
        return "desc"
    if value in DIRECTIONS:
        return DIRECTIONS[value]
    descending = value.startswith("-")
    if value.removeprefix("-") in SEQ_ORDERED_FIELDS:
        return "desc" if descending else "asc"
    raise Unprocessable(
        f"unknown sort {sort!r}",
        errors=[FieldError(loc="query.sort", msg=f"sort is one of {SORT_FORMS}", type="enum")],
    )


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
        "createdBy": conversation["created_by"],
        "createdAt": conversation["created_at"],
        "updatedAt": conversation["updated_at"],
    }


def seed_message(message: dict[str, Any]) -> dict[str, Any]:
    """The v1 message plus the seed's field names; `timestamp` was the seed's send time."""
    return message | {
        "_id": message["id"],
        "conversationId": message["conversation_id"],
        "senderId": message["sender_id"],
        "tenantId": message["tenant_id"],
        "timestamp": message["created_at"],
        "createdAt": message["created_at"],
        "updatedAt": message.get("edited_at") or message["created_at"],
    }


def check_sender(claims: AccessClaims, sender_id: str | None) -> None:
    """A seed `senderId` must be the caller (by id or username): 403 otherwise."""
    if sender_id is None or sender_id in (claims.sub, claims.username):
        return
    if sender_id.lower() == claims.username.lower():  # usernames are unique ignoring case
        return
    raise Forbidden(
        "senderId must be the caller's own id or username: a message is always sent as the "
        "holder of the access token",
        errors=[FieldError(loc="body.senderId", msg="not the caller", type="sender_not_caller")],
    )


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
        return SeedToken.of(
            "User has been registered successfully!", signed_up["tokens"]["access_token"]
        )

    async def login(self, body: SeedLogin, tenant: str, client_ip: str) -> SeedToken:
        tokens = await self._call(
            Service.AUTH,
            "POST",
            "/v1/auth/login",
            client_ip=client_ip,
            json={"tenant": tenant, "login": body.email, "password": body.password},
        )
        return SeedToken.of("User has been logged in successfully!", tokens["access_token"])

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
            # Usernames are unique ignoring case (the seed's own collection capitalises them).
            by_name = {user["username"].lower(): user["id"] for user in found["users"]}
            unknown = [name for name in body.participants if name.lower() not in by_name]
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
            member_ids = list(
                dict.fromkeys(
                    by_name[name.lower()]
                    for name in body.participants
                    if by_name[name.lower()] != claims.sub
                )
            )
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

    async def send(
        self, claims: AccessClaims, identity: str, body: SeedMessageCreate
    ) -> dict[str, Any]:
        check_sender(claims, body.senderId)
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
        sort: HistoryOrder,
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
    ) -> SeedSearchPage:
        if page_no * page_size > MAX_SEARCH_DEPTH:
            raise Unprocessable(
                f"pageNo * pageSize must be at most {MAX_SEARCH_DEPTH}; refine the query",
                errors=[FieldError(loc="query.pageNo", msg="too deep", type="too_deep")],
            )
        cursor: str | None = None
        items: list[dict[str, Any]] = []
        total = 0
        for page in range(1, page_no + 1):
            # The seed's clients know no operators: `note:x` or `-draft` is text to them.
            params = [
                ("q", q),
                ("syntax", "plain"),
                ("conversation_id", conversation_id),
                ("limit", str(page_size)),
            ]
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
        pages = math.ceil(total / page_size) if total else 0
        return SeedSearchPage(
            totalElements=total,
            pageNo=page_no,
            pageSize=page_size,
            totalPages=pages,
            data=items,
            meta=SeedSearchMeta(total=total, page=page_no, limit=page_size, pages=pages),
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
