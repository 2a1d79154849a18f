"""Claims, operations and history on SQLite: idempotent import, sealed fields (T-26, T-48)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.domain.models import ClaimRow, ClaimStatus
from bot.domain.ports import ImportResult
from storage.claims import _SELECT, SqliteClaimRepository, _claim
from storage.codec import Sealer, ts
from storage.crypto import DecryptionError
from storage.database import Database
from tests.storage.conftest import T0, Repos

TG = 987654321


def _row(reference: str = "R-2016-0007", **changes: object) -> ClaimRow:
    row = ClaimRow(
        line=2,
        reference=reference,
        codename="Cóndor-7",
        operation="Operación Tornado",
        operation_date=date(2016, 5, 20),
        region="Pichari",
        promised_cents=200_000_000,
        status=ClaimStatus.REGISTERED,
        promised_date=date(2026, 1, 31),
        next_step="Firma del acta",
        next_step_date=date(2026, 3, 10),
    )
    return replace(row, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def seeded(repos: Repos) -> Repos:
    await repos.member("Cóndor-7", TG)
    await repos.member("Puma-2", 2)
    return repos


async def test_import_creates_a_claim_with_every_field(seeded: Repos) -> None:
    result = await seeded.claims.import_rows([_row()], T0 + timedelta(seconds=42))
    assert result == ImportResult(created=1, updated=0, unchanged=0)
    member = await seeded.members.by_codename("Cóndor-7")
    assert member is not None
    [claim] = await seeded.claims.list_for_member(member.id)
    assert claim.reference == "R-2016-0007"
    assert claim.member_id == member.id
    assert (claim.operation.label, claim.operation.date, claim.operation.region) == (
        "Operación Tornado",
        date(2016, 5, 20),
        "Pichari",
    )
    assert (claim.region, claim.status) == ("Pichari", ClaimStatus.REGISTERED)
    assert (claim.promised_cents, claim.approved_cents, claim.paid_cents) == (200_000_000, None, 0)
    assert (claim.promised_date, claim.next_step, claim.next_step_date) == (
        date(2026, 1, 31),
        "Firma del acta",
        date(2026, 3, 10),
    )
    assert claim.version == 1
    assert claim.updated_at == T0 + timedelta(seconds=42)
    assert await seeded.claims.get(claim.id) == claim
    [event] = await seeded.claims.history(claim.id, visible_only=True)
    assert (event.status, event.visible, event.note) == (ClaimStatus.REGISTERED, True, None)
    assert event.at == T0  # rounded to the minute (docs/threat-model.md §4)


async def test_reimporting_the_same_rows_changes_nothing(seeded: Repos) -> None:
    rows = [_row(), _row("R-2016-0008", codename="Puma-2", next_step=None)]
    assert await seeded.claims.import_rows(rows, T0) == ImportResult(2, 0, 0)
    before = [await seeded.claims.get(i) for i in (1, 2)]
    again = await seeded.claims.import_rows(rows, T0 + timedelta(days=1))
    assert again == ImportResult(created=0, updated=0, unchanged=2)
    assert [await seeded.claims.get(i) for i in (1, 2)] == before
    assert len(await seeded.claims.history(1, visible_only=False)) == 1


async def test_region_typed_in_another_case_is_still_unchanged(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row()], T0)
    again = await seeded.claims.import_rows([_row(region="PICHARI")], T0)
    assert again == ImportResult(created=0, updated=0, unchanged=1)
    claim = await seeded.claims.get(1)
    assert claim is not None
    assert (claim.region, claim.version) == ("Pichari", 1)


async def test_status_change_updates_bumps_version_and_adds_an_event(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row()], T0)
    later = T0 + timedelta(days=2, seconds=5)
    result = await seeded.claims.import_rows([_row(status=ClaimStatus.UNDER_REVIEW)], later)
    assert result == ImportResult(created=0, updated=1, unchanged=0)
    claim = await seeded.claims.get(1)
    assert claim is not None
    assert (claim.status, claim.version, claim.updated_at) == (
        ClaimStatus.UNDER_REVIEW,
        2,
        later,
    )
    history = await seeded.claims.history(1, visible_only=True)
    assert [e.status for e in history] == [ClaimStatus.REGISTERED, ClaimStatus.UNDER_REVIEW]


async def test_other_changes_update_without_a_history_event(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row()], T0)
    changed = _row(promised_cents=150_000, next_step=None, promised_date=None, region="Llochegua")
    assert await seeded.claims.import_rows([changed], T0) == ImportResult(0, 1, 0)
    claim = await seeded.claims.get(1)
    assert claim is not None
    assert (claim.promised_cents, claim.next_step, claim.promised_date, claim.region) == (
        150_000,
        None,
        None,
        "Llochegua",
    )
    assert len(await seeded.claims.history(1, visible_only=False)) == 1


async def test_claims_of_one_operation_share_it(seeded: Repos) -> None:
    rows = [_row(), _row("R-2016-0008", codename="Puma-2")]
    await seeded.claims.import_rows(rows, T0)
    first, second = await seeded.claims.get(1), await seeded.claims.get(2)
    assert first is not None
    assert second is not None
    assert first.operation == second.operation
    assert len(await seeded.db.fetchall("SELECT id FROM operations")) == 1


async def test_import_is_all_or_nothing(seeded: Repos) -> None:
    rows = [_row(), _row("R-2016-0008", codename="Nadie")]  # second member does not exist
    with pytest.raises(LookupError):
        await seeded.claims.import_rows(rows, T0)
    assert await seeded.db.fetchall("SELECT id FROM claims") == []
    assert await seeded.db.fetchall("SELECT id FROM operations") == []


async def test_list_is_newest_operation_first_then_by_id(seeded: Repos) -> None:
    rows = [
        _row("R-1", operation="Op vieja", operation_date=date(2014, 1, 1)),
        _row("R-2", operation="Op sin fecha", operation_date=None),
        _row("R-3", operation="Op nueva", operation_date=date(2016, 5, 20)),
        _row("R-4", operation="Op nueva"),
        _row("R-5", codename="Puma-2"),
    ]
    await seeded.claims.import_rows(rows, T0)
    member = await seeded.members.by_codename("Cóndor-7")
    assert member is not None
    listed = await seeded.claims.list_for_member(member.id)
    assert [c.reference for c in listed] == ["R-3", "R-4", "R-1", "R-2"]
    assert await seeded.claims.list_for_member(999) == []
    assert await seeded.claims.get(999) is None


async def _add_note(repos: Repos, claim_id: int, note: str, *, visible: bool) -> None:
    async with repos.db.transaction():
        event_id = await repos.db.next_id("claim_events")
        await repos.db.execute(
            "INSERT INTO claim_events (id, claim_id, at, status, note_enc, visible)"
            " VALUES (?, ?, ?, 'under_review', ?, ?)",
            (
                event_id,
                claim_id,
                ts(T0),
                Sealer(repos.keys.cipher, "claim_events").seal("note", event_id, note),
                int(visible),
            ),
        )


async def test_history_hides_internal_notes_when_asked(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row()], T0)
    await _add_note(seeded, 1, "Pendiente de firma del comandante", visible=True)
    await _add_note(seeded, 1, "interno: '; DROP TABLE claims;--", visible=False)
    visible = await seeded.claims.history(1, visible_only=True)
    everything = await seeded.claims.history(1, visible_only=False)
    assert [e.note for e in visible] == [None, "Pendiente de firma del comandante"]
    assert [e.note for e in everything] == [
        None,
        "Pendiente de firma del comandante",
        "interno: '; DROP TABLE claims;--",
    ]
    assert [e.visible for e in everything] == [True, True, False]
    assert await seeded.claims.history(999, visible_only=False) == []


async def test_sealed_amounts_round_trip(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row()], T0)
    sealer = Sealer(seeded.keys.cipher, "claims")
    await seeded.db.execute(
        "UPDATE claims SET approved_enc = ?, paid_enc = ? WHERE id = 1",
        (sealer.seal_int("approved", 1, 199_999_999), sealer.seal_int("paid", 1, 1)),
    )
    claim = await seeded.claims.get(1)
    assert claim is not None
    assert (claim.approved_cents, claim.paid_cents) == (199_999_999, 1)


async def test_ciphertext_swapped_between_claims_fails_closed(seeded: Repos) -> None:
    """M-07: copying another row's sealed reference into this row does not decrypt."""
    await seeded.claims.import_rows([_row(), _row("R-2016-0008", codename="Puma-2")], T0)
    await seeded.db.execute(
        "UPDATE claims SET reference_enc = (SELECT reference_enc FROM claims WHERE id = 2)"
        " WHERE id = 1"
    )
    with pytest.raises(DecryptionError):
        await seeded.claims.get(1)


