"""The retention purge on a real database file (T-37, M-15, M-16; docs/threat-model.md §4)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.models import ClaimRow, ClaimStatus, Lang, NewInvite, Role
from bot.services.clock import SystemClock
from bot.services.retention import RetentionPolicy, RetentionService
from storage.audit import CHECKPOINT_ACTION, SqliteAuditLog
from storage.claims import SqliteClaimRepository
from storage.codec import Sealer, parse_ts, ts
from storage.database import Database, migrations
from storage.keys import KeyMaterial, ensure_keys, load_keys
from storage.members import (
    SqliteAccountCounters,
    SqliteInviteRepository,
    SqliteMemberRepository,
)
from storage.regions import SqliteRegionRepository
from storage.retention import SqliteRetentionStore

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@dataclass(slots=True)
class Fixtures:
    """Byte strings of rows that must vanish, and of rows that must stay."""

    gone: dict[str, bytes] = field(default_factory=dict)
    kept: dict[str, bytes] = field(default_factory=dict)
    #: Plaintext of purged rows: never on disk at all (sealed), before or after.
    plain: list[bytes] = field(default_factory=list)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Database, KeyMaterial, Path]]:
    db_path, key_dir = tmp_path / "state" / "chaski.sqlite3", tmp_path / "keys"
    ensure_keys(key_dir, db_path)
    db = await Database.open(db_path)
    yield db, load_keys(key_dir), db_path
    await db.close()


async def _claim(
    db: Database,
    keys: KeyMaterial,
    *,
    ref: str,
    op: str,
    status: ClaimStatus,
    at: datetime,
    codename: str = "Puma",
) -> int:
    await SqliteClaimRepository(db, keys).import_rows(
        [
            ClaimRow(
                line=1,
                reference=ref,
                codename=codename,
                operation=op,
                operation_date=None,
                region="R01",
                promised_cents=1_234_500,
                status=status,
                promised_date=None,
                next_step=f"{ref}-siguiente",
                next_step_date=None,
            )
        ],
        at,
    )
    row = await db.fetchone(
        "SELECT id FROM claims WHERE reference_hmac = ?", (keys.index("reference", ref),)
    )
    assert row is not None
    return int(row["id"])


async def _cells(db: Database, table: str, key: str, value: object, columns: str) -> list[bytes]:
    row = await db.fetchone(f"SELECT {columns} FROM {table} WHERE {key} = ?", (value,))  # noqa: S608
    assert row is not None
    return [bytes(v) if isinstance(v, bytes) else str(v).encode() for v in row if v is not None]


async def _populate(db: Database, keys: KeyMaterial) -> Fixtures:
    fx = Fixtures()
    await SqliteRegionRepository(db).add("R01", NOW - 900 * DAY)
    invites = SqliteInviteRepository(db, keys)
    await invites.create(
        NewInvite(Role.INFORMANT, "R01", "Puma", Lang.ES, 72),
        "puma".ljust(43, "p"),
        NOW + DAY,
        NOW - 900 * DAY,
    )
    # Claims: paid 91 days ago goes (with its events and its now-unused operation); paid 89
    # days ago, rejected 91 days ago but sharing a kept operation, and open ones stay.
    old_paid = await _claim(
        db, keys, ref="REF-VIEJO-PAGADO", op="OP-SOLO-VIEJA", status=ClaimStatus.PAID,
        at=NOW - 91 * DAY,
    )  # fmt: skip
    old_rejected = await _claim(
        db, keys, ref="REF-VIEJO-RECHAZADO", op="OP-COMPARTIDA", status=ClaimStatus.REJECTED,
        at=NOW - 95 * DAY,
    )  # fmt: skip
    new_paid = await _claim(
        db, keys, ref="REF-RECIENTE-PAGADO", op="OP-COMPARTIDA", status=ClaimStatus.PAID,
        at=NOW - 89 * DAY,
    )  # fmt: skip
    old_open = await _claim(
        db, keys, ref="REF-VIEJO-ABIERTO", op="OP-ABIERTA", status=ClaimStatus.UNDER_REVIEW,
        at=NOW - 400 * DAY,
    )  # fmt: skip
    cols = "reference_hmac, reference_enc, promised_enc, paid_enc, next_step_enc"
    for name, claim_id in (("old_paid", old_paid), ("old_rejected", old_rejected)):
        for i, cell in enumerate(await _cells(db, "claims", "id", claim_id, cols)):
            fx.gone[f"{name}.{i}"] = cell
    for name, claim_id in (("new_paid", new_paid), ("old_open", old_open)):
        for i, cell in enumerate(await _cells(db, "claims", "id", claim_id, cols)):
            fx.kept[f"{name}.{i}"] = cell
    op_hmac = keys.index("operation", "OP-SOLO-VIEJA")
    for i, cell in enumerate(
        await _cells(db, "operations", "label_hmac", op_hmac, "label_hmac, label_enc")
    ):
        fx.gone[f"op_old.{i}"] = cell
    fx.kept["op_shared"] = keys.index("operation", "OP-COMPARTIDA").encode()
    fx.plain += [b"REF-VIEJO-PAGADO", b"OP-SOLO-VIEJA", b"nota-del-reclamo-viejo", b"5550000"]
    events = Sealer(keys.cipher, "claim_events")
    async with db.transaction() as conn:
        event_id = await db.next_id("claim_events")
        note = events.seal("note", event_id, "nota-del-reclamo-viejo")
        await conn.execute(
            "INSERT INTO claim_events (id, claim_id, at, status, note_enc, visible)"
            " VALUES (?, ?, ?, 'paid', ?, 0)",
            (event_id, old_paid, ts(NOW - 91 * DAY), note),
        )
    fx.gone["event_note"] = note

    # Invites: expired unused 8 days ago and used 8 days ago go; used 6 days ago stays.
    other_member_id = 0  # the member redeeming invite 2 (kept), for a draft below
    for n, (created, expires, used) in enumerate(
        [
            (NOW - 11 * DAY, NOW - 8 * DAY, None),
            (NOW - 9 * DAY, NOW - 6 * DAY, NOW - 8 * DAY),
            (NOW - 7 * DAY, NOW + DAY, NOW - 6 * DAY),
            (NOW - 1 * DAY, NOW + 2 * DAY, None),
        ]
    ):
        code = f"inv{n}".ljust(43, "i")
        await invites.create(
            NewInvite(Role.INFORMANT, "R01", f"Inv{n}", Lang.ES, 72), code, expires, created
        )
        if used is not None:
            redeemed = await invites.redeem(code, 5_550_000 + n, used)
            assert redeemed is not None
            other_member_id = redeemed.id
        target = fx.gone if n < 2 else fx.kept
        target[f"invite{n}"] = keys.index("invite", code).encode()

    counters = SqliteAccountCounters(db, keys)
    await counters.hit(4_440_001, "stranger", NOW - 25 * timedelta(hours=1), DAY)
    await counters.hit(4_440_002, "stranger", NOW - 23 * timedelta(hours=1), DAY)
    fx.gone["counter"] = keys.index("account", "4440001").encode()
    fx.kept["counter"] = keys.index("account", "4440002").encode()

    member = await db.fetchone("SELECT id FROM members WHERE codename_hmac = ?", (
        keys.index("codename", "Puma"),
    ))  # fmt: skip
    assert member is not None
    member_id = int(member["id"])
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO processed_updates (update_id, at) VALUES (?, ?)",
            [(1001, ts(NOW - 8 * DAY)), (1002, ts(NOW - 6 * DAY))],
        )
        await conn.executemany(
            "INSERT INTO chat_messages (member_id, message_id, at) VALUES (?, ?, ?)",
            [(member_id, 71, ts(NOW - 49 * timedelta(hours=1))), (member_id, 72, ts(NOW))],
        )
        outbox = Sealer(keys.cipher, "outbox")
        for n, (status, updated) in enumerate(
            [("sent", NOW - 31 * DAY), ("sent", NOW - 29 * DAY), ("queued", NOW - 60 * DAY),
             ("dead", NOW - 40 * DAY)]
        ):  # fmt: skip
            outbox_id = await db.next_id("outbox")
            params = outbox.seal("params", outbox_id, f'{{"x": "parametro-{n}"}}')
            await conn.execute(
                "INSERT INTO outbox (id, idempotency_key, kind, priority, member_id, template,"
                " params_enc, status, next_attempt_at, expires_at, created_at, updated_at)"
                " VALUES (?, ?, 'notification', 3, ?, 't', ?, ?, ?, ?, ?, ?)",
                (outbox_id, f"k{n}", member_id, params, status, ts(updated), ts(updated),
                 ts(updated), ts(updated)),
            )  # fmt: skip
            (fx.gone if n in (0, 3) else fx.kept)[f"outbox{n}"] = params
        alerts = Sealer(keys.cipher, "alerts")
        for n, created in enumerate([NOW - 31 * DAY, NOW - 29 * DAY]):
            alert_id = await db.next_id("alerts")
            text = alerts.seal("text_es", alert_id, f"alerta-{n}")
            await conn.execute(
                "INSERT INTO alerts (id, creator_id, nonce, text_es_enc, text_qu_enc, severity,"
                " status, created_at) VALUES (?, ?, ?, ?, ?, 'info', 'sending', ?)",
                (alert_id, member_id, f"n{n}", text,
                 alerts.seal("text_qu", alert_id, "q"), ts(created)),
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO alert_regions (alert_id, region_id) SELECT ?, id FROM regions",
                (alert_id,),
            )
            await conn.execute(
                "INSERT INTO alert_deliveries (alert_id, member_id) VALUES (?, ?)",
                (alert_id, member_id),
            )
            await conn.execute(
                "INSERT INTO help_requests (alert_id, member_id, created_at) VALUES (?, ?, ?)",
                (alert_id, member_id, ts(created)),
            )
            (fx.gone if n == 0 else fx.kept)[f"alert{n}"] = text
        # Alert drafts: Puma's abandoned 31 days ago goes, another coordinator's stays.
        drafts = Sealer(keys.cipher, "alert_drafts")
        for n, (owner, updated) in enumerate(
            [(member_id, NOW - 31 * DAY), (other_member_id, NOW - 29 * DAY)]
        ):
            params = drafts.seal("params", owner, f'{{"x": "borrador-{n}"}}')
            await conn.execute(
                "INSERT INTO alert_drafts (member_id, nonce, template, params_enc, updated_at)"
                " VALUES (?, ?, 'evacuate', ?, ?)",
                (owner, f"d{n}", params, ts(updated)),
            )
            (fx.gone if n == 0 else fx.kept)[f"draft{n}"] = params
        # Operation drafts of /miembros (issue #16.3): the same 30 days.
        op_drafts = Sealer(keys.cipher, "operation_edits")
        for n, (owner, created) in enumerate(
            [(member_id, NOW - 31 * DAY), (other_member_id, NOW - 29 * DAY)]
        ):
            params = op_drafts.seal("params", owner, f'{{"label": "operación-{n}"}}')
            await conn.execute(
                "INSERT INTO operation_edits (member_id, operation_id, step, params_enc,"
                " created_at) VALUES (?, NULL, 'region', ?, ?)",
                (owner, params, ts(created)),
            )
            (fx.gone if n == 0 else fx.kept)[f"operation_draft{n}"] = params

    audit = SqliteAuditLog(db)
    for n, age in enumerate([400, 399, 380, 366, 364, 10]):
        await audit.record(action=f"act{n}", result="ok", now=NOW - age * DAY, actor_id=n)
    return fx


def _raw(db_path: Path) -> bytes:
    wal = db_path.with_name(db_path.name + "-wal")
    return db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_purge_removes_exactly_what_is_past_its_retention(
    setup: tuple[Database, KeyMaterial, Path],
) -> None:
    db, keys, db_path = setup
    fx = await _populate(db, keys)
    before = _raw(db_path)
    assert [name for name, value in fx.gone.items() if value not in before] == []  # visible

    clock = SystemClock(ZoneInfo("UTC"))
    service = RetentionService(SqliteRetentionStore(db, batch_size=1), clock)
    report = await service.purge(NOW)

    assert dict(report.deleted) == {
        "claims": 2,
        "claim_events": 3,  # two import events and one note
        "claim_payments": 0,
        "claim_edits": 0,
        "claim_amount_requests": 0,
        "operations": 1,
        "invites": 2,
        "account_counters": 1,
        "processed_updates": 1,
        "chat_messages": 1,
        "outbox": 2,
        "alerts": 1,
        "alert_regions": 1,
        "alert_deliveries": 1,
        "help_requests": 1,
        "alert_drafts": 1,
        "operation_edits": 1,
        "schedule_occurrences": 0,  # no schedules here (tests/handlers/test_schedules.py)
        "checkin_answers": 0,
        "schedules": 0,
        "members": 0,  # nobody here is unlinked
        "member_regions": 0,
        "member_pins": 0,
        "pin_prompts": 0,
        "audit": 4,
    }
    assert report.wal_checkpointed is True
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0

    remaining = {
        "claims": 2,
        "operations": 2,
        "invites": 3,  # two kept plus the Puma invite (expires tomorrow)
        "account_counters": 1,
        "processed_updates": 1,
        "chat_messages": 1,
        "outbox": 2,
        "alerts": 1,
        "alert_regions": 1,
        "alert_deliveries": 1,
        "help_requests": 1,
        "alert_drafts": 1,
        "operation_edits": 1,
    }
    for table, count in remaining.items():
        row = await db.fetchone(f"SELECT count(*) FROM {table}")  # noqa: S608
        assert row is not None
        assert row[0] == count, table
    orphans = await db.fetchone(
        "SELECT count(*) FROM claim_events WHERE claim_id NOT IN (SELECT id FROM claims)"
    )
    assert orphans is not None
    assert orphans[0] == 0

    # T-37: neither plaintext, ciphertext nor keyed hashes of purged rows survive on disk.
    after = _raw(db_path)
    assert [name for name, value in fx.gone.items() if value in after] == []
    assert [name for name, value in fx.kept.items() if value not in after] == []
    assert [value for value in fx.plain if value in before + after] == []

    again = await service.purge(NOW)
    assert again.total == 0


async def test_the_audit_chain_stays_verifiable_after_a_purge(
    setup: tuple[Database, KeyMaterial, Path],
) -> None:
    db, _, _ = setup
    audit = SqliteAuditLog(db)
    for n, age in enumerate([800, 500, 366, 100, 3]):
        await audit.record(action=f"act{n}", result="ok", now=NOW - age * DAY, target=f"m:{n}")
    store = SqliteRetentionStore(db)
    service = RetentionService(store, SystemClock(ZoneInfo("UTC")))
    assert (await service.purge(NOW)).deleted["audit"] == 3
    rows = await db.fetchall("SELECT action, target FROM audit ORDER BY id")
    assert [row["action"] for row in rows] == ["act3", "act4", CHECKPOINT_ACTION]
    assert rows[2]["target"].startswith("upto:3:")
    assert await audit.verify() == []
    await audit.record(action="later", result="ok", now=NOW + DAY)
    assert await audit.verify() == []

    # A year later everything, checkpoint included, has aged out: a new checkpoint vouches.
    assert (await service.purge(NOW + 500 * DAY)).deleted["audit"] == 4
    rows = await db.fetchall("SELECT action FROM audit")
    assert [row["action"] for row in rows] == [CHECKPOINT_ACTION]
    assert await audit.verify() == []
    empty = await db.fetchone("SELECT count(*) FROM audit_purge")
    assert empty is not None
    assert empty[0] == 0

    # Every other delete path is still closed (M-16, T-38).
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await db.execute("DELETE FROM audit")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await db.execute("UPDATE audit SET result = 'x'")


async def test_a_gap_without_a_checkpoint_is_reported(
    setup: tuple[Database, KeyMaterial, Path],
) -> None:
    db, _, _ = setup
    audit = SqliteAuditLog(db)
    for n in range(3):
        await audit.record(action=f"act{n}", result="ok", now=NOW - (500 - n) * DAY)
    # Someone with the control row but no checkpoint (not the purge) drops the first entry.
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO audit_purge (id, before) VALUES (1, ?)", (ts(NOW),))
        await conn.execute("DELETE FROM audit WHERE id = 1")
        await conn.execute("DELETE FROM audit_purge")
    assert await audit.verify() == [2]


async def test_a_newer_entry_cannot_be_deleted_even_with_the_control_row(
    setup: tuple[Database, KeyMaterial, Path],
) -> None:
    db, _, _ = setup
    await SqliteAuditLog(db).record(action="fresh", result="ok", now=NOW)

    async def delete_with_control_row() -> None:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO audit_purge (id, before) VALUES (1, ?)", (ts(NOW - 365 * DAY),)
            )
            await conn.execute("DELETE FROM audit")

    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await delete_with_control_row()
    row = await db.fetchone("SELECT count(*) FROM audit")
    assert row is not None
    assert row[0] == 1


def test_the_policy_follows_the_retention_table() -> None:
    cut = RetentionPolicy().cutoffs(NOW)
    assert NOW - cut.closed_claims == timedelta(days=90)
    assert NOW - cut.invites == timedelta(days=7)
    assert NOW - cut.counters == timedelta(hours=24)
    assert NOW - cut.final_outbox == timedelta(days=30)
    assert NOW - cut.audit == timedelta(days=365)
    with pytest.raises(ValueError, match="at least 24 hours"):
        RetentionPolicy(counters=timedelta(hours=1))
    with pytest.raises(ValueError, match="aware"):
        RetentionPolicy().cutoffs(datetime(2026, 1, 1))  # noqa: DTZ001


async def test_a_busy_reader_is_reported_not_fatal(
    setup: tuple[Database, KeyMaterial, Path],
) -> None:
    db, _, db_path = setup
    await SqliteAuditLog(db).record(action="x", result="ok", now=NOW)
    other = await Database.open(db_path)  # another process in the middle of a long read
    try:
        await other.reader.execute("PRAGMA busy_timeout = 50")
        await db.reader.execute("PRAGMA busy_timeout = 50")
        await other.reader.execute("BEGIN")
        async with other.reader.execute("SELECT count(*) FROM audit") as cursor:
            await cursor.fetchone()
        await SqliteAuditLog(db).record(action="y", result="ok", now=NOW)  # frames to copy
        report = await SqliteRetentionStore(db).purge(RetentionPolicy().cutoffs(NOW))
        assert report.wal_checkpointed is False
        assert report.total == 0
    finally:
        await other.reader.execute("ROLLBACK")
        await other.close()


async def _member(
    db: Database, keys: KeyMaterial, codename: str, *, unlinked_days: int | None, role: Role
) -> int:
    """A member created long ago, unlinked ``unlinked_days`` before NOW (None: still linked)."""
    invites = SqliteInviteRepository(db, keys)
    code = codename.lower().ljust(43, "c")
    member_id = await invites.create(
        NewInvite(role, "R01", codename, Lang.ES, 72), code, NOW - 899 * DAY, NOW - 900 * DAY
    )
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO member_pins (member_id, updated_at) VALUES (?, ?)",
            (member_id, ts(NOW - 899 * DAY)),
        )
    if unlinked_days is not None:
        await SqliteMemberRepository(db, keys).unlink(member_id, NOW - unlinked_days * DAY)
    return member_id


async def test_unlinked_members_without_claims_are_purged_after_the_retention_period(
    setup: tuple[Database, KeyMaterial, Path],
) -> None:
    """T-37, #11.10: a pseudonym unlinked longer ago than the closed-claims retention (90
    days) and with nothing attached goes, with its region links and PIN row, and its
    codename's ciphertext and keyed hash leave the file; everything else stays."""
    db, keys, db_path = setup
    await SqliteRegionRepository(db).add("R01", NOW - 900 * DAY)
    gone = await _member(db, keys, "Vicuna", unlinked_days=91, role=Role.INFORMANT)
    recent = await _member(db, keys, "Alpaca", unlinked_days=89, role=Role.INFORMANT)
    linked = await _member(db, keys, "Taruka", unlinked_days=None, role=Role.INFORMANT)
    with_claim = await _member(db, keys, "Puma", unlinked_days=400, role=Role.INFORMANT)
    await _claim(db, keys, ref="REF-ABIERTO", op="OP-1", status=ClaimStatus.APPROVED,
                 at=NOW - 400 * DAY)  # fmt: skip
    closing = await _member(db, keys, "Kuntur", unlinked_days=95, role=Role.INFORMANT)
    await _claim(db, keys, ref="REF-CERRADO", op="OP-2", status=ClaimStatus.PAID,
                 at=NOW - 91 * DAY, codename="Kuntur")  # fmt: skip
    author = await _member(db, keys, "Jefe", unlinked_days=200, role=Role.COORDINATOR)
    alerts = Sealer(keys.cipher, "alerts")
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO alerts (id, creator_id, nonce, text_es_enc, text_qu_enc, severity,"
            " status, created_at) VALUES (1, ?, 'n', ?, ?, 'info', 'sending', ?)",
            (author, alerts.seal("text_es", 1, "a"), alerts.seal("text_qu", 1, "q"),
             ts(NOW - 10 * DAY)),
        )  # fmt: skip
    traces = {
        name: await _cells(db, "members", "id", member_id, "codename_hmac, codename_enc")
        for name, member_id in (("gone", gone), ("closing", closing), ("recent", recent))
    }
    service = RetentionService(
        SqliteRetentionStore(db, batch_size=1), SystemClock(ZoneInfo("UTC"))
    )

    report = await service.purge(NOW)

    assert report.deleted["members"] == 2
    assert report.deleted["member_regions"] == 2
    assert report.deleted["member_pins"] == 2
    rows = await db.fetchall("SELECT id FROM members ORDER BY id")
    assert [row["id"] for row in rows] == sorted([recent, linked, with_claim, author])
    orphans = await db.fetchone(
        "SELECT (SELECT count(*) FROM member_regions WHERE member_id IN (?, ?))"
        " + (SELECT count(*) FROM member_pins WHERE member_id IN (?, ?))",
        (gone, closing, gone, closing),
    )
    assert orphans is not None
    assert orphans[0] == 0
    after = _raw(db_path)
    assert [cell for cell in traces["gone"] + traces["closing"] if cell in after] == []
    assert all(cell in after for cell in traces["recent"])
    assert (await service.purge(NOW)).deleted["members"] == 0


