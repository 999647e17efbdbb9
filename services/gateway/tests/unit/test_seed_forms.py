"""The seed's request forms the gateway translates: `sort` values, `senderId`, field names."""

import pytest

from parley_contracts.claims import AccessClaims
from parley_gateway.seed import (
    SeedMessageCreate,
    SeedToken,
    check_sender,
    history_order,
    seed_conversation,
    seed_message,
)
from parley_kit.problems import Forbidden, Unprocessable

CONVERSATION_ID = "65f0c0ffee0123456789abcd"


def claims(sub: str = "65f0c0ffee0123456789aaaa", username: str = "Sam") -> AccessClaims:
    return AccessClaims(
        sub=sub, tid="t", username=username, iat=0, exp=1, jti="j", iss="parley", aud="parley"
    )


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("asc", "asc"),
        ("desc", "desc"),
        ("ascending", "asc"),
        ("descending", "desc"),
        ("1", "asc"),
        ("-1", "desc"),
        ("timestamp", "asc"),
        ("-timestamp", "desc"),
        (" timestamp", "asc"),  # `sort=+timestamp` in a query string
        ("createdAt", "asc"),
        ("-createdAt", "desc"),
        ("_id", "asc"),
        ("-_id", "desc"),
        ("seq", "asc"),
        ("-seq", "desc"),
        ("", "desc"),
    ],
)
def test_every_sort_form_of_the_seed_maps_to_an_order(sort: str, order: str) -> None:
    assert history_order(sort) == order


@pytest.mark.parametrize(
    "sort", ["content", "-updatedAt", "senderId", "TIMESTAMP", "--timestamp", "random", "-"]
)
def test_a_sort_that_does_not_follow_the_send_order_is_a_422_naming_sort(sort: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        history_order(sort)
    assert refused.value.errors is not None
    assert [error.loc for error in refused.value.errors] == ["query.sort"]


def test_the_caller_may_name_themself_by_id_or_username() -> None:
    caller = claims()
    for sender in (None, caller.sub, "Sam", "sam"):
        check_sender(caller, sender)


@pytest.mark.parametrize("sender", ["user_1", "65f0c0ffee0123456789bbbb", "kim", ""])
def test_naming_anyone_else_as_sender_is_forbidden(sender: str) -> None:
    with pytest.raises(Forbidden) as refused:
        check_sender(claims(), sender)
    assert refused.value.status == 403


def test_the_seed_collection_message_body_is_accepted() -> None:
    body = SeedMessageCreate.model_validate(
        {
            "conversationId": CONVERSATION_ID,
            "senderId": "user_1",
            "content": "Hello, how are you?",
            "metadata": {"priority": "high", "attachments": ["file1.jpg", "file2.pdf"]},
        }
    )
    assert body.senderId == "user_1"
    assert body.metadata["attachments"] == ["file1.jpg", "file2.pdf"]


def test_seed_field_names_are_served_beside_the_v1_ones() -> None:
    message = seed_message(
        {
            "id": "m",
            "conversation_id": "c",
            "sender_id": "u",
            "tenant_id": "t",
            "created_at": "2026-01-01T00:00:00Z",
            "edited_at": None,
        }
    )
    edited = seed_message(message | {"edited_at": "2026-01-02T00:00:00Z"})
    conversation = seed_conversation(
        {
            "id": "c",
            "tenant_id": "t",
            "created_by": "u",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "members": [{"user_id": "u"}, {"user_id": "v"}],
        }
    )
    token = SeedToken.of("hello", "jwt")
    assert (message["timestamp"], message["updatedAt"]) == (
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
    )
    assert edited["updatedAt"] == "2026-01-02T00:00:00Z"
    assert (conversation["createdBy"], conversation["participants"]) == ("u", ["u", "v"])
    assert token.model_dump() == {"message": "hello", "token": "jwt", "data": {"token": "jwt"}}
