"""Catalog gate (quechua.md §8): extract, update and check the ``es`` and ``qu`` catalogs.

One library for pytest (``tests/test_catalogs.py``) and a CLI::

    python -m bot.i18n_check update            # after changing user-facing strings
    python -m bot.i18n_check check [--release] # what CI runs (exit 1 and a list on failure)

Babel runs in-process. The check never trusts the committed template: it extracts a fresh one
into a temporary directory and compares every catalog with it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import string
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import PoFileError, read_po, write_po

from bot.domain.models import Lang
from bot.i18n import DOMAIN, PO_WIDTH, po_path
from bot.i18n_review import glossary_problems, sign_off, write_glossary_tbx, write_sheet
from bot.review_marks import (
    REVIEW_DRAFT,
    REVIEW_NEEDS_TRANSLATION,
    REVIEW_OK,
    MessageKey,
    review_marks,
    stale,
)
from bot.review_marks import message_key as _key
from bot.review_marks import plural_id as _plural_id
from bot.review_marks import source_hash as source_hash  # noqa: PLC0414 - re-export (CLI, tests)

ROOT = Path(__file__).resolve().parents[1]
"""The checkout this module lives in (holds ``babel.cfg`` and ``locales/``)."""

PROJECT = "chaski"
COPYRIGHT_HOLDER = "Chaski contributors"
HEADER_COMMENT = (
    "# Translations template for PROJECT.\n"
    "# Copyright (C) YEAR ORGANIZATION\n"
    "# This file is distributed under the same license as the PROJECT project.\n"
    "#"
)
"""Babel's default header without the ``FIRST AUTHOR`` placeholder (Babel fills the names)."""
WIDTH = PO_WIDTH

PLURAL_FORMS: dict[Lang, str] = {
    Lang.ES: "nplurals=3; plural=(n == 1 ? 0 : n != 0 && n % 1000000 == 0 ? 1 : 2);",
    Lang.QU: "nplurals=1; plural=0;",
}
LANGUAGE_TEAM: dict[Lang, str] = {
    Lang.ES: "Español (Perú) - source language",
    Lang.QU: "Runasimi - Chanka-based Southern Quechua, MINEDU 3-vowel unified spelling",
}
LAST_TRANSLATOR: dict[Lang, str] = {
    Lang.ES: "Chaski developers",
    Lang.QU: "Chaski developers (drafts, not reviewed by a native speaker)",
}

_PERCENT_RE = re.compile(
    r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]"
)
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*")

_Key = MessageKey


def _run_babel(*args: str) -> None:
    """Run one ``pybabel`` command in-process (quiet)."""
    run: Callable[[list[str]], object] = CommandLineInterface().run  # Babel's CLI is untyped
    run(["pybabel", "-q", *args])


def extract(root: Path, pot_out: Path) -> None:
    """Extract the user-facing strings of ``bot``, ``handlers`` and ``storage`` to ``pot_out``.

    ``babel.cfg`` limits extraction to those packages; Babel's default keywords already cover
    ``_``, ``N_``, ``gettext``, ``ngettext``, ``pgettext``, ``npgettext``, also as attribute
    calls such as ``t.pgettext("estado de reclamo", "Pendiente")``.
    """
    _run_babel(
        "extract",
        "-F",
        str(root / "babel.cfg"),
        "--add-comments=Translators:",
        "--no-location",
        "--sort-output",
        f"--project={PROJECT}",
        f"--copyright-holder={COPYRIGHT_HOLDER}",
        f"--header-comment={HEADER_COMMENT}",
        f"--width={WIDTH}",
        "-o",
        str(pot_out),
        str(root),
    )


