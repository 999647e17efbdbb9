"""Who a message mentions: `@username` of a member of the conversation, and `@all` (or its
alias `@here`) from a conversation admin, resolved when the message is written.

Usernames go to auth (`users:by-username`, cached in Redis); a name of nobody, of a user of
another tenant (auth answers only the tenant asked about) or of a user who is not a member is
ignored the same way, so a message never reveals who exists. `@all` is rate-limited per sender
(`EVERYONE_PER_WINDOW` per `EVERYONE_WINDOW_SECONDS`); beyond it, and from a non-admin, it
mentions nobody and the message is still sent.
"""

import re
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_messaging.directory import UserDirectory
from parley_messaging.domain.membership import Membership

# `@name` not preceded by a word character, `@` or `.` (so an email address is no mention).
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_.-]{2,64})")
EVERYONE = frozenset({"all", "here"})
MAX_NAMES = 50  # distinct names resolved per message; more are ignored
EVERYONE_PER_WINDOW = 5
EVERYONE_WINDOW_SECONDS = 600

COUNT_IN_WINDOW = """
-- KEYS: counter. ARGV: window seconds. The count after this use.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def mentioned_names(content: str) -> tuple[list[str], bool]:
    """(usernames, lowercased, in order of first appearance; whether `@all`/`@here` appears).
    A name followed by sentence punctuation (`@ann.`) is also tried without it."""
    if "@" not in content:
        return [], False
    names: dict[str, None] = {}
    everyone = False
    for match in MENTION.finditer(content):
        name = match.group(1).lower()
        for candidate in (name, name.rstrip(".-")):
            if candidate in EVERYONE:
                everyone = True
            elif len(candidate) >= 2 and len(names) < MAX_NAMES:
                names[candidate] = None
    return list(names), everyone


class MentionResolver:
    def __init__(self, directory: UserDirectory, redis: Redis, prefix: str) -> None:
        self._directory = directory
        self._redis = redis
        self._prefix = prefix
        self._count = redis.register_script(COUNT_IN_WINDOW)

    async def resolve(
        self,
        member: Membership,
        members: dict[str, Any],
        content: str,
        *,
        previous: str | None = None,
    ) -> list[str]:
        """Ids of the members `content` mentions, never the writer. `previous`: the content an
        edit replaces (its `@all` is not counted against the limit again)."""
        names, everyone = mentioned_names(content)
        found: set[str] = set()
        if everyone and member.is_admin:
            already = previous is not None and mentioned_names(previous)[1]
            if already or await self._everyone_allowed(member):
                found |= set(members)
        if names:
            by_name = await self._directory.ids_by_username(member.tenant_id, names)
            found |= {user_id for user_id in by_name.values() if user_id in members}
        found.discard(member.user_id)
        return sorted(found)

    async def _everyone_allowed(self, member: Membership) -> bool:
        window = int(time.time()) // EVERYONE_WINDOW_SECONDS
        key = f"{self._prefix}everyone:{member.tenant_id}:{member.user_id}:{window}"
        try:
            used = int(await self._count(keys=[key], args=[EVERYONE_WINDOW_SECONDS]))
        except RedisError:
            REDIS_FAILURES.labels("messaging", "everyone").inc()
            return False  # no counter, no broadcast: the message still goes out
        return used <= EVERYONE_PER_WINDOW
