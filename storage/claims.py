"""Claims, operations and claim history; labels, references, amounts and notes sealed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bot.domain.models import Claim, ClaimEvent, ClaimRow, ClaimStatus, Operation
from bot.domain.ports import ImportResult, Progress
from storage.codec import Sealer, opt_date, parse_opt_date, parse_ts, ts
from storage.database import Database
from storage.keys import KeyMaterial

_SELECT = """
SELECT c.id, c.reference_enc, c.member_id, c.status, c.promised_enc, c.approved_enc,
       c.paid_enc, c.promised_date, c.next_step_enc, c.next_step_date, c.updated_at,
       c.version, r.name AS region, o.id AS op_id, o.label_enc, o.op_date,
       orr.name AS op_region
FROM claims c
JOIN regions r ON r.id = c.region_id
JOIN operations o ON o.id = c.operation_id
JOIN regions orr ON orr.id = o.region_id
"""

#: References looked up per query (well below SQLite's limit of bound parameters).
_CHUNK = 500
#: Rows between two progress reports of an import.
PROGRESS_EVERY = 1000


class _DryRunDone(Exception):
    """Raised at the end of a dry run's transaction so that it rolls back."""

    def __init__(self, result: ImportResult) -> None:
        super().__init__("dry run")
        self.result = result


#: Statuses by stored value: a dict hit, cheaper per row than ``ClaimStatus(value)``
#: (``EnumType.__call__``; docs/performance.md, Other measurements).
_STATUSES = {status.value: status for status in ClaimStatus}


def _claim(row: sqlite3.Row, claims: Sealer, operations: Sealer) -> Claim:
    """One row of ``_SELECT`` as a claim; every sealed cell opened (fails closed).

    The row is unpacked by position, in ``_SELECT``'s column order, because a by-name lookup
    on ``sqlite3.Row`` scans the column names: 17 of them cost more than the rest of this
    function apart from decryption. A column added to ``_SELECT`` without a name here makes
    the unpacking raise.
    """
    (
        claim_id,
        reference_enc,
        member_id,
        status,
        promised_enc,
        approved_enc,
        paid_enc,
        promised_date,
        next_step_enc,
        next_step_date,
        updated_at,
        version,
        region,
        op_id,
        label_enc,
        op_date,
        op_region,
    ) = row
    return Claim(
        id=claim_id,
        reference=claims.open("reference", claim_id, reference_enc),
        member_id=member_id,
        operation=Operation(
            id=op_id,
            label=operations.open("label", op_id, label_enc),
            date=parse_opt_date(op_date),
            region=op_region,
        ),
        region=region,
        status=_STATUSES.get(status) or ClaimStatus(status),  # unknown: ValueError
        promised_cents=claims.open_int("promised", claim_id, promised_enc),
        approved_cents=claims.open_opt_int("approved", claim_id, approved_enc),
        paid_cents=claims.open_int("paid", claim_id, paid_enc),
        promised_date=parse_opt_date(promised_date),
        next_step=claims.open_opt("next_step", claim_id, next_step_enc),
        next_step_date=parse_opt_date(next_step_date),
        updated_at=parse_ts(updated_at),
        version=version,
    )


