"""Resource models and request bodies: limits of API.md and the operator-key rule."""

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from parley_contracts.claims import AccessClaims, Role
from parley_contracts.problems import FieldError, Problem, problem_type
from parley_contracts.resources import (
    ConversationCreate,
    Login,
    MessageCreate,
    MessageEdit,
    Page,
    ReadUpdate,
    RolesUpdate,
    Signup,
    TenantCreate,
    User,
)
from parley_contracts.validation import MAX_CONTENT_CHARS, forbidden_key_path


def error_locs(model: type[BaseModel], data: dict[str, Any]) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [tuple(error["loc"]) for error in caught.value.errors()]


def test_message_content_is_trimmed() -> None:
    assert MessageCreate.model_validate({"content": "  hi  "}).content == "hi"


@pytest.mark.parametrize("content", ["", "   ", "x" * (MAX_CONTENT_CHARS + 1)])
def test_message_content_out_of_bounds_is_rejected(content: str) -> None:
    assert error_locs(MessageCreate, {"content": content}) == [("content",)]


def test_message_content_at_the_limit_after_trimming_is_accepted() -> None:
    body = MessageCreate.model_validate({"content": " " + "x" * MAX_CONTENT_CHARS + " "})
    assert len(body.content) == MAX_CONTENT_CHARS


def test_metadata_over_4_kib_is_rejected() -> None:
    assert error_locs(MessageCreate, {"content": "x", "metadata": {"k": "v" * 4100}}) == [
        ("metadata",)
    ]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"content": "x", "metadata": {"$where": "1"}}, "metadata.$where"),
        ({"content": "x", "metadata": {"a.b": 1}}, "metadata.a.b"),
        ({"content": "x", "metadata": {"list": [{"ok": 1}, {"$gt": 2}]}}, "metadata.list[1].$gt"),
        ({"$set": {"content": "x"}}, "$set"),
    ],
)
def test_keys_starting_with_dollar_or_containing_a_dot_are_rejected(
    body: dict[str, Any], path: str
) -> None:
    assert forbidden_key_path(body) == path
    with pytest.raises(ValidationError, match=r"not allowed|must not start"):
        MessageCreate.model_validate(body)


def test_operator_keys_are_rejected_in_every_request_body() -> None:
    cases: list[tuple[type[BaseModel], dict[str, Any]]] = [
        (Login, {"tenant": "acme", "login": {"$ne": ""}, "password": "x"}),
        (ConversationCreate, {"kind": "group", "member_ids": [], "x.y": 1}),
        (MessageEdit, {"content": "x", "$inc": {"seq": 1}}),
    ]
    for model, body in cases:
        with pytest.raises(ValidationError):
            model.model_validate(body)


def test_unknown_request_fields_are_rejected() -> None:
    assert error_locs(MessageEdit, {"content": "x", "sender_id": "u2"}) == [("sender_id",)]


def test_signup_validates_each_field() -> None:
    locs = error_locs(
        Signup, {"tenant": "Bad Slug", "username": "a", "email": "nope", "password": "short"}
    )
    assert set(locs) == {("tenant",), ("username",), ("email",), ("password",)}


def test_tenant_create_nests_owner_validation() -> None:
    locs = error_locs(
        TenantCreate,
        {"name": "Acme", "slug": "acme", "owner": {"username": "ada", "email": "a@x.io"}},
    )
    assert locs == [("owner", "password")]


def test_roles_must_be_known() -> None:
    assert error_locs(RolesUpdate, {"roles": ["god"]}) == [("roles", 0)]
    assert RolesUpdate.model_validate({"roles": ["admin"]}).roles == [Role.ADMIN]


def test_read_marker_seq_is_never_negative() -> None:
    assert error_locs(ReadUpdate, {"seq": -1}) == [("seq",)]


def test_conversation_kind_must_be_direct_or_group() -> None:
    assert error_locs(ConversationCreate, {"kind": "channel", "member_ids": []}) == [("kind",)]


def test_user_never_carries_a_password_hash() -> None:
    user = User.model_validate(
        {
            "id": "u1",
            "tenant_id": "t1",
            "username": "ada",
            "email": "a@x.io",
            "roles": ["member"],
            "created_at": "2026-11-23T10:00:00Z",
            "password_hash": "argon2...",
        }
    )
    assert "password_hash" not in user.model_dump()


def test_page_round_trips() -> None:
    page = Page[int](items=[1, 2], next_cursor="abc")
    assert Page[int].model_validate_json(page.model_dump_json()) == page


def test_claims_know_tenant_admins() -> None:
    claims = AccessClaims(
        sub="u1",
        tid="t1",
        roles=(Role.ADMIN,),
        username="ada",
        iat=1,
        exp=2,
        jti="j",
        iss="parley-auth",
        aud="parley",
    )
    assert claims.is_tenant_admin
    assert claims.user_id == "u1"
    assert claims.tenant_id == "t1"
    assert not claims.model_copy(update={"roles": (Role.MEMBER,)}).is_tenant_admin


def test_problem_body_omits_empty_fields() -> None:
    problem = Problem(
        type=problem_type("validation"),
        title="Validation failed",
        status=422,
        errors=[FieldError(loc="body.content", msg="too long", type="value_error")],
    )
    assert problem.body() == {
        "type": "https://parley.dev/problems/validation",
        "title": "Validation failed",
        "status": 422,
        "errors": [{"loc": "body.content", "msg": "too long", "type": "value_error"}],
    }
