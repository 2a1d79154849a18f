"""In-memory fakes of the ``bot.domain.ports`` Protocols, for service unit tests.

architecture.md §7: services are tested against fakes of *their* ports, never with mocks of our
own code. Each fake keeps its state in plain dicts and lists that tests may inspect, and
records the calls a test may need to assert did (or did not) happen, e.g. that a malformed
invite payload never reached the invite store (T-05). Behaviour mirrors the SQLite
repositories closely enough that a service cannot tell them apart: one-time redemption,
fixed counter windows, "linked, active" filtering in ``in_regions``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo

from bot.domain.alerts import AlertRepository
from bot.domain.errors import Conflict, NotFound, Unavailable
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
    can_reenrol,
)
from bot.domain.notices import Notice
from bot.domain.outbox import Outbox
from bot.domain.pin import PinRepository
from bot.domain.ports import (
    AccountCounters,
    AmountRequestStore,
    AuditLog,
    AuditReader,
    ClaimEditStore,
    ClaimLedger,
    ClaimLister,
    ClaimRepository,
    Clock,
    DeletionScheduler,
    ImportResult,
    InviteRepository,
    MemberRepository,
    OperationEditStore,
    Progress,
    RegionEditStore,
    RegionRepository,
    RegistrationStore,
    UnitOfWork,
)
from bot.domain.registrations import RegionUsage
from bot.domain.safety import ChatMessageLog, InboundLog
from bot.domain.schedules import ScheduleRepository
from tests.fakes.clock import FakeClock as SharedFakeClock
from tests.secrets_registry import remember

#: A fixed, aware start time (noon UTC = 07:00 in Lima) so every test starts the same.
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LIMA = ZoneInfo("America/Lima")


def make_member(
    member_id: int = 1,
    *,
    role: Role = Role.INFORMANT,
    codename: str = "Cóndor-7",
    regions: tuple[str, ...] = ("Pichari",),
    state: MemberState = MemberState.ACTIVE,
    linked: bool = True,
    lang: Lang = Lang.ES,
    lang_chosen: bool = False,
    blocked: bool = False,
) -> Member:
    """A member with sensible defaults; tests override what they are about."""
    remember(codename)
    return Member(
        id=member_id,
        role=role,
        codename=codename,
        lang=lang,
        lang_chosen=lang_chosen,
        regions=regions,
        state=state,
        telegram_linked=linked,
        blocked=blocked,
    )


def make_claim(
    claim_id: int = 1,
    *,
    member_id: int = 1,
    region: str = "Pichari",
    status: ClaimStatus = ClaimStatus.REGISTERED,
    promised_date: date | None = None,
    reference: str | None = None,
    op_date: date | None = date(2016, 5, 20),
    op_id: int = 1,
) -> Claim:
    """A claim with sensible defaults (operation "Tornado 2016", S/ 2,000,000.00)."""
    for value in (reference or f"R-2016-{claim_id:04d}", "Tornado 2016", "200000000"):
        remember(value)
    return Claim(
        id=claim_id,
        reference=reference or f"R-2016-{claim_id:04d}",
        member_id=member_id,
        operation=Operation(id=op_id, label="Tornado 2016", date=op_date, region=region),
        region=region,
        status=status,
        promised_cents=200_000_000,
        approved_cents=None,
        paid_cents=0,
        promised_date=promised_date,
        next_step=None,
        next_step_date=None,
        updated_at=T0,
        version=1,
    )


@dataclass(slots=True)
class FakeClock(SharedFakeClock):
    """The suite's one fake clock (tests/fakes/clock.py), starting at ``T0`` here."""

    current: datetime = T0


