"""In-memory fakes of the PIN and safety ports, for ``PinService``/``SafetyService`` tests.

They mirror the SQLite repositories (storage/pin.py, chat_messages.py, inbound.py, outbox.py)
closely enough that a service cannot tell them apart: a failure creates the record, a reset or
unlink forgets everything, an unlink schedule keeps the first time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.domain.outbox import Outbox, Outcome, SendResult
from bot.domain.pin import PinPrompt, PinRecord, PinRepository
from bot.domain.safety import ChatEraser, ChatMessageLog, InboundLog
from tests.fakes.outbox import InMemoryOutbox


def _empty(member_id: int) -> PinRecord:
    return PinRecord(
        member_id=member_id,
        pin_hash=None,
        duress_hash=None,
        failures=0,
        locked_until=None,
        reset_required=False,
        session_until=None,
        session_decoy=False,
        unlink_at=None,
    )


@dataclass(slots=True)
class InMemoryPins:
    """``PinRepository`` over dicts; ``links`` maps Telegram ID → member id."""

    records: dict[int, PinRecord] = field(default_factory=dict)
    prompts: dict[int, PinPrompt] = field(default_factory=dict)
    links: dict[int, int] = field(default_factory=dict)
    gets: int = 0  # calls of ``get``, to show where a lookup is skipped

    def _get(self, member_id: int) -> PinRecord:
        return self.records.get(member_id) or _empty(member_id)

    async def get(self, member_id: int) -> PinRecord | None:
        """The member's record."""
        self.gets += 1
        return self.records.get(member_id)

    async def set_pin(self, member_id: int, pin_hash: str, now: datetime) -> None:
        """New PIN, failures and locks cleared."""
        self.records[member_id] = replace(
            self._get(member_id),
            pin_hash=pin_hash,
            failures=0,
            locked_until=None,
            reset_required=False,
        )

    async def set_duress(self, member_id: int, duress_hash: str | None, now: datetime) -> None:
        """Set or remove the duress PIN."""
        self.records[member_id] = replace(self._get(member_id), duress_hash=duress_hash)

    async def add_failure(self, member_id: int, now: datetime) -> int:
        """One more failure; the session ends."""
        record = self._get(member_id)
        self.records[member_id] = replace(
            record, failures=record.failures + 1, session_until=None, session_decoy=False
        )
        return record.failures + 1

    async def set_lock(
        self, member_id: int, locked_until: datetime | None, reset_required: bool
    ) -> None:
        """Record the lock."""
        self.records[member_id] = replace(
            self._get(member_id), locked_until=locked_until, reset_required=reset_required
        )

    async def open_session(
        self, member_id: int, until: datetime, *, decoy: bool, now: datetime
    ) -> None:
        """A successful check."""
        self.records[member_id] = replace(
            self._get(member_id),
            failures=0,
            locked_until=None,
            session_until=until,
            session_decoy=decoy,
        )

    async def schedule_unlink(self, member_id: int, at: datetime) -> None:
        """Keep the first schedule."""
        record = self._get(member_id)
        self.records[member_id] = replace(record, unlink_at=record.unlink_at or at)

    async def due_unlinks(self, now: datetime) -> list[int]:
        """Due schedules."""
        return sorted(
            member_id
            for member_id, record in self.records.items()
            if record.unlink_at is not None and record.unlink_at <= now
        )

    async def clear(self, member_id: int) -> None:
        """Forget the record and the prompt."""
        self.records.pop(member_id, None)
        self.prompts.pop(member_id, None)

    async def set_prompt(self, prompt: PinPrompt) -> None:
        """Arm or replace."""
        self.prompts[prompt.member_id] = prompt

    async def get_prompt(self, member_id: int) -> PinPrompt | None:
        """Expired or not."""
        return self.prompts.get(member_id)

    async def prompt_armed_for(self, telegram_id: int, now: datetime) -> bool:
        """Unexpired prompt of the linked member."""
        prompt = self.prompts.get(self.links.get(telegram_id, -1))
        return prompt is not None and prompt.expires_at > now

    async def clear_prompt(self, member_id: int) -> None:
        """Disarm."""
        self.prompts.pop(member_id, None)

    async def purge_prompts(self, now: datetime) -> int:
        """Drop expired prompts."""
        expired = [key for key, prompt in self.prompts.items() if prompt.expires_at <= now]
        for key in expired:
            del self.prompts[key]
        return len(expired)


