"""Translation catalogs (Spanish and Quechua) and language-explicit Babel formatting.

There is no process-global language here: one bot process serves Quechua and Spanish members at
the same time, so callers resolve a translator per update (``catalogs.for_lang(member.lang)``)
and per recipient in jobs, and pass the language to every formatting helper.
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Mapping
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

LOCALES_DIR: Path = Path(str(files("locales")))
"""The ``locales`` package directory: works from a checkout and when installed."""

DOMAIN = "messages"

FORMAT_LOCALE: Mapping[Lang, str] = MappingProxyType({Lang.ES: "es_PE", Lang.QU: "qu_PE"})
"""Babel formatting locale per catalog language (stdlib gettext never expands ``es``)."""

CURRENCY = "PEN"


def N_(message: str) -> str:
    """Mark a module-level string for extraction; translate it later, at use time."""
    return message


def po_path(locales_dir: Path, lang: Lang) -> Path:
    """Return the ``.po`` file of ``lang`` under ``locales_dir``."""
    return locales_dir / lang.value / "LC_MESSAGES" / f"{DOMAIN}.po"


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


def _compile(po_file: Path, lang: Lang) -> gettext.GNUTranslations:
    """Read a ``.po`` file and compile it in memory to a ``GNUTranslations``."""
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=lang.value, domain=DOMAIN)
    usable = Catalog(locale=lang.value, domain=DOMAIN, charset="utf-8")
    usable.mime_headers = catalog.mime_headers
    for message in catalog:
        if message.id and _is_usable(message):
            usable[message.id] = message
    buffer = io.BytesIO()
    write_mo(buffer, usable)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@dataclass(frozen=True, slots=True)
class Catalogs:
    """The loaded translators, one per :class:`Lang`; read-only after :meth:`load`."""

    translators: Mapping[Lang, gettext.NullTranslations]

    @classmethod
    def load(cls, locales_dir: Path = LOCALES_DIR) -> Catalogs:
        """Read the ``es`` and ``qu`` catalogs once and chain ``qu → es → msgid``.

        Raises:
            FileNotFoundError: a catalog is missing (the package data is incomplete).
        """
        spanish = _compile(po_path(locales_dir, Lang.ES), Lang.ES)
        quechua = _compile(po_path(locales_dir, Lang.QU), Lang.QU)
        quechua.add_fallback(spanish)
        return cls(MappingProxyType({Lang.ES: spanish, Lang.QU: quechua}))

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


#: Distinct (value, language) pairs kept by the formatting memos below. Babel costs ~25 µs per
#: amount and ~9 µs per date, several per claim, and amounts and dates repeat a lot; the
#: memo is bounded and holds only formatted strings, never who they were shown to.
FORMAT_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=FORMAT_CACHE_SIZE)
def format_money(cents: int, lang: Lang) -> str:
    """Format integer céntimos as soles, e.g. ``S/\\xa0150.00`` (with a no-break space)."""
    return format_currency(Decimal(cents) / 100, CURRENCY, locale=FORMAT_LOCALE[lang])


@functools.lru_cache(maxsize=FORMAT_CACHE_SIZE)
def format_date(value: date, lang: Lang) -> str:
    """Format a calendar date as a short numeric date (``14/03/25`` in ``es_PE``)."""
    return babel_format_date(value, "short", locale=FORMAT_LOCALE[lang])


def format_datetime(value: datetime, lang: Lang, tz: ZoneInfo) -> str:
    """Format an aware datetime, shown in ``tz``, in the short style.

    Raises:
        ValueError: ``value`` is naive (Babel would silently treat it as UTC).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("format_datetime needs an aware datetime (store UTC)")
    return babel_format_datetime(value, "short", tzinfo=tz, locale=FORMAT_LOCALE[lang])
