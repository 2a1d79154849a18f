"""Claims, operations and claim history; labels, references, amounts and notes sealed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from bot.domain.claims import (
    IMPORT_METHOD,
    ClaimChange,
    NewOperation,
    Payment,
    RecordedInBot,
    closed_at_for,
    imported_payment,
)
from bot.domain.errors import Conflict, NotFound
from bot.domain.models import (
    CLOSED_STATUSES,
    Claim,
    ClaimEvent,
    ClaimRow,
    ClaimStatus,
    Operation,
)
from bot.domain.ports import ImportResult, Progress
from storage.codec import Sealer, opt_date, parse_opt_date, parse_ts, ts
from storage.database import Database
from storage.keys import KeyMaterial

_SELECT = """
SELECT c.id, c.reference_enc, c.member_id, c.status, c.promised_enc, c.approved_enc,
       c.paid_enc, c.promised_date, c.next_step_enc, c.next_step_date, c.updated_at,
       c.version, r.name AS region, o.id AS op_id, o.label_enc, o.op_date,
       orr.name AS op_region, c.closed_at, o.total_enc, o.promised_by_enc, o.basis_enc,
       o.pay_by
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
    on ``sqlite3.Row`` scans the column names: 22 of them cost more than the rest of this
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
        closed_at,
        total_enc,
        promised_by_enc,
        basis_enc,
        pay_by,
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
            total_cents=operations.open_opt_int("total", op_id, total_enc),
            promised_by=operations.open_opt("promised_by", op_id, promised_by_enc),
            basis=operations.open_opt("basis", op_id, basis_enc),
            pay_by=parse_opt_date(pay_by),
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
        closed_at=parse_ts(closed_at) if closed_at else None,
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

    # ------------------------------------------------------------ administration (#16.1)

    async def add_operation(self, new: NewOperation, now: datetime) -> Operation:
        """Create an operation; its label is sealed and found by keyed hash.

        Raises:
            Conflict: an operation with that label exists.
            NotFound: the region does not exist.
        """
        digest = self.keys.index("operation", new.label)
        sealer = Sealer(self.keys.cipher, "operations")
        async with self.db.transaction():
            region = await self.db.fetchone(
                "SELECT id, name FROM regions WHERE name = ?", (new.region,)
            )
            if region is None:
                raise NotFound("region")
            found = await self.db.fetchone(
                "SELECT id FROM operations WHERE label_hmac = ?", (digest,)
            )
            if found is not None:
                raise Conflict("an operation with that label exists")
            op_id = await self.db.next_id("operations")
            await self.db.execute(
                "INSERT INTO operations (id, label_enc, label_hmac, op_date, region_id,"
                " created_at, total_enc, promised_by_enc, basis_enc, pay_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    op_id,
                    sealer.seal("label", op_id, new.label),
                    digest,
                    opt_date(new.date),
                    region["id"],
                    ts(now),
                    sealer.seal_int("total", op_id, new.total_cents),
                    sealer.seal_opt("promised_by", op_id, new.promised_by),
                    sealer.seal_opt("basis", op_id, new.basis),
                    opt_date(new.pay_by),
                ),
            )
        return Operation(
            id=op_id,
            label=new.label,
            date=new.date,
            region=str(region["name"]),
            total_cents=new.total_cents,
            promised_by=new.promised_by,
            basis=new.basis,
            pay_by=new.pay_by,
        )

    async def operations(self) -> list[Operation]:
        """Every operation, oldest date first, then by id."""
        return await self._operations(None)

    async def _operations(self, operation_id: int | None) -> list[Operation]:
        """Every operation (None), or the one with that id."""
        rows = await self.db.fetchall(
            "SELECT o.id, o.label_enc, o.op_date, r.name AS region, o.total_enc,"
            " o.promised_by_enc, o.basis_enc, o.pay_by FROM operations o"
            " JOIN regions r ON r.id = o.region_id WHERE ? IS NULL OR o.id = ?"
            " ORDER BY o.op_date, o.id",
            (operation_id, operation_id),
        )
        sealer = Sealer(self.keys.cipher, "operations")
        return [
            Operation(
                id=row["id"],
                label=sealer.open("label", row["id"], row["label_enc"]),
                date=parse_opt_date(row["op_date"]),
                region=row["region"],
                total_cents=sealer.open_opt_int("total", row["id"], row["total_enc"]),
                promised_by=sealer.open_opt("promised_by", row["id"], row["promised_by_enc"]),
                basis=sealer.open_opt("basis", row["id"], row["basis_enc"]),
                pay_by=parse_opt_date(row["pay_by"]),
            )
            for row in rows
        ]

    async def operation(self, operation_id: int) -> Operation | None:
        """One operation by id."""
        found = await self._operations(operation_id)
        return found[0] if found else None

    async def update_operation(self, operation: Operation, now: datetime) -> Operation:
        """Store every field of ``operation`` (sealed again, M-07); the caller's transaction.

        Raises:
            NotFound: the operation or the region does not exist.
            Conflict: another operation has that label.
        """
        del now  # operations keep no modification time; the audit row has it
        region = await self.db.fetchone(
            "SELECT id, name FROM regions WHERE name = ?", (operation.region,)
        )
        if region is None:
            raise NotFound("region")
        digest = self.keys.index("operation", operation.label)
        found = await self.db.fetchone(
            "SELECT id FROM operations WHERE label_hmac = ? AND id != ?", (digest, operation.id)
        )
        if found is not None:
            raise Conflict("an operation with that label exists")
        sealer = Sealer(self.keys.cipher, "operations")
        op_id = operation.id
        cursor = await self.db.execute(
            "UPDATE operations SET label_enc = ?, label_hmac = ?, op_date = ?, region_id = ?,"
            " total_enc = ?, promised_by_enc = ?, basis_enc = ?, pay_by = ? WHERE id = ?",
            (
                sealer.seal("label", op_id, operation.label),
                digest,
                opt_date(operation.date),
                region["id"],
                None
                if operation.total_cents is None
                else sealer.seal_int("total", op_id, operation.total_cents),
                sealer.seal_opt("promised_by", op_id, operation.promised_by),
                sealer.seal_opt("basis", op_id, operation.basis),
                opt_date(operation.pay_by),
                op_id,
            ),
        )
        if cursor.rowcount != 1:
            raise NotFound("operation")
        return replace(operation, region=str(region["name"]))

    async def shares(self, operation_id: int, *, excluding: int | None = None) -> int:
        """The promised shares of an operation's claims added up (one claim left out)."""
        rows = await self.db.fetchall(
            "SELECT id, promised_enc FROM claims WHERE operation_id = ? AND id IS NOT ?",
            (operation_id, excluding),
        )
        sealer = Sealer(self.keys.cipher, "claims")
        return sum(sealer.open_int("promised", row["id"], row["promised_enc"]) for row in rows)

    async def payments(self, claim_id: int) -> list[Payment]:
        """A claim's payments, oldest first."""
        sealer = Sealer(self.keys.cipher, "claim_payments")
        rows = await self.db.fetchall(
            "SELECT id, amount_enc, paid_on, method_enc, reference_enc, imported"
            " FROM claim_payments WHERE claim_id = ? ORDER BY id",
            (claim_id,),
        )
        return [
            Payment(
                amount_cents=sealer.open_int("amount", row["id"], row["amount_enc"]),
                paid_on=date.fromisoformat(row["paid_on"]),
                method=sealer.open("method", row["id"], row["method_enc"]),
                reference=sealer.open_opt("reference", row["id"], row["reference_enc"]),
                imported=bool(row["imported"]),
            )
            for row in rows
        ]

    async def save(self, change: ClaimChange, *, actor_id: int | None, now: datetime) -> bool:
        """Store ``change`` if the claim is still at the version it was read at.

        Compare-and-set on ``version`` (issue #16.2): when someone else changed the claim
        meanwhile nothing is written and False comes back, so the second editor is told and
        the first one's change is kept. The claim row, its history entry and its payment
        are written in one transaction, and ``paid_enc`` is the sum of the payments.
        """
        claim = change.after
        sealer = Sealer(self.keys.cipher, "claims")
        async with self.db.transaction():
            written = await self.db.execute(
                "UPDATE claims SET status = ?, promised_enc = ?, approved_enc = ?,"
                " paid_enc = ?, next_step_enc = ?, next_step_date = ?, updated_at = ?,"
                " closed_at = ?, version = version + 1 WHERE id = ? AND version = ?",
                (
                    str(claim.status),
                    sealer.seal_int("promised", claim.id, claim.promised_cents),
                    None
                    if claim.approved_cents is None
                    else sealer.seal_int("approved", claim.id, claim.approved_cents),
                    sealer.seal_int("paid", claim.id, claim.paid_cents),
                    sealer.seal_opt("next_step", claim.id, claim.next_step),
                    opt_date(claim.next_step_date),
                    ts(now),
                    ts(claim.closed_at) if claim.closed_at is not None else None,
                    claim.id,
                    change.before.version,
                ),
            )
            if written.rowcount != 1:
                return False
            # The change itself is always shown to the informant (status, amounts and next
            # step are on their screen anyway); an internal note goes in an entry of its own.
            shown = change.note if change.visible else None
            await self._event(
                claim.id, claim.status, shown, visible=True, actor_id=actor_id, now=now
            )
            if change.note is not None and not change.visible:
                await self._event(
                    claim.id, claim.status, change.note, visible=False, actor_id=actor_id, now=now
                )
            if change.payment is not None:
                await self._add_payment(claim.id, change.payment, actor_id, now)
        return True

    async def _event(
        self,
        claim_id: int,
        status: ClaimStatus,
        note: str | None,
        *,
        visible: bool,
        actor_id: int | None,
        now: datetime,
    ) -> None:
        event_id = await self.db.next_id("claim_events")
        await self.db.execute(
            "INSERT INTO claim_events (id, claim_id, at, status, note_enc, visible, actor_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                claim_id,
                ts(now.replace(second=0, microsecond=0)),
                str(status),
                Sealer(self.keys.cipher, "claim_events").seal_opt("note", event_id, note),
                int(visible),
                actor_id,
            ),
        )

    async def _add_payment(
        self, claim_id: int, payment: Payment, actor_id: int | None, now: datetime
    ) -> None:
        payment_id = await self.db.next_id("claim_payments")
        sealer = Sealer(self.keys.cipher, "claim_payments")
        await self.db.execute(
            "INSERT INTO claim_payments (id, claim_id, amount_enc, paid_on, method_enc,"
            " reference_enc, actor_id, at, imported) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                payment_id,
                claim_id,
                sealer.seal_int("amount", payment_id, payment.amount_cents),
                payment.paid_on.isoformat(),
                sealer.seal("method", payment_id, payment.method),
                sealer.seal_opt("reference", payment_id, payment.reference),
                actor_id,
                ts(now),
                int(payment.imported),
            ),
        )

    async def _import_payment(
        self, claim_id: int, paid_cents: int | None, on: date, now: datetime
    ) -> None:
        """Replace the claim's imported payment by the one ``paid_cents`` stands for.

        Only for a claim the bot keeps no record of (no payment but the imported one), so
        the paid total stays the sum of the payments.
        """
        await self.db.execute(
            "DELETE FROM claim_payments WHERE claim_id = ? AND imported = 1", (claim_id,)
        )
        payment = imported_payment(paid_cents, on)
        if payment is not None:
            await self._add_payment(claim_id, payment, None, now)

    async def repair_imported_paid(self, now: datetime) -> int:
        """Give every claim whose paid total exceeds its payments an imported payment of the
        difference; return how many claims were repaired (``storage.repairs``).

        Imports before migration 0020 stored a file's ``paid_amount`` as the paid total
        alone, and the import refused to touch a claim once a payment was recorded in the
        bot, so the difference is exactly what was imported. It is dated by the claim's
        first history entry from an import (its status date, else the day it was written),
        else the claim's last change. The caller holds the transaction.
        """
        claims = Sealer(self.keys.cipher, "claims")
        payments = Sealer(self.keys.cipher, "claim_payments")
        paid_by_claim: dict[int, int] = {}
        for row in await self.db.fetchall("SELECT id, claim_id, amount_enc FROM claim_payments"):
            paid_by_claim[row[1]] = paid_by_claim.get(row[1], 0) + payments.open_int(
                "amount", row[0], row[2]
            )
        rows = await self.db.fetchall(
            "SELECT c.id, c.paid_enc, COALESCE((SELECT COALESCE(e.effective_on,"
            " substr(e.at, 1, 10)) FROM claim_events e WHERE e.claim_id = c.id"
            " AND e.actor_id IS NULL ORDER BY e.id LIMIT 1), substr(c.updated_at, 1, 10))"
            " FROM claims c ORDER BY c.id"
        )
        repaired = 0
        for claim_id, paid_enc, day in rows:
            missing = claims.open_int("paid", claim_id, paid_enc) - paid_by_claim.get(claim_id, 0)
            if missing > 0:  # less would be payments beyond the total: not the import's
                payment = Payment(missing, date.fromisoformat(day), IMPORT_METHOD, imported=True)
                await self._add_payment(claim_id, payment, None, now)
                repaired += 1
        return repaired

    async def in_regions(
        self, regions: Sequence[str] | None, *, status: ClaimStatus | None = None
    ) -> list[Claim]:
        """Claims of ``regions`` (None: every region), optionally of one status, by id."""
        sql = _SELECT + "WHERE 1 = 1"
        params: list[object] = []
        if regions is not None:
            if not regions:
                return []
            sql += f" AND r.name IN ({','.join('?' * len(regions))})"
            params.extend(regions)
        if status is not None:
            sql += " AND c.status = ?"
            params.append(str(status))
        return self._claims(await self.db.fetchall(sql + " ORDER BY c.id", params))

    async def overdue_first(
        self,
        regions: Sequence[str] | None,
        *,
        today: date,
        limit: int,
        status: ClaimStatus | None = None,
        member_id: int | None = None,
    ) -> list[Claim]:
        """The first ``limit`` claims of ``regions`` (None: every region), overdue first.

        The order of ``/reclamos`` (``bot.services.claims_admin.overdue_first``): open
        claims first, the most days past the promised date (the claim's own, else its
        operation's) first, then by next step date (none last), then by id. Every sort key
        is a plain column, so SQLite orders and cuts the list and only the claims kept are
        decrypted: a region of thousands of claims costs what 20 cost, and a cell that does
        not open in a claim not shown does not stop the listing (docs/performance.md).
        ``status`` and ``member_id`` (one informant's claims) narrow the list first.
        """
        if regions is not None and not regions:
            return []
        closed = ",".join("?" * len(CLOSED_STATUSES))
        sql = _SELECT + "WHERE 1 = 1"
        params: list[object] = []
        if regions is not None:
            sql += f" AND r.name IN ({','.join('?' * len(regions))})"
            params.extend(regions)
        if status is not None:
            sql += " AND c.status = ?"
            params.append(str(status))
        if member_id is not None:
            sql += " AND c.member_id = ?"
            params.append(member_id)
        closed_values = sorted(str(s) for s in CLOSED_STATUSES)
        sql += (
            f" ORDER BY c.status IN ({closed}),"
            f" CASE WHEN c.status IN ({closed}) THEN 0"
            " ELSE COALESCE(MAX(0, CAST(julianday(?)"
            " - julianday(COALESCE(c.promised_date, o.pay_by)) AS INTEGER)), 0) END DESC,"
            " c.next_step_date IS NULL, c.next_step_date, c.id LIMIT ?"
        )
        params.extend([*closed_values, *closed_values, today.isoformat(), limit])
        return self._claims(await self.db.fetchall(sql, params))

    async def by_reference(self, reference: str) -> Claim | None:
        """A claim by its reference (keyed-hash lookup)."""
        row = await self.db.fetchone(
            _SELECT + "WHERE c.reference_hmac = ?", (self.keys.index("reference", reference),)
        )
        return self._claims([row])[0] if row else None

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

    async def _recorded_in_bot(self, claim_id: int) -> bool:
        """Whether the bot keeps the claim's record: a payment recorded in the bot, an
        approved amount, or a history entry made by a person (the import's own entries have
        no actor; its payment is marked imported)."""
        row = await self.db.fetchone(
            "SELECT 1 FROM claims c WHERE c.id = ? AND (c.approved_enc IS NOT NULL"
            " OR EXISTS (SELECT 1 FROM claim_payments p WHERE p.claim_id = c.id"
            " AND p.imported = 0)"
            " OR EXISTS (SELECT 1 FROM claim_events e WHERE e.claim_id = c.id"
            " AND e.actor_id IS NOT NULL))",
            (claim_id,),
        )
        return row is not None

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
        today: date | None = None,
    ) -> ImportResult:
        """Create or update each claim by reference in one transaction (all or nothing).

        The caller has validated every row (members and regions exist); a row identical to
        the stored claim changes nothing, so importing the same file twice is a no-op. A dry
        run does all the work and rolls it back, so its counts are exactly what an import
        would do. ``progress(done, total)`` is called every ``PROGRESS_EVERY`` rows.

        The file is the programme's record only until the bot keeps one: a row that would
        change a claim with payments, an approved amount or a change made by a person in
        the bot is refused (``paid_enc`` stays the sum of the payments, an amount approved
        by a second person stays approved). ``closed_at`` follows the status as in the
        domain: set when a row closes the claim, kept while it stays closed, cleared else.

        A row's paid amount is stored as one payment marked imported (``imported_payment``),
        dated by the row's status date, else ``today`` (the import's day where the
        programme is; default: ``now``'s date), so the paid total is always the sum of the
        payments; re-importing a claim the bot keeps no record of replaces that payment.

        Raises:
            RecordedInBot: with the line of every such row; nothing is written.
        """
        try:
            return await self._import(
                rows, now, dry_run=dry_run, progress=progress, today=today or now.date()
            )
        except _DryRunDone as done:
            return done.result

    async def _import(
        self,
        rows: Sequence[ClaimRow],
        now: datetime,
        *,
        dry_run: bool,
        progress: Progress | None,
        today: date,
    ) -> ImportResult:
        created = updated = unchanged = 0
        kept: list[int] = []
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
                        " promised_date, next_step_enc, next_step_date, updated_at, closed_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                            ts(now) if row.status in CLOSED_STATUSES else None,
                        ),
                    )
                    await self._add_event(claim_id, row.status, now, row.status_date)
                    await self._import_payment(
                        claim_id, row.paid_cents, row.status_date or today, now
                    )
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
                if await self._recorded_in_bot(claim_id):
                    kept.append(row.line)
                    continue
                closed_at = closed_at_for(row.status, current, now)
                await self.db.execute(
                    "UPDATE claims SET member_id = ?, operation_id = ?, region_id = ?,"
                    " status = ?, promised_enc = ?, paid_enc = ?, promised_date = ?,"
                    " next_step_enc = ?, next_step_date = ?, updated_at = ?, closed_at = ?,"
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
                        ts(closed_at) if closed_at is not None else None,
                        claim_id,
                    ),
                )
                if current.status is not row.status:
                    await self._add_event(claim_id, row.status, now, row.status_date)
                if row.paid_cents is not None:
                    await self._import_payment(
                        claim_id, row.paid_cents, row.status_date or today, now
                    )
                updated += 1
            if kept:
                raise RecordedInBot(kept)  # rolls the whole transaction back
            result = ImportResult(created=created, updated=updated, unchanged=unchanged)
            if dry_run:
                raise _DryRunDone(result)  # rolls the whole transaction back
        return result
