"""One or more sample of every notice kind, for tests that must cover them all.

``tests/handlers/test_notices.py`` renders each in Spanish and Quechua and
``tests/security/test_pin_sessions_deletion.py`` (T-22) checks what each may show; both fail
when a kind of ``bot.domain.notices.RENDERED_TYPES`` has no sample here, so a new kind
cannot skip them.
"""

from __future__ import annotations

from bot.domain.alerts import TEMPLATES, AlertContent, AlertTally, RejectReason, Severity
from bot.domain.notices import (
    AlertAllClear,
    AlertSent,
    AlertTallyChanged,
    AmountApprovalNeeded,
    AmountDecided,
    AmountOutcome,
    ApprovalDecided,
    ApprovalEscalated,
    ApprovalNeeded,
    Checkin,
    CheckinHelp,
    CheckinHelpAcked,
    CheckinLate,
    CheckinMissed,
    ClaimUpdated,
    Decision,
    Digest,
    DuressPinUsed,
    HelpAcked,
    HelpRequested,
    HelpSeen,
    IntakeConflict,
    MemberBlocked,
    MemberUnlinked,
    News,
    Notice,
    PinLocked,
    RegistrationsFailing,
    Reminder,
    StaffDenials,
)

#: Values of a template alert's placeholders.
_VALUES = {"place": "Pichari", "time": "18:00"}


def notice_samples(
    codename: str = "Cóndor-7", by: str = "Atoq-3"
) -> dict[type[Notice], list[tuple[str, Notice]]]:
    """``{kind: [(variant, notice), …]}`` for every rendered kind; staff notices name
    ``codename`` (and ``by``) wherever they name someone."""
    tally = AlertTally(total=3, queued=1, sent=2, safe=1)
    alerts: list[tuple[str, Notice]] = [
        (
            f"{key}-{severity}",
            AlertSent(
                42,
                severity,
                AlertContent(
                    template=key,
                    params={name: _VALUES[name] for name in TEMPLATES[key].placeholders},
                ),
            ),
        )
        for key in TEMPLATES
        for severity in Severity
    ]
    alerts.append(
        (
            "free-text",
            AlertSent(
                42,
                Severity.URGENT,
                AlertContent(text_es="Quédate en casa.", text_qu="Wasiykipi kay."),
            ),
        )
    )
    return {
        News: [("sample", News())],
        MemberBlocked: [("sample", MemberBlocked(codename))],
        DuressPinUsed: [("sample", DuressPinUsed(codename))],
        MemberUnlinked: [("sample", MemberUnlinked(codename))],
        PinLocked: [("sample", PinLocked(codename))],
        RegistrationsFailing: [("sample", RegistrationsFailing())],
        StaffDenials: [("sample", StaffDenials(codename))],
        IntakeConflict: [("sample", IntakeConflict())],
        ClaimUpdated: [
            ("one", ClaimUpdated(((5, 2),))),
            ("several", ClaimUpdated(((5, 2), (9, 4)))),
        ],
        AmountApprovalNeeded: [("sample", AmountApprovalNeeded())],
        AmountDecided: [
            ("approved", AmountDecided(AmountOutcome.APPROVED)),
            ("rejected", AmountDecided(AmountOutcome.REJECTED)),
            ("stale", AmountDecided(AmountOutcome.STALE)),
        ],
        AlertSent: alerts,
        AlertTallyChanged: [
            ("asks", AlertTallyChanged(42, 99, Severity.URGENT, tally)),
            ("info-planned", AlertTallyChanged(42, 99, Severity.INFO, tally, planned="06:00")),
        ],
        HelpRequested: [
            ("one", HelpRequested(42, ((7, codename),))),
            ("several", HelpRequested(42, ((7, codename), (8, f"{codename}-bis")))),
        ],
        HelpAcked: [("sample", HelpAcked(7, codename, by))],
        ApprovalNeeded: [("sample", ApprovalNeeded(42))],
        ApprovalEscalated: [("sample", ApprovalEscalated(42, 6))],
        ApprovalDecided: [
            ("approved", ApprovalDecided(42, codename, Decision.APPROVED, 3)),
            (
                "rejected",
                ApprovalDecided(42, codename, Decision.REJECTED, 3, RejectReason.DETAILS),
            ),
        ],
        AlertAllClear: [
            ("loud", AlertAllClear(42)),
            ("silent", AlertAllClear(42, silent=True)),
        ],
        HelpSeen: [("sample", HelpSeen(42))],
        Reminder: [
            ("sample", Reminder(3, 5, topic="payment", event="2026-03-14T19:00:00-05:00")),
        ],
        Checkin: [("sample", Checkin(3, 5))],
        CheckinHelp: [
            ("one", CheckinHelp(5, ((7, codename),))),
            ("several", CheckinHelp(5, ((7, codename), (8, f"{codename}-bis")))),
        ],
        CheckinHelpAcked: [("sample", CheckinHelpAcked(codename, by))],
        CheckinMissed: [
            ("missing", CheckinMissed(5, 3, (codename,), ())),
            ("unreachable", CheckinMissed(5, 3, (), (codename,))),
            ("both", CheckinMissed(5, 3, (codename,), (f"{codename}-bis",))),
        ],
        CheckinLate: [("sample", CheckinLate(5, codename))],
        # The digest names claim references (a staff reader's own regions) and codenames.
        Digest: [
            ("help-only", Digest((), 0, (), 0, 30, 0, (codename,), 1, (), 0, (), 0)),
            (
                "full",
                Digest(
                    (("R-2016-0007", 3),),
                    12,
                    (("R-2016-0008", 40),),
                    1,
                    30,
                    2,
                    (codename,),
                    1,
                    (codename,),
                    1,
                    (codename,),
                    11,
                ),
            ),
        ],
    }
