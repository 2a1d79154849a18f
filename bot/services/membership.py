"""Telegram-side membership facts: a member blocks or unblocks the bot, the bot leaves a group.

In private chats Telegram sends ``my_chat_member`` only when the person blocks (``kicked``) or
unblocks (``member``) the bot (telegram-limits.md §1). A block is handled exactly like the 403 the
outbox sender meets when it writes to someone who blocked it (R-06): the member is flagged,
whatever was still queued for them is cancelled, and their region's coordinators are told once
(a silent informant can be a welfare issue). :func:`mark_blocked` is that one flow, shared by
both paths so the coordinators' note cannot be worded or keyed twice; because each path checks
the stored flag first inside its transaction, whichever arrives second changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot.domain.models import Member, Role
from bot.domain.notices import MemberBlocked
from bot.domain.outbox import Outbox, OutboxKind, OutboxMessage
from bot.domain.ports import Clock, MemberRepository, UnitOfWork

_LOGGER = logging.getLogger(__name__)


async def mark_blocked(
    members: MemberRepository, outbox: Outbox, member: Member, now: datetime
) -> int | None:
    """R-06: flag ``member`` blocked, cancel their queue, tell their coordinators once.

    Joins the caller's transaction. The coordinators of the member's regions (never the
    member themself) get one ``member_blocked`` note naming the codename; the idempotency key
    carries the instant, so a later block after an unblock is told again.

    Returns:
        How many coordinators were told, or None when the member was flagged already (this
        block was handled before: nothing is written).
    """
    if member.blocked:
        return None
    await members.set_blocked(member.id, True)
    cancelled = await outbox.cancel_for_member(member.id)
    found = await members.in_regions(member.regions, [Role.COORDINATOR])
    coordinators = [coordinator for coordinator in found if coordinator.id != member.id]
    stamp = now.strftime("%Y%m%dT%H%M%S")
    await outbox.enqueue_many(
        [
            OutboxMessage(
                idempotency_key=f"blocked:{member.id}:{stamp}:{coordinator.id}",
                kind=OutboxKind.NOTIFICATION,
                member_id=coordinator.id,
                notice=MemberBlocked(codename=member.codename),
            )
            for coordinator in coordinators
        ]
    )
    _LOGGER.warning(
        "Member %d blocked the bot; %d queued row(s) cancelled, %d coordinator(s) notified",
        member.id,
        cancelled,
        len(coordinators),
    )
    return len(coordinators)


@dataclass(frozen=True, slots=True)
class MembershipService:
    """Block/unblock notices from Telegram and the audit of leaving groups (R-06, T-08)."""

    clock: Clock
    uow: UnitOfWork

    async def bot_blocked(self, telegram_id: int) -> bool:
        """The account blocked the bot (``my_chat_member`` → ``kicked``).

        A stranger's notice, or one for a member flagged already, changes nothing: no row is
        written, not even an audit entry (a stranger must not be able to fill the log).

        Returns:
            Whether a member was newly flagged.
        """
        async with self.uow.transaction():
            member = await self._member(telegram_id)
            if member is None:
                return False
            now = self.clock.now()
            if await mark_blocked(self.uow.members, self.uow.outbox, member, now) is None:
                return False
            await self._audit("member_blocked", member, now)
        return True

    async def bot_unblocked(self, telegram_id: int) -> bool:
        """The account unblocked the bot (``my_chat_member`` → ``member``): clear the flag.

        Nothing that was cancelled while blocked is sent again: it is stale by now, and the
        member gets the menu as soon as they write.

        Returns:
            Whether a member's flag was cleared.
        """
        async with self.uow.transaction():
            member = await self._member(telegram_id)
            if member is None or not member.blocked:
                return False
            await self.uow.members.set_blocked(member.id, False)
            await self._audit("member_unblocked", member, self.clock.now())
        _LOGGER.info("Member %d unblocked the bot", member.id)
        return True

    async def left_group(self) -> None:
        """Audit that the bot left a group or channel (T-08).

        Content-free on purpose: no chat id, no title, no sender. The chat is not ours to
        remember, only the fact that someone tried to use the bot in one.
        """
        await self.uow.audit.record(action="leave_group", result="ok", now=self.clock.now())

    async def _member(self, telegram_id: int) -> Member | None:
        """The active member behind the account (same rule as ``registration.identify``)."""
        member = await self.uow.members.by_telegram_id(telegram_id)
        return member if member is not None and member.active else None

    async def _audit(self, action: str, member: Member, now: datetime) -> None:
        await self.uow.audit.record(
            action=action,
            result="ok",
            now=now,
            actor_id=member.id,
            actor_role=member.role,
            target=f"member:{member.id}",
        )
