"""Who is talking to the bot: invite redemption, strangers, language choice (M-02, M-03)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta

from bot.domain.errors import InviteRejected
from bot.domain.models import Lang, Member
from bot.domain.ports import Clock, UnitOfWork
from bot.services.authz import Action, authorize
from bot.services.vigilance import InviteAlarm

#: 32 random bytes in base64url without padding (deep-link rule: ≤ 64 of A-Za-z0-9_-).
INVITE_CODE = re.compile(r"[A-Za-z0-9_-]{43}")
#: After this many bad payloads in ``WINDOW`` the account is silently locked (T-06).
INVITE_FAILURE_LIMIT = 5
WINDOW = timedelta(hours=24)
INVITE_FAILURE = "invite_failure"
STRANGER_REPLY = "stranger_reply"


@dataclass(frozen=True, slots=True)
class RegistrationService:
    """Identify accounts, redeem invites, answer strangers once, store language choices."""

    uow: UnitOfWork
    clock: Clock
    #: Counts refusals over all accounts and alarms the administrators (T-06, R-13); the
    #: composition root always sets it, unit tests of other paths may leave it out.
    alarm: InviteAlarm | None = None

    async def identify(self, telegram_id: int) -> Member | None:
        """The active member behind this account, or None (stranger, unlinked, suspended)."""
        member = await self.uow.members.by_telegram_id(telegram_id)
        return member if member is not None and member.active else None

    async def seen(self, member: Member) -> Member:
        """The member sent something: a member flagged as having blocked the bot plainly
        has not any more, so the flag is cleared (issue #14.7). Telegram's unblock notice
        (``my_chat_member``) is not always delivered, and a stale flag keeps coordinators
        believing the member cannot be reached. Unflagged members cost nothing here.

        The day of this use is recorded, once a day: the member read for this update carries
        the last day seen, so every other update of the day writes nothing.
        """
        if member.blocked:
            await self.uow.members.set_blocked(member.id, False)
            await self.uow.audit.record(
                action="member_unblocked",
                result="message",
                now=self.clock.now(),
                actor_id=member.id,
                actor_role=member.role,
                target=f"member:{member.id}",
            )
            member = replace(member, blocked=False)
        today = self.clock.now().date()
        if member.last_seen != today:
            # At most one write a day per member, and only the day (issue #16.3: "who has not
            # opened the bot for N days"; docs/threat-model.md, last seen).
            await self.uow.members.mark_seen(member.id, today)
            member = replace(member, last_seen=today)
        return member

    async def redeem(self, telegram_id: int, payload: str) -> Member:
        """Link the account to the member the invite names, exactly once.

        Malformed payloads are refused before any lookup (T-05). Every failure reason gives
        the same error, and a locked account is refused even with a valid code (T-06).

        Raises:
            InviteRejected: unknown, used, expired, revoked, malformed, or account locked.
        """
        now = self.clock.now()
        failures = await self.uow.counters.current(telegram_id, INVITE_FAILURE, now, WINDOW)
        if failures >= INVITE_FAILURE_LIMIT:
            await self.uow.audit.record(action="invite_redeem", result="locked", now=now)
            await self._count_failure()
            raise InviteRejected
        member = None
        if INVITE_CODE.fullmatch(payload):
            member = await self.uow.invites.redeem(payload, telegram_id, now)
        if member is None:
            await self.uow.counters.hit(telegram_id, INVITE_FAILURE, now, WINDOW)
            await self.uow.audit.record(action="invite_redeem", result="rejected", now=now)
            await self._count_failure()
            raise InviteRejected
        await self.uow.audit.record(
            action="invite_redeem",
            result="ok",
            now=now,
            actor_id=member.id,
            actor_role=member.role,
            target=f"member:{member.id}",
        )
        return member

    async def _count_failure(self) -> None:
        """Feed the global alarm: a locked account's tries count too (they are still tries)."""
        if self.alarm is not None:
            await self.alarm.failed()

    async def may_answer_stranger(self, telegram_id: int) -> bool:
        """Whether an unregistered account gets the neutral reply now (once per 24 h, M-02)."""
        now = self.clock.now()
        count = await self.uow.counters.hit(telegram_id, STRANGER_REPLY, now, WINDOW)
        if count == 1:
            await self.uow.audit.record(action="unregistered_contact", result="answered", now=now)
        return count == 1

    async def choose_lang(self, member: Member, lang: Lang) -> Member:
        """Store the member's explicit language choice and return the updated member.

        Choosing the language already chosen is a no-op (T-33): a double tap on the same
        button must leave one state change and one audit row, not two. ``member`` is loaded
        afresh for each update and one chat's updates are handled in order
        (``handlers.transport.concurrency``), so the second tap already sees the first one's
        choice.

        Raises:
            NotAllowed: the member is not active.
        """
        authorize(member, Action.CHOOSE_LANGUAGE)
        if member.lang_chosen and member.lang is lang:
            return member
        await self.uow.members.set_lang(member.id, lang)
        await self.uow.audit.record(
            action="choose_language",
            result="ok",
            now=self.clock.now(),
            actor_id=member.id,
            actor_role=member.role,
            target=f"member:{member.id}",
        )
        return replace(member, lang=lang, lang_chosen=True)
