"""The services one bot process uses, built by the composition root (``bot.root.wiring``)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.ports import Clock
from bot.services.alert_answers import AlertResponses
from bot.services.alert_tallies import AlertTallies
from bot.services.alerts import AlertService
from bot.services.audit import AuditAdmin
from bot.services.checkins import CheckinService
from bot.services.claims import ClaimService
from bot.services.claims_admin import ClaimAdminService
from bot.services.claims_import import ClaimImportService
from bot.services.heartbeat import HeartbeatService
from bot.services.invite_batch import InviteBatchService
from bot.services.invites import InviteService
from bot.services.members import MemberDirectory
from bot.services.membership import MembershipService
from bot.services.outbox import OutboxAdmin, SenderLifecycle
from bot.services.oversight import OversightService
from bot.services.pin import PinService
from bot.services.registration import RegistrationService
from bot.services.registrations import RegistrationAdmin
from bot.services.retention import RetentionService
from bot.services.safety import SafetyService
from bot.services.schedules import ScheduleService
from bot.services.vigilance import IntakeAlarm


@dataclass(frozen=True, slots=True)
class Services:
    """Everything handlers, jobs and the CLI may call: use cases only.

    No repositories, no unit of work, no outbox, no Telegram: a handler that needs a write
    calls a use case that owns its transaction (tests/test_architecture.py checks it).
    """

    clock: Clock
    registration: RegistrationService
    invites: InviteService
    claims: ClaimService
    claims_import: ClaimImportService
    #: Member and region listings (CLI; a chat command must authorize first).
    directory: MemberDirectory
    #: Invites for a whole file of codenames, all or none.
    invite_batch: InviteBatchService
    #: The one sender of outbox rows, as a lifecycle: started and stopped by ``handlers.jobs``.
    sending: SenderLifecycle
    #: Queue health and dead letters for administrators (``chaski outbox``).
    outbox_admin: OutboxAdmin
    #: Safety alerts: compose, approve, fan out, escalate approvals (M-14, R-01).
    alerts: AlertService
    #: After an alert is sent: answers, help requests, who answered, the all clear (#12.5).
    alert_responses: AlertResponses
    #: The sender's live counts of sent alerts and when a held alert leaves.
    alert_tallies: AlertTallies
    #: PINs, PIN sessions, lockout, duress decoy (M-05, M-13b); commands declare their PIN
    #: rule with their roles and ``pin.admit`` decides; privileged services re-check with
    #: ``pin.require_session(member)``.
    pin: PinService
    #: Panic wipe, remote unlink, inbound limits and update idempotency (M-06, M-13, R-09).
    safety: SafetyService
    #: Nightly purge of everything past its retention (M-15).
    retention: RetentionService
    #: Block/unblock notices from Telegram (R-06) and the audit of leaving groups (T-08).
    membership: MembershipService
    #: Pages the administrators when Telegram hands this bot's updates elsewhere (A7, T-44).
    intake: IntakeAlarm
    #: The running bot's sign of life for ``chaski status`` (written by a job).
    heartbeat: HeartbeatService
    #: Operations and claim changes by staff: status, payments, next step (issue #16).
    claims_admin: ClaimAdminService
    #: Reading and checking the keyed audit chain (``chaski audit``, M-16).
    audit_admin: AuditAdmin
    #: Claims export and the operations report for administrators (#16.6).
    oversight: OversightService
    #: Administrators managing members, invites and regions (``chaski members`` …, #16.3).
    registrations: RegistrationAdmin
    #: Reminders, check-ins and digests stored as schedules, fired by one tick (issue #15).
    schedules: ScheduleService
    #: Sent check-ins: answers, help taken by a coordinator, missed windows (issue #15).
    checkins: CheckinService
