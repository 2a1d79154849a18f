"""What staff prepare in the chat before it changes a claim or an operation (issue #16).

A claim edit between its button and *Confirmar*, an amount change waiting for a second
person, an operation being created or corrected: each lives in the database so a restart of
the bot loses nothing, one per member (an amount request per claim), with what was typed
sealed like the claim cells it will become (M-07).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from bot.domain.claims import (
    AmountRequest,
    ClaimEdit,
    EditKind,
    OperationDraft,
    OperationStep,
)
from bot.domain.models import ClaimStatus
from storage.codec import Sealer, opt_date, parse_opt_date, parse_ts, ts
from storage.database import Database
from storage.keys import KeyMaterial


@dataclass(frozen=True, slots=True)
class SqliteClaimEdits:
    """Implements ``bot.domain.ports.ClaimEditStore``; what was typed is sealed (M-07)."""

    db: Database
    keys: KeyMaterial

    async def put(self, member_id: int, edit: ClaimEdit, now: datetime) -> None:
        """Store the member's edit, replacing any other."""
        params = {
            "status": str(edit.status) if edit.status is not None else None,
            "note": edit.note,
            "visible": edit.visible,
            "amount": edit.amount_cents,
            "method": edit.method,
            "reference": edit.reference,
            "step": edit.step,
            "step_date": opt_date(edit.step_date),
            "new_promised": edit.new_promised,
            "new_approved": edit.new_approved,
        }
        sealed = Sealer(self.keys.cipher, "claim_edits").seal(
            "params", member_id, json.dumps(params, ensure_ascii=False)
        )
        await self.db.execute(
            "INSERT INTO claim_edits (member_id, claim_id, version, kind, params_enc, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET"
            " claim_id = excluded.claim_id, version = excluded.version, kind = excluded.kind,"
            " params_enc = excluded.params_enc, created_at = excluded.created_at",
            (member_id, edit.claim_id, edit.version, str(edit.kind), sealed, ts(now)),
        )

    async def get(self, member_id: int) -> ClaimEdit | None:
        """The member's edit, if any (fails closed on a cell that does not open)."""
        row = await self.db.fetchone(
            "SELECT claim_id, version, kind, params_enc FROM claim_edits WHERE member_id = ?",
            (member_id,),
        )
        if row is None:
            return None
        params = json.loads(
            Sealer(self.keys.cipher, "claim_edits").open("params", member_id, row["params_enc"])
        )
        status = params.get("status")
        return ClaimEdit(
            claim_id=row["claim_id"],
            version=row["version"],
            kind=EditKind(row["kind"]),
            status=ClaimStatus(status) if status else None,
            note=params.get("note"),
            visible=bool(params.get("visible", True)),
            amount_cents=params.get("amount"),
            method=params.get("method"),
            reference=params.get("reference"),
            step=params.get("step"),
            step_date=parse_opt_date(params.get("step_date")),
            new_promised=params.get("new_promised"),
            new_approved=params.get("new_approved"),
        )

    async def drop(self, member_id: int) -> None:
        """Forget the member's edit."""
        await self.db.execute("DELETE FROM claim_edits WHERE member_id = ?", (member_id,))


_REQUESTS = """
SELECT q.id, q.claim_id, r.name AS region, q.version, q.requester_id, q.params_enc
FROM claim_amount_requests q
JOIN claims c ON c.id = q.claim_id
JOIN regions r ON r.id = c.region_id
WHERE q.status = 'pending'
"""


