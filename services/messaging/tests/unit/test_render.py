"""Messages as resources: one instant is written one way (API.md: milliseconds and `Z`),
whether the message comes from the store or from a page the projection cached."""

from datetime import UTC, datetime

from parley_messaging.models import MessageRecord, message_id
from parley_messaging.render import base_message, decorated

WRITTEN = datetime(2026, 11, 28, 7, 30, 1, 123456, tzinfo=UTC)


def make_record(**overrides: object) -> MessageRecord:
    fields: dict[str, object] = {
        "id": message_id("c1", 1),
        "tenant_id": "t1",
        "conversation_id": "c1",
        "seq": 1,
        "sender_id": "u1",
        "content": "hello",
        "created_at": WRITTEN,
    }
    # Built without a database (no Beanie initialisation): only its fields are read.
    return MessageRecord.model_construct(**(fields | overrides))


def test_instants_are_written_with_milliseconds_and_z() -> None:
    base = base_message(make_record(edited_at=WRITTEN, pinned_at=WRITTEN, pinned_by="u1"))
    assert base["created_at"] == "2026-11-28T07:30:01.123Z"
    assert base["edited_at"] == "2026-11-28T07:30:01.123Z"
    assert base["pinned_at"] == "2026-11-28T07:30:01.123Z"


def test_a_page_cached_the_old_way_is_served_the_api_way() -> None:
    cached = base_message(make_record(edited_at=WRITTEN)) | {
        "created_at": WRITTEN.isoformat(),  # what pages cached before the fix hold
        "edited_at": WRITTEN.isoformat(),
    }
    message = decorated(cached)
    assert message["created_at"] == "2026-11-28T07:30:01.123Z"
    assert message["edited_at"] == "2026-11-28T07:30:01.123Z"
    assert message["pinned_at"] is None
    assert decorated(base_message(make_record()))["created_at"] == message["created_at"]
