"""An imported paid amount is a payment (issue #16.6): paid total = sum of the payments.

A claims file's ``paid_amount`` is stored as one payment marked imported; a payment made
later in the chat adds a row beside it, a re-import of a claim the bot keeps no record of
replaces it, and databases imported before this (migration 0020) are repaired once, with
the keys, when they are next opened (``storage.repairs``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from bot.domain.claims import IMPORT_METHOD, Payment, RecordedInBot, record_payment
from bot.domain.models import ClaimRow, ClaimStatus
from bot.domain.ports import ImportResult
from storage.codec import Sealer
from storage.crypto import DecryptionError
from storage.repairs import run_pending
from tests.storage.conftest import T0, Repos


def _row(**changes: object) -> ClaimRow:
    row = ClaimRow(
        line=2,
        reference="R-2016-0007",
        codename="Cóndor-7",
        operation="Operación Tornado",
        operation_date=date(2016, 5, 20),
        region="Pichari",
        promised_cents=10_000_000,
        status=ClaimStatus.PARTIALLY_PAID,
        promised_date=None,
        next_step=None,
        next_step_date=None,
        paid_cents=4_000_000,
        status_date=date(2025, 11, 3),
    )
    return replace(row, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def seeded(repos: Repos) -> Repos:
    await repos.member("Cóndor-7", 987654321)
    return repos


async def _paid_and_payments(repos: Repos) -> tuple[int, list[Payment]]:
    claim = await repos.claims.by_reference("R-2016-0007")
    assert claim is not None
    return claim.paid_cents, await repos.claims.payments(claim.id)


async def test_an_imported_paid_amount_is_one_imported_payment(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row()], T0, today=date(2026, 3, 2))
    paid, payments = await _paid_and_payments(seeded)
    assert paid == 4_000_000
    assert payments == [Payment(4_000_000, date(2025, 11, 3), IMPORT_METHOD, None, imported=True)]


async def test_without_a_status_date_the_payment_is_dated_the_import_day(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row(status_date=None)], T0, today=date(2026, 3, 1))
    _, [payment] = await _paid_and_payments(seeded)
    assert payment.paid_on == date(2026, 3, 1)


async def test_nothing_paid_is_no_payment(seeded: Repos) -> None:
    await seeded.claims.import_rows(
        [_row(status=ClaimStatus.APPROVED, paid_cents=0)], T0, today=date(2026, 3, 2)
    )
    assert await _paid_and_payments(seeded) == (0, [])


async def test_a_payment_in_chat_adds_to_the_imported_one(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row()], T0)
    claim = await seeded.claims.by_reference("R-2016-0007")
    assert claim is not None
    change = record_payment(claim, Payment(1_000_000, date(2026, 3, 2), "efectivo"), now=T0)
    assert await seeded.claims.save(change, actor_id=9, now=T0)
    paid, payments = await _paid_and_payments(seeded)
    assert paid == 5_000_000 == sum(p.amount_cents for p in payments)
    assert [p.imported for p in payments] == [True, False]


async def test_a_reimport_replaces_the_imported_payment(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row()], T0)
    later = T0 + timedelta(days=1)
    result = await seeded.claims.import_rows([_row(paid_cents=6_000_000)], later)
    # The imported payment does not make the claim "recorded in the bot".
    assert result == ImportResult(created=0, updated=1, unchanged=0)
    paid, payments = await _paid_and_payments(seeded)
    assert paid == 6_000_000
    assert [(p.amount_cents, p.imported) for p in payments] == [(6_000_000, True)]
    # A later file that paid nothing removes it; one that says nothing keeps it.
    await seeded.claims.import_rows([_row(status=ClaimStatus.APPROVED, paid_cents=0)], later)
    assert await _paid_and_payments(seeded) == (0, [])
    await seeded.claims.import_rows([_row(paid_cents=2_000_000)], later)
    await seeded.claims.import_rows([_row(paid_cents=None, next_step="Cita")], later)
    paid, payments = await _paid_and_payments(seeded)
    assert (paid, [p.amount_cents for p in payments]) == (2_000_000, [2_000_000])


async def test_a_payment_made_in_chat_still_keeps_the_claim_in_the_bot(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row()], T0)
    claim = await seeded.claims.by_reference("R-2016-0007")
    assert claim is not None
    change = record_payment(claim, Payment(1_000_000, date(2026, 3, 2), "efectivo"), now=T0)
    assert await seeded.claims.save(change, actor_id=9, now=T0)
    with pytest.raises(RecordedInBot):
        await seeded.claims.import_rows([_row(paid_cents=6_000_000)], T0)
    paid, payments = await _paid_and_payments(seeded)
    assert paid == 5_000_000 == sum(p.amount_cents for p in payments)


async def _as_before_0020(repos: Repos) -> None:
    """Make the database what an import before migration 0020 left: no imported payment."""
    await repos.db.execute("DELETE FROM claim_payments WHERE imported = 1")
    await repos.db.execute("INSERT OR IGNORE INTO pending_repairs (name) VALUES ('imported_paid')")


async def test_the_repair_gives_old_imports_their_payment_once(seeded: Repos) -> None:
    assert await run_pending(seeded.db, seeded.keys, T0)  # migration 0020 left it pending
    assert not await run_pending(seeded.db, seeded.keys, T0)  # and once is enough
    await seeded.claims.import_rows(
        [_row(), _row(reference="R-2016-0008", status_date=None, paid_cents=0)], T0
    )
    claim = await seeded.claims.by_reference("R-2016-0007")
    assert claim is not None
    await _as_before_0020(seeded)
    # A payment recorded in the chat after such an import: it added to the imported total.
    change = record_payment(claim, Payment(1_000_000, date(2026, 3, 2), "efectivo"), now=T0)
    assert await seeded.claims.save(change, actor_id=9, now=T0)
    paid, payments = await _paid_and_payments(seeded)
    assert (paid, sum(p.amount_cents for p in payments)) == (5_000_000, 1_000_000)

    assert await run_pending(seeded.db, seeded.keys, T0 + timedelta(days=1))
    paid, payments = await _paid_and_payments(seeded)
    assert paid == 5_000_000 == sum(p.amount_cents for p in payments)
    assert [(p.amount_cents, p.paid_on, p.imported) for p in payments] == [
        (1_000_000, date(2026, 3, 2), False),
        (4_000_000, date(2025, 11, 3), True),  # dated by the import's status date
    ]
    other = await seeded.claims.by_reference("R-2016-0008")
    assert other is not None
    assert await seeded.claims.payments(other.id) == []  # nothing paid, nothing added
    assert not await run_pending(seeded.db, seeded.keys, T0)  # once only
    assert len(await seeded.claims.payments(claim.id)) == 2


async def test_the_repair_dates_an_import_without_status_date_by_its_day(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row(status_date=None)], T0)
    await _as_before_0020(seeded)
    assert await run_pending(seeded.db, seeded.keys, T0 + timedelta(days=30))
    _, [payment] = await _paid_and_payments(seeded)
    assert (payment.amount_cents, payment.paid_on) == (4_000_000, T0.date())


async def test_the_repair_writes_nothing_when_a_cell_does_not_open(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row()], T0)
    await _as_before_0020(seeded)
    await seeded.db.execute(
        "UPDATE claims SET paid_enc = ? WHERE id = 1",
        (Sealer(seeded.keys.cipher, "claims").seal_int("paid", 2, 4_000_000),),
    )
    with pytest.raises(DecryptionError):
        await run_pending(seeded.db, seeded.keys, T0)
    assert await seeded.db.fetchall("SELECT * FROM claim_payments") == []
    assert await seeded.db.fetchone("SELECT name FROM pending_repairs") is not None
