"""AlertService against in-memory fakes: approval (M-14, T-14), scope (T-11), answers (T-33)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.alerts import (
    TEMPLATES,
    Alert,
    AlertContent,
    AlertDraft,
    AlertStatus,
    AlertTally,
    Answer,
    Approval,
    HelpRequest,
    QuietHours,
    RecipientAnswer,
    RejectReason,
    Severity,
    clean_param,
    free_text,
    required_approval,
    template_params,
)
from bot.domain.errors import Conflict, NotAllowed, NotFound, ValidationError
from bot.domain.models import Lang, Member, Role
from bot.domain.notices import (
    AlertSent,
    AlertTallyChanged,
    ApprovalDecided,
    ApprovalNeeded,
    HelpAcked,
    HelpRequested,
)
from bot.domain.outbox import OutboxKind, OutboxStatus
from bot.services.alert_answers import AlertResponses
from bot.services.alert_tallies import AlertTallies
from bot.services.alerts import (
    MAX_ALERTS_PER_HOUR,
    AlertService,
)
from bot.services.authz import Action, is_allowed
from tests.fakes.outbox import InMemoryOutbox
from tests.services.fakes import (
    LIMA,
    T0,
    FakeClock,
    FakeUnitOfWork,
    InMemoryAudit,
    InMemoryMembers,
    InMemoryRegions,
    make_member,
)

# --------------------------------------------------------------------------- fakes


_COLUMN = {
    OutboxStatus.QUEUED: "queued",
    OutboxStatus.SENDING: "queued",
    OutboxStatus.ERRORED: "queued",
    OutboxStatus.SENT: "sent",
    OutboxStatus.DEAD: "failed",
    OutboxStatus.EXPIRED: "failed",
    OutboxStatus.BLOCKED: "blocked",
    OutboxStatus.CANCELLED: "cancelled",
}


@dataclass(slots=True)
class InMemoryAlerts:
    """``AlertRepository`` over dicts; reads outcomes from the fake outbox like storage does."""

    outbox: InMemoryOutbox
    drafts: dict[int, AlertDraft] = field(default_factory=dict)
    alerts: dict[int, Alert] = field(default_factory=dict)
    deliveries: dict[tuple[int, int], Answer | None] = field(default_factory=dict)
    helps: dict[int, HelpRequest] = field(default_factory=dict)
    signatures: dict[int, tuple[int, str]] = field(default_factory=dict)

    async def save_draft(self, draft: AlertDraft) -> None:
        """Insert or replace."""
        self.drafts[draft.member_id] = draft

    async def get_draft(self, member_id: int) -> AlertDraft | None:
        """The member's draft."""
        return self.drafts.get(member_id)

    async def delete_draft(self, member_id: int) -> None:
        """Forget the draft."""
        self.drafts.pop(member_id, None)

    async def add(self, alert: Alert) -> Alert:
        """Store with the next id; Conflict on a reused nonce."""
        if await self.by_nonce(alert.creator_id, alert.nonce) is not None:
            raise Conflict("alert exists")
        stored = replace(alert, id=len(self.alerts) + 1)
        self.alerts[stored.id] = stored
        return stored

    async def get(self, alert_id: int) -> Alert | None:
        """By id."""
        return self.alerts.get(alert_id)

    async def by_nonce(self, creator_id: int, nonce: str) -> Alert | None:
        """By creator and nonce."""
        return next(
            (a for a in self.alerts.values() if (a.creator_id, a.nonce) == (creator_id, nonce)),
            None,
        )

    async def decide(
        self,
        alert_id: int,
        status: AlertStatus,
        decided_by: int | None,
        now: datetime,
        recipients: int,
        *,
        reason: RejectReason | None = None,
    ) -> bool:
        """Compare-and-set from pending."""
        alert = self.alerts[alert_id]
        if alert.status is not AlertStatus.PENDING:
            return False
        self.alerts[alert_id] = replace(
            alert,
            status=status,
            decided_by=decided_by,
            decided_at=now,
            recipients=recipients,
            reason=reason,
        )
        return True

    async def set_tally_message(self, alert_id: int, message_id: int) -> None:
        """Remember the summary message."""
        self.alerts[alert_id] = replace(self.alerts[alert_id], tally_message_id=message_id)

    async def add_deliveries(self, alert_id: int, member_ids: Sequence[int]) -> None:
        """One record per recipient."""
        for member_id in member_ids:
            self.deliveries.setdefault((alert_id, member_id), None)

    async def pending(self) -> list[Alert]:
        """Pending, oldest first."""
        return [a for a in self.alerts.values() if a.status is AlertStatus.PENDING]

    async def recent(self, since: datetime, status: AlertStatus | None = None) -> list[Alert]:
        """Created since, newest first."""
        found = [
            a
            for a in self.alerts.values()
            if a.created_at >= since and (status is None or a.status is status)
        ]
        return sorted(found, key=lambda a: (a.created_at, a.id), reverse=True)

    async def record_answer(
        self, alert_id: int, member_id: int, answer: Answer, now: datetime
    ) -> bool | None:
        """Like storage: only a sent row may be answered; help may replace safe."""
        status = self.outbox.status.get(f"alert:{alert_id}:{member_id}")
        key = (alert_id, member_id)
        if key not in self.deliveries or status is not OutboxStatus.SENT:
            return None
        previous = self.deliveries[key]
        if previous is None or (previous is Answer.SAFE and answer is Answer.HELP):
            self.deliveries[key] = answer
            return True
        return False

    async def tally(self, alert_id: int) -> AlertTally:
        """Fold outbox statuses and answers."""
        counts = dict.fromkeys(("queued", "sent", "failed", "blocked", "cancelled"), 0)
        for key, message in self.outbox.rows.items():
            if message.correlation == f"alert:{alert_id}" and message.kind is OutboxKind.ALERT:
                counts[_COLUMN[self.outbox.status[key]]] += 1
        answers = [a for (aid, _), a in self.deliveries.items() if aid == alert_id]
        return AlertTally(
            total=len(answers),
            safe=answers.count(Answer.SAFE),
            help=answers.count(Answer.HELP),
            **counts,
        )

    async def tally_waiting(self, alert_id: int) -> bool:
        """This outbox never sends, so nothing is ever "waiting" to be superseded here; the
        deferral is tested against storage (tests/handlers/test_tally.py)."""
        del alert_id
        return False

    async def bump_tally(self, alert_id: int, signature: str) -> int | None:
        """New version when the signature changed."""
        version, previous = self.signatures.get(alert_id, (0, ""))
        if previous == signature:
            return None
        self.signatures[alert_id] = (version + 1, signature)
        return version + 1

    async def add_help(self, request: HelpRequest) -> HelpRequest:
        """Store with the next id."""
        stored = replace(request, id=len(self.helps) + 1)
        self.helps[stored.id] = stored
        return stored

    async def get_help(self, help_id: int) -> HelpRequest | None:
        """By id."""
        return self.helps.get(help_id)

    async def ack_help(self, help_id: int, member_id: int, now: datetime) -> bool:
        """First acknowledgement wins."""
        request = self.helps[help_id]
        if request.acked_by is not None:
            return False
        self.helps[help_id] = replace(request, acked_by=member_id, acked_at=now)
        return True

    async def help_for(self, alert_id: int) -> list[HelpRequest]:
        """The alert's requests, oldest first."""
        return [r for r in self.helps.values() if r.alert_id == alert_id]

    async def answers(self, alert_id: int) -> list[RecipientAnswer]:
        """Like storage: received once the recipient's alert row was sent."""
        return [
            RecipientAnswer(
                member_id=member_id,
                answer=answer,
                received=self.outbox.status.get(f"alert:{alert_id}:{member_id}")
                is OutboxStatus.SENT,
            )
            for (aid, member_id), answer in sorted(self.deliveries.items())
            if aid == alert_id
        ]

    async def cancel_waiting(self, alert_id: int, now: datetime) -> int:
        """Cancel the alert's rows still waiting."""
        del now
        waiting = [
            key
            for key, message in self.outbox.rows.items()
            if message.correlation == f"alert:{alert_id}"
            and message.kind is OutboxKind.ALERT
            and self.outbox.status[key] in {OutboxStatus.QUEUED, OutboxStatus.ERRORED}
        ]
        for key in waiting:
            self.outbox.mark(key, OutboxStatus.CANCELLED)
        return len(waiting)


