"""Translation catalogs (Spanish and Quechua) and language-explicit Babel formatting.

There is no process-global language here: one bot process serves Quechua and Spanish members at
the same time, so callers resolve a translator per update (``catalogs.for_lang(member.lang)``)
and per recipient in jobs, and pass the language to every formatting helper.
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency

from bot.domain.models import Lang
from bot.review_marks import MessageKey, is_reviewed, message_key

LOCALES_DIR: Path = Path(str(files("locales")))
"""The ``locales`` package directory: works from a checkout and when installed."""

DOMAIN = "messages"

FORMAT_LOCALE: Mapping[Lang, str] = MappingProxyType({Lang.ES: "es_PE", Lang.QU: "qu_PE"})
"""Babel formatting locale per catalog language (stdlib gettext never expands ``es``)."""

CURRENCY = "PEN"
PO_WIDTH = 76
"""Line width of every PO/POT file: ``pybabel``'s default, so rewrites cause no churn."""
#: Day first, four-digit year, the same in both languages: CLDR's short formats differ
#: (``3/09/25`` in es_PE, ``3/9/25`` in qu_PE) and a two-digit year reads as a day.
DATE_PATTERN = "dd/MM/yyyy"
#: The date, then the 24-hour Lima time, as the alert templates write it (``18:00``): CLDR's
#: "p. m." and "p.m." differ between the two locales too.
DATETIME_PATTERN = "dd/MM/yyyy HH:mm"
#: Whole soles without ``.00`` (``S/ 2,000,000``); céntimos when there are any (``S/ 150.50``).
WHOLE_SOLES_PATTERN = "¤\xa0#,##0"


def N_(message: str) -> str:
    """Mark a module-level string for extraction; translate it later, at use time."""
    return message


def po_path(locales_dir: Path, lang: Lang) -> Path:
    """Return the ``.po`` file of ``lang`` under ``locales_dir``."""
    return locales_dir / lang.value / "LC_MESSAGES" / f"{DOMAIN}.po"


#: Translator-comment tags (``# Translators: [bilingüe] …`` in the code) that make a Quechua
#: member see the Spanish alongside the Quechua, Quechua first (docs/translating.md §4.1):
#: ``[bilingüe]`` always (the alert's question, header and answer buttons, the severity names),
#: ``[seguridad]`` while the entry is not yet signed off (PIN, duress and payment texts).
TAG_ALWAYS = "[bilingüe]"
TAG_UNREVIEWED = "[seguridad]"
#: Between the Quechua and the Spanish: a short label (an entry with a context, e.g. a button)
#: stays on one line; a sentence gets the Spanish on the next line.
LABEL_SEPARATOR = " / "
SENTENCE_SEPARATOR = "\n"


@dataclass(frozen=True, slots=True)
class QuechuaRelease:
    """What a Quechua member is served, fixed when the catalogs are loaded.

    ``drafts`` is the operator's decision (``CHASKI_QUECHUA_DRAFTS``): off, only entries a
    native reviewer signed off (``review: ok``) are Quechua and the rest is Spanish; on,
    unreviewed drafts are served too (development, tests, a trial the operator chose).
    """

    drafts: bool
    total: int
    reviewed: int

    @property
    def unreviewed(self) -> int:
        """Quechua entries without a current sign-off."""
        return self.total - self.reviewed

    def describe(self) -> str:
        """One line for the log and the CLI: what a Quechua member will see."""
        if self.unreviewed == 0:
            return f"Quechua: all {self.total} texts are reviewed and served."
        if self.drafts:
            return (
                f"Quechua drafts ON (CHASKI_QUECHUA_DRAFTS=on): {self.unreviewed} of"
                f" {self.total} Quechua texts are unreviewed drafts and are shown to Quechua"
                " members (safety texts with the Spanish alongside)."
            )
        return (
            f"Quechua drafts off: {self.reviewed} of {self.total} Quechua texts are reviewed"
            f" and shown; Quechua members see the other {self.unreviewed} in Spanish."
        )


