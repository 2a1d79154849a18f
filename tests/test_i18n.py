"""Runtime i18n: the qu → es → msgid fallback chain, Babel formatting and explicit languages."""

from __future__ import annotations

import gettext
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.models import Lang
from bot.i18n import (
    FORMAT_LOCALE,
    LOCALES_DIR,
    N_,
    Catalogs,
    format_date,
    format_datetime,
    format_money,
    parse_lang,
    po_path,
)
from bot.i18n_check import PLURAL_FORMS

LIMA = ZoneInfo("America/Lima")

PLURAL = ("Tienes {n} solicitud pendiente.", "Tienes {n} solicitudes pendientes.")
SPANISH_ONLY = "Texto de prueba"
SPANISH_ONLY_ES = "Texto de prueba (es.po)"


def _write_catalog(locales: Path, lang: Lang, catalog: Catalog) -> None:
    catalog.mime_headers = [("Plural-Forms", PLURAL_FORMS[lang])]
    path = po_path(locales, lang)
    path.parent.mkdir(parents=True)
    with path.open("wb") as handle:
        write_po(handle, catalog)


@pytest.fixture
def catalogs(tmp_path: Path) -> Catalogs:
    """A small locales tree: some qu entries translated, others empty or fuzzy."""
    spanish = Catalog(locale="es")
    spanish.add("Hola {name}", "Hola {name}")
    spanish.add("Pendiente", "Pendiente", context="estado de reclamo")
    spanish.add(SPANISH_ONLY, SPANISH_ONLY_ES)
    spanish.add("Cambiado", "Cambiado")
    spanish.add(PLURAL, (PLURAL[0], PLURAL[1], PLURAL[1]))
    spanish.add(("Un día", "{n} días"), ("Un día", "{n} días", "{n} días"), context="plazo")
    _write_catalog(tmp_path, Lang.ES, spanish)

    quechua = Catalog(locale="qu")
    quechua.add("Hola {name}", "Rimaykullayki {name}", user_comments=["review: draft"])
    quechua.add("Pendiente", "Suyachkan", context="estado de reclamo")
    quechua.add(SPANISH_ONLY, "")
    quechua.add("Cambiado", "Mana allinchu", flags=["fuzzy"])
    quechua.add(PLURAL, ("",))
    quechua.add(("Un día", "{n} días"), ("{n} punchaw",), context="plazo")
    _write_catalog(tmp_path, Lang.QU, quechua)
    return Catalogs.load(tmp_path, drafts=True)


def test_quechua_entries_are_translated(catalogs: Catalogs) -> None:
    t = catalogs.for_lang(Lang.QU)
    assert t.gettext("Hola {name}").format(name="Rosa") == "Rimaykullayki Rosa"
    assert t.pgettext("estado de reclamo", "Pendiente") == "Suyachkan"
    assert t.npgettext("plazo", "Un día", "{n} días", 1) == "{n} punchaw"
    assert t.npgettext("plazo", "Un día", "{n} días", 7) == "{n} punchaw"


def test_empty_quechua_entry_falls_back_to_the_spanish_catalog(catalogs: Catalogs) -> None:
    assert catalogs.for_lang(Lang.QU).gettext(SPANISH_ONLY) == SPANISH_ONLY_ES


def test_fuzzy_quechua_entry_falls_back_to_spanish(catalogs: Catalogs) -> None:
    assert catalogs.for_lang(Lang.QU).gettext("Cambiado") == "Cambiado"


def test_empty_quechua_plural_falls_back_to_spanish_plural_forms(catalogs: Catalogs) -> None:
    t = catalogs.for_lang(Lang.QU)
    assert t.ngettext(*PLURAL, 1) == PLURAL[0]
    assert t.ngettext(*PLURAL, 5) == PLURAL[1]


def test_unknown_message_falls_back_to_the_msgid(catalogs: Catalogs) -> None:
    assert catalogs.for_lang(Lang.QU).gettext("No existe") == "No existe"
    assert catalogs.for_lang(Lang.ES).pgettext("botón", "Volver") == "Volver"


def test_spanish_uses_three_plural_forms(catalogs: Catalogs) -> None:
    t = catalogs.for_lang(Lang.ES)
    assert t.ngettext(*PLURAL, 1) == PLURAL[0]
    assert t.ngettext(*PLURAL, 2) == PLURAL[1]
    assert t.ngettext(*PLURAL, 1_000_000) == PLURAL[1]
    assert t.npgettext("plazo", "Un día", "{n} días", 1) == "Un día"


def test_languages_are_independent(catalogs: Catalogs) -> None:
    assert catalogs.for_lang(Lang.ES).gettext("Hola {name}") == "Hola {name}"
    assert catalogs.for_lang(Lang.QU).gettext("Hola {name}") == "Rimaykullayki {name}"


def test_shipped_catalogs_load_from_the_package() -> None:
    loaded = Catalogs.load(drafts=True)
    assert LOCALES_DIR.joinpath("messages.pot").is_file()
    for lang in Lang:
        assert isinstance(loaded.for_lang(lang), gettext.GNUTranslations)


def test_n_marker_returns_the_message_unchanged() -> None:
    assert N_("Yanapa") == "Yanapa"


@pytest.mark.parametrize("lang", list(Lang))
def test_money_is_formatted_in_soles(lang: Lang) -> None:
    assert format_money(200_000_000, lang) == "S/\xa02,000,000"  # whole soles: no .00
    assert format_money(15_050, lang) == "S/\xa0150.50"
    assert format_money(5, lang) == "S/\xa00.05"
    assert format_money(0, lang) == "S/\xa00"


@pytest.mark.parametrize("lang", list(Lang))
def test_dates_read_the_same_in_both_languages(lang: Lang) -> None:
    """Day first, four-digit year: CLDR's short forms were 3/09/25 (es_PE), 3/9/25 (qu_PE)."""
    assert format_date(date(2025, 9, 3), lang) == "03/09/2025"
    assert format_date(date(2025, 12, 14), lang) == "14/12/2025"


@pytest.mark.parametrize("lang", list(Lang))
def test_datetimes_are_shown_in_lima_time(lang: Lang) -> None:
    shown = format_datetime(datetime(2025, 3, 14, 20, 5, tzinfo=UTC), lang, LIMA)
    assert shown == "14/03/2025 15:05"


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_datetime(datetime(2025, 3, 14, 20, 5), Lang.ES, LIMA)  # noqa: DTZ001


def test_format_locales_are_peruvian() -> None:
    assert dict(FORMAT_LOCALE) == {Lang.ES: "es_PE", Lang.QU: "qu_PE"}


@pytest.mark.parametrize(
    ("value", "expected"), [("es", Lang.ES), (" QU ", Lang.QU), ("Qu", Lang.QU)]
)
def test_parse_lang_accepts_the_two_catalog_codes(value: str, expected: Lang) -> None:
    assert parse_lang(value) is expected


@pytest.mark.parametrize("value", ["quy", "xx", "", "es-PE", "qu_PE", "español"])
def test_parse_lang_rejects_anything_else(value: str) -> None:
    with pytest.raises(ValueError, match="unknown language"):
        parse_lang(value)


@settings(database=None)
@given(st.text())
def test_parse_lang_only_ever_raises_value_error(value: str) -> None:
    try:
        lang = parse_lang(value)
    except ValueError:
        return
    assert lang.value == value.strip().lower()
