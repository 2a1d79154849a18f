"""Batch invites: every codename line checked first, then all created in one transaction.

The repositories are in-memory fakes of the ports; the fake unit of work restores the member
table on an exception, as the real ``BEGIN IMMEDIATE`` … ``ROLLBACK`` does, so a failure in
the middle of a batch is visible as "nothing created".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.domain.errors import Conflict, ValidationError
from bot.domain.models import Lang, Member, MemberState, NewInvite, Region, Role
from bot.domain.registrations import RegionUsage
from bot.services.claims_import import LineError
from bot.services.invite_batch import (
    MAX_BATCH,
    MAX_BYTES,
    BatchRejected,
    InviteBatchService,
    parse_codenames,
)
from bot.services.invites import InviteService
from tests.fakes.clock import FakeClock as SharedFakeClock
from tests.services.fakes import FakeUnitOfWork

NOW = datetime(2016, 2, 10, 15, 0, tzinfo=UTC)


@dataclass(slots=True)
class FakeClock(SharedFakeClock):
    """The suite's fake clock, stopped at ``NOW``."""

    current: datetime = NOW


class FakeAudit:
    """Collects audit actions."""

    def __init__(self) -> None:
        self.actions: list[str] = []

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
        self.actions.append(action)


class FakeRegions:
    """Regions by name, case-insensitive like the real table."""

    def __init__(self, *names: str) -> None:
        self.regions = [Region(id=i, name=name) for i, name in enumerate(names, start=1)]

    async def add(self, name: str, now: datetime) -> Region:
        region = Region(id=len(self.regions) + 1, name=name)
        self.regions.append(region)
        return region

    async def get(self, name: str) -> Region | None:
        return next((r for r in self.regions if r.name.casefold() == name.casefold()), None)

    async def list_all(self) -> list[Region]:
        return sorted(self.regions, key=lambda r: r.name)

    async def usage(self) -> dict[int, RegionUsage]:
        return {}

    async def remove(self, region_id: int) -> None:
        raise AssertionError("invite batches never remove a region")


class FakeStore:
    """Members and invites in memory, with a unit of work that rolls back on error."""

    def __init__(self) -> None:
        self.members: dict[int, Member] = {}
        self.invites: dict[str, tuple[int, datetime]] = {}
        self.in_transaction = False
        self.transactions = 0
        #: A codename whose insert fails as if another admin took it meanwhile.
        self.race_on: str | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[object]:
        saved = (dict(self.members), dict(self.invites))
        self.in_transaction = True
        self.transactions += 1
        try:
            yield self
        except BaseException:
            self.members, self.invites = saved
            raise
        finally:
            self.in_transaction = False

    # InviteRepository
    async def create(
        self, invite: NewInvite, code: str, expires_at: datetime, now: datetime
    ) -> int:
        assert self.in_transaction, "batch invites must be created inside one transaction"
        if invite.codename == self.race_on or await self.by_codename(invite.codename):
            raise Conflict("codename taken")
        member_id = len(self.members) + 1
        self.members[member_id] = Member(
            id=member_id,
            role=invite.role,
            codename=invite.codename,
            lang=invite.lang or Lang.ES,
            lang_chosen=invite.lang is not None,
            regions=invite.regions,
            state=MemberState.ACTIVE,
            telegram_linked=False,
        )
        self.invites[code] = (member_id, expires_at)
        return member_id

    async def reenrol(
        self, invite: NewInvite, code: str, expires_at: datetime, now: datetime
    ) -> int | None:
        return None  # a codename taken in between (the race) is never re-enrollable here

    async def redeem(self, code: str, telegram_id: int, now: datetime) -> Member | None:
        raise AssertionError("not used")

    # MemberRepository
    async def get(self, member_id: int) -> Member | None:
        return self.members.get(member_id)

    async def by_telegram_id(self, telegram_id: int) -> Member | None:
        raise AssertionError("not used")

    async def by_codename_any_case(self, codename: str) -> Member | None:
        folded = [m for m in self.members.values() if m.codename.casefold() == codename.casefold()]
        return folded[0] if len(folded) == 1 else None

    async def by_codename(self, codename: str) -> Member | None:
        return next((m for m in self.members.values() if m.codename == codename), None)

    async def list_all(self) -> list[Member]:
        return list(self.members.values())

    async def in_regions(self, regions: Sequence[str], roles: Sequence[Role]) -> list[Member]:
        raise AssertionError("not used")

    async def telegram_id(self, member_id: int) -> int | None:
        raise AssertionError("not used")

    async def set_lang(self, member_id: int, lang: Lang) -> None:
        raise AssertionError("not used")

    async def set_state(self, member_id: int, state: MemberState) -> None:
        raise AssertionError("not used")

    async def unlink(self, member_id: int, now: datetime | None = None) -> None:
        raise AssertionError("not used")

    async def set_blocked(self, member_id: int, blocked: bool) -> None:
        raise AssertionError("not used")

    async def mark_seen(self, member_id: int, day: date) -> None:
        raise AssertionError("not used")


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


class StoreUnitOfWork(FakeUnitOfWork):
    """The in-memory unit of work over the store, whose transaction rolls back."""

    __slots__ = ("store",)

    def __init__(self, store: FakeStore, regions: FakeRegions, audit: FakeAudit) -> None:
        super().__init__(members=store, invites=store, regions=regions, audit=audit)
        self.store = store

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[object]:
        """The store's transaction."""
        async with self.store.transaction() as tx:
            yield tx


@pytest.fixture
def audit() -> FakeAudit:
    return FakeAudit()


