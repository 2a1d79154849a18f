"""Protocols the services depend on; ``storage`` implements them, tests fake them.

Repositories return domain objects, never rows, and keep encryption and keyed hashes to
themselves: a service never sees a ciphertext or a Telegram ID it was not handed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.domain.alerts import AlertRepository
from bot.domain.audit import AuditCheck, AuditEntry
from bot.domain.claims import (
    AmountRequest,
    ClaimChange,
    ClaimEdit,
    NewOperation,
    OperationDraft,
    Payment,
)
from bot.domain.models import (
    Claim,
    ClaimEvent,
    ClaimRow,
    ClaimStatus,
    Lang,
    Member,
    MemberState,
    NewInvite,
    Operation,
    Region,
    Role,
)
from bot.domain.outbox import Outbox
from bot.domain.pin import PinRepository
from bot.domain.registrations import OpenInvite, RegionEdit, RegionUsage
from bot.domain.safety import ChatMessageLog, InboundLog
from bot.domain.schedules import ScheduleRepository

#: ``progress(done, total)``: how far a long operation (a claims import) has come.
Progress = Callable[[int, int], None]


class Clock(Protocol):
    """Time source; injected so tests control it (architecture.md §1: services never call now)."""

    @property
    def tz(self) -> ZoneInfo:
        """The programme's time zone (America/Lima by default)."""

    def now(self) -> datetime:
        """Aware UTC now."""

    def today(self) -> date:
        """Today's date in ``tz``."""


class UnitOfWork(Protocol):
    """The repositories, and the one transaction that makes their writes atomic (R-01).

    A service holds this one object instead of a port per table: it reads and writes through
    ``uow.members``, ``uow.outbox``, ``uow.audit`` … and groups writes with
    ``async with uow.transaction():``. The transaction is the task's, not the repository's:
    the same repositories serve reads outside a transaction (committed data) and join the
    transaction the current task opened, however deep the call that opens a nested one
    (it joins the outer one), so a service can call another inside its own transaction
    (docs/architecture.md §4.2).
    """

    def transaction(self) -> AbstractAsyncContextManager[object]:
        """Enter a write transaction; nested calls in the same task join it."""

    @property
    def members(self) -> MemberRepository:
        """Members and their Telegram link."""

    @property
    def regions(self) -> RegionRepository:
        """Named areas."""

    @property
    def invites(self) -> InviteRepository:
        """One-time invites."""

    @property
    def counters(self) -> AccountCounters:
        """Per-account counters (failed redemptions)."""

    @property
    def claims(self) -> ClaimRepository:
        """Claims as informants and the import see them."""

    @property
    def claim_ledger(self) -> ClaimLedger:
        """Claims as their administration changes them (issue #16.1-2)."""

    @property
    def claim_lister(self) -> ClaimLister:
        """Every claim, filtered, for the oversight export and report (#16.6)."""

    @property
    def claim_edits(self) -> ClaimEditStore:
        """A member's claim edit between its chat steps."""

    @property
    def amount_requests(self) -> AmountRequestStore:
        """Amount changes waiting for a second person."""

    @property
    def operation_edits(self) -> OperationEditStore:
        """An administrator's operation created or edited in the chat, between its steps."""

    @property
    def region_edits(self) -> RegionEditStore:
        """An administrator's region added or renamed in the chat, between its steps."""

    @property
    def audit(self) -> AuditLog:
        """The append-only audit log (M-16)."""

    @property
    def audit_reader(self) -> AuditReader:
        """The audit log read back and checked."""

    @property
    def registrations(self) -> RegistrationStore:
        """What administrators change about registrations (#16.3)."""

    @property
    def outbox(self) -> Outbox:
        """Proactive messages, written as rows with the change that caused them (R-01)."""

    @property
    def alerts(self) -> AlertRepository:
        """Safety alerts, their recipients and answers."""

    @property
    def pins(self) -> PinRepository:
        """PINs, sessions, prompts and lockouts."""

    @property
    def chat_log(self) -> ChatMessageLog:
        """Message ids in members' chats, for the panic wipe."""

    @property
    def inbound(self) -> InboundLog:
        """Processed update ids (idempotency)."""

    @property
    def schedules(self) -> ScheduleRepository:
        """Reminders, check-ins and digests."""


