"""Panic wipe, remote unlink, inbound limits and idempotency (M-06, M-09, M-13, R-09).

The wipe tries to delete what Telegram still lets the bot delete *before* the link is
shredded: if the process dies half-way, the member is still linked and can press the button
again. Then one transaction unlinks (ciphertext and keyed hash gone), cancels queued outbox
rows, forgets PIN and message-id rows, hands what Telegram refused for now (429, 5xx, a
timeout) to the outbox as wipe rows that the sender retries until Telegram's 48-hour window
closes (issue #11.1), audits, and queues the note to the coordinators. The caller gets a
``WipeReport`` so the person is told the truth, never "done" while messages remain.

A duress PIN wipes the chat at once (everything recorded up to the PIN message), so the
claim list shown before cannot sit above the decoy (issue #11.2); the unlink follows later.

``InboundLimiter`` is deliberately in memory: it runs before anything touches the database,
so a flood costs a dictionary lookup, not a write. A restart resets its counters (the daily
limit included); the persistent per-account counters of registration still bound strangers.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.alerts import MAX_FREE_TEXT
from bot.domain.claims import MAX_LABEL_CHARS, MAX_NOTE_CHARS
from bot.domain.errors import NotFound
from bot.domain.models import Member, Role
from bot.domain.notices import MemberUnlinked
from bot.domain.outbox import OutboxMessage, Outcome, SendResult
from bot.domain.ports import Clock, UnitOfWork
from bot.domain.registrations import ChangeRefused, Refusal
from bot.domain.safety import (
    DELETABLE_FOR,
    DELETE_BATCH,
    UPDATE_MEMORY,
    ChatEraser,
    WipeReport,
)
from bot.domain.text import MAX_TEXT
from bot.services.authz import Action, authorize, is_allowed
from bot.services.outbox import OutboxDeletions, menu_message, menu_removal, wipe_messages
from bot.services.pin import PinService, find_member, notify_coordinators

_LOGGER = logging.getLogger(__name__)

#: Command arguments longer than this are refused (M-09); ``/start`` is exempt because
#: registration validates its payload before any lookup and counts bad ones (T-05, T-06).
MAX_COMMAND_ARGS = 64
#: Commands whose arguments are text written by staff get their own cap (issue #12.1):
#: ``/aviso_texto`` carries two versions of up to ``MAX_FREE_TEXT`` characters each, the
#: ``||`` between them and some spacing. The domain then checks each version exactly.
#: A claim's note (``/nota``) and next step (``/paso``, after its date) may be
#: ``MAX_NOTE_CHARS`` long and ``/pago`` carries a means and a reference of up to
#: ``MAX_LABEL_CHARS`` each: under the generic cap every real note was answered "command not
#: available". Their caps are twice what the domain keeps, so a note a little too long gets
#: the domain's own answer (too long, shorten it) instead of a neutral refusal.
COMMAND_ARG_LIMITS: Mapping[str, int] = {
    "/aviso_texto": 2 * MAX_FREE_TEXT + 16,
    "/nota": 2 * MAX_NOTE_CHARS,
    "/paso": 2 * MAX_NOTE_CHARS + 16,
    "/pago": 2 * (2 * MAX_LABEL_CHARS + 32),
}
_COMMAND = re.compile(r"(\S+)\s*(.*)", re.DOTALL)
#: Defaults of the inbound limits (M-06); per account they are settings.
PER_MINUTE = 20
PER_DAY = 200
GLOBAL_PER_SECOND = 300.0
#: Accounts tracked at once; the least recently seen is forgotten beyond this (T-46).
MAX_TRACKED = 20_000
_MINUTE = 60.0
_DAY = 86_400.0


def text_too_long(text: str | None) -> bool:
    """Whether a message text exceeds Telegram's own limit (only forged updates do, T-23)."""
    return text is not None and len(text) > MAX_TEXT


def command_arg_limit(command: str) -> int | None:
    """The longest arguments ``command`` (``/name`` or ``/name@bot``) accepts; None: no cap."""
    name = command.split("@", 1)[0]
    if name == "/start":
        return None
    return COMMAND_ARG_LIMITS.get(name, MAX_COMMAND_ARGS)