@dataclass(slots=True)
class InMemoryChatLog:
    """``ChatMessageLog``: ``links`` maps Telegram ID → member id (linked members only)."""

    links: dict[int, int] = field(default_factory=dict)
    ids: dict[int, dict[int, datetime]] = field(default_factory=dict)

    async def record(self, telegram_id: int, message_id: int, now: datetime) -> None:
        """Only for linked accounts."""
        member_id = self.links.get(telegram_id)
        if member_id is not None:
            self.ids.setdefault(member_id, {}).setdefault(message_id, now)

    async def recent(self, member_id: int, since: datetime) -> list[tuple[int, datetime]]:
        """Ascending ``(id, at)`` at or after ``since``."""
        return sorted((m, at) for m, at in self.ids.get(member_id, {}).items() if at >= since)

    async def forget(self, member_id: int) -> None:
        """Drop the member's ids."""
        self.ids.pop(member_id, None)

    async def forget_ids(self, member_id: int, message_ids: Sequence[int]) -> None:
        """Drop these ids of the member."""
        stored = self.ids.get(member_id, {})
        for message_id in message_ids:
            stored.pop(message_id, None)

    async def purge(self, before: datetime) -> int:
        """Drop old ids."""
        dropped = 0
        for stored in self.ids.values():
            for message_id in [m for m, at in stored.items() if at < before]:
                del stored[message_id]
                dropped += 1
        return dropped


@dataclass(slots=True)
class InMemoryInbound:
    """``InboundLog`` over a dict, recording message ids through a chat log."""

    chat_log: InMemoryChatLog
    seen: dict[int, datetime] = field(default_factory=dict)

    async def first_seen(
        self,
        update_id: int,
        now: datetime,
        *,
        telegram_id: int | None = None,
        message_id: int | None = None,
    ) -> bool:
        """False for a repeat."""
        if update_id in self.seen:
            return False
        self.seen[update_id] = now
        if telegram_id is not None and message_id is not None:
            await self.chat_log.record(telegram_id, message_id, now)
        return True

    async def purge(self, before: datetime) -> int:
        """Forget old ids."""
        old = [key for key, at in self.seen.items() if at < before]
        for key in old:
            del self.seen[key]
        return len(old)


@dataclass(slots=True)
class RecordingEraser:
    """``ChatEraser`` that remembers calls; ``refuse`` makes deleteMessages fail."""

    deleted: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)
    refuse: bool = False
    #: What a refusal looks like (a 5xx by default).
    refusal: SendResult = field(
        default_factory=lambda: SendResult(Outcome.TRANSIENT, error_code="NetworkError")
    )

    async def delete_messages(self, chat_id: int, message_ids: Sequence[int]) -> SendResult:
        """Remember one batch."""
        self.deleted.append((chat_id, tuple(message_ids)))
        return self.refusal if self.refuse else SendResult(Outcome.SENT)

    async def clear_commands(self, chat_id: int) -> None:
        """Remember the chat."""
        self.cleared.append(chat_id)


def _conforms() -> None:
    """Static check (mypy) that every fake satisfies its Protocol; never called."""
    _p: PinRepository = InMemoryPins()
    _o: Outbox = InMemoryOutbox()
    _c: ChatMessageLog = InMemoryChatLog()
    _i: InboundLog = InMemoryInbound(InMemoryChatLog())
    _e: ChatEraser = RecordingEraser()
