"""docs/security-tests.md §4.2, PIN, sessions, duress, deletion: T-22 over every outbox template.

T-15..T-21 are proved elsewhere (docs/security-tests.md). T-22 asks that reminder and alert
templates, in Spanish and Quechua, carry no amount, operation reference, pseudonym or banned
word, so a lock-screen preview or a seized phone shows nothing meaningful. Every template
registered with ``handlers.notifier`` is rendered here in both languages with parameters full
of sentinel values; a new template must be classified below or this module fails.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence

import pytest

import handlers  # noqa: F401 - importing the features registers their outbox templates
from bot.domain.alerts import TEMPLATES
from bot.domain.models import Lang
from bot.i18n import Catalogs
from handlers.alerts import TEMPLATE_TEXT
from handlers.notifier import render, template_names

CODENAME = "Kuntur-Sentinela"
REFERENCE = "EXP-2024-77777"
OPERATION = "Operativo Halcon Sentinela"
AMOUNT_CENTS = "123456789"

#: Templates whose recipient may be an informant: nothing identifying, ever. The alert's
#: all clear and the "a coordinator saw your request" note are fixed texts (issue #12.5).
#: A reminder and a check-in (issue #15) are fixed texts too.
INFORMANT_TEMPLATES = frozenset(
    {"news", "alert", "alert_all_clear", "alert_help_reach", "reminder", "checkin"}
)
#: Templates that go only to coordinators and administrators (``Role`` checked by the
#: services that enqueue them). They name the member by codename on purpose: a coordinator
#: has to know *who* asked for help, blocked the bot, used the duress PIN or was unlinked
#: (and an administrator which coordinator keeps reaching outside their regions, T-11),
#: and the codename is the only name the system has (never a Telegram id, M-04). They still
#: carry no amount, reference or banned word.
STAFF_CODENAME_TEMPLATES = frozenset(
    {
        "alert_help",
        "alert_help_acked",
        "alert_approval_decided",
        "member_blocked",
        "safety_coercion",
        "safety_unlinked",
        "safety_pin_locked",
        "staff_denials",
        "checkin_help",
        "checkin_late",
        "checkin_missed",
        "checkin_help_acked",
    }
)
#: Staff templates without any name at all (counts, a neutral nudge, the T-06 alarm, the
#: A7 alarm that Telegram hands the bot's updates elsewhere).
STAFF_NEUTRAL_TEMPLATES = frozenset(
    {
        "alert_tally",
        "alert_approval_needed",
        "alert_approval_escalated",
        "invite_alarm",
        "intake_conflict",
        # The coordinators' daily digest (issue #15.3): with these sample values it names
        # nobody; it lists claim references and codenames of the reader's regions only,
        # arrives silently and leaves the chat after 12 hours.
        "digest",
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

SAMPLE: Mapping[str, str] = {
    "codename": CODENAME,
    "by": "Atoq-Sentinela",
    "reference": REFERENCE,
    "operation": OPERATION,
    "amount": AMOUNT_CENTS,
    "promised_cents": AMOUNT_CENTS,
    "alert": "42",
    "help": "7",
    "message_id": "99",
    "severity": "urgent",
    "p_place": "Pichari",
    "p_time": "18:00",
    "text_es": "Quédate en casa.",
    "text_qu": "Wasiykipi kay.",
    "total": "3",
    "sent": "2",
    "queued": "1",
    "occurrence": "5",
    "missing": json.dumps([CODENAME]),
}


def _plain(text: str) -> str:
    """Lower case, accents removed, tags dropped: what a reader of the preview sees."""
    text = re.sub(r"<[^>]+>", " ", text)
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _renders(template: str) -> list[tuple[Lang, str, str]]:
    """(language, variant, rendered text) for every variant of ``template``."""
    catalogs = Catalogs.load(drafts=True)
    variants: Sequence[tuple[str, Mapping[str, str]]] = [("sample", SAMPLE)]
    if template == "alert":
        variants = [
            (f"{key}-{severity}", {**SAMPLE, "template": key, "severity": severity})
            for key in TEMPLATES
            for severity in ("info", "warning", "urgent")
        ] + [("free-text", {**SAMPLE, "template": ""})]
    return [
        (lang, name, render(catalogs, lang, template, params).text)
        for lang in Lang
        for name, params in variants
    ]


def test_every_registered_template_is_classified() -> None:
    known = INFORMANT_TEMPLATES | STAFF_CODENAME_TEMPLATES | STAFF_NEUTRAL_TEMPLATES
    assert template_names() == known


@pytest.mark.parametrize("template", sorted(template_names()))
def test_t22_no_amount_reference_operation_or_banned_word(template: str) -> None:
    for lang, variant, text in _renders(template):
        plain = _plain(text)
        where = f"{template}/{lang}/{variant}"
        assert REFERENCE.lower() not in plain, where
        assert _plain(OPERATION) not in plain, where
        assert AMOUNT_CENTS not in plain, where
        assert "s/" not in plain, where  # no sum of money in any format
        found = [word for word in BANNED if re.search(rf"\b{word}", plain)]
        assert found == [], where


@pytest.mark.parametrize("template", sorted(template_names()))
def test_t22_only_staff_templates_name_a_codename(template: str) -> None:
    named = {(lang, variant): CODENAME in text for lang, variant, text in _renders(template)}
    if template in STAFF_CODENAME_TEMPLATES:
        assert all(named.values()), named  # the coordinator must know who
    else:
        assert not any(named.values()), named


def test_t22_the_reminder_nudge_is_meaningless_on_a_lock_screen() -> None:
    for lang, _, text in _renders("news"):
        assert "/menu" in text
        assert len(text) <= 60, lang  # one short line, nothing to read into


def test_t22_shipped_alert_texts_contain_no_banned_word() -> None:
    catalogs = Catalogs.load(drafts=True)
    for key, msgid in TEMPLATE_TEXT.items():
        for lang in Lang:
            plain = _plain(catalogs.for_lang(lang).gettext(msgid))
            assert [w for w in BANNED if re.search(rf"\b{w}", plain)] == [], (key, lang)