def _is_usable(message: Message) -> bool:
    """Whether ``message`` may be compiled: not fuzzy and every form translated.

    Leaving out empty and fuzzy entries is what makes per-entry fallback work: Babel's
    ``write_mo`` would otherwise compile an empty plural entry to the raw msgid.
    """
    if message.fuzzy:
        return False
    if isinstance(message.string, (list, tuple)):
        return bool(message.string) and all(message.string)
    return bool(message.string)


def _read(po_file: Path, lang: Lang) -> Catalog:
    with po_file.open("rb") as handle:
        return read_po(handle, locale=lang.value, domain=DOMAIN)


def _compile_mo(catalog: Catalog, lang: Lang, keep: Callable[[Message], bool]) -> io.BytesIO:
    """Compile the entries of ``catalog`` that ``keep`` accepts to an in-memory ``.mo``."""
    usable = Catalog(locale=lang.value, domain=DOMAIN, charset="utf-8")
    usable.mime_headers = catalog.mime_headers
    for message in catalog:
        if message.id and _is_usable(message) and keep(message):
            usable[message.id] = message
    buffer = io.BytesIO()
    write_mo(buffer, usable)
    buffer.seek(0)
    return buffer


def _separator(message: Message) -> str:
    return LABEL_SEPARATOR if message.context is not None else SENTENCE_SEPARATOR


def _tagged(message: Message, tag: str) -> bool:
    """Whether the code's ``# Translators:`` comment of ``message`` carries ``tag``."""
    return any(tag in comment for comment in message.auto_comments)


class _Quechua(gettext.GNUTranslations):
    """The Quechua translator: adds the Spanish to the entries that must carry it.

    ``bilingual`` maps ``(msgctxt, msgid)`` to the separator; everything else behaves as
    ``GNUTranslations`` with the Spanish catalog as fallback. When the Quechua of a
    bilingual entry is not served (drafts off, not reviewed) the lookup already returns the
    Spanish, and the Spanish is not repeated.
    """

    spanish: gettext.NullTranslations
    bilingual: Mapping[MessageKey, str]

    def _both(self, key: MessageKey, own: str, spanish: Callable[[], str]) -> str:
        separator = self.bilingual.get(key)
        if separator is None:
            return own
        other = spanish()
        return own if own == other else f"{own}{separator}{other}"

    def gettext(self, message: str) -> str:
        """Translate ``message``; see the class docstring for bilingual entries."""
        return self._both(
            (None, message), super().gettext(message), lambda: self.spanish.gettext(message)
        )

    def pgettext(self, context: str, message: str) -> str:
        """Translate ``message`` in ``context``; bilingual entries as in ``gettext``."""
        return self._both(
            (context, message),
            super().pgettext(context, message),
            lambda: self.spanish.pgettext(context, message),
        )

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        """Plural lookup; bilingual entries get the Spanish form for ``n`` too."""
        return self._both(
            (None, msgid1),
            super().ngettext(msgid1, msgid2, n),
            lambda: self.spanish.ngettext(msgid1, msgid2, n),
        )

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        """Plural lookup in ``context``; bilingual entries as in ``ngettext``."""
        return self._both(
            (context, msgid1),
            super().npgettext(context, msgid1, msgid2, n),
            lambda: self.spanish.npgettext(context, msgid1, msgid2, n),
        )


def _compile_quechua(
    catalog: Catalog, spanish: gettext.NullTranslations, *, drafts: bool
) -> tuple[_Quechua, QuechuaRelease]:
    """The Quechua translator under the release gate, and what it serves.

    Drafts off: only signed-off entries are compiled, so every other lookup falls back to
    the Spanish catalog. Drafts on: every translated entry is compiled, and the ``[seguridad]``
    ones that are not yet signed off carry the Spanish alongside.
    """
    entries = [message for message in catalog if message.id]
    reviewed = {message_key(m) for m in entries if is_reviewed(m)}

    def served(message: Message) -> bool:
        return drafts or message_key(message) in reviewed

    bilingual: dict[MessageKey, str] = {}
    for message in entries:
        key = message_key(message)
        if _tagged(message, TAG_ALWAYS) or (
            _tagged(message, TAG_UNREVIEWED) and key not in reviewed
        ):
            bilingual[key] = _separator(message)
    quechua = _Quechua(_compile_mo(catalog, Lang.QU, served))
    quechua.spanish = spanish
    quechua.bilingual = MappingProxyType(bilingual)
    quechua.add_fallback(spanish)
    return quechua, QuechuaRelease(drafts=drafts, total=len(entries), reviewed=len(reviewed))