@dataclass(frozen=True, slots=True)
class SqliteAmountRequests:
    """Implements ``bot.domain.ports.AmountRequestStore``; amounts and notes sealed (M-07)."""

    db: Database
    keys: KeyMaterial

    async def create(self, request: AmountRequest, now: datetime) -> int:
        """Store a pending request; return its id."""
        params = {
            "promised": request.promised_cents,
            "approved": request.approved_cents,
            "note": request.note,
            "visible": request.visible,
        }
        async with self.db.transaction():
            request_id = await self.db.next_id("claim_amount_requests")
            await self.db.execute(
                "INSERT INTO claim_amount_requests (id, claim_id, version, requester_id,"
                " params_enc, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    request_id,
                    request.claim_id,
                    request.version,
                    request.requester_id,
                    Sealer(self.keys.cipher, "claim_amount_requests").seal(
                        "params", request_id, json.dumps(params, ensure_ascii=False)
                    ),
                    ts(now),
                ),
            )
        return request_id

    def _request(self, row: sqlite3.Row) -> AmountRequest:
        params = json.loads(
            Sealer(self.keys.cipher, "claim_amount_requests").open(
                "params", row["id"], row["params_enc"]
            )
        )
        return AmountRequest(
            id=row["id"],
            claim_id=row["claim_id"],
            region=row["region"],
            version=row["version"],
            requester_id=row["requester_id"],
            promised_cents=params.get("promised"),
            approved_cents=params.get("approved"),
            note=params.get("note"),
            visible=bool(params.get("visible", True)),
        )

    async def get(self, request_id: int) -> AmountRequest | None:
        """A pending request by id."""
        row = await self.db.fetchone(_REQUESTS + " AND q.id = ?", (request_id,))
        return self._request(row) if row is not None else None

    async def pending(self) -> list[AmountRequest]:
        """Every pending request, oldest first."""
        return [self._request(row) for row in await self.db.fetchall(_REQUESTS + " ORDER BY q.id")]

    async def decide(self, request_id: int, status: str, decided_by: int, now: datetime) -> bool:
        """Compare-and-set out of ``pending``: one decision per request."""
        written = await self.db.execute(
            "UPDATE claim_amount_requests SET status = ?, decided_by = ?, decided_at = ?"
            " WHERE id = ? AND status = 'pending'",
            (status, decided_by, ts(now), request_id),
        )
        return written.rowcount == 1


@dataclass(frozen=True, slots=True)
class SqliteOperationEdits:
    """Implements ``bot.domain.ports.OperationEditStore``; what was typed is sealed (M-07)."""

    db: Database
    keys: KeyMaterial

    async def put(self, member_id: int, draft: OperationDraft, now: datetime) -> None:
        """Store the member's draft, replacing any other."""
        params = {
            "field": str(draft.field) if draft.field is not None else None,
            "label": draft.label,
            "region": draft.region,
            "total": draft.total_cents,
            "pay_by": opt_date(draft.pay_by),
        }
        sealed = Sealer(self.keys.cipher, "operation_edits").seal(
            "params", member_id, json.dumps(params, ensure_ascii=False)
        )
        await self.db.execute(
            "INSERT INTO operation_edits (member_id, operation_id, step, params_enc, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET"
            " operation_id = excluded.operation_id, step = excluded.step,"
            " params_enc = excluded.params_enc, created_at = excluded.created_at",
            (member_id, draft.operation_id, str(draft.step), sealed, ts(now)),
        )

    async def get(self, member_id: int) -> OperationDraft | None:
        """The member's draft, if any (fails closed on a cell that does not open)."""
        row = await self.db.fetchone(
            "SELECT operation_id, step, params_enc, created_at FROM operation_edits"
            " WHERE member_id = ?",
            (member_id,),
        )
        if row is None:
            return None
        params = json.loads(
            Sealer(self.keys.cipher, "operation_edits").open(
                "params", member_id, row["params_enc"]
            )
        )
        field = params.get("field")
        return OperationDraft(
            operation_id=row["operation_id"],
            step=OperationStep(row["step"]),
            field=OperationStep(field) if field else None,
            label=params.get("label"),
            region=params.get("region"),
            total_cents=params.get("total"),
            pay_by=parse_opt_date(params.get("pay_by")),
            created_at=parse_ts(row["created_at"]),
        )

    async def drop(self, member_id: int) -> None:
        """Forget the member's draft."""
        await self.db.execute("DELETE FROM operation_edits WHERE member_id = ?", (member_id,))