class MemberRepository(Protocol):
    """Members and their Telegram link (the ID stays encrypted inside storage)."""

    async def get(self, member_id: int) -> Member | None:
        """A member by internal id."""

    async def by_telegram_id(self, telegram_id: int) -> Member | None:
        """The member linked to this Telegram account, whatever its state."""

    async def by_codename(self, codename: str) -> Member | None:
        """A member by exact codename (keyed-hash lookup)."""

    async def by_codename_any_case(self, codename: str) -> Member | None:
        """A member by codename ignoring case, as people type them in chat (issue #14.7).

        The exact spelling wins; otherwise the one member whose codename matches ignoring
        case; None when there is none, or several and none exactly. The same work whether
        or not the codename exists, so its timing tells a coordinator nothing (M-04).
        """

    async def list_all(self) -> list[Member]:
        """Every member, ordered by id."""

    async def in_regions(self, regions: Sequence[str], roles: Sequence[Role]) -> list[Member]:
        """Linked, active members holding one of ``roles`` in any of ``regions``."""

    async def telegram_id(self, member_id: int) -> int | None:
        """Decrypted Telegram user/chat ID of a linked member, for sending to them."""

    async def set_lang(self, member_id: int, lang: Lang) -> None:
        """Store an explicit language choice."""

    async def set_state(self, member_id: int, state: MemberState) -> None:
        """Suspend, reactivate or mark unlinked."""

    async def unlink(self, member_id: int, now: datetime | None = None) -> None:
        """Crypto-shred the Telegram link (ciphertext and keyed hash removed, M-13); ``now``
        starts the pseudonym's retention (M-15)."""

    async def set_blocked(self, member_id: int, blocked: bool) -> None:
        """Record that the member blocked (or unblocked) the bot (R-06)."""

    async def mark_seen(self, member_id: int, day: date) -> None:
        """Record the day the member last used the bot (a day, never a time; issue #16.3)."""


class RegionRepository(Protocol):
    """Named areas."""

    async def add(self, name: str, now: datetime) -> Region:
        """Create a region.

        Raises:
            Conflict: a region with that name (case-insensitive) exists.
        """

    async def get(self, name: str) -> Region | None:
        """A region by name, case-insensitive."""

    async def list_all(self) -> list[Region]:
        """Every region by name."""

    async def usage(self) -> dict[int, RegionUsage]:
        """What uses each region (members, operations, claims), by region id."""

    async def remove(self, region_id: int) -> None:
        """Delete a region nothing uses (checked by the caller in the same transaction)."""


class InviteRepository(Protocol):
    """One-time invites, stored only as keyed hashes (M-03)."""

    async def create(
        self, invite: NewInvite, code: str, expires_at: datetime, now: datetime
    ) -> int:
        """Store the member-to-be and the hashed code atomically; return the member id.

        Raises:
            Conflict: the codename is taken.
            NotFound: the region does not exist.
        """

    async def reenrol(
        self, invite: NewInvite, code: str, expires_at: datetime, now: datetime
    ) -> int | None:
        """Issue a new code for the existing member ``invite.codename`` names, if
        ``can_reenrol`` allows it: older unused codes are revoked, the member is active
        again with the invite's regions (and language, when given). None: not allowed.

        Raises:
            NotFound: a region does not exist.
        """

    async def redeem(self, code: str, telegram_id: int, now: datetime) -> Member | None:
        """Consume the code and link the account, exactly once; None if not redeemable."""


