"""The Quechua release gate at run time (issue #17.1, #17.2).

Drafts off (production's default): a Quechua member gets only signed-off Quechua and Spanish for
everything else. Drafts on (development, tests, an operator's explicit decision): drafts are
served, and unreviewed safety texts carry the Spanish alongside. The alert's question, header,
answer buttons and the severity names carry the Spanish in every state.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from bot.domain.models import ClaimStatus, Lang
from bot.i18n import LOCALES_DIR, Catalogs, po_path
from bot.i18n_check import WIDTH, source_hash
from bot.root.app import log_quechua_release
from handlers.registration import language_prompt
from handlers.render import status_label
from tests.conftest import RunningBot, seed_invite, seed_region

QUESTION = "¿Estás a salvo? Responde con un botón."
QUESTION_QU = "Allinllachu kachkanki? Huk botonta ñitiy."
NOTIFIED = "Tu coordinador fue avisado."
NOTIFIED_QU = "Coordinadorniykiman willasqañam."
MENU = "Elige una opción del menú."
MENU_QU = "Menúmanta huk botonta akllay."
WRONG_PIN = ("PIN incorrecto. Te queda {n} intento.", "PIN incorrecto. Te quedan {n} intentos.")
PAID = ("estado de reclamo", "Pagado")


def _locales(tmp_path: Path, signed: dict[tuple[str | None, str], str] | None = None) -> Path:
    """A copy of the shipped catalogs; ``signed`` entries get the given review mark."""
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, locales)
    path = po_path(locales, Lang.QU)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="qu")
    for message in catalog:
        msgid = message.id[0] if isinstance(message.id, (list, tuple)) else message.id
        mark = (signed or {}).get((message.context, msgid))
        if message.id and mark is not None:
            message.user_comments = [f"review: {mark}"]
    with path.open("wb") as handle:
        write_po(handle, catalog, width=WIDTH)
    return locales


def _everything_signed(tmp_path: Path) -> Path:
    with po_path(LOCALES_DIR, Lang.QU).open("rb") as handle:
        catalog = read_po(handle, locale="qu")
    keys = {
        (m.context, m.id[0] if isinstance(m.id, (list, tuple)) else m.id): "ok AB 2026-12-01"
        for m in catalog
        if m.id
    }
    return _locales(tmp_path, keys)


# ---------------------------------------------------------------------- drafts off


def test_drafts_are_off_unless_asked_for() -> None:
    assert Catalogs.load().quechua.drafts is False


def test_drafts_off_a_quechua_member_sees_spanish_for_every_unreviewed_text() -> None:
    catalogs = Catalogs.load(drafts=False)
    qu = catalogs.for_lang(Lang.QU)
    assert qu.gettext(MENU) == MENU
    assert qu.gettext(NOTIFIED) == NOTIFIED
    assert qu.ngettext(*WRONG_PIN, 2) == "PIN incorrecto. Te quedan {n} intentos."
    # Always-bilingual entries do not repeat the Spanish when the Quechua is not served.
    assert qu.gettext(QUESTION) == QUESTION
    assert qu.pgettext("botón", "Estoy bien") == "Estoy bien"
    assert status_label(qu, ClaimStatus.PAID) == "Pagado"
    release = catalogs.quechua
    assert (release.reviewed, release.unreviewed) == (0, release.total)


def test_drafts_off_serves_the_entries_signed_off_and_spanish_for_the_rest(
    tmp_path: Path,
) -> None:
    locales = _locales(
        tmp_path,
        {
            (None, MENU): "ok AB 2026-12-01",
            PAID: f"ok AB 2026-12-01 src={source_hash(PAID[1], context=PAID[0])}",
            (None, QUESTION): "ok AB 2026-12-01",
            (None, NOTIFIED): "draft",
        },
    )
    catalogs = Catalogs.load(locales, drafts=False)
    qu = catalogs.for_lang(Lang.QU)
    assert qu.gettext(MENU) == MENU_QU
    # A signed-off safety text is Quechua alone; an unreviewed one stays Spanish.
    assert status_label(qu, ClaimStatus.PAID) == "Pagasqañam"
    assert status_label(qu, ClaimStatus.APPROVED) == "Aprobado"
    assert qu.gettext(NOTIFIED) == NOTIFIED
    # The alert's question carries the Spanish under the reviewed Quechua, always.
    assert qu.gettext(QUESTION) == f"{QUESTION_QU}\n{QUESTION}"
    assert catalogs.quechua.reviewed == 3


def test_a_stale_sign_off_is_not_served(tmp_path: Path) -> None:
    locales = _locales(tmp_path, {(None, MENU): "ok AB 2026-12-01 src=00000000"})
    assert Catalogs.load(locales).for_lang(Lang.QU).gettext(MENU) == MENU


def test_an_entry_with_two_marks_is_not_served_as_reviewed(tmp_path: Path) -> None:
    locales = _locales(tmp_path)
    path = po_path(locales, Lang.QU)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="qu")
    entry = catalog.get(MENU)
    assert entry is not None
    entry.user_comments = ["review: ok AB 2026-12-01", "review: draft"]
    with path.open("wb") as handle:
        write_po(handle, catalog, width=WIDTH)
    assert Catalogs.load(locales).for_lang(Lang.QU).gettext(MENU) == MENU


def test_fully_reviewed_quechua_is_served_alone_except_the_alert_prompts(
    tmp_path: Path,
) -> None:
    catalogs = Catalogs.load(_everything_signed(tmp_path), drafts=False)
    qu = catalogs.for_lang(Lang.QU)
    assert qu.gettext(NOTIFIED) == NOTIFIED_QU
    assert status_label(qu, ClaimStatus.PAID) == "Pagasqañam"
    assert qu.pgettext("botón", "Necesito ayuda") == "Yanapaway! / Necesito ayuda"
    assert catalogs.quechua.unreviewed == 0
    assert catalogs.quechua.describe() == (
        f"Quechua: all {catalogs.quechua.total} texts are reviewed and served."
    )
    # Nothing left to warn about: the picker only asks.
    assert language_prompt(catalogs) == "Simiykita akllay.\nElige tu idioma."


# ---------------------------------------------------------------------- drafts on


def test_drafts_on_serves_drafts_and_unreviewed_safety_texts_with_the_spanish() -> None:
    catalogs = Catalogs.load(drafts=True)
    qu = catalogs.for_lang(Lang.QU)
    assert qu.gettext(MENU) == MENU_QU  # not safety-critical: Quechua alone
    assert qu.gettext(NOTIFIED) == f"{NOTIFIED_QU}\n{NOTIFIED}"
    assert status_label(qu, ClaimStatus.PAYMENT_SCHEDULED).endswith(" / Pago programado")
    # A plural safety text gets the Spanish form for the same number.
    assert qu.ngettext(*WRONG_PIN, 3).endswith("\nPIN incorrecto. Te quedan {n} intentos.")
    assert qu.ngettext(*WRONG_PIN, 1).endswith("\nPIN incorrecto. Te queda {n} intento.")
    assert qu.npgettext("x", "uno", "varios", 2) == "varios"  # unknown: plain fallback
    # Spanish members never see Quechua.
    assert catalogs.for_lang(Lang.ES).gettext(NOTIFIED) == NOTIFIED


def test_drafts_on_a_signed_off_safety_text_drops_the_spanish(tmp_path: Path) -> None:
    locales = _locales(tmp_path, {(None, NOTIFIED): "ok AB 2026-12-01"})
    qu = Catalogs.load(locales, drafts=True).for_lang(Lang.QU)
    assert qu.gettext(NOTIFIED) == NOTIFIED_QU


# ---------------------------------------------------------------------- what people are told


def test_the_language_picker_says_what_choosing_runasimi_gives() -> None:
    drafts = language_prompt(Catalogs.load(drafts=True))
    assert drafts.startswith("Simiykita akllay.\nElige tu idioma.\n\n")
    assert "Runasimi: textos en borrador, aún sin revisar por un hablante nativo." in drafts
    gated = language_prompt(Catalogs.load(drafts=False))
    assert gated == (
        "Elige tu idioma.\n\nRunasimi: lo que aún no está revisado se muestra en español."
    )


def test_the_start_log_names_the_operator_decision(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.root.app"):
        log_quechua_release(Catalogs.load(drafts=True))
        log_quechua_release(Catalogs.load(drafts=False))
    [on, off] = caplog.records
    assert on.levelno == logging.WARNING
    assert "CHASKI_QUECHUA_DRAFTS=on" in on.getMessage()
    assert off.levelno == logging.INFO
    assert "Quechua members see the other" in off.getMessage()


# ---------------------------------------------------------------------- end to end


@pytest.mark.parametrize("running_bot", [False], indirect=True)
async def test_with_drafts_off_a_quechua_member_is_told_and_served_spanish(
    running_bot: RunningBot,
) -> None:
    bot = running_bot
    await seed_region(bot.services)
    code = await seed_invite(bot.services, "Puma")
    bot.fake.push_message(601, f"/start {code}")
    await bot.settle()
    assert bot.fake.texts(601) == [
        "Elige tu idioma.\n\nRunasimi: lo que aún no está revisado se muestra en español."
    ]
    bot.fake.push_callback(601, "lang:set:qu", message_id=bot.last_message_id(601))
    await bot.settle()
    member = await bot.services.registration.identify(601)
    assert member is not None
    assert member.lang is Lang.QU
    # Nothing is signed off yet: the greeting and the menu are the Spanish ones.
    assert bot.fake.texts(601)[-1] == (
        "¡Hola! Ya puedes usar el menú: toca uno de los botones de abajo.\n\n"
        "Te recomendamos crear un PIN con /pin: así, si alguien toma tu teléfono, no podrá ver"
        " tus reclamos."
    )
    keyboard = bot.fake.sent(601)[-1].params["reply_markup"]["keyboard"]
    assert [b["text"] for row in keyboard for b in row] == ["Mis trámites", "Cómo usar", "Idioma"]