# --------------------------------------------------------------------------- fixtures

COORD = make_member(10, role=Role.COORDINATOR, codename="Puma", regions=("Pichari",))
COORD_2 = make_member(11, role=Role.COORDINATOR, codename="Zorro", regions=("Pichari",))
COORD_KIMBIRI = make_member(12, role=Role.COORDINATOR, codename="Oso", regions=("Kimbiri",))
ADMIN = make_member(13, role=Role.ADMIN, codename="Jefe", regions=())
ADMIN_2 = make_member(14, role=Role.ADMIN, codename="Jefa", regions=())
ANA = make_member(1, codename="Cóndor-7", regions=("Pichari",))
ROSA = make_member(2, codename="Halcón-3", regions=("Pichari",), lang=Lang.QU)
LUIS = make_member(3, codename="Vicuña-1", regions=("Kimbiri",))


@dataclass(slots=True)
class World:
    """A service wired to fakes, and the fakes to inspect."""

    service: AlertService
    responses: AlertResponses
    tallies: AlertTallies
    outbox: InMemoryOutbox
    alerts: InMemoryAlerts
    members: InMemoryMembers
    audit: InMemoryAudit
    clock: FakeClock


def make_world(*members: Member, threshold: int = 200, quiet: QuietHours | None = None) -> World:
    directory = InMemoryMembers()
    for index, member in enumerate(
        members or (COORD, COORD_2, COORD_KIMBIRI, ADMIN, ANA, ROSA, LUIS)
    ):
        directory.add(member, telegram_id=1000 + index)
    outbox = InMemoryOutbox()
    alerts = InMemoryAlerts(outbox)
    audit = InMemoryAudit()
    clock = FakeClock()
    uow = FakeUnitOfWork(
        alerts=alerts,
        members=directory,
        regions=InMemoryRegions().seed("Pichari", "Kimbiri"),
        outbox=outbox,
        audit=audit,
    )
    tallies = AlertTallies(uow=uow, clock=clock, quiet_hours=quiet)
    service = AlertService(uow=uow, clock=clock, approval_threshold=threshold, tallies=tallies)
    responses = AlertResponses(uow=uow, clock=clock, tallies=tallies)
    return World(service, responses, tallies, outbox, alerts, directory, audit, clock)


