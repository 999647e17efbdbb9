"""Who takes over a group from a deactivated admin."""

from parley_messaging.domain.succession import heir


def member(role: str, joined_at: str) -> dict[str, str]:
    return {"role": role, "joined_at": joined_at}


def test_the_earliest_joined_active_member_is_the_heir() -> None:
    members = {
        "leaver": member("admin", "2026-01-01T00:00:00+00:00"),
        "early-inactive": member("member", "2026-01-02T00:00:00+00:00"),
        "late": member("member", "2026-01-04T00:00:00+00:00"),
        "early": member("member", "2026-01-03T00:00:00+00:00"),
    }
    assert heir(members, "leaver", {"late", "early"}) == "early"


def test_no_heir_while_another_active_admin_remains() -> None:
    members = {
        "leaver": member("admin", "2026-01-01T00:00:00+00:00"),
        "other-admin": member("admin", "2026-01-05T00:00:00+00:00"),
        "m": member("member", "2026-01-02T00:00:00+00:00"),
    }
    assert heir(members, "leaver", {"other-admin", "m"}) is None
    assert heir(members, "leaver", {"m"}) == "m", "an inactive admin does not count"


def test_no_heir_when_nobody_active_is_left() -> None:
    members = {"leaver": member("admin", "2026-01-01T00:00:00+00:00")}
    assert heir(members, "leaver", set()) is None
