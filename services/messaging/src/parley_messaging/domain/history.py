"""Edit history: each previous content of a message is a document of its own,
`<message>:v<version>` (version 1 is the content as sent), so a message document does not
grow with its edits and the history is read by `_id` lookups 1..`edit_count`, never a scan.

Writers hold the message's lock (see `messages.py`): an edit stores the content it replaces,
then rewrites the message with `edit_count` one higher. A deleted message has no history: its
versions are deleted after the message is, and never read for a deleted message meanwhile.
"""

import asyncio
from datetime import datetime

from pymongo.errors import DuplicateKeyError

from parley_contracts.claims import AccessClaims
from parley_contracts.resources import MessageVersion
from parley_kit.problems import NotFound
from parley_messaging.domain.membership import Membership, MembershipCheck
from parley_messaging.domain.timeline import Timeline
from parley_messaging.models import (
    MessageRecord,
    MessageVersionRecord,
    parse_message_id,
    version_id,
)
from parley_messaging.repository import MessageVersionRepository

NO_MESSAGE = "no such message"
FETCH_CONCURRENCY = 4  # FerretDB answers concurrent lookups no faster than a few at once


async def stored_message(timeline: Timeline, member: Membership, message_id: str) -> MessageRecord:
    """A message of the member's conversation (deleted ones too); 404 if there is none."""
    parsed = parse_message_id(message_id)
    if parsed is None or parsed[0] != member.conversation_id:
        raise NotFound(NO_MESSAGE)
    record = await timeline.messages(member.tenant_id).get(*parsed)
    if record is None or record.tombstone:
        raise NotFound(NO_MESSAGE)
    return record


async def keep_previous_version(record: MessageRecord, replaced_at: datetime) -> None:
    """Store the content `record` has now as its next previous version and count it in
    `record.edit_count` (the caller holds the message's lock and then writes `record`)."""
    version = record.edit_count + 1
    previous = MessageVersionRecord(
        id=version_id(str(record.id), version),
        tenant_id=record.tenant_id,
        message_id=str(record.id),
        version=version,
        content=record.content,
        edited_at=replaced_at,
    )
    repo = MessageVersionRepository(record.tenant_id)
    try:
        await repo.insert(previous)
    except DuplicateKeyError:
        # An edit that died after this insert and before its message write: the message still
        # has this content, so the version is the same one; keep this attempt's time.
        await repo.write(previous)
    record.edit_count = version


async def forget_versions(record: MessageRecord) -> None:
    """Delete the stored versions of a deleted message (and the one an edit that died before
    its message write may have left above `edit_count`)."""
    repo = MessageVersionRepository(record.tenant_id)
    first = len(record.edits) + 1  # embedded versions went with the message's own write
    for version in range(first, record.edit_count + 2):
        await repo.remove(str(record.id), version)


class EditHistory:
    def __init__(self, membership: MembershipCheck, timeline: Timeline) -> None:
        self._membership = membership
        self._timeline = timeline

    async def versions(
        self, claims: AccessClaims, conversation_id: str, message_id: str
    ) -> list[MessageVersion]:
        """Previous versions, oldest first; none for a deleted message."""
        member = await self._membership.require_member(
            claims.tenant_id, conversation_id, claims.user_id
        )
        record = await stored_message(self._timeline, member, message_id)
        if record.deleted:
            return []
        found = [
            MessageVersion(version=v, content=e.content, edited_at=e.replaced_at)
            for v, e in enumerate(record.edits, start=1)
        ]
        repo = MessageVersionRepository(claims.tenant_id)
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def one(version: int) -> MessageVersionRecord | None:
            async with gate:
                return await repo.get(str(record.id), version)

        stored = await asyncio.gather(
            *(one(v) for v in range(len(record.edits) + 1, record.edit_count + 1))
        )
        found += [
            MessageVersion(version=s.version, content=s.content, edited_at=s.edited_at)
            for s in stored
            if s is not None
        ]
        return found