def fake_uow(world: World) -> FakeUnitOfWork:
    """The in-memory unit of work the world's service holds."""
    assert isinstance(world.service.uow, FakeUnitOfWork)
    return world.service.uow


async def region_id(world: World, name: str) -> int:
    regions = await world.service.uow.regions.list_all()
    return next(r.id for r in regions if r.name == name)


async def compose(
    world: World,
    actor: Member = COORD,
    *,
    template: str | None = "stay_home",
    values: Sequence[str] = (),
    texts: tuple[str, str] | None = None,
    regions: Sequence[str] = ("Pichari",),
    severity: Severity = Severity.WARNING,
) -> AlertDraft:
    service = world.service
    await service.start_draft(actor)
    if texts is not None:
        await service.set_free_text(actor, *texts)
    elif template is not None:
        await service.choose_template(actor, template)
        if values:
            await service.set_values(actor, values)
    for name in regions:
        await service.toggle_region(actor, await region_id(world, name))
    return await service.set_severity(actor, severity)


async def send_template(
    world: World,
    actor: Member = COORD,
    *,
    template: str | None = "stay_home",
    values: Sequence[str] = (),
    texts: tuple[str, str] | None = None,
    severity: Severity = Severity.WARNING,
) -> Alert:
    draft = await compose(
        world, actor, template=template, values=values, texts=texts, severity=severity
    )
    return await world.service.confirm(actor, draft.nonce, tally_message_id=77)


# --------------------------------------------------------------------------- composing and sending


async def test_template_alert_in_own_region_goes_to_each_informant_there_at_once() -> None:
    world = make_world()
    alert = await send_template(world, values=(), template="stay_home")
    assert alert.status is AlertStatus.SENDING
    rows = world.outbox.of(OutboxKind.ALERT)
    assert sorted(m.member_id for m in rows) == [ANA.id, ROSA.id]  # not LUIS, not coordinators
    assert {m.idempotency_key for m in rows} == {f"alert:{alert.id}:1", f"alert:{alert.id}:2"}
    first = rows[0]
    assert first.template == AlertSent.TEMPLATE
    assert first.correlation == f"alert:{alert.id}"
    assert first.params["template"] == "stay_home"
    assert first.params["severity"] == "warning"
    assert first.not_before is None
    assert first.expires_at == T0 + timedelta(hours=6)
    assert world.alerts.deliveries.keys() == {(alert.id, ANA.id), (alert.id, ROSA.id)}
    assert world.audit.results("alert_create") == ["ok"]
    assert world.alerts.drafts == {}


async def test_sending_queues_a_tally_edit_of_the_preview_message() -> None:
    world = make_world()
    alert = await send_template(world)
    [tally] = world.outbox.of(OutboxKind.TALLY)
    assert tally.member_id == COORD.id
    assert tally.template == AlertTallyChanged.TEMPLATE
    assert tally.params["message_id"] == "77"
    assert tally.params["queued"] == "2"
    assert tally.idempotency_key == f"tally:{alert.id}:1"


async def test_template_values_are_validated_and_kept_language_neutral() -> None:
    world = make_world()
    alert = await send_template(world, template="avoid_area", values=("Pichari", "6.05"))
    [row, *_] = world.outbox.of(OutboxKind.ALERT)
    assert row.params["p_place"] == "Pichari"
    assert row.params["p_time"] == "06:05"
    assert alert.content.params == {"place": "Pichari", "time": "06:05"}


@pytest.mark.parametrize(
    "values",
    [("Pichari",), ("Pichari", "25:00"), ("Pi\u202echari", "18:00"), ("Pi\u0441hari", "18:00")],
    ids=["too few", "bad hour", "bidi control", "mixed scripts"],
)
async def test_bad_template_values_are_refused(values: tuple[str, ...]) -> None:
    world = make_world()
    await world.service.start_draft(COORD)
    await world.service.choose_template(COORD, "avoid_area")
    with pytest.raises(ValidationError):
        await world.service.set_values(COORD, values)


