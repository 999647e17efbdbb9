"""The seed system's own request collection (its Postman export), replayed against `/api`.

One test per request of the collection, sent as the collection sends it: the lowercase
`authorization` header, the same bodies (Postman strips the `//` comments of its raw JSON before
sending), JSON bodies on GET requests too, the same query strings. Where the collection uses a
placeholder id (`1234567890`, `6802ff397330610c80881f59`), the request is replayed as written
and again with a real id. Plus what the collection leaves implicit: `senderId` naming someone
else, every `sort` form, and intranet email domains at signup. All on the real engines.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

PASSWORD = "Bilal@1201"  # the collection's
PLACEHOLDER_CONVERSATION = "1234567890"
PLACEHOLDER_CONVERSATION_OBJECT_ID = "6802ff397330610c80881f59"


def registration(username: str, email: str, tenant_id: int) -> dict[str, Any]:
    """The collection's UserRegistration body (numeric `tenantId`, self-granted `roles`)."""
    return {
        "username": username,
        "email": email,
        "password": PASSWORD,
        "tenantId": tenant_id,
        "roles": ["user"],
    }


def new_message(conversation_id: str, sender_id: str = "user_1") -> dict[str, Any]:
    """The collection's CreateNewMessage body."""
    return {
        "conversationId": conversation_id,
        "senderId": sender_id,
        "content": "Hello, how are you?",
        "metadata": {"priority": "high", "attachments": ["file1.jpg", "file2.pdf"]},
    }


DEV_TEAM = {"title": "Dev Team", "participants": ["Bilal", "Mohsin", "Arslan"]}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}  # the collection's spelling


def legacy_tenant() -> int:
    return 10**6 + uuid.uuid4().int % 10**9


@dataclass
class SeedWorld:
    """A legacy tenant with the collection's people, `bilal` logged in, and "Dev Team"."""

    http: httpx.AsyncClient
    tenant_id: int
    token: str
    me: dict[str, Any]
    conversation: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    @property
    def tenant(self) -> dict[str, str]:
        return {"X-Tenant": f"t{self.tenant_id}"}


async def register(http: httpx.AsyncClient, username: str, email: str, tenant_id: int) -> str:
    signed = await http.post("/api/auth/signup", json=registration(username, email, tenant_id))
    assert signed.status_code == 201, signed.text
    token: str = signed.json()["token"]
    return token


async def seed_world(http: httpx.AsyncClient, tenant_id: int) -> SeedWorld:
    for name in ("mohsin", "arslan"):
        await register(http, name, f"{name}@gmail.com", tenant_id)
    token = await register(http, "bilal", "bilal@gmail.com", tenant_id)
    me = (await http.get("/v1/auth/me", headers=bearer(token))).json()
    created = await http.post("/api/conversations", json=DEV_TEAM, headers=bearer(token))
    assert created.status_code == 201, created.text
    return SeedWorld(http, tenant_id, token, me, created.json())


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        yield client


@pytest.fixture
async def world(http: httpx.AsyncClient) -> SeedWorld:
    return await seed_world(http, legacy_tenant())


async def send(world: SeedWorld, count: int) -> list[dict[str, Any]]:
    sent = []
    for index in range(count):
        body = new_message(world.conversation["_id"], world.me["id"]) | {
            "content": f"Hello, how are you? #{index}"
        }
        response = await world.http.post("/api/messages", json=body, headers=world.headers)
        assert response.status_code == 201, response.text
        sent.append(response.json())
    return sent