EVIL = ["'; DROP TABLE claims;--", '" OR 1=1 --', "%", "_", "\\"]


@pytest.mark.parametrize("evil", EVIL)
async def test_sql_ish_labels_and_next_steps_round_trip(seeded: Repos, evil: str) -> None:
    """T-26: stored and read back literally; every table still there."""
    await seeded.claims.import_rows([_row(operation=evil, next_step=evil)], T0)
    claim = await seeded.claims.get(1)
    assert claim is not None
    assert (claim.operation.label, claim.next_step) == (evil, evil)
    tables = {r["name"] for r in await seeded.db.fetchall("SELECT name FROM sqlite_master")}
    assert {"claims", "operations", "members", "audit"} <= tables


#: Fixture strings that must never appear in clear in the database or its WAL (T-48).
SECRETS = ["Cóndor-7", "Operación Tornado", "R-2016-0007", "2000000.00", "200000000", str(TG)]


def _hits(path: Path) -> list[str]:
    data = path.read_bytes() if path.exists() else b""
    return [s for s in SECRETS if s.encode("utf-8") in data]


async def test_t48_no_plaintext_in_database_or_wal(seeded: Repos) -> None:
    await seeded.claims.import_rows([_row()], T0)
    await seeded.counters.hit(TG, "stranger_reply", T0, timedelta(hours=24))
    db_file = seeded.db.path
    wal = db_file.with_name(db_file.name + "-wal")
    assert wal.exists()
    assert wal.stat().st_size > 0  # the data is in the WAL right now, uncheckpointed
    assert _hits(db_file) == []
    assert _hits(wal) == []
    # Positive control: the region name is plaintext by design (threat model §4): the grep sees it.
    assert b"Pichari" in db_file.read_bytes() + wal.read_bytes()
    # Sanity: the values are there, sealed (a wrong grep would pass vacuously).
    member = await seeded.members.by_telegram_id(TG)
    assert member is not None
    assert member.codename == "Cóndor-7"