async def test_values_without_a_template_are_refused() -> None:
    world = make_world()
    await world.service.start_draft(COORD)
    with pytest.raises(ValidationError):
        await world.service.set_values(COORD, ("x",))


async def test_a_template_with_missing_values_cannot_be_previewed() -> None:
    world = make_world()
    await compose(world, template="avoid_area")
    with pytest.raises(ValidationError, match="content"):
        await world.service.preview(COORD)


async def test_preview_needs_regions_and_severity() -> None:
    world = make_world()
    await world.service.start_draft(COORD)
    await world.service.choose_template(COORD, "stay_home")
    with pytest.raises(ValidationError, match="regions"):
        await world.service.preview(COORD)
    await world.service.toggle_region(COORD, await region_id(world, "Pichari"))
    with pytest.raises(ValidationError, match="severity"):
        await world.service.preview(COORD)


async def test_unknown_template_key_is_not_found() -> None:
    world = make_world()
    await world.service.start_draft(COORD)
    with pytest.raises(NotFound):
        await world.service.choose_template(COORD, "go_to_the_square")


async def test_toggling_a_region_twice_removes_it() -> None:
    world = make_world()
    await world.service.start_draft(COORD)
    pichari = await region_id(world, "Pichari")
    assert (await world.service.toggle_region(COORD, pichari)).regions == ("Pichari",)
    assert (await world.service.toggle_region(COORD, pichari)).regions == ()
    with pytest.raises(NotFound):
        await world.service.toggle_region(COORD, 999)


async def test_confirming_twice_creates_one_alert() -> None:
    world = make_world()
    draft = await compose(world)
    first = await world.service.confirm(COORD, draft.nonce, tally_message_id=5)
    second = await world.service.confirm(COORD, draft.nonce, tally_message_id=5)
    assert first.id == second.id
    assert len(world.alerts.alerts) == 1
    assert len(world.outbox.of(OutboxKind.ALERT)) == 2


async def test_a_forged_or_stale_nonce_confirms_nothing() -> None:
    world = make_world()
    await compose(world)
    with pytest.raises(NotFound):
        await world.service.confirm(COORD, "deadbeef", tally_message_id=None)
    world.clock.advance(timedelta(hours=2))
    draft = world.alerts.drafts[COORD.id]
    with pytest.raises(NotFound):
        await world.service.confirm(COORD, draft.nonce, tally_message_id=None)
    assert world.outbox.rows == {}


async def test_informants_cannot_compose() -> None:
    world = make_world()
    with pytest.raises(NotAllowed):
        await world.service.start_draft(ANA)
    assert world.audit.results("send_alert") == ["denied"]


async def test_cross_region_alert_is_refused_and_audited() -> None:
    world = make_world()
    await world.service.start_draft(COORD)
    with pytest.raises(NotAllowed):
        await world.service.toggle_region(COORD, await region_id(world, "Kimbiri"))
    assert world.audit.results("send_alert") == ["denied"]
    assert world.outbox.rows == {}


async def test_hourly_cap_stops_a_coordinator_spamming_alerts() -> None:
    world = make_world()
    for _ in range(MAX_ALERTS_PER_HOUR):
        await send_template(world)
    draft = await compose(world)
    with pytest.raises(NotAllowed):
        await world.service.confirm(COORD, draft.nonce, tally_message_id=None)
    assert world.audit.results("alert_create")[-1] == "rate_capped"


# --------------------------------------------------------------------------- approval (M-14)


async def test_free_text_waits_for_approval_with_nothing_in_the_outbox() -> None:
    world = make_world()
    alert = await send_template(world, texts=("Hola <b>", "Rimaykullayki"))
    assert alert.status is AlertStatus.PENDING
    assert world.outbox.of(OutboxKind.ALERT) == []
    assert world.outbox.of(OutboxKind.TALLY) == []
    asked = world.outbox.of(OutboxKind.NOTIFICATION)
    # Free text needs an administrator (issue #12.3): the peer coordinator is not asked.
    assert {m.member_id for m in asked} == {ADMIN.id}
    assert {m.template for m in asked} == {ApprovalNeeded.TEMPLATE}
    assert world.audit.results("alert_create") == ["pending"]


