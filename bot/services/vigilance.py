"""Alarms for administrators: invite brute force (T-06, R-13), staff probing (T-11) and a
bot whose updates Telegram hands to someone else (A7, T-44).

Two patterns are worth a human's attention but are invisible one event at a time:

* **Many failed registrations across accounts.** The per-account lock (five bad payloads,
  ``bot.services.registration``) stops one account; an attacker with many accounts is only
  visible in the total. :class:`InviteAlarm` counts every refused ``/start <code>`` in a
  sliding hour and, when ``per_hour`` is reached, logs one WARNING and queues one neutral note
  to every administrator (once per clock hour).
* **A coordinator reaching outside their scope.** Every refusal of a staff action (alerts to
  other regions, approvals, help requests, PIN resets and unlinks of members they do not look
  after) goes through :meth:`DenialWatch.denied`, which audits it and counts it per
  coordinator; at ``per_hour`` refusals the administrators get one note naming the
  coordinator's codename (staff-only, once per clock hour).

And one event is worth it at once: :class:`IntakeAlarm` is told when Telegram refuses this
bot's ``getUpdates`` with 409 Conflict, which means another process polls with the same token
or a webhook was set, possibly by someone holding a leaked token who now receives every
message sent to the bot (PINs and invite codes included).

Both counters live in memory, like the inbound rate limits: a restart resets them (the audit
rows stay, so an administrator can still see the pattern in the log). Memory is bounded: a
counter keeps at most ``per_hour`` instants, and at most ``MAX_TRACKED`` coordinators are
tracked. The outbox idempotency key names the hour, so even a restart inside the same hour
cannot make the same note twice.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from datetime import datetime, timedelta

from bot.domain.errors import Unavailable
from bot.domain.models import Member, Role
from bot.domain.notices import IntakeConflict, Notice, RegistrationsFailing, StaffDenials
from bot.domain.outbox import Outbox, OutboxKind, OutboxMessage
from bot.domain.ports import Clock, MemberRepository, UnitOfWork

_LOGGER = logging.getLogger(__name__)

#: Refused registrations per hour, over all accounts, that alarm the administrators.
INVITE_ALARM_PER_HOUR = 50
#: Refused staff actions per coordinator and hour that alarm the administrators.
DENIALS_PER_HOUR = 5
#: Coordinators whose refusals are counted at once (least recently refused forgotten first).
MAX_TRACKED = 1024
HOUR = timedelta(hours=1)


def hour_key(now: datetime) -> str:
    """The clock hour of ``now`` (UTC), as used in idempotency keys: ``20260314T15``."""
    return now.strftime("%Y%m%dT%H")


class HourlyCounter:
    """Counts events in a sliding hour and tells when ``limit`` is reached.

    Only the newest ``limit`` instants are kept: if the oldest of them is less than an hour
    old, at least ``limit`` events happened in the last hour. Memory never grows past that.
    """

    __slots__ = ("_limit", "_times")

    def __init__(self, limit: int) -> None:
        """``limit`` events within an hour make :meth:`hit` return True."""
        if limit < 1:
            raise ValueError("the limit must be at least 1")
        self._limit = limit
        self._times: deque[datetime] = deque(maxlen=limit)

    @property
    def limit(self) -> int:
        """Events within an hour that count as "reached"."""
        return self._limit

    def hit(self, now: datetime) -> bool:
        """Count one event at ``now``; True while ``limit`` events fall within the last hour."""
        self._times.append(now)
        return len(self._times) == self._limit and now - self._times[0] < HOUR


async def notify_admins(
    members: MemberRepository, outbox: Outbox, notice: Notice, key: str
) -> int:
    """Queue ``notice`` to every active administrator; ``key`` makes it once per admin.

    Returns:
        How many rows were new.
    """
    admins = [m for m in await members.list_all() if m.role is Role.ADMIN and m.active]
    return await outbox.enqueue_many(
        [
            OutboxMessage(
                idempotency_key=f"{key}:{admin.id}",
                kind=OutboxKind.NOTIFICATION,
                member_id=admin.id,
                notice=notice,
            )
            for admin in admins
        ]
    )


class _AdminPager:
    """The ports every alarm here needs, and the one way they page the administrators."""

    __slots__ = ("_clock", "_uow")

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        """Keep the ports."""
        self._clock = clock
        self._uow = uow

    async def _page(
        self,
        now: datetime,
        *,
        action: str,
        notice: Notice,
        key: str,
        target: str | None = None,
    ) -> None:
        """An ``action``/``raised`` audit row and ``notice`` to every administrator.

        One transaction (joining the caller's, if any); ``key`` makes the note once per
        administrator.
        """
        async with self._uow.transaction():
            await self._uow.audit.record(action=action, result="raised", now=now, target=target)
            await notify_admins(self._uow.members, self._uow.outbox, notice, key)


class InviteAlarm(_AdminPager):
    """Counts refused invite redemptions over all accounts; alarms at ``per_hour`` (T-06)."""

    __slots__ = ("_counter", "_raised")

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        clock: Clock,
        per_hour: int = INVITE_ALARM_PER_HOUR,
    ) -> None:
        """Keep the ports; ``per_hour`` is ``CHASKI_INVITE_ALARM_PER_HOUR``."""
        super().__init__(uow=uow, clock=clock)
        self._counter = HourlyCounter(per_hour)
        self._raised: str | None = None

    @property
    def per_hour(self) -> int:
        """The threshold."""
        return self._counter.limit

    async def failed(self) -> bool:
        """Count one refused redemption; raise the alarm if the hour's threshold is reached.

        Returns:
            Whether the alarm was raised now (at most once per clock hour).
        """
        now = self._clock.now()
        if not self._counter.hit(now):
            return False
        hour = hour_key(now)
        if self._raised == hour:
            return False
        await self._page(
            now, action="invite_alarm", notice=RegistrationsFailing(), key=f"invite-alarm:{hour}"
        )
        self._raised = hour
        # No code, account or id here: only that it happens.
        _LOGGER.warning(
            "Possible invite brute force: %d or more failed registrations in the last hour",
            self.per_hour,
        )
        return True


class DenialWatch(_AdminPager):
    """The one place staff refusals are audited and counted (T-11).

    Every caller that refuses an action for lack of authorization calls :meth:`denied`
    instead of writing the audit row itself, so counting cannot be forgotten at one site.
    Only coordinators are counted: administrators are programme-wide, and an informant's
    refused button is a stale or forged menu (T-10), audited but no reason to page anyone.
    """

    __slots__ = ("_counters", "_per_hour")

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        clock: Clock,
        per_hour: int = DENIALS_PER_HOUR,
    ) -> None:
        """Keep the ports; ``per_hour`` refusals of one coordinator alarm the admins."""
        if per_hour < 1:
            raise ValueError("the limit must be at least 1")
        super().__init__(uow=uow, clock=clock)
        self._per_hour = per_hour
        #: member id → (counter, hour of the last alarm); most recently refused last.
        self._counters: OrderedDict[int, tuple[HourlyCounter, list[str | None]]] = OrderedDict()

    async def denied(
        self, actor: Member, action: str, target: str | None, result: str = "denied"
    ) -> bool:
        """Audit one refusal of ``actor`` (``result``: why), count it, alarm at the threshold.

        The audit row and any alarm are one transaction (joining the caller's, if any).
        Callers refuse before their write transaction starts, so the row commits instead of
        rolling back with the refused write.

        Returns:
            Whether the administrators were alarmed now.
        """
        now = self._clock.now()
        async with self._uow.transaction():
            await self._uow.audit.record(
                action=action,
                result=result,
                now=now,
                actor_id=actor.id,
                actor_role=actor.role,
                target=target,
            )
            if actor.role is not Role.COORDINATOR:
                return False
            counter, raised = self._track(actor.id)
            hour = hour_key(now)
            if not counter.hit(now) or raised[0] == hour:
                return False
            await self._page(
                now,
                action="denial_alarm",
                notice=StaffDenials(codename=actor.codename),
                key=f"denials:{actor.id}:{hour}",
                target=f"member:{actor.id}",
            )
        raised[0] = hour
        _LOGGER.warning(
            "Member %d: %d or more refused staff actions in the last hour; admins notified",
            actor.id,
            self._per_hour,
        )
        return True

    def _track(self, member_id: int) -> tuple[HourlyCounter, list[str | None]]:
        entry = self._counters.get(member_id)
        if entry is None:
            entry = (HourlyCounter(self._per_hour), [None])
            self._counters[member_id] = entry
            while len(self._counters) > MAX_TRACKED:
                self._counters.popitem(last=False)
        else:
            self._counters.move_to_end(member_id)
        return entry


class IntakeAlarm(_AdminPager):
    """Telegram refused this bot's updates (409 Conflict): page the administrators (A7, T-44).

    Telegram allows one consumer of a bot's updates: a second ``getUpdates`` poller, or a
    webhook, makes it refuse ours. Nothing else shows it: the bot keeps running and sending,
    but hears nothing, while whoever holds the token may be reading every message. So the
    first refusal of each clock hour logs CRITICAL (the journal is the channel that does not
    depend on this bot, R-13), writes an audit row and queues one note to every administrator
    (sending still works while the updates go elsewhere). PTB keeps retrying the poll with
    its own back-off (at most every 30 s); later refusals in the same hour change nothing.
    """

    __slots__ = ("_raised",)

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        """Keep the ports."""
        super().__init__(uow=uow, clock=clock)
        self._raised: str | None = None

    async def conflict(self) -> bool:
        """Telegram answered ``getUpdates`` with 409 Conflict.

        Returns:
            Whether the alarm was raised now (at most once per clock hour).

        Raises:
            Unavailable: the database is busy; the CRITICAL line was logged, the note will
                be tried again at the next refusal.
        """
        now = self._clock.now()
        hour = hour_key(now)
        if self._raised == hour:
            return False
        self._raised = hour
        _LOGGER.critical(
            "Telegram refused this bot's updates (409 Conflict): another process is polling"
            " with this token, or a webhook was set. If no other Chaski runs with this token,"
            " treat the token as leaked: docs/operations.md, section 5 (emergency stop)"
        )
        try:
            await self._page(
                now,
                action="intake_conflict",
                notice=IntakeConflict(),
                key=f"intake-conflict:{hour}",
            )
        except Unavailable:
            self._raised = None
            raise
        return True