class AccountCounters(Protocol):
    """Per-account counters keyed by a keyed hash of the Telegram ID (M-03, M-06)."""

    async def hit(self, telegram_id: int, kind: str, now: datetime, window: timedelta) -> int:
        """Count one event in the current window and return the window's count."""

    async def current(self, telegram_id: int, kind: str, now: datetime, window: timedelta) -> int:
        """The current window's count, without counting."""


class ClaimRepository(Protocol):
    """Claims, operations and their history (sensitive fields encrypted in storage)."""

    async def get(self, claim_id: int) -> Claim | None:
        """A claim by internal id."""

    async def list_for_member(self, member_id: int) -> list[Claim]:
        """A member's claims, newest operation first."""

    async def history(self, claim_id: int, *, visible_only: bool) -> list[ClaimEvent]:
        """A claim's events, oldest first."""

    async def owners(self, references: Sequence[str]) -> dict[str, int]:
        """The member id holding each of ``references`` already stored."""

    async def import_rows(
        self,
        rows: Sequence[ClaimRow],
        now: datetime,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
        today: date | None = None,
    ) -> ImportResult:
        """Create or update claims by reference, all in one transaction.

        ``dry_run`` does the same work and rolls it back (the counts are what an import
        would do); ``progress`` is told how many rows are done now and then. A paid amount
        becomes one payment marked imported, dated by the row's status date, else
        ``today`` (default: ``now``'s date).
        """


class ClaimLedger(Protocol):
    """What administering claims needs (issue #16.1-2): operations, payments and the
    compare-and-set write of a change (sensitive fields encrypted in storage)."""

    async def get(self, claim_id: int) -> Claim | None:
        """A claim by internal id."""

    async def by_reference(self, reference: str) -> Claim | None:
        """A claim by its reference."""

    async def list_for_member(self, member_id: int) -> list[Claim]:
        """A member's claims, newest operation first."""

    async def in_regions(
        self, regions: Sequence[str] | None, *, status: ClaimStatus | None = None
    ) -> list[Claim]:
        """Claims of ``regions`` (None: all), optionally of one status."""

    async def overdue_first(
        self,
        regions: Sequence[str] | None,
        *,
        today: date,
        limit: int,
        status: ClaimStatus | None = None,
        member_id: int | None = None,
    ) -> list[Claim]:
        """The first ``limit`` claims of ``regions`` (None: all), open and most overdue
        first, then by next step date (none last), then by id; optionally of one status or
        one informant. Only the claims returned are decrypted."""

    async def history(self, claim_id: int, *, visible_only: bool) -> list[ClaimEvent]:
        """A claim's events, oldest first."""

    async def payments(self, claim_id: int) -> list[Payment]:
        """A claim's payments, oldest first."""

    async def shares(self, operation_id: int, *, excluding: int | None = None) -> int:
        """The promised shares of an operation's claims added up, one claim left out."""

    async def save(self, change: ClaimChange, *, actor_id: int | None, now: datetime) -> bool:
        """Store a change if the claim is still at ``change.before.version``; else False."""

    async def add_operation(self, new: NewOperation, now: datetime) -> Operation:
        """Create an operation.

        Raises:
            Conflict: the label exists.
            NotFound: the region does not exist.
        """

    async def operations(self) -> list[Operation]:
        """Every operation."""

    async def operation(self, operation_id: int) -> Operation | None:
        """One operation by id."""

    async def update_operation(self, operation: Operation, now: datetime) -> Operation:
        """Store every field of ``operation``; returns it with the region as stored.

        Raises:
            NotFound: the operation or the region does not exist.
            Conflict: another operation has that label.
        """


class ClaimEditStore(Protocol):
    """A member's claim edit between its chat steps (one per member, issue #16.2)."""

    async def put(self, member_id: int, edit: ClaimEdit, now: datetime) -> None:
        """Store ``edit`` as the member's, replacing any other."""

    async def get(self, member_id: int) -> ClaimEdit | None:
        """The member's edit, if any."""

    async def drop(self, member_id: int) -> None:
        """Forget the member's edit (done or cancelled)."""