async def test_an_administrator_approves_free_text_and_then_rows_exist() -> None:
    world = make_world()
    alert = await send_template(world, texts=("Cuidado", "Paqtataq"))
    assert alert.approval is Approval.ADMIN
    # A peer coordinator of the same region may not approve free text (issue #12.3).
    assert await world.service.pending_for(COORD_2) == []
    with pytest.raises(NotAllowed):
        await world.service.approve(COORD_2, alert.id)
    assert world.audit.results("alert_approve") == ["denied"]
    assert world.outbox.of(OutboxKind.ALERT) == []
    assert await world.service.pending_for(ADMIN) == [alert]
    approved = await world.service.approve(ADMIN, alert.id)
    assert approved.status is AlertStatus.SENDING
    assert approved.decided_by == ADMIN.id
    rows = world.outbox.of(OutboxKind.ALERT)
    assert {m.member_id for m in rows} == {ANA.id, ROSA.id}
    assert rows[0].params["text_es"] == "Cuidado"
    assert rows[0].params["text_qu"] == "Paqtataq"
    assert len(world.outbox.of(OutboxKind.TALLY)) == 1
    # The author is told who approved it and to how many it goes (issue #12.4).
    [told] = [
        m
        for m in world.outbox.of(OutboxKind.NOTIFICATION)
        if m.template == ApprovalDecided.TEMPLATE
    ]
    assert told.member_id == COORD.id
    assert told.params == {
        "alert": str(alert.id),
        "codename": "Jefe",
        "decision": "approved",
        "count": "2",
    }
    with pytest.raises(Conflict):
        await world.service.approve(ADMIN_2, alert.id)


async def test_self_approval_is_refused_and_audited() -> None:
    world = make_world()
    alert = await send_template(world, texts=("Cuidado", "Paqtataq"))
    assert await world.service.pending_for(COORD) == []
    with pytest.raises(NotAllowed):
        await world.service.approve(COORD, alert.id)
    with pytest.raises(NotAllowed):
        await world.service.reject(COORD, alert.id)
    assert world.audit.results("alert_approve") == ["self_approval", "self_approval"]
    assert world.outbox.of(OutboxKind.ALERT) == []


async def test_a_coordinator_of_another_region_cannot_approve() -> None:
    world = make_world()
    alert = await send_template(world, texts=("Cuidado", "Paqtataq"))
    assert await world.service.pending_for(COORD_KIMBIRI) == []
    with pytest.raises(NotAllowed):
        await world.service.approve(COORD_KIMBIRI, alert.id)
    assert world.audit.results("alert_approve") == ["denied"]


async def test_rejected_alert_is_never_sent() -> None:
    world = make_world()
    alert = await send_template(world, texts=("Cuidado", "Paqtataq"))
    rejected = await world.service.reject(ADMIN, alert.id, RejectReason.DETAILS)
    assert rejected.status is AlertStatus.REJECTED
    assert world.alerts.alerts[alert.id].reason is RejectReason.DETAILS
    with pytest.raises(Conflict):
        await world.service.approve(ADMIN_2, alert.id)
    with pytest.raises(Conflict):
        await world.service.reject(ADMIN_2, alert.id)
    assert world.outbox.of(OutboxKind.ALERT) == []
    [told] = [
        m
        for m in world.outbox.of(OutboxKind.NOTIFICATION)
        if m.template == ApprovalDecided.TEMPLATE
    ]
    assert (told.member_id, told.params["decision"], told.params["reason"]) == (
        COORD.id,
        "rejected",
        "details",
    )
    with pytest.raises(NotFound):
        await world.service.approve(ADMIN_2, 999)


async def test_more_recipients_than_the_threshold_need_approval() -> None:
    world = make_world(threshold=1)
    alert = await send_template(world)
    assert alert.status is AlertStatus.PENDING
    assert alert.recipients == 2


async def test_admin_template_alert_outside_own_regions_needs_approval() -> None:
    world = make_world()
    alert = await send_template(world, ADMIN)
    assert alert.status is AlertStatus.PENDING
    approved = await world.service.approve(COORD, alert.id)
    assert approved.status is AlertStatus.SENDING


async def test_recipient_who_unlinked_before_approval_gets_nothing() -> None:
    world = make_world()
    alert = await send_template(world, texts=("Cuidado", "Paqtataq"))
    await world.members.unlink(ROSA.id)
    await world.service.approve(ADMIN, alert.id)
    assert [m.member_id for m in world.outbox.of(OutboxKind.ALERT)] == [ANA.id]


# --------------------------------------------------------------------------- quiet hours


async def test_non_urgent_alert_in_quiet_hours_waits_until_they_end() -> None:
    world = make_world(quiet=QuietHours(21, 6))
    world.clock.current = datetime(2026, 3, 2, 22, 30, tzinfo=LIMA).astimezone(UTC)
    await send_template(world, severity=Severity.WARNING)
    row = world.outbox.of(OutboxKind.ALERT)[0]
    release = datetime(2026, 3, 3, 6, 0, tzinfo=LIMA)
    assert row.not_before == release
    assert row.expires_at == release + timedelta(hours=6)