@dataclass(frozen=True, slots=True)
class SqliteClaimRepository:
    """Implements ``bot.domain.ports.ClaimRepository``."""

    db: Database
    keys: KeyMaterial

    def _claims(self, rows: Iterable[sqlite3.Row]) -> list[Claim]:
        """Decrypt rows of ``_SELECT``, with one pair of Sealers for all of them."""
        claims = Sealer(self.keys.cipher, "claims")
        operations = Sealer(self.keys.cipher, "operations")
        return [_claim(row, claims, operations) for row in rows]

    async def get(self, claim_id: int) -> Claim | None:
        """A claim by internal id."""
        row = await self.db.fetchone(_SELECT + "WHERE c.id = ?", (claim_id,))
        return self._claims([row])[0] if row else None

    async def list_all(
        self, *, region: str | None = None, status: ClaimStatus | None = None
    ) -> list[Claim]:
        """Every claim (oversight export and report), by operation date, operation, id.

        ``region`` is the claim's region (case-insensitive), ``status`` its stored status.
        """
        rows = await self.db.fetchall(
            _SELECT + "WHERE (? IS NULL OR r.name = ? COLLATE NOCASE)"
            " AND (? IS NULL OR c.status = ?) ORDER BY o.op_date, o.id, c.id",
            (region, region, status and str(status), status and str(status)),
        )
        return self._claims(rows)

    async def list_for_member(self, member_id: int) -> list[Claim]:
        """A member's claims, newest operation date first, then by id."""
        rows = await self.db.fetchall(
            _SELECT + "WHERE c.member_id = ? ORDER BY o.op_date DESC, c.id", (member_id,)
        )
        return self._claims(rows)

    async def history(self, claim_id: int, *, visible_only: bool) -> list[ClaimEvent]:
        """A claim's events, oldest first."""
        sql = (
            "SELECT id, at, status, note_enc, visible, effective_on FROM claim_events"
            " WHERE claim_id = ?"
        )
        if visible_only:
            sql += " AND visible = 1"
        events = Sealer(self.keys.cipher, "claim_events")
        return [
            ClaimEvent(
                claim_id=claim_id,
                at=parse_ts(row["at"]),
                status=ClaimStatus(row["status"]),
                note=events.open_opt("note", row["id"], row["note_enc"]),
                visible=bool(row["visible"]),
                effective=parse_opt_date(row["effective_on"]),
            )
            for row in await self.db.fetchall(sql + " ORDER BY id", (claim_id,))
        ]

    async def _operation_id(self, row: ClaimRow, region_id: int, now: datetime) -> int:
        digest = self.keys.index("operation", row.operation)
        found = await self.db.fetchone("SELECT id FROM operations WHERE label_hmac = ?", (digest,))
        if found is not None:
            return int(found["id"])
        op_id = await self.db.next_id("operations")
        await self.db.execute(
            "INSERT INTO operations (id, label_enc, label_hmac, op_date, region_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                op_id,
                Sealer(self.keys.cipher, "operations").seal("label", op_id, row.operation),
                digest,
                opt_date(row.operation_date),
                region_id,
                ts(now),
            ),
        )
        return op_id

    async def _add_event(
        self, claim_id: int, status: ClaimStatus, now: datetime, effective: date | None
    ) -> None:
        await self.db.execute(
            "INSERT INTO claim_events (claim_id, at, status, visible, effective_on)"
            " VALUES (?, ?, ?, 1, ?)",
            (claim_id, ts(now.replace(second=0, microsecond=0)), str(status), opt_date(effective)),
        )

    async def owners(self, references: Sequence[str]) -> dict[str, int]:
        """The member id holding each already stored reference (absent ones are left out)."""
        by_hmac = {self.keys.index("reference", ref): ref for ref in references}
        digests = list(by_hmac)
        found: dict[str, int] = {}
        for start in range(0, len(digests), _CHUNK):
            chunk = digests[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT reference_hmac, member_id FROM claims WHERE reference_hmac IN ({marks})"  # noqa: S608 - placeholders only
            rows = await self.db.fetchall(sql, chunk)
            found.update({by_hmac[row[0]]: int(row[1]) for row in rows})
        return found

    async def import_rows(
        self,
        rows: Sequence[ClaimRow],
        now: datetime,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Create or update each claim by reference in one transaction (all or nothing).

        The caller has validated every row (members and regions exist); a row identical to
        the stored claim changes nothing, so importing the same file twice is a no-op. A dry
        run does all the work and rolls it back, so its counts are exactly what an import
        would do. ``progress(done, total)`` is called every ``PROGRESS_EVERY`` rows.
        """
        try:
            return await self._import(rows, now, dry_run=dry_run, progress=progress)
        except _DryRunDone as done:
            return done.result

    async def _import(
        self,
        rows: Sequence[ClaimRow],
        now: datetime,
        *,
        dry_run: bool,
        progress: Progress | None,
    ) -> ImportResult:
        created = updated = unchanged = 0
        sealer = Sealer(self.keys.cipher, "claims")
        async with self.db.transaction():
            for done, row in enumerate(rows, start=1):
                if progress is not None and done % PROGRESS_EVERY == 0:
                    progress(done, len(rows))
                member = await self.db.fetchone(
                    "SELECT id FROM members WHERE codename_hmac = ?",
                    (self.keys.index("codename", row.codename),),
                )
                region = await self.db.fetchone(
                    "SELECT id, name FROM regions WHERE name = ?", (row.region,)
                )
                if member is None or region is None:
                    raise LookupError(f"line {row.line}: member or region vanished")
                op_id = await self._operation_id(row, region["id"], now)
                ref_hmac = self.keys.index("reference", row.reference)
                existing = await self.db.fetchone(
                    "SELECT id FROM claims WHERE reference_hmac = ?", (ref_hmac,)
                )
                if existing is None:
                    claim_id = await self.db.next_id("claims")
                    await self.db.execute(
                        "INSERT INTO claims (id, reference_hmac, reference_enc, member_id,"
                        " operation_id, region_id, status, promised_enc, paid_enc,"
                        " promised_date, next_step_enc, next_step_date, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            claim_id,
                            ref_hmac,
                            sealer.seal("reference", claim_id, row.reference),
                            member["id"],
                            op_id,
                            region["id"],
                            str(row.status),
                            sealer.seal_int("promised", claim_id, row.promised_cents),
                            sealer.seal_int("paid", claim_id, row.paid_cents or 0),
                            opt_date(row.promised_date),
                            sealer.seal_opt("next_step", claim_id, row.next_step),
                            opt_date(row.next_step_date),
                            ts(now),
                        ),
                    )
                    await self._add_event(claim_id, row.status, now, row.status_date)
                    created += 1
                    continue
                claim_id = int(existing["id"])
                current = await self.get(claim_id)
                assert current is not None  # noqa: S101 - read in the same transaction
                same = (
                    current.member_id == member["id"]
                    and current.operation.id == op_id
                    and current.region == region["name"]  # stored spelling (NOCASE lookup)
                    and current.status is row.status
                    and current.promised_cents == row.promised_cents
                    and current.promised_date == row.promised_date
                    and current.next_step == row.next_step
                    and current.next_step_date == row.next_step_date
                    and row.paid_cents in {None, current.paid_cents}
                )
                if same:
                    unchanged += 1
                    continue
                await self.db.execute(
                    "UPDATE claims SET member_id = ?, operation_id = ?, region_id = ?,"
                    " status = ?, promised_enc = ?, paid_enc = ?, promised_date = ?,"
                    " next_step_enc = ?, next_step_date = ?, updated_at = ?,"
                    " version = version + 1 WHERE id = ?",
                    (
                        member["id"],
                        op_id,
                        region["id"],
                        str(row.status),
                        sealer.seal_int("promised", claim_id, row.promised_cents),
                        sealer.seal_int(
                            "paid",
                            claim_id,
                            current.paid_cents if row.paid_cents is None else row.paid_cents,
                        ),
                        opt_date(row.promised_date),
                        sealer.seal_opt("next_step", claim_id, row.next_step),
                        opt_date(row.next_step_date),
                        ts(now),
                        claim_id,
                    ),
                )
                if current.status is not row.status:
                    await self._add_event(claim_id, row.status, now, row.status_date)
                updated += 1
            result = ImportResult(created=created, updated=updated, unchanged=unchanged)
            if dry_run:
                raise _DryRunDone(result)  # rolls the whole transaction back
        return result
