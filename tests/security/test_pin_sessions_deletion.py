"""docs/security-tests.md §4.2, PIN, sessions, duress, deletion: T-22 over every outbox notice.

T-15..T-21 are proved elsewhere (docs/security-tests.md). T-22 asks that reminder and alert
templates, in Spanish and Quechua, carry no amount, operation reference, pseudonym or banned
word, so a lock-screen preview or a seized phone shows nothing meaningful. Every notice kind
of ``bot.domain.notices`` is rendered here, through the renderer table the bot starts with,
in both languages with sentinel values wherever a notice carries a name; a new kind must be
classified below (and sampled in ``tests/fakes/notices.py``) or this module fails. Amounts,
references and operations cannot reach a notice at all: no notice type has such a field,
but for the staff-only daily digest (issue #15.3), which lists the reader's own overdue and
stalled claims by reference, by design.
"""

from __future__ import annotations

import re
import unicodedata

import pytest

from bot.domain.models import Lang
from bot.domain.notices import (
    RENDERED_TYPES,
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
    Notice,
    PinLocked,
    RegistrationsFailing,
    Reminder,
    StaffDenials,
)
from bot.i18n import Catalogs
from handlers.alerts.renderers import TEMPLATE_TEXT
from handlers.notices import renderer_table
from tests.fakes.notices import notice_samples

CODENAME = "Kuntur-Sentinela"
REFERENCE = "EXP-2024-77777"
OPERATION = "Operativo Halcon Sentinela"
AMOUNT_CENTS = "123456789"

#: Notices whose recipient may be an informant: nothing identifying, ever. The alert's
#: all clear, the "a coordinator saw your request" note (issue #12.5) and the push after a
#: claim changed (issue #16.4) are fixed texts. A reminder and a check-in (issue #15) are
#: fixed texts too.
INFORMANT_NOTICES: frozenset[type[Notice]] = frozenset(
    {News, ClaimUpdated, AlertSent, AlertAllClear, HelpSeen, Reminder, Checkin}
)
#: Notices that go only to coordinators and administrators (``Role`` checked by the
#: services that enqueue them). They name the member by codename on purpose: a coordinator
#: has to know *who* asked for help, blocked the bot, used the duress PIN or was unlinked
#: (and an administrator which coordinator keeps reaching outside their regions, T-11),
#: and the codename is the only name the system has (never a Telegram id, M-04). They still
#: carry no amount, reference or banned word.
STAFF_CODENAME_NOTICES: frozenset[type[Notice]] = frozenset(
    {
        HelpRequested,
        HelpAcked,
        ApprovalDecided,
        MemberBlocked,
        DuressPinUsed,
        MemberUnlinked,
        PinLocked,
        StaffDenials,
        CheckinHelp,
        CheckinHelpAcked,
        CheckinMissed,
        CheckinLate,
        # The coordinators' daily digest (issue #15.3): codenames and claim references of
        # the reader's regions only; it arrives silently and leaves the chat after 12 hours.
        Digest,
    }
)
#: Staff notices without any name at all (counts, a neutral nudge, the T-06 alarm, the
#: A7 alarm that Telegram hands the bot's updates elsewhere).
STAFF_NEUTRAL_NOTICES: frozenset[type[Notice]] = frozenset(
    {
        AlertTallyChanged,
        ApprovalNeeded,
        ApprovalEscalated,
        RegistrationsFailing,
        IntakeConflict,
        AmountApprovalNeeded,
        AmountDecided,
    }
)

#: Words that would tell a reader what the bot is for (M-02), in their accent-free form.
BANNED = (
    "policia",
    "pnp",
    "informante",
    "recompensa",
    "denuncia",
    "soplon",
    "delator",
    "colaborador",
    "dinero",
    "soles",
    "monto",
    "pago",
    "expediente",
    "operativo",
)

SAMPLES = notice_samples(codename=CODENAME, by="Atoq-Sentinela")


def _plain(text: str) -> str:
    """Lower case, accents removed, tags dropped: what a reader of the preview sees."""
    text = re.sub(r"<[^>]+>", " ", text)
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _renders(kind: type[Notice]) -> list[tuple[Lang, str, str]]:
    """(language, variant, rendered text) for every sample of ``kind``."""
    catalogs = Catalogs.load(drafts=True)
    table = renderer_table()
    return [
        (lang, name, table.render(catalogs, lang, notice).text)
        for lang in Lang
        for name, notice in SAMPLES[kind]
    ]


def _name(kind: type[Notice]) -> str:
    return kind.__name__


def test_every_notice_kind_is_classified_and_sampled() -> None:
    known = INFORMANT_NOTICES | STAFF_CODENAME_NOTICES | STAFF_NEUTRAL_NOTICES
    assert known == set(RENDERED_TYPES)
    assert set(SAMPLES) == set(RENDERED_TYPES)


@pytest.mark.parametrize("kind", RENDERED_TYPES, ids=_name)
def test_t22_no_amount_reference_operation_or_banned_word(kind: type[Notice]) -> None:
    for lang, variant, text in _renders(kind):
        plain = _plain(text)
        where = f"{kind.__name__}/{lang}/{variant}"
        assert REFERENCE.lower() not in plain, where
        assert _plain(OPERATION) not in plain, where
        assert AMOUNT_CENTS not in plain, where
        assert "s/" not in plain, where  # no sum of money in any format
        found = [word for word in BANNED if re.search(rf"\b{word}", plain)]
        assert found == [], where


@pytest.mark.parametrize("kind", RENDERED_TYPES, ids=_name)
def test_t22_only_staff_notices_name_a_codename(kind: type[Notice]) -> None:
    named = {(lang, variant): CODENAME in text for lang, variant, text in _renders(kind)}
    if kind in STAFF_CODENAME_NOTICES:
        assert all(named.values()), named  # the coordinator must know who
    else:
        assert not any(named.values()), named


def test_t22_the_reminder_nudge_is_meaningless_on_a_lock_screen() -> None:
    for lang, _, text in _renders(News):
        assert "/menu" in text
        assert len(text) <= 60, lang  # one short line, nothing to read into


def test_t22_shipped_alert_texts_contain_no_banned_word() -> None:
    catalogs = Catalogs.load(drafts=True)
    for key, msgid in TEMPLATE_TEXT.items():
        for lang in Lang:
            plain = _plain(catalogs.for_lang(lang).gettext(msgid))
            assert [w for w in BANNED if re.search(rf"\b{w}", plain)] == [], (key, lang)
