"""Operators in `q` on the real engine: each alone and combined, with the query parameters,
never widening what the caller may see, and 422s naming the offending token."""

from datetime import UTC, datetime
from typing import Any

import pytest
from search_suite import SearchRig, identity, index_all, make_message, publish, search_page

from parley_contracts.resources import Message
from parley_contracts.topics import EventType

pytestmark = pytest.mark.integration

TENANT, OTHER_TENANT = "tenant-ops", "tenant-ops-2"
ME, ANN, BOB = "u-me", "u-ann", "u-bob"
GENERAL, LAUNCH, LEFT = "c-general", "c-launch", "c-left"


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


@pytest.fixture
async def messages(rig: SearchRig) -> dict[str, Message]:
    double = rig.messaging
    double.members[(TENANT, ME)] = [GENERAL, LAUNCH]  # ME left (or was never in) LEFT
    double.members[(TENANT, BOB)] = [GENERAL, LAUNCH, LEFT]
    double.members[(OTHER_TENANT, ME)] = [GENERAL]
    double.titles |= {
        (TENANT, GENERAL): "General",
        (TENANT, LAUNCH): "Launch plans",
        (TENANT, LEFT): "Secret",
        (OTHER_TENANT, GENERAL): "Launch plans",
    }
    for tenant in (TENANT, OTHER_TENANT):
        double.users |= {(tenant, "me"): ME, (tenant, "ann"): ANN, (tenant, "bob"): BOB}

    def message(conversation: str, text: str, **fields: Any) -> Message:
        return make_message(fields.pop("tenant", TENANT), conversation, text, **fields)

    found = {
        "link": message(
            GENERAL, "budget review https://example.com/sheet", sender_id=ANN, created_at=at(10)
        ),
        "lunch": message(GENERAL, "lunch plans", sender_id=ANN, created_at=at(10, 9)),
        "parent": message(
            GENERAL,
            "budget approved",
            sender_id=BOB,
            created_at=at(11),
            mentions=[ME],
            reactions={"👍": [ANN]},
        ),
        "launch": message(
            LAUNCH, "launch budget final", sender_id=BOB, created_at=at(15), mentions=[ANN]
        ),
        "left": message(
            LEFT, "budget secret https://example.com", sender_id=ANN, created_at=at(12)
        ),
        "other": message(
            GENERAL, "budget other tenant", tenant=OTHER_TENANT, sender_id=ANN, created_at=at(12)
        ),
    }
    found["reply"] = message(
        GENERAL,
        "budget reply in the thread",
        sender_id=ANN,
        created_at=at(12),
        parent_id=found["parent"].id,
    )
    await index_all(rig, list(found.values()), TENANT)
    return found


async def names(rig: SearchRig, messages: dict[str, Message], q: str, **params: Any) -> list[str]:
    tenant = params.pop("tenant", TENANT)
    user = params.pop("user", ME)
    page = await search_page(rig, tenant, user, q=q, **params)
    by_id = {m.id: name for name, m in messages.items()}
    return [by_id[item["message"]["id"]] for item in page["items"]]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("budget", {"link", "parent", "reply", "launch"}),
        ("budget from:ann", {"link", "reply"}),
        ("budget from:ANN from:bob", {"link", "reply", "parent", "launch"}),
        ("budget from:@ann", {"link", "reply"}),
        ("budget from:nobody", set()),
        (f"budget in:{LAUNCH}", {"launch"}),
        ('budget in:"launch plans"', {"launch"}),
        ("budget in:general", {"link", "parent", "reply"}),
        ("budget mentions:me", {"parent"}),
        ("budget mentions:ann", {"launch"}),
        ("budget mentions:nobody", set()),
        ("budget during:2026-01-11", {"parent"}),
        ("budget before:2026-01-11", {"link"}),
        ("budget after:2026-01-11", {"reply", "launch"}),
        ("budget after:2026-01-11 before:2026-01-11", set()),
        ("budget has:link", {"link"}),
        ("budget has:reaction", {"parent"}),
        ("budget is:thread", {"parent", "reply"}),
        ('"budget approved"', {"parent"}),
        ("budget -approved", {"link", "reply", "launch"}),
        ('budget -"launch budget"', {"link", "parent", "reply"}),
        ("from:ann in:general has:link budget", {"link"}),
        ("from:ann is:thread", {"reply"}),
        ("in:general -budget", {"lunch"}),
    ],
)
async def test_each_operator_alone_and_combined(
    rig: SearchRig, messages: dict[str, Message], q: str, expected: set[str]
) -> None:
    assert set(await names(rig, messages, q)) == expected, q