async def test_re_enrolment_restarts_the_pseudonyms_retention(
    setup: tuple[Database, KeyMaterial, Path],
) -> None:
    db, keys, _ = setup
    await SqliteRegionRepository(db).add("R01", NOW - 900 * DAY)
    member_id = await _member(db, keys, "Vicuna", unlinked_days=200, role=Role.INFORMANT)
    invite = NewInvite(Role.INFORMANT, "R01", "Vicuna", Lang.ES, 72)
    again = await SqliteInviteRepository(db, keys).reenrol(
        invite, "v2".ljust(43, "v"), NOW - 9 * DAY, NOW - 10 * DAY
    )
    assert again == member_id
    service = RetentionService(SqliteRetentionStore(db), SystemClock(ZoneInfo("UTC")))

    assert (await service.purge(NOW)).deleted["members"] == 0


def test_members_unlinked_before_the_column_existed_count_from_the_migration(
    tmp_path: Path,
) -> None:
    """Migration 0010 gives earlier unlinks the time it ran: never purged sooner."""
    path = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for version, sql in migrations():
            if "unlinked_at" in sql:
                conn.execute(
                    "INSERT INTO members (role, codename_enc, codename_hmac, state, created_at)"
                    " VALUES ('informant', x'00', 'h1', 'unlinked', '2020-01-01T00:00:00+00:00')"
                )
                before = datetime.now(UTC).replace(microsecond=0)
                conn.executescript(f"BEGIN;{sql}\nPRAGMA user_version = {version};COMMIT;")
                [(stamp,)] = conn.execute("SELECT unlinked_at FROM members").fetchall()
                assert parse_ts(stamp) >= before
                return
            conn.executescript(f"BEGIN;{sql}\nPRAGMA user_version = {version};COMMIT;")
    raise AssertionError("no migration adds members.unlinked_at")