async def test_urgent_alert_ignores_quiet_hours() -> None:
    world = make_world(quiet=QuietHours(21, 6))
    world.clock.current = datetime(2026, 3, 2, 23, 0, tzinfo=LIMA).astimezone(UTC)
    await send_template(world, severity=Severity.URGENT)
    assert world.outbox.of(OutboxKind.ALERT)[0].not_before is None


def test_quiet_hours_parse_and_release() -> None:
    quiet = QuietHours.parse("21-6")
    assert quiet == QuietHours(21, 6)
    assert QuietHours.parse(" OFF ") is None
    for bad in ("21", "25-6", "6-6", "a-b"):
        with pytest.raises(ValueError, match=r"quiet|expected"):
            QuietHours.parse(bad)
    assert quiet is not None
    at_one = datetime(2026, 3, 3, 1, 0, tzinfo=LIMA)
    assert quiet.release(at_one, LIMA) == datetime(2026, 3, 3, 6, 0, tzinfo=LIMA)
    assert quiet.release(datetime(2026, 3, 3, 12, 0, tzinfo=LIMA), LIMA) is None
    day = QuietHours(13, 15)
    assert day.contains(datetime(2026, 3, 3, 14, 0, tzinfo=LIMA))
    assert not day.contains(datetime(2026, 3, 3, 15, 0, tzinfo=LIMA))


# --------------------------------------------------------------------------- answers and help


async def delivered(world: World, alert: Alert, *members: Member) -> None:
    for member in members:
        world.outbox.mark(f"alert:{alert.id}:{member.id}", OutboxStatus.SENT)


async def test_safe_answer_is_recorded_once() -> None:
    world = make_world()
    alert = await send_template(world)
    await delivered(world, alert, ANA)
    first = await world.responses.answer(ANA, alert.id, Answer.SAFE)
    second = await world.responses.answer(ANA, alert.id, Answer.SAFE)
    assert (first.changed, second.changed) == (True, False)
    assert world.audit.results("alert_answer") == ["safe"]
    assert world.outbox.of(OutboxKind.HELP) == []


async def test_answers_from_non_recipients_or_before_delivery_are_refused() -> None:
    world = make_world()
    alert = await send_template(world)
    with pytest.raises(NotFound):
        await world.responses.answer(LUIS, alert.id, Answer.SAFE)  # other region
    with pytest.raises(NotFound):
        await world.responses.answer(ANA, alert.id, Answer.SAFE)  # row not sent yet
    with pytest.raises(NotFound):
        await world.responses.answer(ANA, 999, Answer.HELP)  # no such alert
    assert world.audit.results("alert_answer") == ["denied"] * 3


async def test_help_reaches_every_coordinator_of_the_region_with_the_codename() -> None:
    world = make_world()
    alert = await send_template(world)
    await delivered(world, alert, ROSA)
    outcome = await world.responses.answer(ROSA, alert.id, Answer.HELP)
    assert outcome.help_request is not None
    helps = world.outbox.of(OutboxKind.HELP)
    assert {m.member_id for m in helps} == {COORD.id, COORD_2.id}
    assert {m.template for m in helps} == {HelpRequested.TEMPLATE}
    assert helps[0].notice == HelpRequested(
        alert=alert.id, asked=((outcome.help_request.id, ROSA.codename),)
    )
    again = await world.responses.answer(ROSA, alert.id, Answer.HELP)
    assert not again.changed
    assert len(world.outbox.of(OutboxKind.HELP)) == 2


async def test_help_after_safe_still_escalates_but_safe_after_help_does_not() -> None:
    world = make_world()
    alert = await send_template(world)
    await delivered(world, alert, ANA)
    await world.responses.answer(ANA, alert.id, Answer.SAFE)
    assert (await world.responses.answer(ANA, alert.id, Answer.HELP)).changed
    assert not (await world.responses.answer(ANA, alert.id, Answer.SAFE)).changed
    tally = await world.alerts.tally(alert.id)
    assert (tally.safe, tally.help) == (0, 1)


async def test_help_without_coordinators_reaches_the_admins() -> None:
    admin_2 = replace(ADMIN, id=14, codename="Jefa")
    world = make_world(ADMIN, admin_2, LUIS, COORD)
    draft = await compose(world, ADMIN, regions=("Kimbiri",))
    pending = await world.service.confirm(ADMIN, draft.nonce, None)
    alert = await world.service.approve(admin_2, pending.id)
    await delivered(world, alert, LUIS)
    await world.responses.answer(LUIS, alert.id, Answer.HELP)
    helped = {m.member_id for m in world.outbox.of(OutboxKind.HELP)}
    assert helped == {ADMIN.id, admin_2.id}  # COORD is Pichari's, not Kimbiri's