async def test_t48_stored_amounts_and_codenames_do_not_show_their_size(seeded: Repos) -> None:
    """#11.9: in a copy of the database, S/ 15 and S/ 2,000,000 look alike, as do names."""
    await seeded.claims.import_rows(
        [
            _row("R-1", promised_cents=1_500),
            _row("R-2", codename="Puma-2", promised_cents=200_000_000),
        ],
        T0,
    )
    with closing(sqlite3.connect(seeded.db.path)) as conn:
        amounts = {row[0] for row in conn.execute("SELECT length(promised_enc) FROM claims")}
        names = {row[0] for row in conn.execute("SELECT length(codename_enc) FROM members")}
    assert len(amounts) == 1
    assert len(names) == 1


async def test_t48_no_plaintext_after_checkpoint_and_close(db_path: Path, repos: Repos) -> None:
    await repos.member("Cóndor-7", TG)
    await repos.claims.import_rows([_row()], T0)
    await repos.db.close()
    assert _hits(db_path) == []
    for leftover in (db_path.with_name(db_path.name + s) for s in ("-wal", "-shm")):
        assert _hits(leftover) == []
    # Re-open with the same keys: everything decrypts again (so the data was really written).
    reopened = await Database.open(db_path)
    try:
        claim = await SqliteClaimRepository(reopened, repos.keys).get(1)
        assert claim is not None
        assert (claim.reference, claim.operation.label) == ("R-2016-0007", "Operación Tornado")
    finally:
        await reopened.close()
    # (The fixture closes repos.db again at teardown: aiosqlite's close is idempotent.)


