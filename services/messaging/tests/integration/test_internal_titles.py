"""The internal conversations-of-user route adds titles only when asked (search's `in:`)."""

import pytest
from messaging_factories import make_group, make_tenant
from messaging_suite import Suite

pytestmark = pytest.mark.integration


async def test_titles_are_added_on_request_for_the_users_conversations_only(suite: Suite) -> None:
    owner, ann, other = await make_tenant(suite.auth, "ann", "other")
    launch = await make_group(suite.messaging, owner, ann, title="Launch plans")
    await make_group(suite.messaging, owner, other, title="Not for ann")
    path = f"/internal/v1/tenants/{owner.tenant_id}/users/{ann.id}/conversations"
    secret = {"X-Parley-Internal-Token": suite.settings.internal_secret.get_secret_value()}

    plain = (await suite.messaging.get(path, headers=secret)).json()
    titled = (await suite.messaging.get(path, params={"titles": "true"}, headers=secret)).json()

    assert plain == {"conversation_ids": [launch]}
    assert titled == {"conversation_ids": [launch], "titles": {launch: "Launch plans"}}
