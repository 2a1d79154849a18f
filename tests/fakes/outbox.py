"""The one in-memory ``Outbox`` of the service tests.

Rows are kept by idempotency key (a repeat is ignored, as SQLite's unique key ignores it),
with the status the sender would give them; the outbox *store* the sender works on is
tested against SQLite and against the fuller fake of ``tests/services/test_outbox.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.domain.outbox import OutboxKind, OutboxMessage, OutboxStatus


@dataclass(slots=True)
class InMemoryOutbox:
    """``Outbox`` over dicts keyed by idempotency key, recording cancellations."""

    rows: dict[str, OutboxMessage] = field(default_factory=dict)
    status: dict[str, OutboxStatus] = field(default_factory=dict)
    cancelled: list[int] = field(default_factory=list)
    """Members whose queued rows were cancelled (a wipe, an unlink, a block), in order."""

    async def enqueue(self, message: OutboxMessage) -> bool:
        """Add one row unless its key exists."""
        return await self.enqueue_many([message]) == 1

    async def enqueue_at_commit(self, messages: Sequence[OutboxMessage]) -> None:
        """No transactions here: the rows are added at once."""
        await self.enqueue_many(messages)

    async def enqueue_many(self, messages: Sequence[OutboxMessage]) -> int:
        """Add rows; count the new ones."""
        added = 0
        for message in messages:
            key = message.idempotency_key
            if key not in self.rows:
                self.rows[key] = message
                self.status[key] = OutboxStatus.QUEUED
                added += 1
        return added

    async def cancel_for_member(self, member_id: int) -> int:
        """Cancel the member's queued rows; record that it was asked."""
        self.cancelled.append(member_id)
        keys = [
            key
            for key, message in self.rows.items()
            if message.member_id == member_id and self.status[key] is OutboxStatus.QUEUED
        ]
        for key in keys:
            self.status[key] = OutboxStatus.CANCELLED
        return len(keys)

    def mark(self, key: str, status: OutboxStatus) -> None:
        """What the sender would do after Telegram answered."""
        self.status[key] = status

    def of(self, kind: OutboxKind) -> list[OutboxMessage]:
        """Messages of one kind, in insertion order."""
        return [message for message in self.rows.values() if message.kind is kind]

    def to(self, template: str) -> list[tuple[int, dict[str, str]]]:
        """``(recipient, params)`` of the rows of ``template``."""
        return [
            (message.member_id, dict(message.params))
            for message in self.rows.values()
            if message.template == template
        ]
