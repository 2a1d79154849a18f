"""SqliteAlertRepository on a real SQLite file: round trips, CAS, tallies, nothing in clear."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.alerts import (
    Alert,
    AlertContent,
    AlertDraft,
    AlertStatus,
    Answer,
    HelpRequest,
    RecipientAnswer,
    Severity,
)
from bot.domain.errors import Conflict
from bot.domain.models import Lang, NewInvite, Role
from bot.domain.outbox import OutboxKind, OutboxMessage, OutboxStatus, RowUpdate
from storage.alerts import SqliteAlertRepository
from storage.database import Database
from storage.keys import KeyMaterial, ensure_keys, load_keys
from storage.members import SqliteInviteRepository
from storage.outbox import SqliteOutbox
from storage.regions import SqliteRegionRepository
from tests.services.fakes import FakeClock, raw_notice

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
SECRET_TEXT = "Evitad el puente viejo de Natividad"
SECRET_QU = "Mawka chakapi ama purichunkichu"
SECRET_PLACE = "Quimbiri-Sur"


@dataclass(slots=True)
class Store:
    """The repositories under test on one database."""

    db: Database
    keys: KeyMaterial
    alerts: SqliteAlertRepository
    outbox: SqliteOutbox
    coordinator: int
    informants: tuple[int, int]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db_path = tmp_path / "db" / "chaski.sqlite3"
    key_dir = tmp_path / "keys"
    ensure_keys(key_dir, db_path)
    keys = load_keys(key_dir)
    db = await Database.open(db_path)
    regions = SqliteRegionRepository(db)
    await regions.add("Pichari", NOW)
    await regions.add("Kimbiri", NOW)
    invites = SqliteInviteRepository(db, keys)
    ids = []
    for index, (role, codename) in enumerate(
        [(Role.COORDINATOR, "Puma"), (Role.INFORMANT, "Cóndor"), (Role.INFORMANT, "Halcón")]
    ):
        code = f"code{index}".ljust(43, "x")
        invite = NewInvite(
            role=role, region="Pichari", codename=codename, lang=Lang.ES, ttl_hours=72
        )
        ids.append(await invites.create(invite, code, NOW + timedelta(days=1), NOW))
        await invites.redeem(code, 5000 + index, NOW)
    try:
        yield Store(
            db=db,
            keys=keys,
            alerts=SqliteAlertRepository(db, keys),
            outbox=SqliteOutbox(db, keys, FakeClock(NOW)),
            coordinator=ids[0],
            informants=(ids[1], ids[2]),
        )
    finally:
        await db.close()


def _alert(
    store: Store,
    *,
    nonce: str = "n1",
    created_at: datetime = NOW,
    content: AlertContent | None = None,
) -> Alert:
    return Alert(
        id=0,
        creator_id=store.coordinator,
        nonce=nonce,
        content=content
        or AlertContent(template="avoid_area", params={"place": SECRET_PLACE, "time": "18:00"}),
        severity=Severity.WARNING,
        regions=("Kimbiri", "Pichari"),
        status=AlertStatus.PENDING,
        recipients=2,
        created_at=created_at,
        tally_message_id=42,
    )


async def test_draft_round_trip_and_replace(store: Store) -> None:
    draft = AlertDraft(
        member_id=store.coordinator,
        nonce="abcd1234",
        content=AlertContent(text_es=SECRET_TEXT, text_qu=SECRET_QU),
        regions=("Pichari",),
        severity=Severity.URGENT,
        updated_at=NOW,
    )
    await store.alerts.save_draft(draft)
    assert await store.alerts.get_draft(store.coordinator) == draft
    emptied = AlertDraft(store.coordinator, "ffff0000", AlertContent(), (), None, NOW)
    await store.alerts.save_draft(emptied)
    assert await store.alerts.get_draft(store.coordinator) == emptied
    await store.alerts.delete_draft(store.coordinator)
    assert await store.alerts.get_draft(store.coordinator) is None


async def test_alert_round_trip_with_regions_and_nonce(store: Store) -> None:
    added = await store.alerts.add(_alert(store))
    assert added.id == 1
    assert added.regions == ("Kimbiri", "Pichari")
    assert added.content.params == {"place": SECRET_PLACE, "time": "18:00"}
    assert added.tally_message_id == 42
    assert await store.alerts.get(added.id) == added
    assert await store.alerts.by_nonce(store.coordinator, "n1") == added
    assert await store.alerts.by_nonce(store.coordinator, "other") is None
    with pytest.raises(Conflict):
        await store.alerts.add(_alert(store))


async def test_decide_is_compare_and_set_and_never_by_the_creator(store: Store) -> None:
    alert = await store.alerts.add(_alert(store))
    informant = store.informants[0]
    with pytest.raises(sqlite3.IntegrityError):
        await store.alerts.decide(alert.id, AlertStatus.SENDING, store.coordinator, NOW, 2)
    assert await store.alerts.decide(alert.id, AlertStatus.REJECTED, informant, NOW, 2)
    assert not await store.alerts.decide(alert.id, AlertStatus.SENDING, informant, NOW, 2)
    stored = await store.alerts.get(alert.id)
    assert stored is not None
    assert (stored.status, stored.decided_by, stored.decided_at) == (
        AlertStatus.REJECTED,
        informant,
        NOW,
    )


async def test_pending_and_recent_lists(store: Store) -> None:
    old = await store.alerts.add(_alert(store, created_at=NOW - timedelta(days=2)))
    new = await store.alerts.add(_alert(store, nonce="n2"))
    await store.alerts.decide(new.id, AlertStatus.SENDING, None, NOW, 2)
    assert [a.id for a in await store.alerts.pending()] == [old.id]
    since = NOW - timedelta(days=1)
    assert [a.id for a in await store.alerts.recent(since)] == [new.id]
    assert await store.alerts.recent(since, AlertStatus.PENDING) == []
    assert [a.id for a in await store.alerts.recent(NOW - timedelta(days=3))] == [new.id, old.id]


async def _send_rows(store: Store, alert_id: int) -> None:
    await store.outbox.enqueue_many(
        [
            OutboxMessage(
                idempotency_key=f"alert:{alert_id}:{member}",
                kind=OutboxKind.ALERT,
                member_id=member,
                notice=raw_notice("alert", {"alert": str(alert_id)}),
                correlation=f"alert:{alert_id}",
            )
            for member in store.informants
        ]
    )


async def _finish(store: Store, member_id: int, status: OutboxStatus) -> None:
    lease_until = NOW + timedelta(minutes=1)
    leased = await store.outbox.lease(NOW, 10, lease_until)
    await store.outbox.finish(
        [
            RowUpdate(
                row_id=row.id,
                lease_until=row.lease_until,
                status=status if row.member_id == member_id else OutboxStatus.QUEUED,
                attempts=1,
                message_id=99 if status is OutboxStatus.SENT else None,
                sent_at=NOW if status is OutboxStatus.SENT else None,
            )
            for row in leased
        ],
        NOW,
    )


async def test_answers_need_a_sent_row_and_are_idempotent(store: Store) -> None:
    alert = await store.alerts.add(_alert(store))
    ana, rosa = store.informants
    await store.alerts.add_deliveries(alert.id, [ana, rosa, ana])
    await _send_rows(store, alert.id)
    assert await store.alerts.record_answer(alert.id, ana, Answer.SAFE, NOW) is None  # queued
    assert await store.alerts.record_answer(alert.id, store.coordinator, Answer.SAFE, NOW) is None
    await _finish(store, ana, OutboxStatus.SENT)
    assert await store.alerts.record_answer(alert.id, ana, Answer.SAFE, NOW) is True
    assert await store.alerts.record_answer(alert.id, ana, Answer.SAFE, NOW) is False
    assert await store.alerts.record_answer(alert.id, ana, Answer.HELP, NOW) is True
    assert await store.alerts.record_answer(alert.id, ana, Answer.SAFE, NOW) is False
    tally = await store.alerts.tally(alert.id)
    assert (tally.total, tally.sent, tally.queued, tally.safe, tally.help) == (2, 1, 1, 0, 1)


async def test_tally_folds_outbox_statuses(store: Store) -> None:
    alert = await store.alerts.add(_alert(store))
    ana, rosa = store.informants
    await store.alerts.add_deliveries(alert.id, [ana, rosa])
    await _send_rows(store, alert.id)
    await _finish(store, rosa, OutboxStatus.BLOCKED)
    await store.outbox.cancel_for_member(ana)
    tally = await store.alerts.tally(alert.id)
    assert (tally.blocked, tally.cancelled, tally.sent, tally.no_answer) == (1, 1, 0, 0)


async def test_tally_signature_bumps_only_on_change(store: Store) -> None:
    alert = await store.alerts.add(_alert(store))
    assert await store.alerts.bump_tally(alert.id, "1,0") == 1
    assert await store.alerts.bump_tally(alert.id, "1,0") is None
    assert await store.alerts.bump_tally(alert.id, "1,1") == 2
    await store.alerts.set_tally_message(alert.id, 7)
    stored = await store.alerts.get(alert.id)
    assert stored is not None
    assert stored.tally_message_id == 7


async def test_help_requests_are_acknowledged_once(store: Store) -> None:
    alert = await store.alerts.add(_alert(store))
    ana = store.informants[0]
    request = await store.alerts.add_help(
        HelpRequest(id=0, alert_id=alert.id, member_id=ana, region="Pichari", created_at=NOW)
    )
    assert request.region == "Pichari"
    assert await store.alerts.ack_help(request.id, store.coordinator, NOW)
    assert not await store.alerts.ack_help(request.id, store.informants[1], NOW)
    stored = await store.alerts.get_help(request.id)
    assert stored is not None
    assert (stored.acked_by, stored.acked_at) == (store.coordinator, NOW)
    assert await store.alerts.get_help(999) is None


async def test_answers_list_each_recipient_and_cancel_waiting_spares_the_sent(
    store: Store,
) -> None:
    """Follow-ups (#12.5): who received and answered; the all clear cancels only what waits."""
    alert = await store.alerts.add(_alert(store))
    ana, rosa = store.informants
    await store.alerts.add_deliveries(alert.id, [ana, rosa])
    await _send_rows(store, alert.id)
    await _finish(store, ana, OutboxStatus.SENT)  # Rosa's row goes back to queued
    assert await store.alerts.record_answer(alert.id, ana, Answer.HELP, NOW)
    request = await store.alerts.add_help(
        HelpRequest(id=0, alert_id=alert.id, member_id=ana, region="Pichari", created_at=NOW)
    )
    assert await store.alerts.answers(alert.id) == [
        RecipientAnswer(ana, Answer.HELP, received=True),
        RecipientAnswer(rosa, None, received=False),
    ]
    assert await store.alerts.help_for(alert.id) == [request]
    assert await store.alerts.help_for(alert.id + 1) == []

    assert await store.alerts.cancel_waiting(alert.id, NOW) == 1
    assert await store.alerts.cancel_waiting(alert.id, NOW) == 0
    tally = await store.alerts.tally(alert.id)
    assert (tally.sent, tally.queued, tally.cancelled) == (1, 0, 1)


async def test_texts_and_values_are_never_stored_in_clear(store: Store) -> None:
    await store.alerts.add(_alert(store))
    await store.alerts.add(
        _alert(store, nonce="n2", content=AlertContent(text_es=SECRET_TEXT, text_qu=SECRET_QU))
    )
    await store.alerts.save_draft(
        AlertDraft(
            store.coordinator,
            "n3",
            AlertContent(text_es=SECRET_TEXT, text_qu=SECRET_QU),
            (),
            None,
            NOW,
        )
    )
    raw = b"".join(path.read_bytes() for path in store.db.path.parent.iterdir() if path.is_file())
    for secret in (SECRET_TEXT, SECRET_QU, SECRET_PLACE):
        assert secret.encode() not in raw