async def test_first_acknowledgement_wins_and_the_others_are_told() -> None:
    world = make_world()
    alert = await send_template(world)
    await delivered(world, alert, ANA)
    outcome = await world.responses.answer(ANA, alert.id, Answer.HELP)
    assert outcome.help_request is not None
    help_id = outcome.help_request.id
    acked = await world.responses.ack_help(COORD_2, help_id)
    assert acked.acked_by == COORD_2.id
    told = [m for m in world.outbox.of(OutboxKind.HELP) if m.template == HelpAcked.TEMPLATE]
    assert [(m.member_id, m.params["by"], m.params["codename"]) for m in told] == [
        (COORD.id, "Zorro", ANA.codename)
    ]
    with pytest.raises(Conflict):
        await world.responses.ack_help(COORD, help_id)


async def test_acknowledging_outside_ones_region_is_refused_and_audited() -> None:
    world = make_world()
    alert = await send_template(world)
    await delivered(world, alert, ANA)
    outcome = await world.responses.answer(ANA, alert.id, Answer.HELP)
    assert outcome.help_request is not None
    for actor in (COORD_KIMBIRI, ANA):
        with pytest.raises(NotFound):
            await world.responses.ack_help(actor, outcome.help_request.id)
    with pytest.raises(NotFound):
        await world.responses.ack_help(COORD, 999)
    assert world.audit.results("help_ack") == ["denied"] * 3


# --------------------------------------------------------------------------- tallies


async def test_tally_edits_are_coalesced_until_a_count_changes() -> None:
    world = make_world()
    alert = await send_template(world)
    assert await world.tallies.refresh_tallies() == 0  # nothing changed since sending
    await delivered(world, alert, ANA)
    world.outbox.mark(f"alert:{alert.id}:{ROSA.id}", OutboxStatus.BLOCKED)
    assert await world.tallies.refresh_tallies() == 1
    assert await world.tallies.refresh_tallies() == 0
    tallies = world.outbox.of(OutboxKind.TALLY)
    assert [m.idempotency_key for m in tallies] == [f"tally:{alert.id}:1", f"tally:{alert.id}:2"]
    latest = tallies[-1].params
    assert (latest["sent"], latest["blocked"], latest["no_answer"]) == ("1", "1", "1")
    await world.responses.answer(ANA, alert.id, Answer.SAFE)
    assert world.outbox.of(OutboxKind.TALLY)[-1].params["safe"] == "1"


async def test_recent_alerts_are_listed_only_within_scope() -> None:
    world = make_world()
    alert = await send_template(world)
    [(listed, tally)] = await world.tallies.recent_for(COORD_2)
    assert listed.id == alert.id
    assert tally.total == 2
    assert await world.tallies.recent_for(COORD_KIMBIRI) == []
    assert len(await world.tallies.recent_for(ADMIN)) == 1


async def test_cancelling_a_draft_forgets_it() -> None:
    world = make_world()
    await compose(world)
    await world.service.cancel_draft(COORD)
    with pytest.raises(NotFound):
        await world.service.preview(COORD)


async def test_free_text_starts_a_draft_when_there_is_none() -> None:
    world = make_world()
    draft = await world.service.set_free_text(COORD, "  Cuidado ", "Paqtataq")
    assert draft.content == AlertContent(text_es="Cuidado", text_qu="Paqtataq")


# --------------------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    ("es", "qu"),
    [("", "x"), ("x", "\u2066y"), ("a" * 1001, "b"), ("x", "\x00")],
    ids=["empty", "bidi", "too long", "nul"],
)
def test_free_text_is_validated(es: str, qu: str) -> None:
    with pytest.raises(ValidationError):
        free_text(es, qu)


def test_clean_param_normalises_times() -> None:
    assert clean_param("time", "7:30") == "07:30"
    assert clean_param("time", "18h00") == "18:00"
    assert clean_param("place", " Llochegua ") == "Llochegua"
    assert template_params(TEMPLATES["stay_home"], ()) == {}


def test_required_approval_rules() -> None:
    places = {"Pichari", "Kimbiri"}
    template = AlertContent(template="stay_home")
    text = AlertContent(text_es="a", text_qu="b")
    listed = AlertContent(template="avoid_area", params={"place": "Pichari", "time": "18:00"})
    lure = AlertContent(
        template="avoid_area", params={"place": "Pichari. Ve YA a la plaza", "time": "18:00"}
    )

    def level(content: AlertContent, regions: list[str], recipients: int = 5) -> Approval:
        return required_approval(content, regions, COORD, recipients, 10, places=places)

    assert level(template, ["Pichari"]) is Approval.NONE
    assert level(listed, ["Pichari"]) is Approval.NONE
    assert level(text, ["Pichari"]) is Approval.ADMIN
    assert level(lure, ["Pichari"]) is Approval.ADMIN  # issue #12.2
    assert level(template, ["Pichari"], 11) is Approval.ADMIN
    assert level(template, ["Kimbiri"]) is Approval.PEER