@dataclass(frozen=True, slots=True)
class Catalogs:
    """The loaded translators, one per :class:`Lang`; read-only after :meth:`load`."""

    translators: Mapping[Lang, gettext.NullTranslations]
    quechua: QuechuaRelease

    @classmethod
    def load(cls, locales_dir: Path = LOCALES_DIR, *, drafts: bool = False) -> Catalogs:
        """Read the ``es`` and ``qu`` catalogs once and chain ``qu → es → msgid``.

        ``drafts`` is the release gate (``Settings.quechua_drafts``): off by default, so
        only signed-off Quechua is served unless the operator decided otherwise.

        Raises:
            FileNotFoundError: a catalog is missing (the package data is incomplete).
        """
        spanish_catalog = _read(po_path(locales_dir, Lang.ES), Lang.ES)
        spanish = gettext.GNUTranslations(
            _compile_mo(spanish_catalog, Lang.ES, lambda _message: True)
        )
        quechua, release = _compile_quechua(
            _read(po_path(locales_dir, Lang.QU), Lang.QU), spanish, drafts=drafts
        )
        return cls(MappingProxyType({Lang.ES: spanish, Lang.QU: quechua}), release)

    def for_lang(self, lang: Lang) -> gettext.NullTranslations:
        """Return the translator for ``lang`` (``gettext``, ``ngettext``, ``pgettext`` …)."""
        return self.translators[lang]


def parse_lang(value: str) -> Lang:
    """Parse an explicit language choice (CLI argument, callback data): ``es`` or ``qu``.

    The language is never inferred from Telegram's ``language_code`` (quechua.md §4.2), so
    variants such as ``quy`` or ``es-PE`` are rejected rather than guessed.

    Raises:
        ValueError: anything but ``es`` or ``qu`` (case-insensitive, surrounding space ignored).
    """
    normalised = value.strip().lower()
    for lang in Lang:
        if normalised == lang.value:
            return lang
    raise ValueError(f"unknown language {value!r}; expected one of: es, qu")


#: Distinct (value, language) pairs kept by the formatting memos below. Babel's formatting
#: was a large part of rendering a claim list (several amounts and dates per claim,
#: docs/performance.md) and amounts and dates repeat a lot; the memo is bounded and holds
#: only formatted strings, never who they were shown to.
FORMAT_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=FORMAT_CACHE_SIZE)
def format_money(cents: int, lang: Lang) -> str:
    """Format integer céntimos as soles: ``S/\\xa0150`` or ``S/\\xa0150.50`` (no-break space)."""
    locale = FORMAT_LOCALE[lang]
    if cents % 100 == 0:
        return format_currency(
            Decimal(cents // 100),
            CURRENCY,
            format=WHOLE_SOLES_PATTERN,
            locale=locale,
            currency_digits=False,
        )
    return format_currency(Decimal(cents) / 100, CURRENCY, locale=locale)


@functools.lru_cache(maxsize=FORMAT_CACHE_SIZE)
def format_date(value: date, lang: Lang) -> str:
    """Format a calendar date day first with a four-digit year: ``14/03/2025``."""
    return babel_format_date(value, DATE_PATTERN, locale=FORMAT_LOCALE[lang])


def format_datetime(value: datetime, lang: Lang, tz: ZoneInfo) -> str:
    """Format an aware datetime, shown in ``tz``: ``14/03/2025 15:05``.

    Raises:
        ValueError: ``value`` is naive (Babel would silently treat it as UTC).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("format_datetime needs an aware datetime (store UTC)")
    return babel_format_datetime(value, DATETIME_PATTERN, tzinfo=tz, locale=FORMAT_LOCALE[lang])