async def test_every_selected_column_lands_in_its_own_field(seeded: Repos) -> None:
    """Rows are unpacked by position: give each column a value no other field has."""
    others = [_row(f"R-{n}", codename="Puma-2", operation="Op A") for n in range(3)]
    await seeded.claims.import_rows(others, T0)  # claims 1-3 share operation 1
    await seeded.claims.import_rows([_row()], T0)  # claim 4, operation 2, region Pichari
    await seeded.claims.import_rows([_row(region="Llochegua")], T0)  # version 2
    later = T0 + timedelta(days=3, seconds=7)
    await seeded.claims.import_rows([_row(region="Llochegua", status=ClaimStatus.APPROVED)], later)
    sealer = Sealer(seeded.keys.cipher, "claims")
    await seeded.db.execute(
        "UPDATE claims SET approved_enc = ?, paid_enc = ? WHERE id = 4",
        (sealer.seal_int("approved", 4, 150_000_000), sealer.seal_int("paid", 4, 50_000)),
    )
    member = await seeded.members.by_codename("Cóndor-7")
    assert member is not None

    [claim] = await seeded.claims.list_for_member(member.id)

    assert (claim.id, claim.operation.id, claim.version) == (4, 2, 3)
    assert len({claim.id, claim.member_id, claim.operation.id, claim.version}) == 4
    assert claim.member_id == member.id
    assert claim.reference == "R-2016-0007"
    assert claim.status is ClaimStatus.APPROVED
    assert (claim.region, claim.operation.region) == ("Llochegua", "Pichari")
    assert (claim.operation.label, claim.operation.date) == (
        "Operación Tornado",
        date(2016, 5, 20),
    )
    assert (claim.promised_cents, claim.approved_cents, claim.paid_cents) == (
        200_000_000,
        150_000_000,
        50_000,
    )
    assert (claim.promised_date, claim.next_step, claim.next_step_date) == (
        date(2026, 1, 31),
        "Firma del acta",
        date(2026, 3, 10),
    )
    assert claim.updated_at == later
    assert await seeded.claims.get(4) == claim


async def test_a_status_the_code_does_not_know_fails_loudly(seeded: Repos) -> None:
    """Never shown as some other status: reading it raises, as ``ClaimStatus(value)`` does."""
    await seeded.claims.import_rows([_row()], T0)
    stored = await seeded.db.fetchone(_SELECT + "WHERE c.id = 1")
    assert stored is not None
    cells = {**dict(zip(stored.keys(), stored, strict=True)), "status": "lost"}
    # The CHECK constraint keeps such a row out of the database: build one in memory.
    with closing(sqlite3.connect(":memory:")) as memory:
        memory.row_factory = sqlite3.Row
        columns = ", ".join(f"? AS {name}" for name in cells)
        row = memory.execute(f"SELECT {columns}", tuple(cells.values())).fetchone()
    sealers = Sealer(seeded.keys.cipher, "claims"), Sealer(seeded.keys.cipher, "operations")
    assert _claim(stored, *sealers).status is ClaimStatus.REGISTERED
    with pytest.raises(ValueError, match="lost"):
        _claim(row, *sealers)