def command_args_too_long(text: str | None) -> bool:
    """Whether a command's arguments exceed its cap (``command_arg_limit``).

    The command ends at the first whitespace of any kind: a line break after the command
    name must not hide long arguments from the cap.
    """
    if text is None or not text.startswith("/"):
        return False
    match = _COMMAND.fullmatch(text)
    if match is None:  # pragma: no cover - "/" alone still matches
        return False
    limit = command_arg_limit(match.group(1))
    return limit is not None and len(match.group(2).strip()) > limit


class Verdict(StrEnum):
    """What the inbound limiter decided for one update."""

    ALLOW = "allow"
    GLOBAL = "global"
    MINUTE = "minute"
    DAY = "day"


@dataclass(slots=True)
class _Account:
    recent: deque[float]
    day_start: float
    day_count: int = 0
    last_seen: float = 0.0
    warned: bool = False


class InboundLimiter:
    """Per-account sliding minute + daily window and a global token bucket (M-06).

    Accounts are keyed by an HMAC of the user id under a per-process random key (never the
    id itself); at most ``max_tracked`` accounts are kept, idle ones forgotten first, so a
    flood of new accounts cannot grow memory without bound. Dropped updates do not count.
    """

    __slots__ = (
        "_accounts",
        "_global_rate",
        "_global_warned_at",
        "_key",
        "_last",
        "_max_tracked",
        "_now",
        "_per_day",
        "_per_minute",
        "_tokens",
    )

    def __init__(
        self,
        *,
        per_minute: int = PER_MINUTE,
        per_day: int = PER_DAY,
        global_per_second: float = GLOBAL_PER_SECOND,
        max_tracked: int = MAX_TRACKED,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Limits; ``monotonic`` is injectable so tests control time."""
        if per_minute < 1 or per_day < per_minute or global_per_second <= 0 or max_tracked < 1:
            raise ValueError("limits must be positive and per_day >= per_minute")
        self._per_minute = per_minute
        self._per_day = per_day
        self._global_rate = global_per_second
        self._max_tracked = max_tracked
        self._now = monotonic
        self._key = secrets.token_bytes(32)
        self._accounts: OrderedDict[bytes, _Account] = OrderedDict()
        self._tokens = global_per_second
        self._last = monotonic()
        self._global_warned_at: float | None = None

    @property
    def tracked(self) -> int:
        """How many accounts are being counted (bounded by ``max_tracked``)."""
        return len(self._accounts)

    def check(self, user_id: int | None) -> Verdict:
        """Count one update of ``user_id`` (None: no sender) and decide whether it passes.

        The account's own limits are judged first and only an update they allow takes a
        global token, so one flooding account cannot use up the bucket for everyone else.
        """
        return self.judge(user_id)[0]

    def judge(self, user_id: int | None) -> tuple[Verdict, bool]:
        """``check``, and whether this is the account's first update dropped since its last
        accepted one: the one moment a member may be told they are going too fast (issue
        #14.8). A flood therefore earns one notice, not one per dropped update.
        """
        now = self._now()
        refill = (now - self._last) * self._global_rate
        self._tokens = min(self._global_rate, self._tokens + refill)
        self._last = now
        account = None if user_id is None else self._account(user_id, now)
        verdict = Verdict.ALLOW if account is None else self._judge(account, now)
        if verdict is Verdict.ALLOW and self._tokens < 1:
            verdict = Verdict.GLOBAL
            if self._global_warned_at is None or now - self._global_warned_at >= _MINUTE:
                self._global_warned_at = now
                _LOGGER.warning("Global inbound limit reached: dropping updates")
        first_drop = False
        if verdict is Verdict.ALLOW:
            self._tokens -= 1
            if account is not None:
                account.recent.append(now)
                account.day_count += 1
                account.warned = False
        elif account is not None and not account.warned:
            account.warned = True
            first_drop = True
            _LOGGER.warning("Per-account inbound limit reached (%s window)", verdict)
        return verdict, first_drop

    def _account(self, user_id: int, now: float) -> _Account:
        key = hmac.digest(self._key, user_id.to_bytes(8, "big", signed=True), "sha256")[:16]
        account = self._accounts.get(key)
        if account is None:
            account = _Account(deque(), now)
            self._accounts[key] = account
        else:
            self._accounts.move_to_end(key)
        account.last_seen = now
        self._evict(now)
        return account

    def _evict(self, now: float) -> None:
        """Forget accounts idle for a day, and the least recent beyond the bound.

        The account just seen is the most recent (``last_seen == now``), so the loop always
        stops before the dict is empty.
        """
        oldest = next(iter(self._accounts.values()))
        while len(self._accounts) > self._max_tracked or now - oldest.last_seen >= _DAY:
            self._accounts.popitem(last=False)
            oldest = next(iter(self._accounts.values()))

    def _judge(self, account: _Account, now: float) -> Verdict:
        if now - account.day_start >= _DAY:
            account.day_start = now
            account.day_count = 0
        recent = account.recent
        while recent and now - recent[0] >= _MINUTE:
            recent.popleft()
        if account.day_count >= self._per_day:
            return Verdict.DAY
        if len(recent) >= self._per_minute:
            return Verdict.MINUTE
        return Verdict.ALLOW


#: The error code of ``_OutboxEraser``: not a refusal by Telegram, nothing to warn about.
_HANDED_TO_OUTBOX = "handed_to_outbox"


def _last_admin_refusal() -> ChangeRefused:
    """The refusal to unlink the last active administrator (issue #16.3)."""
    return ChangeRefused(
        Refusal.LAST_ADMIN,
        "this is the last active administrator: make another administrator first",
    )


class _OutboxEraser:
    """The eraser of an unlink made without Telegram (the CLI): every deletion is handed to
    the outbox at once, which the running bot works through; so is the removal of the
    chat's command menu (``_unlink`` adds its row, issue #16.3)."""

    async def delete_messages(self, chat_id: int, message_ids: Sequence[int]) -> SendResult:
        del chat_id, message_ids
        return SendResult(Outcome.TRANSIENT, error_code=_HANDED_TO_OUTBOX)

    async def clear_commands(self, chat_id: int) -> None:
        del chat_id


@dataclass(frozen=True, slots=True)
class SafetyService:
    """Wipe and unlink (self, remote, after duress), message-id log, processed updates."""

    pin: PinService
    clock: Clock
    uow: UnitOfWork
    limiter: InboundLimiter = field(default_factory=InboundLimiter)
    #: How long replies with claim data stay in the chat (``CHASKI_DELETE_AFTER_MINUTES``).
    delete_after: timedelta = timedelta(minutes=10)

    # ------------------------------------------------------------------ inbound

    async def accept_update(
        self, update_id: int, *, telegram_id: int | None = None, message_id: int | None = None
    ) -> bool:
        """Record an update once (R-09); False for a repeat. Keeps the message id for wipes."""
        return await self.uow.inbound.first_seen(
            update_id, self.clock.now(), telegram_id=telegram_id, message_id=message_id
        )

    async def record_sent(self, chat_id: int, message_id: int) -> None:
        """Remember a message the bot sent to a (linked) private chat, for ``/borrar``."""
        await self.uow.chat_log.record(chat_id, message_id, self.clock.now())

    async def sensitive_sent(self, member: Member, chat_id: int, message_id: int) -> None:
        """A reply with claim data went out: keep its id for ``/borrar`` (M-13a) and delete
        it after ``delete_after`` (M-10).

        Both in one transaction (one commit instead of two on the reply path of every
        ``/estado``): both are kept or neither is.

        Raises:
            Unavailable: the database stayed busy; nothing was recorded (a lost deletion).
        """
        async with self.uow.transaction():
            await self.record_sent(chat_id, message_id)
            await OutboxDeletions(self.uow.outbox).schedule_deletion(
                member.id, [message_id], self.clock.now() + self.delete_after
            )

    # ------------------------------------------------------------------ wipe and unlink

    async def wipe_self(self, member: Member, eraser: ChatEraser) -> WipeReport:
        """``/borrar`` confirmed: delete what can be deleted, then shred the link (M-13a).

        Raises:
            NotAllowed: the member is not active (an unlinked account changes nothing).
        """
        authorize(member, Action.WIPE_SELF)
        return await self._unlink(member, eraser, actor=member, cause="panic")

    async def unlink_remote(
        self, actor: Member, codename: str, eraser: ChatEraser
    ) -> tuple[Member, WipeReport]:
        """``/desvincular`` without a question: find the member, then unlink (M-13c).

        Raises:
            PinNotSet, PinRequired: the actor has no open PIN session.
            NotFound: malformed, unknown, or out-of-scope codename (one error, M-04).
        """
        target = await self.unlink_target(actor, codename)
        return await self.unlink_confirmed(actor, target.id, eraser)

    async def unlink_target(self, actor: Member, codename: str) -> Member:
        """``/desvincular <codename>``: whom the actor may unlink, before asking them to confirm.

        Raises:
            PinNotSet, PinRequired: the actor has no open PIN session.
            NotFound: malformed, unknown, or out-of-scope codename (one error, M-04).
        """
        await self.pin.require_session(actor)
        return await find_member(
            self.uow.members,
            actor,
            codename,
            Action.UNLINK_MEMBER,
            self.pin.denials,
            audit_as="member_unlink",
        )

    async def unlink_confirmed(
        self, actor: Member, member_id: int, eraser: ChatEraser
    ) -> tuple[Member, WipeReport]:
        """The confirmation button: unlink a lost or seized phone (M-13c; issue #14.7).

        Everything is judged again at the press (the session, the scope, whether the member
        is still linked): the button may be old, forged, or pressed after a region change.

        Raises:
            PinNotSet, PinRequired: the actor has no open PIN session.
            NotFound: unknown, out of scope, or no longer linked (one error, M-04).
            ChangeRefused: the last active administrator (audited).
        """
        await self.pin.require_session(actor)
        target = await self.uow.members.get(member_id)
        if (
            target is None
            or not target.telegram_linked
            or not is_allowed(actor, Action.UNLINK_MEMBER, target)
        ):
            await self.pin.denials.denied(
                actor, "member_unlink", f"member:{target.id}" if target else None
            )
            raise NotFound("member")
        await self._refuse_last_admin(target, actor)
        report = await self._unlink(
            target, eraser, actor=actor, cause="remote", keep_last_admin=True
        )
        return target, report

    async def _is_last_admin(self, member: Member) -> bool:
        """Whether ``member`` is an administrator and no other one can act now."""
        return member.role is Role.ADMIN and not any(
            other.role is Role.ADMIN and other.active and other.id != member.id
            for other in await self.uow.members.list_all()
        )

    async def _refuse_last_admin(self, member: Member, actor: Member | None) -> None:
        """Refuse to unlink the last active administrator (issue #16.3): nobody could manage
        members in the chat any more. The rule of ``RegistrationAdmin`` for role changes and
        suspensions; a member's own panic wipe (``/borrar``) is never refused.

        Checked before the chat is erased (a certain refusal erases nothing) and again in
        the unlink's own transaction (``_unlink``'s ``keep_last_admin``), so two
        administrators unlinking each other at the same moment leave one of them linked.

        Raises:
            ChangeRefused: ``Refusal.LAST_ADMIN`` (audited as ``member_unlink``, refused).
        """
        if not await self._is_last_admin(member):
            return
        await self._audit_last_admin(member, actor)
        raise _last_admin_refusal()

    async def _audit_last_admin(self, member: Member, actor: Member | None) -> None:
        await self.uow.audit.record(
            action="member_unlink",
            result=f"refused:{Refusal.LAST_ADMIN}",
            now=self.clock.now(),
            actor_id=actor.id if actor else None,
            actor_role=actor.role if actor else None,
            target=f"member:{member.id}",
        )

    async def unlink_by_operator(self, member: Member) -> WipeReport:
        """``chaski members unlink``: a lost or seized phone, from the server (issue #16.3).

        Like ``/desvincular`` but without Telegram at hand: every recorded message becomes a
        wipe row the running bot deletes (within Telegram's 48 hours), the link is shredded
        and the claims stay with the codename (a new invite re-links). Audited as
        ``member_unlink`` with the result ``operator``.

        Raises:
            NotFound: the member has no linked account.
            ChangeRefused: the last active administrator (audited).
        """
        if not member.telegram_linked:
            raise NotFound("member")
        await self._refuse_last_admin(member, None)
        return await self._unlink(
            member, _OutboxEraser(), actor=None, cause="operator", keep_last_admin=True
        )

    async def run_due_unlinks(self, eraser: ChatEraser) -> int:
        """Unlink members whose duress PIN was used, once the decoy is gone (M-13b)."""
        done = 0
        for member_id in await self.pin.due_unlinks():
            member = await self.uow.members.get(member_id)
            if member is None:
                await self.uow.pins.clear(member_id)
                continue
            await self._unlink(member, eraser, actor=None, cause="duress")
            done += 1
        return done

    async def erase_after_duress(
        self, member: Member, up_to_message_id: int, eraser: ChatEraser
    ) -> WipeReport | None:
        """After a PIN was accepted: if it opened a decoy session, wipe the chat at once.

        Everything recorded up to ``up_to_message_id`` (the PIN message; Telegram numbers a
        private chat's messages in order) goes now, so the claim list shown before cannot be
        read above the decoy (issue #11.2); the decoy itself, sent after, stays until the
        unlink. Called after the decoy was sent, so the decoy's timing is that of a real
        empty state (T-17). None when the session is a real one: nothing is done.
        """
        record = await self.uow.pins.get(member.id)
        now = self.clock.now()
        if (
            record is None
            or not record.session_decoy
            or record.session_until is None
            or record.session_until <= now
        ):
            return None
        chat_id = await self.uow.members.telegram_id(member.id)
        if chat_id is None:
            return None
        recorded = [
            (message_id, at)
            for message_id, at in await self.uow.chat_log.recent(member.id, now - DELETABLE_FOR)
            if message_id <= up_to_message_id
        ]
        report, retries = await self._erase(member.id, chat_id, recorded, eraser, now)
        async with self.uow.transaction():
            await self.uow.chat_log.forget_ids(
                member.id, [message_id for message_id, _ in recorded]
            )
            await self.uow.outbox.enqueue_many(retries)
        if not report.complete:
            _LOGGER.warning("Duress wipe: %d message(s) left to the outbox", report.retrying)
        return report

    async def _erase(
        self,
        member_id: int,
        chat_id: int,
        recorded: list[tuple[int, datetime]],
        eraser: ChatEraser,
        now: datetime,
    ) -> tuple[WipeReport, list[OutboxMessage]]:
        """Delete ``recorded`` in batches of 100 now; what Telegram refuses becomes wipe rows.

        The first refusal stops the attempts (one 429 means "slow down", one 5xx or timeout
        an outage): that batch and the rest are handed to the outbox, due after a 429's
        ``retry_after``, else at once (the sender's backoff takes over), each row expiring
        when Telegram's 48-hour window of its newest message closes (issue #11.1).
        """
        deleted = lost = 0
        retries: list[OutboxMessage] = []
        due: datetime | None = None
        for start in range(0, len(recorded), DELETE_BATCH):
            batch = recorded[start : start + DELETE_BATCH]
            ids = [message_id for message_id, _ in batch]
            if due is None:
                result = await eraser.delete_messages(chat_id, ids)
                if result.outcome in {Outcome.SENT, Outcome.GONE}:
                    deleted += len(ids)
                    continue
                if result.outcome is Outcome.TOO_OLD and len(ids) == 1:
                    lost += 1
                    continue
                if result.outcome is Outcome.TOO_OLD:
                    # One message past the window may refuse the whole batch: each id on its
                    # own through the outbox, so the others still go (issue #11.1).
                    for message_id, at in batch:
                        retries.extend(
                            wipe_messages(
                                member_id,
                                chat_id,
                                [message_id],
                                due=now,
                                window_closes=at + DELETABLE_FOR,
                            )
                        )
                    continue
                wait = result.retry_after_s if result.outcome is Outcome.RATE_LIMITED else 0
                due = now + timedelta(seconds=max(0.0, wait or 0.0))
                if result.error_code != _HANDED_TO_OUTBOX:
                    _LOGGER.warning("Wipe: Telegram refused a deletion (%s)", result.error_code)
            window_closes = max(at for _, at in batch) + DELETABLE_FOR
            retries.extend(
                wipe_messages(member_id, chat_id, ids, due=due, window_closes=window_closes)
            )
        retrying = len(recorded) - deleted - lost
        return WipeReport(deleted=deleted, retrying=retrying, lost=lost), retries

    async def _unlink(
        self,
        member: Member,
        eraser: ChatEraser,
        *,
        actor: Member | None,
        cause: str,
        keep_last_admin: bool = False,
    ) -> WipeReport:
        """Erase the chat, then unlink in one transaction.

        ``keep_last_admin`` (an unlink by someone else): the last-administrator rule is
        judged again inside the unlink's transaction, the only place where another unlink
        cannot slip in between the check and the write. Losing that race leaves the link
        (audited, ``ChangeRefused``) and queues the member's menu back; the messages
        already erased stay erased, the ones left over are not queued for deletion.
        """
        now = self.clock.now()
        chat_id = await self.uow.members.telegram_id(member.id)
        report, retries = WipeReport(), list[OutboxMessage]()
        if chat_id is not None:
            recorded = await self.uow.chat_log.recent(member.id, now - DELETABLE_FOR)
            report, retries = await self._erase(member.id, chat_id, recorded, eraser, now)
            await eraser.clear_commands(chat_id)
            if isinstance(eraser, _OutboxEraser):
                # Without Telegram at hand (the CLI), the running bot removes the menu.
                retries.append(menu_removal(member.id, chat_id, now))
        if not report.complete:
            _LOGGER.warning(
                "Wipe: %d message(s) left to the outbox, %d past Telegram's window",
                report.retrying,
                report.lost,
            )
        refused = False
        async with self.uow.transaction():
            if keep_last_admin and await self._is_last_admin(member):
                refused = True
                await self._audit_last_admin(member, actor)
                if chat_id is not None:  # the erase above took the menu away: give it back
                    await self.uow.outbox.enqueue(menu_message(member.id, member.role, now))
            else:
                await self._shred_link(member, retries, actor=actor, cause=cause, now=now)
        if refused:
            raise _last_admin_refusal()
        return report

    async def _shred_link(
        self,
        member: Member,
        retries: list[OutboxMessage],
        *,
        actor: Member | None,
        cause: str,
        now: datetime,
    ) -> None:
        """The writes of an unlink, inside ``_unlink``'s transaction."""
        await self.uow.members.unlink(member.id, now)
        await self.uow.outbox.cancel_for_member(member.id)
        # After the cancel: the ids the wipe could not delete yet stay in the database
        # as wipe rows until deleted or past Telegram's window (issue #11.1).
        await self.uow.outbox.enqueue_many(retries)
        await self.uow.pins.clear(member.id)
        await self.uow.chat_log.forget(member.id)
        await self.uow.audit.record(
            action="member_unlink",
            result=cause,
            now=now,
            actor_id=actor.id if actor else None,
            actor_role=actor.role if actor else None,
            target=f"member:{member.id}",
        )
        await notify_coordinators(
            self.uow.members,
            self.uow.outbox,
            member,
            MemberUnlinked,
            now,
            exclude=actor.id if actor else None,
        )

    # ------------------------------------------------------------------ housekeeping

    async def housekeeping(self) -> None:
        """Forget message ids past Telegram's window, old update ids, expired prompts."""
        now = self.clock.now()
        await self.uow.chat_log.purge(now - DELETABLE_FOR)
        await self.uow.inbound.purge(now - UPDATE_MEMORY)
        await self.pin.purge_prompts()
