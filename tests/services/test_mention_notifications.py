"""`@username` in a chat reaches that person over their notification channel."""

from __future__ import annotations

from tests.fakes import FakeSMTP
from tests.fakes.waiting import wait_for
from tests.support.api import create_chat, post_message
from tests.support.stack import Stack


async def test_mention_is_mailed_to_the_member(stack: Stack, fake_smtp: FakeSMTP) -> None:
    org = await stack.api.create_org(members=3)
    alice, bob, carol = org.members
    await stack.add_email(bob, "bob@example.com")
    await stack.add_email(carol, "carol@example.com")
    chat = await create_chat(stack.client, alice, bob, title="Закупки")
    posted = await post_message(
        stack.client, alice, chat["id"], f"@{bob.username}, проверь счёт; @{carol.username}"
    )
    assert posted["mentioned_user_ids"] == [bob.id]
    await stack.engine.notifications.dispatch_pending()
    mail = await wait_for(lambda: fake_smtp.messages, timeout=5)
    assert [m.to for m in mail] == [["bob@example.com"]]
    assert "Закупки" in mail[0].subject and "проверь счёт" in mail[0].text
