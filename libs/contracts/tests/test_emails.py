"""Email syntax: intranet domains parse in every request body; names no mailbox can have do not."""

import pytest
from pydantic import ValidationError

from parley_contracts.emails import intranet_domain
from parley_contracts.resources import OwnerSignup, ProfileUpdate, Signup


def signup(email: str) -> Signup:
    return Signup.model_validate(
        {"tenant": "acme", "username": "ann", "email": email, "password": "long enough"}
    )


@pytest.mark.parametrize(
    ("email", "normalized", "intranet"),
    [
        ("ann@corp.local", "ann@corp.local", "local"),
        ("ann@Build.Internal", "ann@build.internal", "internal"),
        ("ann@qa.test", "ann@qa.test", "test"),
        ("ann@example.com", "ann@example.com", None),
        ("ann@local.example.com", "ann@local.example.com", None),
    ],
)
def test_intranet_domains_parse_and_are_named(
    email: str, normalized: str, intranet: str | None
) -> None:
    parsed = signup(email).email
    assert parsed == normalized
    assert intranet_domain(parsed) == intranet


@pytest.mark.parametrize(
    "email", ["a@host.localhost", "a@hidden.onion", "a@x.invalid", "a@10.in-addr.arpa", "a@local"]
)
def test_names_no_mailbox_can_have_stay_refused(email: str) -> None:
    with pytest.raises(ValidationError):
        signup(email)


def test_every_email_field_takes_the_same_addresses() -> None:
    owner = OwnerSignup(username="boss", email="boss@corp.local", password="long enough")
    profile = ProfileUpdate(email="ann@qa.test")
    assert (owner.email, profile.email) == ("boss@corp.local", "ann@qa.test")
