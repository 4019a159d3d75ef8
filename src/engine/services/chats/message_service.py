"""Posting, listing, editing and validating messages; `@user` notifies, `@@role` asks an AI."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from uuid import UUID

from engine.errors import Conflict, Forbidden, NotFound, Unprocessable
from engine.models.chat import Chat, Message, PostedMessage, UnresolvedMention
from engine.models.user import User
from engine.services.audit_service import AuditTrail
from engine.services.chats.events import ChatEvent, ChatEventBus, EventType
from engine.services.chats.mentions import ParsedMentions, parse_mentions
from engine.services.identity.access import Caller
from engine.storage.chats import ChatStorage
from engine.storage.messages import MessageStorage
from engine.storage.postgres.database import Database
from engine.storage.roles import RoleStorage
from engine.storage.users import UserStorage

if TYPE_CHECKING:
    from engine.models.proposal import Proposal
    from engine.services.ai.proposal_service import ProposalService

log = logging.getLogger(__name__)

MentionNotifier = Callable[..., Awaitable[UUID]]
JobSubmitter = Callable[[int], None]


class MessageService:
    def __init__(
        self,
        db: Database,
        messages: MessageStorage,
        chats: ChatStorage,
        users: UserStorage,
        roles: RoleStorage,
        bus: ChatEventBus,
        audit: AuditTrail,
    ) -> None:
        self.db = db
        self.audit = audit
        self.messages = messages
        self.chats = chats
        self.users = users
        self.roles = roles
        self.bus = bus
        self.submit_ai_job: JobSubmitter | None = None
        self.notify: MentionNotifier | None = None
        self.proposals: ProposalService | None = None

    async def _member_chat(self, actor: User, chat_id: UUID) -> Chat:
        chat = await self.chats.get_for_member(actor.org_id, chat_id, actor.id)
        if chat is None:
            raise NotFound("chat not found")
        return chat

    async def post(
        self, actor: User, chat_id: UUID, content: str, reply_to_id: int | None = None
    ) -> PostedMessage:
        return await self.post_as(Caller.known(actor), chat_id, content, reply_to_id)

    async def post_as(
        self, caller: Caller, chat_id: UUID, content: str, reply_to_id: int | None = None
    ) -> PostedMessage:
        """Post as `caller`. A message without mentions, or with `@@role` mentions only, is
        one statement that also checks the caller's account; the account is read only to
        explain a refusal (Unauthorized when it is disabled) or for `@user` mentions."""
        parsed = parse_mentions(content)
        if parsed.empty:
            message = await self.messages.insert_by_member(
                caller.org_id, chat_id, caller.id, content, reply_to_id
            )
            if message is None:
                await self._explain_refusal(await caller.user(), chat_id, reply_to_id)
            assert message is not None
            self.bus.publish(chat_id, ChatEvent(EventType.MESSAGE_CREATED, message=message))
            return PostedMessage(message)

        if not parsed.usernames:
            return await self._post_ai_requests(caller, chat_id, content, reply_to_id, parsed)

        actor = await caller.user()
        chat = await self._member_chat(actor, chat_id)
        if chat.is_archived:
            raise Conflict("chat is archived")
        members = set(chat.member_ids)
        found = {
            u.username.lower(): u
            for u in await self.users.find_by_usernames(actor.org_id, list(parsed.usernames))
        }
        mentioned = [u for u in found.values() if u.id in members and u.id != actor.id]
        roles_by_code = {
            r.code: r for r in await self.roles.get_many(actor.org_id, list(parsed.role_codes))
        }
        roles = [roles_by_code[c] for c in parsed.role_codes if c in roles_by_code]
        unresolved = [
            UnresolvedMention(
                f"@{name}", "user", "unknown_user" if name not in found else "not_member"
            )
            for name in parsed.usernames
            if name not in found or found[name].id not in members
        ]
        unresolved += _unknown_roles(parsed, set(roles_by_code))
        placeholders: list[Message] = []
        async with self.db.tenant(actor.org_id).transaction() as conn:
            message = await self.messages.insert_by_member(
                actor.org_id, chat_id, actor.id, content, reply_to_id, conn=conn
            )
            if message is not None:
                placeholders = [
                    await self.messages.insert_ai_placeholder(
                        actor.org_id, chat_id, role.code, message.id, actor.id, conn=conn
                    )
                    for role in roles
                ]
                if mentioned:
                    await self.messages.insert_mentions(
                        actor.org_id, chat_id, message.id, [u.id for u in mentioned], conn=conn
                    )
        if message is None:  # explained outside the transaction: it reads on another connection
            await self._explain_refusal(actor, chat_id, reply_to_id)
        assert message is not None
        for published in (message, *placeholders):
            self.bus.publish(chat_id, ChatEvent(EventType.MESSAGE_CREATED, message=published))
        await self._notify_mentioned(actor, chat, message, mentioned)
        if self.submit_ai_job is not None:
            for placeholder in placeholders:
                self.submit_ai_job(placeholder.id)
        return PostedMessage(message, placeholders, [u.id for u in mentioned], unresolved)

    async def _post_ai_requests(
        self,
        caller: Caller,
        chat_id: UUID,
        content: str,
        reply_to_id: int | None,
        parsed: ParsedMentions,
    ) -> PostedMessage:
        """`@@role` questions and no `@user`: the message and its AI placeholders in one
        round trip (they are on the way to every AI answer, bench/README.md)."""
        inserted = await self.messages.insert_with_ai_requests(
            caller.org_id, chat_id, caller.id, content, reply_to_id, list(parsed.role_codes)
        )
        if inserted is None:
            await self._explain_refusal(await caller.user(), chat_id, reply_to_id)
        assert inserted is not None
        message, placeholders = inserted
        answered = {p.role_code for p in placeholders if p.role_code}
        for published in (message, *placeholders):
            self.bus.publish(chat_id, ChatEvent(EventType.MESSAGE_CREATED, message=published))
        if self.submit_ai_job is not None:
            for placeholder in placeholders:
                self.submit_ai_job(placeholder.id)
        return PostedMessage(message, placeholders, [], _unknown_roles(parsed, answered))

    async def _explain_refusal(self, actor: User, chat_id: UUID, reply_to_id: int | None) -> None:
        """Say why a member insert refused: no such chat, an archived one, or a bad reply."""
        chat = await self._member_chat(actor, chat_id)
        if chat.is_archived:
            raise Conflict("chat is archived")
        if reply_to_id is not None:
            raise Unprocessable(f"reply_to_id {reply_to_id} is not a message of this chat")
        raise NotFound("chat not found")

    async def _notify_mentioned(
        self, actor: User, chat: Chat, message: Message, mentioned: list[User]
    ) -> None:
        if self.notify is None:
            return
        who = actor.full_name or actor.username
        where = chat.title or "личные сообщения"
        for user in mentioned:
            try:
                notification_id = await self.notify(
                    actor.org_id,
                    user.id,
                    subject=f"{who} упомянул(а) вас в чате «{where}»",
                    body=message.content[:3000],
                    source="mention",
                )
                await self.messages.set_mention_notification(
                    actor.org_id, message.id, user.id, notification_id
                )
            except Exception:  # the message is accepted; a notification problem is logged
                log.exception("could not queue mention notification for %s", user.id)

    async def list_page(
        self,
        actor: User,
        chat_id: UUID,
        *,
        limit: int,
        before_id: int | None,
        after_id: int | None,
    ) -> list[Message]:
        return await self.list_page_as(
            Caller.known(actor), chat_id, limit=limit, before_id=before_id, after_id=after_id
        )

    async def list_page_as(
        self,
        caller: Caller,
        chat_id: UUID,
        *,
        limit: int,
        before_id: int | None,
        after_id: int | None,
    ) -> list[Message]:
        """A page read in one statement that also checks the membership and the caller's
        account; an empty answer is told apart (no access, or an empty page) afterwards."""
        if before_id is not None and after_id is not None:
            raise Unprocessable("use either before_id or after_id, not both")
        page = await self.messages.page_for_member(
            caller.org_id, chat_id, caller.id, limit=limit, before_id=before_id, after_id=after_id
        )
        if not page:
            await self._member_chat(await caller.user(), chat_id)
        return page

    async def get(self, actor: User, chat_id: UUID, message_id: int) -> Message:
        await self._member_chat(actor, chat_id)
        message = await self.messages.get(actor.org_id, chat_id, message_id)
        if message is None:
            raise NotFound("message not found")
        return message

    async def edit(self, actor: User, chat_id: UUID, message_id: int, content: str) -> Message:
        message = await self.get(actor, chat_id, message_id)
        if message.author_id != actor.id or message.is_ai:
            raise Forbidden("you may only edit your own messages")
        updated = await self.messages.edit(actor.org_id, chat_id, message_id, content)
        if updated is None:
            raise NotFound("message not found")
        self.bus.publish(chat_id, ChatEvent(EventType.MESSAGE_UPDATED, message=updated))
        return updated

    async def delete(self, actor: User, chat_id: UUID, message_id: int) -> None:
        message = await self.get(actor, chat_id, message_id)
        if message.author_id != actor.id and not actor.is_org_admin:
            raise Forbidden("you may only delete your own messages")
        await self.messages.soft_delete(actor.org_id, chat_id, message_id)
        self.bus.publish(chat_id, ChatEvent(EventType.MESSAGE_DELETED, {"id": message_id}))

    async def set_validation(
        self, actor: User, chat_id: UUID, message_id: int, *, validated: bool
    ) -> Message:
        message = await self.get(actor, chat_id, message_id)
        if not message.is_ai:
            raise Unprocessable("only AI answers are validated")
        if message.ai_status is not None and message.ai_status.value != "done":
            raise Conflict(f"the answer is {message.ai_status.value}, not done")
        async with self.db.tenant(actor.org_id).transaction() as conn:
            updated = await self.messages.set_validation(
                actor.org_id, chat_id, message_id, validated=validated, by=actor.id, conn=conn
            )
            if updated is None:
                raise NotFound("message not found")
            await self.audit.record(
                conn,
                org_id=actor.org_id,
                actor=actor,
                action="message.validated" if validated else "message.rejected",
                target_type="message",
                target_id=message_id,
                details={"chat_id": str(chat_id), "role_code": message.role_code},
            )
            rejected: list[Proposal] = []
            if not validated and self.proposals is not None:
                rejected = await self.proposals.reject_for_answer(conn, actor, chat_id, message_id)
        self.bus.publish(chat_id, ChatEvent(EventType.MESSAGE_UPDATED, message=updated))
        if self.proposals is not None:
            self.proposals.published(rejected)
        return updated


def _unknown_roles(parsed: ParsedMentions, known: set[str]) -> list[UnresolvedMention]:
    return [
        UnresolvedMention(f"@@{code}", "role", "unknown_role")
        for code in parsed.role_codes
        if code not in known
    ]