@dataclass(slots=True)
class InMemoryMembers:
    """``MemberRepository`` over a dict; ``links`` maps Telegram ID → member id."""

    members: dict[int, Member] = field(default_factory=dict)
    links: dict[int, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def add(self, member: Member, telegram_id: int | None = None) -> Member:
        """Seed a member, optionally linked to ``telegram_id``."""
        linked = telegram_id is not None
        member = replace(member, telegram_linked=linked)
        self.members[member.id] = member
        if telegram_id is not None:
            self.links[telegram_id] = member.id
        return member

    def next_id(self) -> int:
        """The id a new member would get."""
        return max(self.members, default=0) + 1

    async def get(self, member_id: int) -> Member | None:
        """A member by internal id."""
        self.calls.append("get")
        return self.members.get(member_id)

    async def by_telegram_id(self, telegram_id: int) -> Member | None:
        """The member linked to this account, whatever its state."""
        self.calls.append("by_telegram_id")
        member_id = self.links.get(telegram_id)
        return None if member_id is None else self.members[member_id]

    async def by_codename(self, codename: str) -> Member | None:
        """A member by exact codename."""
        self.calls.append("by_codename")
        return next((m for m in self.members.values() if m.codename == codename), None)

    async def by_codename_any_case(self, codename: str) -> Member | None:
        """Exact spelling first, else the one member matching ignoring case."""
        if exact := await self.by_codename(codename):
            return exact
        found = [m for m in self.members.values() if m.codename.casefold() == codename.casefold()]
        return found[0] if len(found) == 1 else None

    async def list_all(self) -> list[Member]:
        """Every member by id."""
        return [self.members[key] for key in sorted(self.members)]

    async def in_regions(self, regions: Sequence[str], roles: Sequence[Role]) -> list[Member]:
        """Linked, active members with one of ``roles`` in any of ``regions``."""
        wanted = set(regions)
        return [
            m
            for m in await self.list_all()
            if m.active and m.role in roles and wanted.intersection(m.regions)
        ]

    async def telegram_id(self, member_id: int) -> int | None:
        """The linked Telegram ID, if any."""
        return next((tid for tid, mid in self.links.items() if mid == member_id), None)

    async def set_lang(self, member_id: int, lang: Lang) -> None:
        """Store an explicit language choice."""
        self.calls.append("set_lang")
        self.members[member_id] = replace(self.members[member_id], lang=lang, lang_chosen=True)

    async def set_state(self, member_id: int, state: MemberState) -> None:
        """Change the member's state."""
        self.members[member_id] = replace(self.members[member_id], state=state)

    async def unlink(self, member_id: int, now: datetime | None = None) -> None:
        """Drop the Telegram link and mark the member unlinked."""
        self.links = {tid: mid for tid, mid in self.links.items() if mid != member_id}
        self.members[member_id] = replace(
            self.members[member_id], telegram_linked=False, state=MemberState.UNLINKED
        )

    async def set_blocked(self, member_id: int, blocked: bool) -> None:
        """Record a block/unblock."""
        self.members[member_id] = replace(self.members[member_id], blocked=blocked)

    async def mark_seen(self, member_id: int, day: date) -> None:
        """Record the last day seen."""
        self.members[member_id] = replace(self.members[member_id], last_seen=day)


@dataclass(slots=True)
class InMemoryRegions:
    """``RegionRepository`` over a list; names unique case-insensitively, like SQLite."""

    regions: list[Region] = field(default_factory=list)

    def seed(self, *names: str) -> InMemoryRegions:
        """Add regions without going through a service."""
        for name in names:
            self.regions.append(Region(id=len(self.regions) + 1, name=name))
        return self

    async def add(self, name: str, now: datetime) -> Region:
        """Create a region (``Conflict`` if the name exists)."""
        if await self.get(name) is not None:
            raise Conflict("region exists")
        region = Region(id=len(self.regions) + 1, name=name)
        self.regions.append(region)
        return region

    async def get(self, name: str) -> Region | None:
        """A region by name, case-insensitive."""
        folded = name.casefold()
        return next((r for r in self.regions if r.name.casefold() == folded), None)

    async def list_all(self) -> list[Region]:
        """Every region by name."""
        return sorted(self.regions, key=lambda region: region.name)

    async def usage(self) -> dict[int, RegionUsage]:
        """Nothing uses any region here (the SQLite store counts; tests/storage)."""
        return {region.id: RegionUsage() for region in self.regions}

    async def remove(self, region_id: int) -> None:
        """Delete the region with this id."""
        self.regions = [region for region in self.regions if region.id != region_id]


@dataclass(slots=True)
class StoredInvite:
    """One invite as the fake keeps it (the real store keeps only a keyed hash)."""

    member_id: int
    expires_at: datetime
    used_at: datetime | None = None
    revoked: bool = False


@dataclass(slots=True)
class InMemoryInvites:
    """``InviteRepository`` creating members in ``members``; ``calls`` records every use."""

    members: InMemoryMembers
    regions: InMemoryRegions
    invites: dict[str, StoredInvite] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def create(
        self, invite: NewInvite, code: str, expires_at: datetime, now: datetime
    ) -> int:
        """Store the member-to-be and the code (``Conflict``/``NotFound`` like storage)."""
        self.calls.append(("create", code))
        for region in invite.regions:
            if await self.regions.get(region) is None:
                raise NotFound("region")
        if any(m.codename == invite.codename for m in self.members.members.values()):
            raise Conflict("codename taken")
        member_id = self.members.next_id()
        self.members.add(
            make_member(
                member_id,
                role=invite.role,
                codename=invite.codename,
                regions=invite.regions,
                lang=invite.lang or Lang.ES,
                lang_chosen=invite.lang is not None,
            )
        )
        self.invites[code] = StoredInvite(member_id=member_id, expires_at=expires_at)
        return member_id

    async def reenrol(
        self, invite: NewInvite, code: str, expires_at: datetime, now: datetime
    ) -> int | None:
        """A new code for an unlinked member of the same role, like storage."""
        self.calls.append(("reenrol", code))
        found = [m for m in self.members.members.values() if m.codename == invite.codename]
        if not found or not can_reenrol(found[0], invite.role):
            return None
        member = found[0]
        for region in invite.regions:
            if await self.regions.get(region) is None:
                raise NotFound("region")
        for stored in self.invites.values():
            if stored.member_id == member.id and stored.used_at is None:
                stored.revoked = True
        lang = member.lang if invite.lang is None else invite.lang
        chosen = member.lang_chosen or invite.lang is not None
        self.members.members[member.id] = replace(
            member,
            state=MemberState.ACTIVE,
            regions=invite.regions,
            lang=lang,
            lang_chosen=chosen,
        )
        self.invites[code] = StoredInvite(member_id=member.id, expires_at=expires_at)
        return member.id

    async def redeem(self, code: str, telegram_id: int, now: datetime) -> Member | None:
        """Consume the code once and link the account; None if not redeemable."""
        self.calls.append(("redeem", code))
        if telegram_id in self.members.links:
            return None
        stored = self.invites.get(code)
        if stored is None or stored.used_at is not None or stored.revoked:
            return None
        if stored.expires_at <= now:
            return None
        if self.members.members[stored.member_id].state is not MemberState.ACTIVE:
            return None  # suspended before redeeming: the invite stays unusable
        stored.used_at = now
        self.members.links[telegram_id] = stored.member_id
        member = replace(self.members.members[stored.member_id], telegram_linked=True)
        self.members.members[stored.member_id] = member
        return member


@dataclass(slots=True)
class InMemoryCounters:
    """``AccountCounters`` with fixed windows, like ``SqliteAccountCounters``."""

    windows: dict[tuple[int, str], tuple[datetime, int]] = field(default_factory=dict)

    async def hit(self, telegram_id: int, kind: str, now: datetime, window: timedelta) -> int:
        """Count one event; an expired window starts afresh."""
        start, count = self.windows.get((telegram_id, kind), (now, 0))
        if start + window <= now:
            start, count = now, 0
        self.windows[(telegram_id, kind)] = (start, count + 1)
        return count + 1

    async def current(self, telegram_id: int, kind: str, now: datetime, window: timedelta) -> int:
        """The current window's count, without counting."""
        found = self.windows.get((telegram_id, kind))
        if found is None or found[0] + window <= now:
            return 0
        return found[1]


@dataclass(slots=True)
class InMemoryClaims:
    """``ClaimRepository`` over a dict of claims and a list of events."""

    claims: dict[int, Claim] = field(default_factory=dict)
    events: list[ClaimEvent] = field(default_factory=list)
    history_calls: list[tuple[int, bool]] = field(default_factory=list)

    @classmethod
    def of(cls, *claims: Claim, events: Sequence[ClaimEvent] = ()) -> InMemoryClaims:
        """Seed with ``claims`` and ``events``."""
        return cls(claims={c.id: c for c in claims}, events=list(events))

    async def get(self, claim_id: int) -> Claim | None:
        """A claim by id."""
        return self.claims.get(claim_id)

    async def list_for_member(self, member_id: int) -> list[Claim]:
        """A member's claims, newest operation first, then by id (undated last)."""
        mine = sorted(
            (c for c in self.claims.values() if c.member_id == member_id), key=lambda c: c.id
        )
        return sorted(mine, key=lambda c: c.operation.date or date.min, reverse=True)

    async def history(self, claim_id: int, *, visible_only: bool) -> list[ClaimEvent]:
        """A claim's events in insertion order."""
        self.history_calls.append((claim_id, visible_only))
        return [
            e for e in self.events if e.claim_id == claim_id and (e.visible or not visible_only)
        ]

    async def owners(self, references: Sequence[str]) -> dict[str, int]:
        """Not needed by the services tested with this fake."""
        raise NotImplementedError

    async def import_rows(
        self,
        rows: Sequence[ClaimRow],
        now: datetime,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
        today: date | None = None,
    ) -> ImportResult:
        """Not needed by the services tested with this fake."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded audit call."""

    action: str
    result: str
    now: datetime
    actor_id: int | None
    actor_role: Role | None
    target: str | None


@dataclass(slots=True)
class InMemoryAudit:
    """``AuditLog`` appending to a list."""

    entries: list[AuditEntry] = field(default_factory=list)

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
        """Append one entry."""
        self.entries.append(AuditEntry(action, result, now, actor_id, actor_role, target))

    def results(self, action: str) -> list[str]:
        """The results recorded for ``action``, in order."""
        return [e.result for e in self.entries if e.action == action]


class _Absent:
    """A port the test did not give the unit of work: any use fails and names it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        raise AssertionError(f"this test gave the unit of work no {self._name} ({attr})")


def _absent(name: str) -> Callable[[], Any]:
    """A default factory for a port the test left out."""
    return lambda: _Absent(name)


@dataclass(slots=True)
class FakeUnitOfWork:
    """``UnitOfWork`` over in-memory fakes: tests hand it the ports their service uses.

    Members, regions, counters, claims and the audit log default to fresh in-memory fakes;
    any other port left out fails the test when used, naming it. The transaction only counts
    (an in-memory store has nothing to roll back); ``busy`` makes it fail as a locked
    database does (``Unavailable``) until a test clears it.
    """

    members: MemberRepository = field(default_factory=InMemoryMembers)
    regions: RegionRepository = field(default_factory=InMemoryRegions)
    invites: InviteRepository = field(default_factory=_absent("invites"))
    counters: AccountCounters = field(default_factory=InMemoryCounters)
    claims: ClaimRepository = field(default_factory=InMemoryClaims)
    claim_ledger: ClaimLedger = field(default_factory=_absent("claim_ledger"))
    claim_lister: ClaimLister = field(default_factory=_absent("claim_lister"))
    claim_edits: ClaimEditStore = field(default_factory=_absent("claim_edits"))
    amount_requests: AmountRequestStore = field(default_factory=_absent("amount_requests"))
    operation_edits: OperationEditStore = field(default_factory=_absent("operation_edits"))
    region_edits: RegionEditStore = field(default_factory=_absent("region_edits"))
    audit: AuditLog = field(default_factory=InMemoryAudit)
    audit_reader: AuditReader = field(default_factory=_absent("audit_reader"))
    registrations: RegistrationStore = field(default_factory=_absent("registrations"))
    outbox: Outbox = field(default_factory=_absent("outbox"))
    alerts: AlertRepository = field(default_factory=_absent("alerts"))
    pins: PinRepository = field(default_factory=_absent("pins"))
    chat_log: ChatMessageLog = field(default_factory=_absent("chat_log"))
    inbound: InboundLog = field(default_factory=_absent("inbound"))
    schedules: ScheduleRepository = field(default_factory=_absent("schedules"))
    entered: int = 0
    busy: bool = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[object]:
        """Enter a (no-op) transaction; ``Unavailable`` while ``busy``."""
        if self.busy:
            raise Unavailable
        self.entered += 1
        yield self


@dataclass(slots=True)
class RecordingDeletions:
    """``DeletionScheduler`` that remembers what it was asked to delete."""

    scheduled: list[tuple[int, tuple[int, ...], datetime]] = field(default_factory=list)

    async def schedule_deletion(
        self, member_id: int, message_ids: Sequence[int], delete_at: datetime
    ) -> None:
        """Remember one request."""
        self.scheduled.append((member_id, tuple(message_ids), delete_at))


def _conforms() -> None:
    """Static check (mypy) that every fake satisfies its Protocol; never called."""
    members = InMemoryMembers()
    regions = InMemoryRegions()
    _m: MemberRepository = members
    _r: RegionRepository = regions
    _i: InviteRepository = InMemoryInvites(members, regions)
    _c: AccountCounters = InMemoryCounters()
    _cl: ClaimRepository = InMemoryClaims()
    _a: AuditLog = InMemoryAudit()
    _k: Clock = FakeClock()
    _u: UnitOfWork = FakeUnitOfWork()
    _d: DeletionScheduler = RecordingDeletions()


@dataclass(frozen=True, slots=True)
class _RawNotice(Notice):
    """A notice that stores the given parameters as they are (see :func:`raw_notice`)."""

    TEMPLATE: ClassVar[str] = "news"

    values: Mapping[str, str] = field(default_factory=dict)

    def to_params(self) -> dict[str, str]:
        """The parameters exactly as given."""
        return dict(self.values)


def raw_notice(
    template: str, params: Mapping[str, str] | None = None, *, merge: str | None = None
) -> Notice:
    """A notice stored as ``template`` with exactly ``params`` (and ``merge``), for tests of
    the outbox machinery itself, which must cope with rows whatever they hold (a malformed
    deletion, a row of a kind this version does not know)."""
    kind = type(f"Raw_{template}", (_RawNotice,), {"TEMPLATE": template, "MERGE": merge})
    return cast("Notice", kind(dict(params or {})))
