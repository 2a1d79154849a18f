"""The renderer table: how every notice kind (``bot.domain.notices``) looks in a chat.

One explicit row per kind, built here and handed to the outbox's notifier at start-up
(``handlers.jobs.start_outbox``); the notifier refuses a table that misses a kind, and
``tests/handlers/test_notices.py`` renders every kind in Spanish and Quechua. Nothing
registers itself at import time: this file is the one place to look. Adding a kind:
docs/architecture.md §4.1.
"""

from __future__ import annotations

import gettext

from bot.domain.models import Lang
from bot.domain.notices import (
    AlertAllClear,
    AlertSent,
    AlertTallyChanged,
    AmountApprovalNeeded,
    AmountDecided,
    ApprovalDecided,
    ApprovalEscalated,
    ApprovalNeeded,
    Checkin,
    CheckinHelp,
    CheckinHelpAcked,
    CheckinLate,
    CheckinMissed,
    ClaimUpdated,
    Digest,
    DuressPinUsed,
    HelpAcked,
    HelpRequested,
    HelpSeen,
    IntakeConflict,
    MemberBlocked,
    MemberUnlinked,
    News,
    PinLocked,
    RegistrationsFailing,
    Reminder,
    StaffDenials,
)
from handlers import claims, claims_admin_views, membership, panic
from handlers import schedules_render as schedules
from handlers.alerts import renderers as alerts
from handlers.notifier import Rendered, RendererTable, renders


def render_news(t: gettext.NullTranslations, lang: Lang, notice: News) -> Rendered:
    """A content-free nudge: safe on a lock screen or a seized phone (M-02, T-22)."""
    del lang, notice
    # Translators: aviso que se ve en la pantalla bloqueada: nada que delate recompensas,
    # policía ni montos.
    return Rendered(t.gettext("Tienes una novedad. Escribe /menu."))


def renderer_table() -> RendererTable:
    """Every notice type with its renderer (deletions are performed, not rendered)."""
    return RendererTable(
        [
            renders(News, render_news),
            # Membership and the administrators' alarms (R-06, T-06, T-11, A7).
            renders(MemberBlocked, membership.render_member_blocked),
            renders(RegistrationsFailing, membership.render_invite_alarm),
            renders(StaffDenials, membership.render_denials),
            renders(IntakeConflict, membership.render_intake_conflict),
            # Notes to coordinators about a member's safety (M-05, M-13).
            renders(DuressPinUsed, panic.render_coercion),
            renders(MemberUnlinked, panic.render_unlinked),
            renders(PinLocked, panic.render_pin_locked),
            # Claims changed by staff (issue #16).
            renders(ClaimUpdated, claims.render_claim_news),
            renders(AmountApprovalNeeded, claims_admin_views.render_amount_approval),
            renders(AmountDecided, claims_admin_views.render_amount_decided),
            # Safety alerts (issue #12).
            renders(AlertSent, alerts.render_alert),
            renders(AlertTallyChanged, alerts.render_tally),
            renders(HelpRequested, alerts.render_help),
            renders(HelpAcked, alerts.render_help_acked),
            renders(ApprovalNeeded, alerts.render_approval_needed),
            renders(ApprovalEscalated, alerts.render_approval_escalated),
            renders(ApprovalDecided, alerts.render_approval_decided),
            renders(AlertAllClear, alerts.render_all_clear),
            renders(HelpSeen, alerts.render_help_reach),
            # Schedules: reminders, check-ins and the daily digest (issue #15).
            renders(Reminder, schedules.render_reminder),
            renders(Checkin, schedules.render_checkin),
            renders(CheckinHelp, schedules.render_checkin_help),
            renders(CheckinHelpAcked, schedules.render_checkin_help_acked),
            renders(CheckinMissed, schedules.render_checkin_missed),
            renders(CheckinLate, schedules.render_checkin_late),
            renders(Digest, schedules.render_digest),
        ]
    )