def field_errors(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return [error["loc"] for error in response.json().get("errors", [])]


# --- Authentication: UserRegistration, UserAuthentication ------------------------------------


async def test_user_registration_as_the_collection_sends_it(http: httpx.AsyncClient) -> None:
    """Numeric `tenantId: 1` (the seed's default tenant) and `roles: ["user"]` (ignored)."""
    response = await http.post(
        "/api/auth/signup", json=registration("bilalaslam1201", "bilalaslam@gmail.com", 1)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    me = (await http.get("/v1/auth/me", headers=bearer(body["token"]))).json()
    assert body["message"] == "User has been registered successfully!"
    assert body["data"]["token"] == body["token"]
    assert me["username"] == "bilalaslam1201"
    assert me["roles"] == ["member"]  # no self-granted roles
    tenant_of_t1 = me["tenant_id"]
    again = await http.post(
        "/api/auth/signup", json=registration("bilalaslam1202", "bilalaslam2@gmail.com", 1)
    )
    second = (await http.get("/v1/auth/me", headers=bearer(again.json()["token"]))).json()
    assert second["tenant_id"] == tenant_of_t1  # `tenantId: 1` is one tenant, `t1`


async def test_user_authentication_as_the_collection_sends_it(http: httpx.AsyncClient) -> None:
    """The collection logs in as bilal@gmail.com without naming a tenant (`t1`) and its test
    script reads the token at `data.token`."""
    await register(http, "bilal", "bilal@gmail.com", 1)
    response = await http.post(
        "/api/auth/login", json={"email": "bilal@gmail.com", "password": PASSWORD}
    )
    wrong = await http.post(
        "/api/auth/login", json={"email": "bilal@gmail.com", "password": "Bilal@1202"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "User has been logged in successfully!"
    assert body["data"]["token"] == body["token"]  # what the collection's test script reads
    me = await http.get("/v1/auth/me", headers=bearer(body["data"]["token"]))
    assert me.json()["email"] == "bilal@gmail.com"
    assert wrong.status_code == 401


async def test_login_into_a_legacy_tenant_other_than_1(
    http: httpx.AsyncClient, world: SeedWorld
) -> None:
    login = await http.post(
        "/api/auth/login",
        json={"email": "bilal@gmail.com", "password": PASSWORD},
        headers=world.tenant,
    )
    assert login.status_code == 200, login.text
    me = (await http.get("/v1/auth/me", headers=bearer(login.json()["token"]))).json()
    assert me["id"] == world.me["id"]


# --- Conversations: CreateConversation, GetConversationById ----------------------------------


async def test_create_conversation_as_the_collection_sends_it(
    http: httpx.AsyncClient, world: SeedWorld
) -> None:
    """Participants are the collection's capitalised usernames, the caller among them."""
    conversation = world.conversation
    members = {m["user_id"] for m in conversation["members"]}
    assert conversation["title"] == "Dev Team"
    assert conversation["createdBy"] == world.me["id"]
    assert conversation["_id"] == conversation["id"]
    assert set(conversation["participants"]) == members
    assert len(members) == 3
    assert world.me["id"] in members
    unknown = await http.post(
        "/api/conversations",
        json={"title": "Dev Team", "participants": ["Bilal", "Nobody"]},
        headers=world.headers,
    )
    assert unknown.status_code == 422
    assert field_errors(unknown) == ["body.participants"]


async def test_get_conversation_by_id_as_the_collection_sends_it(
    http: httpx.AsyncClient, world: SeedWorld
) -> None:
    """A GET with the collection's JSON body; its placeholder id is nobody's conversation."""
    real = await http.request(
        "GET",
        f"/api/conversations/{world.conversation['_id']}",
        json=DEV_TEAM,
        headers=world.headers,
    )
    placeholder = await http.request(
        "GET",
        f"/api/conversations/{PLACEHOLDER_CONVERSATION_OBJECT_ID}",
        json=DEV_TEAM,
        headers=world.headers,
    )
    assert real.status_code == 200, real.text
    assert real.json()["title"] == "Dev Team"
    assert real.json()["createdBy"] == world.me["id"]
    assert placeholder.status_code == 404


# --- Messages: CreateNewMessage, GetMessagesByConversationId, GetMessagesByElasticSearch -----


async def test_create_new_message_as_the_collection_sends_it(
    http: httpx.AsyncClient, world: SeedWorld
) -> None:
    """The collection's body, placeholder conversation and `senderId: "user_1"` included."""
    placeholder = await http.post(
        "/api/messages", json=new_message(PLACEHOLDER_CONVERSATION), headers=world.headers
    )
    as_collection = await http.post(
        "/api/messages", json=new_message(world.conversation["_id"]), headers=world.headers
    )
    by_id = await http.post(
        "/api/messages",
        json=new_message(world.conversation["_id"], world.me["id"]),
        headers=world.headers,
    )
    by_username = await http.post(
        "/api/messages",
        json=new_message(world.conversation["_id"], "Bilal"),
        headers=world.headers,
    )
    without = await http.post(
        "/api/messages",
        json={k: v for k, v in new_message(world.conversation["_id"]).items() if k != "senderId"},
        headers=world.headers,
    )
    assert placeholder.status_code == 422
    assert field_errors(placeholder) == ["body.conversationId"]
    assert as_collection.status_code == 403  # "user_1" is not the caller
    assert field_errors(as_collection) == ["body.senderId"]
    assert [r.status_code for r in (by_id, by_username, without)] == [201, 201, 201]
    message = by_id.json()
    assert message["senderId"] == world.me["id"]
    assert message["conversationId"] == world.conversation["_id"]
    assert message["content"] == "Hello, how are you?"
    assert message["metadata"] == {"priority": "high", "attachments": ["file1.jpg", "file2.pdf"]}
    assert message["timestamp"] == message["createdAt"] == message["created_at"]
    assert message["_id"] == message["id"]
    assert [by_id.json()["seq"], by_username.json()["seq"], without.json()["seq"]] == [1, 2, 3]


async def test_a_sender_id_of_someone_else_sends_nothing(
    http: httpx.AsyncClient, world: SeedWorld
) -> None:
    mohsin = next(
        m["user_id"] for m in world.conversation["members"] if m["user_id"] != world.me["id"]
    )
    for sender in (mohsin, "mohsin", "user_1"):
        refused = await http.post(
            "/api/messages",
            json=new_message(world.conversation["_id"], sender),
            headers=world.headers,
        )
        assert refused.status_code == 403, (sender, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    history = await http.get(
        f"/api/conversations/{world.conversation['_id']}/messages", headers=world.headers
    )
    assert history.json()["totalElements"] == 0
    assert history.json()["data"] == []


async def test_get_messages_by_conversation_id_as_the_collection_sends_it(
    http: httpx.AsyncClient, world: SeedWorld
) -> None:
    """`pageNo=2&pageSize=3&sort=-timestamp` with the collection's JSON body on the GET."""
    await send(world, 7)
    as_written = await http.request(
        "GET",
        f"/api/conversations/{PLACEHOLDER_CONVERSATION}/messages?pageNo=2&pageSize=3&sort=-timestamp",
        json=new_message(PLACEHOLDER_CONVERSATION),
        headers=world.headers,
    )
    assert as_written.status_code == 422  # not an id (the seed failed it with a cast error)
    assert field_errors(as_written) == ["path.conversation_id"]
    response = await http.request(
        "GET",
        f"/api/conversations/{world.conversation['_id']}/messages?pageNo=2&pageSize=3&sort=-timestamp",
        json=new_message(PLACEHOLDER_CONVERSATION),
        headers=world.headers,
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["totalElements"], page["pageNo"], page["pageSize"], page["totalPages"]) == (
        7,
        2,
        3,
        3,
    )
    assert [m["seq"] for m in page["data"]] == [4, 3, 2]
    assert all(m["conversationId"] == world.conversation["_id"] for m in page["data"])
    defaults = await http.get(
        f"/api/conversations/{world.conversation['_id']}/messages", headers=world.headers
    )
    assert [m["seq"] for m in defaults.json()["data"]] == [7, 6, 5, 4, 3, 2, 1]
    assert defaults.json()["pageSize"] == 10


ASCENDING = ["asc", "ascending", "1", "timestamp", "+timestamp", "createdAt", "_id", "seq"]
DESCENDING = ["desc", "descending", "-1", "-timestamp", "-createdAt", "-_id", "-seq", ""]


async def test_every_sort_form_orders_by_seq_and_time(
    http: httpx.AsyncClient, world: SeedWorld
) -> None:
    await send(world, 4)
    path = f"/api/conversations/{world.conversation['_id']}/messages"
    orders: dict[str, list[int]] = {}
    times: dict[str, list[str]] = {}
    for sort in ASCENDING + DESCENDING:
        # `+timestamp` is sent as the seed's clients type it: a `+` in a query string is a space.
        response = await http.get(f"{path}?sort={sort}&pageSize=10", headers=world.headers)
        assert response.status_code == 200, (sort, response.text)
        orders[sort] = [m["seq"] for m in response.json()["data"]]
        times[sort] = [m["timestamp"] for m in response.json()["data"]]
    assert {sort: orders[sort] for sort in ASCENDING} == {sort: [1, 2, 3, 4] for sort in ASCENDING}
    assert {sort: orders[sort] for sort in DESCENDING} == {
        sort: [4, 3, 2, 1] for sort in DESCENDING
    }
    assert all(times[sort] == sorted(times[sort]) for sort in ASCENDING)
    assert all(times[sort] == sorted(times[sort], reverse=True) for sort in DESCENDING)
    second_oldest = await http.get(
        path, params={"sort": "createdAt", "pageNo": 2, "pageSize": 3}, headers=world.headers
    )
    assert [m["seq"] for m in second_oldest.json()["data"]] == [4]


@pytest.mark.parametrize("sort", ["content", "-updatedAt", "senderId", "newest"])
async def test_an_unknown_sort_is_a_422_naming_sort(
    http: httpx.AsyncClient, world: SeedWorld, sort: str
) -> None:
    response = await http.get(
        f"/api/conversations/{world.conversation['_id']}/messages",
        params={"sort": sort},
        headers=world.headers,
    )
    assert response.status_code == 422
    assert field_errors(response) == ["query.sort"]


async def test_get_messages_by_elastic_search_as_the_collection_sends_it(
    http: httpx.AsyncClient, world: SeedWorld
) -> None:
    """`q=hello&pageNo=1&pageSize=10` with the collection's JSON body on the GET; both of the
    seed's answer shapes (`meta` from its engine, the page fields from its fallback)."""
    await send(world, 2)
    url = (
        f"/api/conversations/{world.conversation['_id']}/messages/search"
        "?q=hello&pageNo=1&pageSize=10"
    )
    found: dict[str, Any] = {}
    for _ in range(100):
        response = await http.request(
            "GET", url, json=new_message(PLACEHOLDER_CONVERSATION), headers=world.headers
        )
        assert response.status_code == 200, response.text
        found = response.json()
        if found["totalElements"] == 2:
            break
        await asyncio.sleep(0.1)
    assert found["totalElements"] == 2
    assert found["meta"] == {"total": 2, "page": 1, "limit": 10, "pages": 1}
    assert {m["content"] for m in found["data"]} == {
        "Hello, how are you? #0",
        "Hello, how are you? #1",
    }
    assert all(m["conversationId"] == world.conversation["_id"] for m in found["data"])


async def test_seed_search_takes_colons_and_dashes_as_text(
    http: httpx.AsyncClient, world: SeedWorld
) -> None:
    """The seed's clients know no search operators: `note:x` is text for them, not a 422."""
    url = f"/api/conversations/{world.conversation['_id']}/messages/search"
    response = await http.get(url, params={"q": "note:x -draft"}, headers=world.headers)
    assert response.status_code == 200, response.text
    assert response.json()["totalElements"] == 0


# --- Intranet email domains at signup --------------------------------------------------------


async def test_intranet_email_domains_sign_up_through_every_entrance(
    http: httpx.AsyncClient,
) -> None:
    tenant_id = legacy_tenant()
    legacy = [
        await http.post("/api/auth/signup", json=registration(name, email, tenant_id))
        for name, email in [
            ("ann", "ann@corp.local"),
            ("bob", "bob@build.internal"),
            ("cy", "cy@qa.test"),
        ]
    ]
    slug = f"e{uuid.uuid4().hex[:10]}"
    tenant = await http.post(
        "/v1/tenants",
        json={
            "name": "Intranet",
            "slug": slug,
            "owner": {"username": "boss", "email": "boss@corp.local", "password": PASSWORD},
        },
    )
    member = await http.post(
        "/v1/auth/signup",
        json={
            "tenant": slug,
            "username": "dee",
            "email": "dee@mail.corp.local",
            "password": PASSWORD,
        },
    )
    login = await http.post(
        "/api/auth/login",
        json={"email": "ann@corp.local", "password": PASSWORD},
        headers={"X-Tenant": f"t{tenant_id}"},
    )
    assert [r.status_code for r in legacy] == [201, 201, 201], [r.text for r in legacy]
    assert tenant.status_code == 201, tenant.text
    assert member.status_code == 201, member.text
    assert login.status_code == 200, login.text


async def test_a_tenant_that_forbids_intranet_domains_refuses_them_naming_email(
    http: httpx.AsyncClient,
) -> None:
    tenant_id = legacy_tenant()
    created = await http.post(
        "/v1/tenants",
        json={
            "name": "Strict",
            "slug": f"t{tenant_id}",
            "owner": {"username": "boss", "email": "boss@example.com", "password": PASSWORD},
            "special_use_email_domains": False,
        },
    )
    legacy = await http.post(
        "/api/auth/signup", json=registration("ann", "ann@corp.local", tenant_id)
    )
    v1 = await http.post(
        "/v1/auth/signup",
        json={
            "tenant": f"t{tenant_id}",
            "username": "bob",
            "email": "bob@x.internal",
            "password": PASSWORD,
        },
    )
    public = await http.post(
        "/api/auth/signup", json=registration("cy", "cy@example.com", tenant_id)
    )
    assert created.status_code == 201, created.text
    assert created.json()["tenant"]["special_use_email_domains"] is False
    assert legacy.status_code == 422
    assert field_errors(legacy) == ["body.email"]
    assert v1.status_code == 422
    assert field_errors(v1) == ["body.email"]
    assert public.status_code == 201, public.text
