"""Operations, payments and compare-and-set claim changes on SQLite (issue #16.1, #16.2)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.domain.claims import (
    ClaimRefused,
    NewOperation,
    OperationUpdate,
    Payment,
    RecordedInBot,
    Rule,
    change_status,
    record_payment,
)
from bot.domain.errors import Conflict, NotFound
from bot.domain.models import Claim, ClaimRow, ClaimStatus, Role
from bot.services.claims_admin import (
    MAX_FOUND,
    ClaimAdminService,
    OperationEdited,
    overdue_first,
)
from storage.crypto import DecryptionError
from storage.database import migrations
from storage.unit_of_work import SqliteUnitOfWork
from tests.fakes.clock import FakeClock
from tests.storage.conftest import T0, Repos

TG = 987654321
TORNADO = NewOperation(
    label="Operación Tornado",
    date=date(2016, 5, 20),
    region="Pichari",
    total_cents=200_000_000,
    promised_by="Comandante X",
    basis="Volante de recompensa",
    pay_by=date(2016, 12, 31),
)


def _row(reference: str, promised: int) -> ClaimRow:
    return ClaimRow(
        line=2,
        reference=reference,
        codename="Cóndor-7",
        operation="Operación Tornado",
        operation_date=date(2016, 5, 20),
        region="Pichari",
        promised_cents=promised,
        status=ClaimStatus.REGISTERED,
        promised_date=None,
        next_step=None,
        next_step_date=None,
    )


@pytest.fixture
async def seeded(repos: Repos) -> Repos:
    await repos.member("Cóndor-7", TG)
    await repos.claims.add_operation(TORNADO, T0)
    await repos.claims.import_rows(
        [_row("R-2016-0007", 10_000_000), _row("R-2016-0008", 5_000_000)], T0
    )
    return repos


async def test_an_operation_keeps_what_was_promised_sealed(seeded: Repos, db_path: Path) -> None:
    [operation] = await seeded.claims.operations()
    assert (operation.label, operation.total_cents, operation.promised_by, operation.basis) == (
        "Operación Tornado",
        200_000_000,
        "Comandante X",
        "Volante de recompensa",
    )
    assert operation.pay_by == date(2016, 12, 31)
    claim = await seeded.claims.by_reference("R-2016-0007")
    assert claim is not None
    assert claim.operation == operation  # the import joined the declared operation
    assert claim.days_overdue(date(2017, 1, 10)) == 10  # the operation's promised date
    with closing(sqlite3.connect(db_path)) as conn:
        raw = conn.execute("SELECT total_enc, promised_by_enc FROM operations").fetchone()
    assert b"Comandante" not in raw[1]
    assert b"200000000" not in raw[0]


async def test_a_second_operation_with_that_label_or_an_unknown_region_is_refused(
    seeded: Repos,
) -> None:
    with pytest.raises(Conflict):
        await seeded.claims.add_operation(TORNADO, T0)
    with pytest.raises(NotFound):
        await seeded.claims.add_operation(replace(TORNADO, label="B", region="Nowhere"), T0)


async def test_shares_add_up_the_other_claims(seeded: Repos) -> None:
    claim = await seeded.claims.by_reference("R-2016-0007")
    assert claim is not None
    assert await seeded.claims.shares(claim.operation.id) == 15_000_000
    assert await seeded.claims.shares(claim.operation.id, excluding=claim.id) == 5_000_000


async def test_a_payment_is_stored_with_its_change_and_the_paid_sum(seeded: Repos) -> None:
    claim = await seeded.claims.by_reference("R-2016-0007")
    assert claim is not None
    for status in (ClaimStatus.UNDER_REVIEW, ClaimStatus.APPROVED):
        assert await seeded.claims.save(change_status(claim, status, now=T0), actor_id=9, now=T0)
        claim = await seeded.claims.get(claim.id)
        assert claim is not None
    payment = Payment(4_000_000, date(2026, 3, 1), "transferencia", "OP-1")
    change = record_payment(claim, payment, now=T0, note="Primer pago", visible=False)
    assert await seeded.claims.save(change, actor_id=9, now=T0 + timedelta(minutes=1))
    stored = await seeded.claims.get(claim.id)
    assert stored is not None
    assert (stored.status, stored.paid_cents, stored.version) == (
        ClaimStatus.PARTIALLY_PAID,
        4_000_000,
        claim.version + 1,
    )
    assert await seeded.claims.payments(claim.id) == [payment]
    events = await seeded.claims.history(claim.id, visible_only=False)
    assert events[-1].note == "Primer pago"
    assert not events[-1].visible
    assert await seeded.claims.history(claim.id, visible_only=True) == events[:-1]


async def test_a_change_read_before_another_one_is_not_stored(seeded: Repos) -> None:
    claim = await seeded.claims.by_reference("R-2016-0007")
    assert claim is not None
    first = change_status(claim, ClaimStatus.UNDER_REVIEW, now=T0, note="Primero")
    second = change_status(claim, ClaimStatus.REJECTED, now=T0, note="Segundo")
    assert await seeded.claims.save(first, actor_id=1, now=T0)
    assert not await seeded.claims.save(second, actor_id=2, now=T0)
    stored = await seeded.claims.get(claim.id)
    assert stored is not None
    assert stored.status is ClaimStatus.UNDER_REVIEW
    notes = [event.note for event in await seeded.claims.history(claim.id, visible_only=False)]
    assert notes == [None, "Primero"]


async def test_closed_at_is_stored_and_claims_found_by_region_and_status(seeded: Repos) -> None:
    claim = await seeded.claims.by_reference("R-2016-0008")
    assert claim is not None
    change = change_status(claim, ClaimStatus.REJECTED, now=T0, note="Sin pruebas")
    assert await seeded.claims.save(change, actor_id=1, now=T0)
    stored = await seeded.claims.get(claim.id)
    assert stored is not None
    assert stored.closed_at == T0
    rejected = await seeded.claims.in_regions(["Pichari"], status=ClaimStatus.REJECTED)
    assert [c.reference for c in rejected] == ["R-2016-0008"]
    assert await seeded.claims.in_regions(["Llochegua"]) == []
    assert await seeded.claims.in_regions([]) == []
    assert len(await seeded.claims.in_regions(None)) == 2


async def test_an_import_does_not_overwrite_a_claim_changed_in_the_chat(seeded: Repos) -> None:
    claim = await seeded.claims.by_reference("R-2016-0008")
    assert claim is not None
    change = change_status(claim, ClaimStatus.UNDER_REVIEW, now=T0)
    assert await seeded.claims.save(change, actor_id=1, now=T0)
    rows = [
        replace(_row("R-2016-0007", 9_000_000), line=4),
        replace(_row("R-2016-0008", 1), line=5),
    ]
    with pytest.raises(RecordedInBot) as refused:
        await seeded.claims.import_rows(rows, T0 + timedelta(days=1))
    assert refused.value.lines == [5]
    untouched = await seeded.claims.by_reference("R-2016-0007")
    assert untouched is not None
    assert untouched.promised_cents == 10_000_000  # all or nothing: the good row rolled back
    kept = await seeded.claims.by_reference("R-2016-0008")
    assert kept is not None
    assert (kept.status, kept.promised_cents) == (ClaimStatus.UNDER_REVIEW, 5_000_000)


async def test_the_migration_makes_closed_at_follow_the_status_of_older_imports(
    seeded: Repos, db_path: Path
) -> None:
    """Older imports left paid/rejected claims without closed_at and re-opened ones with it."""
    [sql] = [sql for _version, sql in migrations() if "closed_at = updated_at" in sql]
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        conn.execute("UPDATE claims SET status = 'paid', closed_at = NULL WHERE id = 1")
        conn.execute("UPDATE claims SET closed_at = updated_at WHERE id = 2")
        conn.executescript(f"BEGIN;{sql}\nCOMMIT;")
    closed = await seeded.claims.get(1)
    reopened = await seeded.claims.get(2)
    assert closed is not None
    assert reopened is not None
    assert closed.closed_at == closed.updated_at
    assert reopened.closed_at is None


# ------------------------------------------------------------ /reclamos ordered in storage

#: The day the listings below are asked for (the informant's claims are overdue against it).
TODAY = date(2026, 3, 14)
_STATUSES = list(ClaimStatus)


def _varied(n: int) -> ClaimRow:
    """Claim ``n`` of a mix: every status, promised dates past, future and none (then the
    operation's ``pay_by`` or nothing), next step dates and none, two regions."""
    promised = [None, date(2026, 3, 1), date(2026, 2, 1), date(2026, 4, 1), date(2025, 12, 1)]
    step = [None, date(2026, 4, 2), date(2026, 3, 20), None, date(2026, 3, 20)]
    return ClaimRow(
        line=n + 2,
        reference=f"R-2016-{n:04d}",
        codename="Cóndor-7" if n % 4 else "Ñusta",
        operation="Operación Tornado" if n % 3 else "Operación Sin Fecha",
        operation_date=date(2016, 5, 20),
        region="Llochegua" if n % 5 == 4 else "Pichari",
        promised_cents=1_000 + n,
        status=_STATUSES[n % len(_STATUSES)],
        promised_date=promised[n % len(promised)],
        next_step=None,
        next_step_date=step[(n // 2) % len(step)],
    )


async def test_overdue_first_in_storage_is_the_order_of_reclamos(repos: Repos) -> None:
    """The query's order and cut are the service's ``overdue_first`` on every claim."""
    informant = await repos.member("Cóndor-7", TG)
    await repos.member("Ñusta", TG + 1)
    await repos.claims.add_operation(TORNADO, T0)
    await repos.claims.import_rows([_varied(n) for n in range(60)], T0)
    everything = await repos.claims.in_regions(None)

    def expected(keep: Callable[[Claim], bool], limit: int) -> list[int]:
        return [c.id for c in overdue_first([c for c in everything if keep(c)], TODAY)][:limit]

    def ids(claims: list[Claim]) -> list[int]:
        return [c.id for c in claims]

    whole = await repos.claims.overdue_first(None, today=TODAY, limit=1000)
    assert ids(whole) == expected(lambda c: True, 1000)
    assert whole == overdue_first(everything, TODAY)  # the same claims, decrypted alike
    assert whole[0].days_overdue(TODAY) > whole[-1].days_overdue(TODAY)
    pichari = await repos.claims.overdue_first(["Pichari"], today=TODAY, limit=20)
    assert ids(pichari) == expected(lambda c: c.region == "Pichari", 20)
    review = await repos.claims.overdue_first(
        ["Pichari", "Llochegua"], today=TODAY, limit=5, status=ClaimStatus.UNDER_REVIEW
    )
    assert ids(review) == expected(lambda c: c.status is ClaimStatus.UNDER_REVIEW, 5)
    theirs = await repos.claims.overdue_first(
        ["Pichari"], today=TODAY, limit=20, member_id=informant.id
    )
    assert ids(theirs) == expected(
        lambda c: c.member_id == informant.id and c.region == "Pichari", 20
    )
    assert await repos.claims.overdue_first([], today=TODAY, limit=20) == []


async def test_reclamos_decrypts_only_the_claims_it_shows(repos: Repos, db_path: Path) -> None:
    """A claim the listing does not show is never opened: its cell, broken on disk, does
    not stop ``/reclamos`` (and breaks a read of every claim, the way it was listed)."""
    await repos.member("Cóndor-7", TG)
    coordinator = await repos.member("Jefe", TG + 2, role=Role.COORDINATOR)
    await repos.claims.add_operation(TORNADO, T0)
    rows = [replace(_row(f"R-2016-{n:04d}", 1_000 + n), line=n + 2) for n in range(25)]
    rows[3] = replace(rows[3], status=ClaimStatus.PAID)  # closed: listed after every open one
    await repos.claims.import_rows(rows, T0)
    broken = await repos.claims.by_reference("R-2016-0003")
    assert broken is not None
    with closing(sqlite3.connect(db_path)) as conn, conn:
        # Another claim's sealed amount: bound to that claim's id, it does not open here.
        conn.execute(
            "UPDATE claims SET promised_enc = (SELECT promised_enc FROM claims WHERE id = ?)"
            " WHERE id = ?",
            (broken.id + 1, broken.id),
        )
    clock = FakeClock()
    assert clock.today() == TODAY
    service = ClaimAdminService(SqliteUnitOfWork.over(repos.db, repos.keys, None, clock), clock)

    shown = await service.list_claims(coordinator)

    assert len(shown) == MAX_FOUND
    assert broken.id not in [c.id for c in shown]
    assert [c.reference for c in shown[:2]] == ["R-2016-0000", "R-2016-0001"]
    found = await service.find(coordinator, "cóndor-7")  # by codename: cut in storage too
    assert [c.id for c in found] == [c.id for c in shown]
    with pytest.raises(DecryptionError):
        await repos.claims.in_regions(["Pichari"])


# ------------------------------------------------------------ operations edited (#16.3)


def _service(repos: Repos) -> ClaimAdminService:
    clock = FakeClock()
    return ClaimAdminService(SqliteUnitOfWork.over(repos.db, repos.keys, None, clock), clock)


async def test_an_operation_edit_is_stored_sealed_and_audited_by_field_name(
    seeded: Repos, db_path: Path
) -> None:
    admin = await seeded.member("Jefa", TG + 3, role=Role.ADMIN)
    [operation] = await seeded.claims.operations()
    update = OperationUpdate(
        label="Operación Remolino", region="llochegua", pay_by=date(2017, 6, 30), basis=None
    )

    edited = await _service(seeded).edit_operation(operation.id, update, actor=admin)

    assert edited.changed == ("label", "region", "basis", "pay_by")
    assert edited.operation.region == "Llochegua"  # as stored, not as typed
    assert await seeded.claims.operation(operation.id) == edited.operation
    assert await seeded.claims.operation(operation.id + 99) is None
    [entry] = await seeded.audit.entries(action="operation_edit")
    assert (entry.actor_id, entry.actor_role) == (admin.id, "admin")
    assert entry.target == f"operation:{operation.id}:label,region,basis,pay_by"
    with closing(sqlite3.connect(db_path)) as conn:
        dump = "\n".join(conn.iterdump())
    assert "Remolino" not in dump  # sealed (M-07), and never in the audit


async def test_an_operation_edit_refuses_a_total_below_the_shares_and_changes_nothing(
    seeded: Repos,
) -> None:
    [operation] = await seeded.claims.operations()
    service = _service(seeded)
    with pytest.raises(ClaimRefused) as refused:
        await service.edit_operation(
            operation.id, OperationUpdate(total_cents=14_999_999, pay_by=None)
        )
    assert refused.value.rule is Rule.BELOW_SHARES
    assert await seeded.claims.operation(operation.id) == operation
    assert await seeded.audit.entries(action="operation_edit") == []
    exact = await service.edit_operation(operation.id, OperationUpdate(total_cents=15_000_000))
    assert exact.changed == ("total_cents",)


async def test_an_operation_edit_refuses_unknown_ids_regions_and_taken_labels(
    seeded: Repos,
) -> None:
    [operation] = await seeded.claims.operations()
    other = await seeded.claims.add_operation(replace(TORNADO, label="Halcón"), T0)
    service = _service(seeded)
    with pytest.raises(NotFound, match="operation"):
        await service.edit_operation(other.id + 1, OperationUpdate(pay_by=None))
    with pytest.raises(NotFound, match="region"):
        await service.edit_operation(operation.id, OperationUpdate(region="Nowhere"))
    with pytest.raises(Conflict):
        await service.edit_operation(other.id, OperationUpdate(label=operation.label))
    same = await service.edit_operation(operation.id, OperationUpdate(region="PICHARI"))
    assert same == OperationEdited(operation, ())
    assert await seeded.audit.entries(action="operation_edit") == []