def _read(path: Path, lang: Lang | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(
            handle, locale=lang.value if lang else None, domain=DOMAIN, abort_invalid=True
        )


def _write(path: Path, catalog: Catalog) -> None:
    """Write a catalog exactly as ``pybabel update`` does (same width and options)."""
    with path.open("wb") as handle:
        write_po(handle, catalog, width=WIDTH, ignore_obsolete=True, include_previous=True)


def _entries(catalog: Catalog) -> list[Message]:
    return [message for message in catalog if message.id]


def _template_signature(catalog: Catalog) -> list[tuple[object, ...]]:
    """What a template says, without its dates: ids, comments and flags in order."""
    return [
        (_key(m), _plural_id(m), tuple(m.auto_comments), tuple(sorted(m.flags)))
        for m in _entries(catalog)
    ]


def _identity(message: Message, num_plurals: int) -> str | tuple[str, ...]:
    """The Spanish identity translation: the msgid ([0] singular, other forms plural)."""
    if isinstance(message.id, (list, tuple)):
        singular, plural = str(message.id[0]), str(message.id[1])
        return (singular, *([plural] * (num_plurals - 1)))
    return str(message.id)


def _normalise_header(path: Path, lang: Lang, *, new: bool) -> None:
    """Enforce Plural-Forms and Language-Team; rewrite only when something changed."""
    catalog = _read(path, lang)
    before = catalog.mime_headers
    headers = [("Plural-Forms", PLURAL_FORMS[lang]), ("Language-Team", LANGUAGE_TEAM[lang])]
    if new:
        headers.append(("Last-Translator", LAST_TRANSLATOR[lang]))
    catalog.mime_headers = headers
    if new or catalog.mime_headers != before:
        _write(path, catalog)


def _fill_spanish(path: Path) -> None:
    """Make every ``es`` entry the identity of its msgid: Spanish is the source language."""
    catalog = _read(path, Lang.ES)
    changed = False
    for message in _entries(catalog):
        identity = _identity(message, catalog.num_plurals)
        if message.string != identity or message.fuzzy:
            message.string = identity
            message.flags.discard("fuzzy")
            message.previous_id = []
            changed = True
    if changed:
        _write(path, catalog)


def update(root: Path) -> None:
    """Refresh ``locales/messages.pot`` and both catalogs from the source code.

    ``es`` entries become the identity of their msgid; new ``qu`` entries stay empty (the check
    names them) and ``qu`` entries whose Spanish changed come back fuzzy, with the previous
    msgid, for a developer or translator to redo. The template is rewritten only when its
    messages changed, so running this twice changes nothing.
    """
    locales = root / "locales"
    pot = locales / "messages.pot"
    locales.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "messages.pot"
        extract(root, fresh)
        if not pot.exists() or _template_signature(_read(fresh)) != _template_signature(
            _read(pot)
        ):
            shutil.copyfile(fresh, pot)
    for lang in Lang:
        po = po_path(locales, lang)
        new = not po.exists()
        common = ("-i", str(pot), "-d", str(locales), "-l", lang.value, "-D", DOMAIN)
        if new:
            _run_babel("init", *common, f"--width={WIDTH}")
        _normalise_header(po, lang, new=new)
        _run_babel("update", *common, f"--width={WIDTH}", "--ignore-obsolete", "--previous")
        if lang is Lang.ES:
            _fill_spanish(po)
    write_glossary_tbx(root)


def _label(message: Message) -> str:
    context, msgid = _key(message)
    text = json.dumps(msgid, ensure_ascii=False)
    if context is not None:
        text += f" (context {json.dumps(context, ensure_ascii=False)})"
    return text


def _forms(message: Message) -> list[str]:
    if isinstance(message.string, (list, tuple)):
        return [str(form) for form in message.string]
    return [str(message.string)]


def _brace_fields(text: str) -> set[str] | None:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError:
        return None


def _percent_specs(text: str) -> set[str]:
    return {spec for spec in _PERCENT_RE.findall(text) if spec != "%%"}


def _html_tags(text: str) -> list[str]:
    return sorted(_TAG_RE.findall(text))


def _source_texts(message: Message) -> list[str]:
    if isinstance(message.id, (list, tuple)):
        return [str(message.id[0]), str(message.id[1])]
    return [str(message.id)]


def _compare_sets(
    what: str, source: set[str], forms: Sequence[set[str]], *, plural: bool
) -> list[str]:
    """Each plural form may omit names (``Un día``) but together they must use them all."""
    if not plural:
        [form] = forms
        return [] if form == source else [f"{what} {sorted(form)} != {sorted(source)}"]
    problems = [f"{what} {sorted(form)} != {sorted(source)}" for form in forms if form - source]
    union = set().union(*forms)
    if not problems and union != source:
        problems.append(f"{what} {sorted(union)} != {sorted(source)}")
    return problems


def _content_problems(message: Message) -> list[str]:
    """Placeholder, %-format and HTML differences between a translation and its source."""
    problems: list[str] = []
    sources = _source_texts(message)
    forms = _forms(message)
    plural = len(sources) > 1

    source_fields = [_brace_fields(text) for text in sources]
    if all(fields is not None for fields in source_fields):
        wanted = set().union(*(fields or set() for fields in source_fields))
        form_fields = [_brace_fields(form) for form in forms]
        if any(fields is None for fields in form_fields):
            problems.append("malformed {placeholder} braces")
        else:
            parsed = [fields or set() for fields in form_fields]
            problems += _compare_sets("placeholders", wanted, parsed, plural=plural)

    if "python-format" in message.flags:
        wanted = set().union(*(_percent_specs(text) for text in sources))
        specs = [_percent_specs(form) for form in forms]
        problems += _compare_sets("%-format specs", wanted, specs, plural=plural)

    allowed = [_html_tags(text) for text in sources]
    for form in forms:
        tags = _html_tags(form)
        if tags not in allowed:
            problems.append(f"HTML tags {tags} != {allowed[-1]}")
    return problems


def _review_problems(message: Message, *, release: bool) -> list[str]:
    marks, invalid = review_marks(message)
    problems = [f"invalid review mark {json.dumps(text, ensure_ascii=False)}" for text in invalid]
    if len(marks) + len(invalid) > 1:
        problems.append(f"{len(marks) + len(invalid)} review marks, expected exactly one")
    if not marks and not invalid:
        problems.append("missing review mark")
    for mark in marks:
        current = stale(message, mark)
        if current is not None:
            problems.append(
                f"stale review mark: src={mark.src} but the source is now src={current}"
            )
        if release and mark.kind != REVIEW_OK:
            problems.append(f"not reviewed (review: {mark.kind}); a release needs review: ok")
    return problems


def _header_problems(lang: Lang, catalog: Catalog) -> list[str]:
    problems: list[str] = []
    if str(catalog.locale) != lang.value:
        problems.append(f"{lang}: Language is {catalog.locale}, expected {lang.value}")
    expected = PLURAL_FORMS[lang]
    expected_n = int(expected.split(";")[0].split("=")[1])
    if catalog.num_plurals != expected_n:
        problems.append(
            f"{lang}: Plural-Forms has nplurals={catalog.num_plurals}, expected {expected_n}"
        )
    elif catalog.plural_forms != expected:
        problems.append(f"{lang}: Plural-Forms is {catalog.plural_forms!r}, expected {expected!r}")
    return problems


def _catalog_problems(
    lang: Lang, catalog: Catalog, template: Catalog, *, release: bool
) -> list[str]:
    problems = _header_problems(lang, catalog)
    source = {_key(m): m for m in _entries(template)}
    entries = {_key(m): m for m in _entries(catalog)}
    for key, message in source.items():
        if key not in entries:
            problems.append(f"{lang}: {_label(message)}: missing from the catalog (run update)")
    for message in catalog.obsolete.values():
        problems.append(f"{lang}: {_label(message)}: obsolete entry (run update)")
    for key, message in entries.items():
        prefix = f"{lang}: {_label(message)}"
        if key not in source:
            problems.append(f"{prefix}: not in the source code (run update)")
            continue
        if _plural_id(message) != _plural_id(source[key]):
            problems.append(f"{prefix}: msgid_plural differs from the source (run update)")
            continue
        if lang is Lang.QU:
            problems += [f"{prefix}: {p}" for p in _review_problems(message, release=release)]
        if message.fuzzy:
            problems.append(f"{prefix}: fuzzy")
        if not all(_forms(message)):
            problems.append(f"{prefix}: untranslated")
            continue
        problems += [f"{prefix}: {p}" for p in _content_problems(message)]
        problems += [f"{prefix}: babel: {error}" for error in message.check(catalog)]
        if lang is Lang.ES and message.string != _identity(message, catalog.num_plurals):
            problems.append(
                f"{prefix}: differs from its msgid (es is the source: change the code instead)"
            )
    return problems


def _template_problems(root: Path, fresh: Catalog) -> list[str]:
    pot = root / "locales" / "messages.pot"
    if not pot.exists():
        return ["messages.pot: missing (run update)"]
    try:
        committed = _read(pot)
    except PoFileError as exc:
        return [f"messages.pot: unreadable: {exc}"]
    if _template_signature(committed) != _template_signature(fresh):
        return ["messages.pot: out of date with the source code (run update)"]
    return []


def check(root: Path, *, release: bool = False) -> list[str]:
    """Return every problem of the catalogs under ``root`` (an empty list means pass).

    ``release=True`` also fails every ``qu`` entry not signed off with ``review: ok``: no
    unreviewed Quechua may reach real informants.
    """
    with tempfile.TemporaryDirectory() as tmp:
        fresh_path = Path(tmp) / "fresh.pot"
        extract(root, fresh_path)
        template = _read(fresh_path)
    problems = _template_problems(root, template) + glossary_problems(root)
    for lang in Lang:
        path = po_path(root / "locales", lang)
        if not path.exists():
            problems.append(f"{lang}: catalog {path.relative_to(root)} missing (run update)")
            continue
        try:
            catalog = _read(path, lang)
        except PoFileError as exc:
            problems.append(f"{lang}: unreadable catalog: {exc}")
            continue
        problems += _catalog_problems(lang, catalog, template, release=release)
    return problems


def needs_translation_count(root: Path) -> int:
    """Count ``qu`` entries that are Spanish copies (``review: needs-translation``); target 0."""
    return review_counts(root)[REVIEW_NEEDS_TRANSLATION]


def review_counts(root: Path) -> dict[str, int]:
    """How many ``qu`` entries are drafts, Spanish copies and signed off (``ok``)."""
    catalog = _read(po_path(root / "locales", Lang.QU), Lang.QU)
    counts = dict.fromkeys((REVIEW_DRAFT, REVIEW_NEEDS_TRANSLATION, REVIEW_OK), 0)
    for message in _entries(catalog):
        for mark in review_marks(message)[0]:
            counts[mark.kind] += 1
    return counts


def _write_lines(lines: Iterable[str], *, error: bool = False) -> None:
    stream = sys.stderr if error else sys.stdout
    for line in lines:
        stream.write(f"{line}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``update``, ``check``, ``hash``, ``sheet`` or ``signoff``; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.i18n_check", description="Update or check the es/qu catalogs."
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="project root (default: here)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("update", help="extract strings and update both catalogs")
    check_parser = commands.add_parser("check", help="the CI gate; exit 1 on any problem")
    check_parser.add_argument(
        "--release", action="store_true", help="also fail every qu entry not marked review: ok"
    )
    hash_parser = commands.add_parser("hash", help="print the src= hash for a review: ok mark")
    hash_parser.add_argument("msgid")
    hash_parser.add_argument("--plural", help="the msgid_plural, if any")
    hash_parser.add_argument("--context", help="the msgctxt, if any")
    sheet_parser = commands.add_parser(
        "sheet", help="write the reviewer's sign-off sheet (CSV) of every qu entry"
    )
    sheet_parser.add_argument("out", type=Path)
    signoff_parser = commands.add_parser(
        "signoff", help="turn a filled sign-off sheet into review: ok marks"
    )
    signoff_parser.add_argument("sheet", type=Path)
    args = parser.parse_args(argv)
    root: Path = args.root

    if args.command == "hash":
        _write_lines([source_hash(args.msgid, args.plural, args.context)])
        return 0
    if args.command == "sheet":
        rows = write_sheet(root, args.out)
        _write_lines([f"Wrote {rows} entries to {args.out}."])
        return 0
    if args.command == "signoff":
        result = sign_off(root, args.sheet)
        _write_lines([f"Signed off {result.signed} entries."])
        if result.refused:
            _write_lines([*result.refused, f"{len(result.refused)} row(s) refused."], error=True)
            return 1
        return 0
    if args.command == "update":
        update(root)
        todo = check(root)
        _write_lines([f"Updated {root / 'locales'}."])
        if todo:
            _write_lines(["Still to do (python -m bot.i18n_check check fails on these):", *todo])
        return 0
    problems = check(root, release=args.release)
    if problems:
        _write_lines([*problems, f"{len(problems)} catalog problem(s)."], error=True)
        return 1
    counts = review_counts(root)
    _write_lines(
        [
            f"Catalogs OK. qu entries: {counts[REVIEW_OK]} reviewed, {counts[REVIEW_DRAFT]}"
            f" drafts, {counts[REVIEW_NEEDS_TRANSLATION]} marked needs-translation (target 0)."
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