async def test_operators_without_text_are_a_filter_only_search_newest_first(
    rig: SearchRig, messages: dict[str, Message]
) -> None:
    assert await names(rig, messages, "from:ann") == ["reply", "link", "lunch"]
    page = await search_page(rig, TENANT, ME, q="from:ann")
    assert page["total"] == 3
    assert page["corrected"] is False


async def test_operators_combine_with_the_query_parameters(
    rig: SearchRig, messages: dict[str, Message]
) -> None:
    assert await names(rig, messages, "budget from:ann", conversation_id=LAUNCH) == []
    assert await names(rig, messages, "budget from:ann", sender_id=BOB) == []
    assert await names(rig, messages, "budget", sender_id=BOB, conversation_id=GENERAL) == [
        "parent"
    ]
    assert await names(rig, messages, "budget after:2026-01-10", before="2026-01-12T00:00:00Z") == [
        "parent"
    ]


@pytest.mark.parametrize(
    "q",
    [
        f"budget in:{LEFT}",  # a conversation the caller is not in, by id
        "budget in:secret",  # ... and by title
        f"in:{LEFT}",
        "secret",
        "from:ann has:link secret",
    ],
)
async def test_operators_never_widen_what_the_caller_sees(
    rig: SearchRig, messages: dict[str, Message], q: str
) -> None:
    assert await names(rig, messages, q) == []


async def test_other_tenants_stay_out_whatever_the_operators(
    rig: SearchRig, messages: dict[str, Message]
) -> None:
    # The other tenant's `me` is in a conversation with the same id, titled "Launch plans".
    for q in ("budget", 'budget in:"launch plans"', "budget from:ann", f"in:{GENERAL}"):
        assert await names(rig, messages, q, tenant=OTHER_TENANT) == ["other"], q
    assert await names(rig, messages, f"budget in:{LAUNCH}", tenant=OTHER_TENANT) == []


async def test_mentions_me_is_the_caller(rig: SearchRig, messages: dict[str, Message]) -> None:
    assert await names(rig, messages, "mentions:me", user=BOB) == []
    assert await names(rig, messages, "mentions:me") == ["parent"]


@pytest.mark.parametrize(
    ("q", "token"),
    [
        ("budget foo:bar", "foo:bar"),
        ("budget before:2026-02-30", "before:2026-02-30"),
        ("during:tomorrow", "during:tomorrow"),
        ("has:pictures budget", "has:pictures"),
        ("is:pinned", "is:pinned"),
    ],
)
async def test_unknown_operators_and_bad_dates_are_422_naming_the_token(
    rig: SearchRig, q: str, token: str
) -> None:
    response = await rig.client.get(
        "/v1/search/messages", params={"q": q}, headers=identity(TENANT, ME)
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [e["loc"] for e in problem["errors"]] == ["query.q"]
    assert token in problem["errors"][0]["msg"]
    assert token in problem["detail"]


@pytest.mark.parametrize("q", ['""', '"!!" -budget', "-budget"])
async def test_neither_text_nor_operators_is_422(rig: SearchRig, q: str) -> None:
    response = await rig.client.get(
        "/v1/search/messages", params={"q": q}, headers=identity(TENANT, ME)
    )
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == ["query.q"]


async def test_reactions_of_the_same_version_are_indexed(rig: SearchRig) -> None:
    """`reaction.updated` carries the message's edit version: it must not be refused as stale
    (the index writes with `external_gte`), so `has:reaction` finds it."""
    rig.messaging.members[(TENANT, ME)] = [GENERAL]
    message = make_message(TENANT, GENERAL, "quarterly numbers")
    await index_all(rig, [message], TENANT)
    assert (await search_page(rig, TENANT, ME, q="quarterly has:reaction"))["items"] == []

    reacted = message.model_copy(update={"reactions": {"🎉": [BOB]}})
    await publish(rig.producer, rig.topic, EventType.REACTION_UPDATED, reacted)
    await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, message)  # a replay
    await publish(rig.producer, rig.topic, EventType.REACTION_UPDATED, reacted)  # ... in order
    await index_all(rig, [], TENANT)

    page = await search_page(rig, TENANT, ME, q="quarterly has:reaction")
    assert [item["message"]["reactions"] for item in page["items"]] == [{"🎉": [BOB]}]
