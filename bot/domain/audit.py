"""What reading the audit log back yields (``chaski audit``): ids and outcomes, no content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit entry as read back; ``target`` is an internal id such as ``claim:7``."""

    id: int
    at: datetime
    actor_id: int | None
    actor_role: str | None
    action: str
    target: str | None
    result: str
    keyed: bool


@dataclass(frozen=True, slots=True)
class BrokenEntry:
    """An entry whose link or hash does not verify, and why."""

    id: int
    reason: str


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """Outcome of verifying the chain: every broken entry and the chain's head.

    The head (newest id and hash) is what an operator notes outside the server: the chain
    proves everything up to its head, but not that nothing newer was cut off.
    """

    entries: int
    keyed: bool
    broken: tuple[BrokenEntry, ...]
    head_id: int | None
    head_hash: str | None

    @property
    def first_broken(self) -> BrokenEntry | None:
        """The oldest entry that can no longer be trusted (None: the chain is intact)."""
        return self.broken[0] if self.broken else None
