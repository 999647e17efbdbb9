"""A signing key's state follows from its dates alone: the newest promoted key signs, an older
promoted key retires from the promotion that followed it until the token lifetime and margin
have passed, a staged key may be promoted once published long enough."""

from datetime import UTC, datetime, timedelta

from parley_auth.keys import KeyState, RotationTimes, key_statuses
from parley_auth.models import SigningKeyRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TIMES = RotationTimes.of(access_token_seconds=900, publish_seconds=300, retire_margin_seconds=60)


def key(
    kid: str, created: int, promoted: int | None = None, retired: int | None = None
) -> SigningKeyRecord:
    def at(minutes: int | None) -> datetime | None:
        return None if minutes is None else T0 + timedelta(minutes=minutes)

    return SigningKeyRecord.model_construct(
        kid=kid,
        private_pem="",
        public_jwk={},
        created_at=at(created),
        promoted_at=at(promoted),
        retired_at=at(retired),
    )


def test_a_rotation_in_progress() -> None:
    statuses = {
        s.kid: s
        for s in key_statuses(
            [
                key("gone", 0, promoted=0, retired=200),
                key("old", 100, promoted=100),
                key("current", 150, promoted=160),
                key("next", 170),
            ],
            TIMES,
        )
    }

    assert {kid: s.state for kid, s in statuses.items()} == {
        "gone": KeyState.RETIRED,
        "old": KeyState.RETIRING,
        "current": KeyState.CURRENT,
        "next": KeyState.STAGED,
    }
    assert statuses["old"].retiring_since == T0 + timedelta(minutes=160)
    assert statuses["old"].ready_at == T0 + timedelta(minutes=160, seconds=960)
    assert statuses["next"].ready_at == T0 + timedelta(minutes=175)
    assert statuses["current"].ready_at is None


def test_two_promotions_in_a_row_leave_two_retiring_keys_each_from_its_successor() -> None:
    statuses = {
        s.kid: s
        for s in key_statuses(
            [key("a", 0, promoted=0), key("b", 5, promoted=10), key("c", 15, promoted=20)],
            TIMES,
        )
    }

    assert statuses["a"].retiring_since == T0 + timedelta(minutes=10)
    assert statuses["b"].retiring_since == T0 + timedelta(minutes=20)
    assert statuses["c"].state is KeyState.CURRENT
