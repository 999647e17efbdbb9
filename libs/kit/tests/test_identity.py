"""The identity the gateway forwards is trusted only with a valid, fresh signature."""

import time

import pytest

from parley_contracts.claims import AccessClaims, Role
from parley_kit.identity import ForwardedIdentity
from parley_kit.tokens import InvalidToken


def make_claims() -> AccessClaims:
    now = int(time.time())
    return AccessClaims(
        sub="u1",
        tid="t1",
        roles=(Role.MEMBER,),
        username="ada",
        iat=now,
        exp=now + 900,
        jti="j1",
        iss="parley-auth",
        aud="parley",
    )


def test_signed_identity_round_trips() -> None:
    forwarded = ForwardedIdentity("secret")
    assert forwarded.verify(forwarded.sign(make_claims())) == make_claims()


def test_identity_signed_with_another_secret_is_rejected() -> None:
    header = ForwardedIdentity("attacker").sign(make_claims())
    with pytest.raises(InvalidToken, match="signature"):
        ForwardedIdentity("secret").verify(header)


def test_tampered_claims_are_rejected() -> None:
    forwarded = ForwardedIdentity("secret")
    other = ForwardedIdentity("secret").sign(make_claims().model_copy(update={"tid": "t2"}))
    _payload, issued, mac = forwarded.sign(make_claims()).split(".")
    tampered = f"{other.split('.')[0]}.{issued}.{mac}"
    with pytest.raises(InvalidToken, match="signature"):
        forwarded.verify(tampered)


def test_stale_identity_is_rejected() -> None:
    forwarded = ForwardedIdentity("secret", max_age_seconds=60)
    header = forwarded.sign(make_claims(), now=time.time() - 120)
    with pytest.raises(InvalidToken, match="expired"):
        forwarded.verify(header)


def test_malformed_identity_is_rejected() -> None:
    with pytest.raises(InvalidToken):
        ForwardedIdentity("secret").verify("not-a-header")


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        ForwardedIdentity("")


def test_signed_client_address_round_trips_and_is_not_an_identity() -> None:
    forwarded = ForwardedIdentity("secret")
    header = forwarded.sign_client_ip("203.0.113.7")
    assert forwarded.verify_client_ip(header) == "203.0.113.7"
    with pytest.raises(InvalidToken):
        forwarded.verify(header)
    with pytest.raises(InvalidToken):
        forwarded.verify_client_ip(forwarded.sign(make_claims()))


def test_client_address_forged_or_stale_is_rejected() -> None:
    forwarded = ForwardedIdentity("secret", max_age_seconds=60)
    with pytest.raises(InvalidToken, match="signature"):
        forwarded.verify_client_ip(ForwardedIdentity("attacker").sign_client_ip("6.6.6.6"))
    with pytest.raises(InvalidToken, match="expired"):
        forwarded.verify_client_ip(forwarded.sign_client_ip("6.6.6.6", now=time.time() - 120))
    with pytest.raises(InvalidToken):
        forwarded.verify_client_ip("6.6.6.6")