class OperationEditStore(Protocol):
    """An administrator's operation draft between its chat steps (one per member, #16.3)."""

    async def put(self, member_id: int, draft: OperationDraft, now: datetime) -> None:
        """Store ``draft`` as the member's, replacing any other."""

    async def get(self, member_id: int) -> OperationDraft | None:
        """The member's draft, if any."""

    async def drop(self, member_id: int) -> None:
        """Forget the member's draft (done or cancelled)."""


class RegionEditStore(Protocol):
    """An administrator's region change between its chat steps (one per member, #16.3)."""

    async def put(self, member_id: int, edit: RegionEdit, now: datetime) -> None:
        """Store ``edit`` as the member's, replacing any other."""

    async def get(self, member_id: int) -> RegionEdit | None:
        """The member's region change, if any."""

    async def drop(self, member_id: int) -> None:
        """Forget the member's region change (done, cancelled or refused)."""


class AmountRequestStore(Protocol):
    """Amount changes waiting for a second person (issue #16.2, M-14)."""

    async def create(self, request: AmountRequest, now: datetime) -> int:
        """Store a pending request (its ``id`` is ignored); return the new id."""

    async def get(self, request_id: int) -> AmountRequest | None:
        """A request still pending, by id (decided ones are not returned)."""

    async def pending(self) -> list[AmountRequest]:
        """Every pending request, oldest first."""

    async def decide(self, request_id: int, status: str, decided_by: int, now: datetime) -> bool:
        """Move a pending request to ``status``; False when it was decided already."""


class AuditLog(Protocol):
    """Append-only, content-free record of who did what (M-16)."""

    async def record(
        self,
        *,
        action: str,
        result: str,
        now: datetime,
        actor_id: int | None = None,
        actor_role: Role | None = None,
        target: str | None = None,
    ) -> None:
        """Append one entry; ``target`` is an internal id such as ``claim:7``, never content."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What a claims import changed."""

    created: int
    updated: int
    unchanged: int


class DeletionScheduler(Protocol):
    """Persists "delete this message at that time" (M-10); implemented over the outbox."""

    async def schedule_deletion(
        self, member_id: int, message_ids: Sequence[int], delete_at: datetime
    ) -> None:
        """Record deletions of messages in the member's chat, fired by the outbox sender."""


class AuditReader(Protocol):
    """Reading the audit log back and checking its chain (``chaski audit``, M-16)."""

    async def check(self) -> AuditCheck:
        """Verify the whole chain: every broken entry with its reason, and the head."""

    async def seal_plain(self, now: datetime, *, result: str) -> bool:
        """Seal a chain without keyed entries (a restored pre-key backup); True if done."""

    async def entries(
        self,
        *,
        since: datetime | None = None,
        actor_id: int | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries oldest first, filtered; ``limit`` keeps the newest ones."""


class ClaimLister(Protocol):
    """Every claim, filtered, for the oversight export and report (#16.6)."""

    async def list_all(
        self, *, region: str | None = None, status: ClaimStatus | None = None
    ) -> list[Claim]:
        """Every claim of ``region`` (any case) and ``status``, by operation and id."""

    async def operations(self) -> list[Operation]:
        """Every operation, with or without claims (its offer may not be shared out yet)."""


class RegistrationStore(Protocol):
    """What administrators change about registrations (issue #16.3)."""

    async def set_role(self, member_id: int, role: Role) -> None:
        """Change a member's role."""

    async def set_regions(self, member_id: int, names: Sequence[str]) -> None:
        """Replace a member's regions (``NotFound`` for an unknown one; nothing changed)."""

    async def open_invites(self, now: datetime) -> list[OpenInvite]:
        """Invites neither used nor revoked, oldest first."""

    async def revoke_invites(self, member_id: int) -> int:
        """Revoke a member's unused invites; how many."""

    async def rename_region(self, old: str, new: str) -> Region:
        """Rename a region (``NotFound``; ``Conflict`` if ``new`` exists)."""