def test_approve_authorization_never_lets_the_creator_approve() -> None:
    alert = Alert(
        id=1,
        creator_id=ADMIN.id,
        nonce="n",
        content=AlertContent(template="stay_home"),
        severity=Severity.INFO,
        regions=("Pichari",),
        status=AlertStatus.PENDING,
        recipients=0,
        created_at=T0,
        approval=Approval.PEER,
    )
    assert not is_allowed(ADMIN, Action.APPROVE_ALERT, alert)
    assert is_allowed(COORD, Action.APPROVE_ALERT, alert)
    assert not is_allowed(COORD_KIMBIRI, Action.APPROVE_ALERT, alert)
    assert not is_allowed(ANA, Action.APPROVE_ALERT, alert)
    assert not is_allowed(COORD, Action.SEND_ALERT, alert)
    other_admin = replace(ADMIN, id=99)
    assert is_allowed(other_admin, Action.APPROVE_ALERT, alert)
    # Text a person wrote, or over the threshold: administrators only (issue #12.3).
    admin_only = replace(alert, approval=Approval.ADMIN)
    assert not is_allowed(COORD, Action.APPROVE_ALERT, admin_only)
    assert is_allowed(other_admin, Action.APPROVE_ALERT, admin_only)
    # Only the author withdraws.
    assert is_allowed(ADMIN, Action.WITHDRAW_ALERT, alert)
    assert not is_allowed(other_admin, Action.WITHDRAW_ALERT, alert)
    assert not is_allowed(COORD, Action.WITHDRAW_ALERT, alert)
    assert is_allowed(ANA, Action.ANSWER_ALERT)
    assert is_allowed(COORD, Action.VIEW_ALERTS, frozenset({"Pichari"}))
    assert not is_allowed(COORD, Action.VIEW_ALERTS, frozenset({"Kimbiri"}))


# --------------------------------------------------------------------------- races


@dataclass(slots=True)
class StaleAlerts(InMemoryAlerts):
    """Reads that lag behind a concurrent writer: what a race looks like to the service."""

    stale: dict[int, Alert] = field(default_factory=dict)
    hide_nonce_once: bool = False

    async def get(self, alert_id: int) -> Alert | None:
        """The snapshot taken before someone else decided, if any."""
        return self.stale.get(alert_id) or self.alerts.get(alert_id)

    async def by_nonce(self, creator_id: int, nonce: str) -> Alert | None:
        """Miss the other confirmation once, as a concurrent transaction would."""
        if self.hide_nonce_once:
            self.hide_nonce_once = False
            return None
        return await InMemoryAlerts.by_nonce(self, creator_id, nonce)


def stale_world() -> tuple[World, StaleAlerts]:
    world = make_world()
    stale = StaleAlerts(world.outbox)
    world.service = replace(world.service, uow=replace(fake_uow(world), alerts=stale))
    world.alerts = stale
    return world, stale


async def test_a_decision_that_lost_the_race_changes_nothing() -> None:
    world, stale = stale_world()
    pending = await send_template(world, texts=("Cuidado", "Paqtataq"))
    stale.stale[pending.id] = pending  # both deciders saw it pending
    await world.service.approve(ADMIN_2, pending.id)
    with pytest.raises(Conflict):
        await world.service.approve(ADMIN, pending.id)
    with pytest.raises(Conflict):
        await world.service.reject(ADMIN, pending.id)
    assert len(world.outbox.of(OutboxKind.ALERT)) == 2


async def test_a_confirmation_that_lost_the_race_returns_the_winner() -> None:
    world, stale = stale_world()
    draft = await compose(world)
    await stale.save_draft(draft)
    first = await world.service.confirm(COORD, draft.nonce, tally_message_id=None)
    await stale.save_draft(draft)  # the loser still had the draft
    stale.hide_nonce_once = True
    second = await world.service.confirm(COORD, draft.nonce, tally_message_id=None)
    assert second.id == first.id
    assert len(world.outbox.of(OutboxKind.ALERT)) == 2


@dataclass(slots=True)
class RefusingAlerts(InMemoryAlerts):
    """``add`` always conflicts yet no alert has the nonce: a constraint we did not expect."""

    async def add(self, alert: Alert) -> Alert:
        """Refuse like a UNIQUE violation."""
        raise Conflict("alert exists")


async def test_an_unexplained_conflict_on_add_is_not_swallowed() -> None:
    world = make_world()
    refusing = RefusingAlerts(world.outbox)
    world.service = replace(world.service, uow=replace(fake_uow(world), alerts=refusing))
    await world.service.start_draft(COORD)
    await world.service.choose_template(COORD, "stay_home")
    await world.service.toggle_region(COORD, await region_id(world, "Pichari"))
    draft = await world.service.set_severity(COORD, Severity.INFO)
    with pytest.raises(Conflict):
        await world.service.confirm(COORD, draft.nonce, tally_message_id=None)
    assert world.outbox.rows == {}
