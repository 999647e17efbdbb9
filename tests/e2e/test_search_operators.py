"""Search operators through the gateway with the real services: `from:` resolved by auth,
`in:<title>` by messaging's titles, typo tolerance, thread parents, a 422 naming the token."""

import asyncio

import pytest
from e2e_factories import close, member_of, tenant_with_owner

from parley_client import ParleyClient, ParleyError
from parley_contracts.resources import SearchPage

pytestmark = pytest.mark.e2e


async def _search(client: ParleyClient, q: str, *, expect: int) -> SearchPage:
    page = await client.search(q)
    for _ in range(60):
        if len(page.items) == expect:
            break
        await asyncio.sleep(0.1)
        page = await client.search(q)
    return page


async def test_operators_resolve_names_and_titles_within_the_tenant(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    carol = await member_of(gateway, ada, "carol")
    try:
        launch = await ada.client.create_conversation("group", [bob.user_id], title="Launch plans")
        hidden = await ada.client.create_conversation("group", [carol.user_id], title="Hidden")
        first = await ada.client.send_message(launch.id, "the budget spreadsheet is ready")
        reply = await bob.client.send_message(launch.id, "budget approved", parent_id=first.id)
        await ada.client.send_message(hidden.id, "budget for the hidden project")
        await bob.client.send_message(launch.id, "sentinel giraffe")
        await _search(bob.client, "giraffe", expect=1)

        from_ada = await bob.client.search("budget from:ada")
        from_nobody = await bob.client.search("budget from:nobody")
        in_title = await bob.client.search('budget in:"launch plans"')
        in_hidden = await bob.client.search("budget in:hidden")
        typo = await bob.client.search("budgte spreadsheet")
        threads = await bob.client.search("is:thread from:bob")
        with pytest.raises(ParleyError) as refused:
            await bob.client.search("budget colour:red")
    finally:
        await close(ada, bob, carol)

    assert [hit.message.id for hit in from_ada.items] == [first.id]
    assert from_nobody.items == []
    assert {hit.message.id for hit in in_title.items} == {first.id, reply.id}
    assert in_hidden.items == []  # bob is not in "Hidden": nothing, not an error
    assert [hit.message.id for hit in typo.items] == [first.id]
    assert typo.corrected
    assert typo.did_you_mean == "budget spreadsheet"
    assert [hit.message.id for hit in threads.items] == [reply.id]
    parent = threads.items[0].parent
    assert parent is not None
    assert parent.id == first.id
    assert parent.excerpt == "the budget spreadsheet is ready"
    assert refused.value.status == 422
    assert "colour:red" in str(refused.value)
