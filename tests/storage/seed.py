"""Seed a real database with a value in every registered sealed column (rotation, backup, T-48).

Members and claims go through the production repositories; the tables other features own
(outbox, alerts, PINs) get raw rows sealed with ``Sealer`` exactly as their repositories do,
so the tests cover every entry of ``storage.rotation.SEALED_COLUMNS`` that exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.models import ClaimRow, ClaimStatus, Lang, NewInvite, Role
from storage.claims import SqliteClaimRepository
from storage.codec import Sealer, ts
from storage.database import Database
from storage.keys import KeyMaterial
from storage.members import SqliteInviteRepository
from storage.regions import SqliteRegionRepository
from storage.rotation import present_tables
from tests.secrets_registry import remember


@dataclass(slots=True)
class Seeded:
    """What was written: member ids and every plaintext string that must never leak."""

    member_ids: list[int] = field(default_factory=list)
    claim_ids: list[int] = field(default_factory=list)
    plaintexts: list[str] = field(default_factory=list)
    telegram_ids: list[int] = field(default_factory=list)


async def _has(db: Database, table: str) -> bool:
    return table in await present_tables(db)


async def seed(db: Database, keys: KeyMaterial, now: datetime, *, tag: str = "A") -> Seeded:
    """Two members (one linked) with a claim each, plus rows in every other sealed table."""
    out = Seeded()
    regions = SqliteRegionRepository(db)
    region = f"RZ{tag}"
    if await regions.get(region) is None:
        await regions.add(region, now)
    invites = SqliteInviteRepository(db, keys)
    rows: list[ClaimRow] = []
    for n in range(2):
        codename = f"Kuntur{tag}Qx{n}"
        code = f"{tag}{n}".ljust(43, "k")
        member_id = await invites.create(
            NewInvite(Role.INFORMANT, region, codename, Lang.QU, 72),
            code,
            now + timedelta(hours=72),
            now,
        )
        out.member_ids.append(member_id)
        out.plaintexts.append(codename)
        if n == 0:
            telegram_id = 7_770_000_000 + member_id + ord(tag[0]) * 1000
            assert await invites.redeem(code, telegram_id, now) is not None
            out.telegram_ids.append(telegram_id)
        reference = f"EXPEDIENTE-{tag}-{n}-SECRETO"
        operation = f"OPERATIVO-HALCON-{tag}{n}"
        note = f"paso-siguiente-{tag}{n}-reservado"
        out.plaintexts += [reference, operation, note]
        rows.append(
            ClaimRow(
                line=n + 1,
                reference=reference,
                codename=codename,
                operation=operation,
                operation_date=None,
                region=region,
                promised_cents=8_765_432 + n,
                status=ClaimStatus.REGISTERED,
                promised_date=None,
                next_step=note,
                next_step_date=None,
            )
        )
    await SqliteClaimRepository(db, keys).import_rows(rows, now)
    for reference in (r.reference for r in rows):
        row = await db.fetchone(
            "SELECT id FROM claims WHERE reference_hmac = ?", (keys.index("reference", reference),)
        )
        assert row is not None
        out.claim_ids.append(int(row["id"]))
    await _seed_events(db, keys, out, tag)
    await _seed_others(db, keys, out, now, tag)
    for value in (*out.plaintexts, *map(str, out.telegram_ids)):
        remember(value)  # T-47: none of these may ever reach a log line
    return out


async def _seed_events(db: Database, keys: KeyMaterial, out: Seeded, tag: str) -> None:
    sealer = Sealer(keys.cipher, "claim_events")
    async with db.transaction() as conn:
        for claim_id in out.claim_ids:
            event_id = await db.next_id("claim_events")
            note = f"nota-interna-{tag}{claim_id}-confidencial"
            await conn.execute(
                "INSERT INTO claim_events (id, claim_id, at, status, note_enc, visible, actor_id)"
                " VALUES (?, ?, '2020-01-01T00:00:00+00:00', 'under_review', ?, 0, NULL)",
                (event_id, claim_id, sealer.seal("note", event_id, note)),
            )
            out.plaintexts.append(note)


async def _seed_others(
    db: Database, keys: KeyMaterial, out: Seeded, now: datetime, tag: str
) -> None:
    member = out.member_ids[0]
    stamp = ts(now)
    async with db.transaction() as conn:
        if await _has(db, "outbox"):
            outbox_id = await db.next_id("outbox")
            params = f'{{"codename": "parametro-{tag}-oculto"}}'
            out.plaintexts.append(f"parametro-{tag}-oculto")
            await conn.execute(
                "INSERT INTO outbox (id, idempotency_key, kind, priority, member_id, template,"
                " params_enc, status, next_attempt_at, expires_at, created_at, updated_at)"
                " VALUES (?, ?, 'notification', 3, ?, 'status', ?, 'queued', ?, ?, ?, ?)",
                (
                    outbox_id,
                    f"seed:{tag}:{outbox_id}",
                    member,
                    Sealer(keys.cipher, "outbox").seal("params", outbox_id, params),
                    stamp,
                    stamp,
                    stamp,
                    stamp,
                ),
            )
        if await _has(db, "alerts"):
            sealer = Sealer(keys.cipher, "alerts")
            alert_id = await db.next_id("alerts")
            text_es, text_qu = f"alerta-{tag}-rio-norte", f"willakuy-{tag}-mayu"
            out.plaintexts += [text_es, text_qu]
            await conn.execute(
                "INSERT INTO alerts (id, creator_id, nonce, template, params_enc, text_es_enc,"
                " text_qu_enc, severity, status, created_at)"
                " VALUES (?, ?, ?, NULL, ?, ?, ?, 'info', 'pending', ?)",
                (
                    alert_id,
                    member,
                    f"n{tag}{alert_id}",
                    sealer.seal("params", alert_id, "{}"),
                    sealer.seal("text_es", alert_id, text_es),
                    sealer.seal("text_qu", alert_id, text_qu),
                    stamp,
                ),
            )
        if await _has(db, "alert_drafts"):
            sealer = Sealer(keys.cipher, "alert_drafts")
            draft = f"borrador-{tag}-privado"
            out.plaintexts.append(draft)
            await conn.execute(
                "INSERT OR REPLACE INTO alert_drafts (member_id, nonce, template, params_enc,"
                " text_es_enc, text_qu_enc, regions, severity, updated_at)"
                " VALUES (?, 'n', NULL, ?, ?, ?, '', NULL, ?)",
                (
                    member,
                    sealer.seal("params", member, "{}"),
                    sealer.seal("text_es", member, draft),
                    sealer.seal("text_qu", member, draft),
                    stamp,
                ),
            )
        if await _has(db, "member_pins"):
            sealer = Sealer(keys.cipher, "member_pins")
            await conn.execute(
                "INSERT OR REPLACE INTO member_pins (member_id, pin_enc, duress_enc, updated_at)"
                " VALUES (?, ?, ?, ?)",
                (
                    member,
                    sealer.seal("pin", member, f"scrypt$pinhash{tag}"),
                    sealer.seal("duress", member, f"scrypt$duresshash{tag}"),
                    stamp,
                ),
            )
        if await _has(db, "pin_prompts"):
            await conn.execute(
                "INSERT OR REPLACE INTO pin_prompts (member_id, purpose, pending_enc, expires_at)"
                " VALUES (?, 'confirm', ?, ?)",
                (
                    member,
                    Sealer(keys.cipher, "pin_prompts").seal("pending", member, f"pend{tag}"),
                    stamp,
                ),
            )


async def sealed_cells(db: Database) -> dict[tuple[str, str, int], bytes]:
    """Every non-NULL sealed cell by (table, column, row id)."""
    cells: dict[tuple[str, str, int], bytes] = {}
    for table, spec in (await present_tables(db)).items():
        for name in spec.columns:
            rows = await db.fetchall(
                f"SELECT {spec.row_id} AS row_id, {name}_enc AS blob FROM {table}"  # noqa: S608
                f" WHERE {name}_enc IS NOT NULL"
            )
            for row in rows:
                cells[(table, name, int(row["row_id"]))] = bytes(row["blob"])
    return cells