@pytest.fixture
def service(store: FakeStore, audit: FakeAudit) -> InviteBatchService:
    uow = StoreUnitOfWork(store, FakeRegions("Ayacucho"), audit)
    invites = InviteService(uow=uow, clock=FakeClock())
    return InviteBatchService(invites=invites, uow=uow)


# --- parse_codenames ------------------------------------------------------------------------


def test_parse_codenames_skips_blank_lines_and_keeps_numbers() -> None:
    data = "\ufeffKuntur\r\n\n  Waman \n\t\nAtoq".encode()
    assert parse_codenames(data) == ([(1, "Kuntur"), (3, "Waman"), (5, "Atoq")], [])


def test_parse_codenames_splits_on_newline_only() -> None:
    # U+0085 and U+2028 are line breaks for str.splitlines; here they stay inside the line,
    # so clean_name sees (and refuses) U+0085 instead of it silently splitting a codename.
    names, errors = parse_codenames("Ku\x85ntur\nWaman\n".encode())
    assert names == [(2, "Waman")]
    assert errors == [LineError(1, "codename: contains a hidden or control character U+0085")]
    names, errors = parse_codenames("Ku\u2028ntur\n".encode())
    assert len(names) + len(errors) == 1


def test_parse_codenames_reports_every_bad_line() -> None:
    data = "Kuntur\nWa\u202eman\n\u0420um\u0430\nKuntur\nx\x00\n".encode()
    names, errors = parse_codenames(data)
    assert names == [(1, "Kuntur")]
    assert [(e.line, e.reason) for e in errors] == [
        (2, "codename: contains a hidden or control character U+202E"),
        (3, "codename: mixes letters of 2 scripts"),
        (4, "codename: repeats line 1"),
        (5, "codename: contains a hidden or control character U+0000"),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no codenames (one per line)"),
        (b"\n \r\n", "no codenames (one per line)"),
        (b"Kuntur\n\xffWaman\n", "file is not UTF-8 text"),
        ("Kuntur\n".encode("utf-16"), "file is not UTF-8 text"),
        (b"a" * (MAX_BYTES + 1), "file larger than 256 KiB"),
    ],
)
def test_parse_codenames_unusable_files(data: bytes, reason: str) -> None:
    assert parse_codenames(data) == ([], [LineError(0, reason)])


def test_parse_codenames_limits_the_batch() -> None:
    data = "\n".join(f"Codename{i}" for i in range(MAX_BATCH + 5)).encode()
    names, errors = parse_codenames(data)
    assert len(names) == MAX_BATCH
    assert errors == [LineError(MAX_BATCH + 1, f"more than {MAX_BATCH} codenames")]


# --- create_from_file -----------------------------------------------------------------------


async def test_creates_all_in_one_transaction(
    service: InviteBatchService, store: FakeStore, audit: FakeAudit
) -> None:
    created = await service.create_from_file(
        b"Kuntur\nWaman\nAtoq\n", role=Role.INFORMANT, region="ayacucho", lang=Lang.QU, ttl_hours=5
    )
    assert [item.codename for item in created] == ["Kuntur", "Waman", "Atoq"]
    assert len({item.invite.code for item in created}) == 3
    assert all(item.invite.expires_at == NOW + timedelta(hours=5) for item in created)
    assert store.transactions == 1
    assert [(m.codename, m.lang, m.regions) for m in store.members.values()] == [
        ("Kuntur", Lang.QU, ("Ayacucho",)),
        ("Waman", Lang.QU, ("Ayacucho",)),
        ("Atoq", Lang.QU, ("Ayacucho",)),
    ]
    assert {store.invites[item.invite.code][0] for item in created} == {1, 2, 3}
    assert audit.actions == ["invite_create"] * 3


async def test_taken_codenames_reject_the_whole_file(
    service: InviteBatchService, store: FakeStore
) -> None:
    # A coordinator's codename: an informant invite cannot re-enrol it (issue #14.7).
    await service.create_from_file(b"Puma\n", role=Role.COORDINATOR, region="Ayacucho")
    with pytest.raises(BatchRejected) as info:
        await service.create_from_file(
            b"Kuntur\nPuma\nWa\xe2\x80\xaeman\n", role=Role.INFORMANT, region="Ayacucho"
        )
    assert [(e.line, e.reason) for e in info.value.errors] == [
        (2, "codename: already taken"),
        (3, "codename: contains a hidden or control character U+202E"),
    ]
    assert [m.codename for m in store.members.values()] == ["Puma"]


async def test_failure_in_the_middle_rolls_everything_back(
    service: InviteBatchService, store: FakeStore
) -> None:
    store.race_on = "Waman"
    with pytest.raises(ValidationError, match="already taken"):
        await service.create_from_file(
            b"Kuntur\nWaman\nAtoq\n", role=Role.INFORMANT, region="Ayacucho"
        )
    assert store.members == {}
    assert store.invites == {}


@pytest.mark.parametrize(
    ("region", "ttl", "reason"),
    [
        ("Cusco", 72, "region: unknown"),
        ("Ayacucho", 0, "ttl-hours"),
        ("Ayacucho", 73, "ttl-hours"),
    ],
)
async def test_bad_region_or_ttl_is_refused_before_the_lines(
    region: str, ttl: int, reason: str, service: InviteBatchService, store: FakeStore
) -> None:
    with pytest.raises(ValidationError, match=reason):
        await service.create_from_file(
            b"Kuntur\n\xff\n", role=Role.INFORMANT, region=region, ttl_hours=ttl
        )
    assert store.members == {}
