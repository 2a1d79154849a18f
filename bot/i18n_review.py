"""The reviewer's round trip: a sign-off sheet out, review marks in, and the glossary as TBX.

Review marks live in translator comments of the ``qu`` catalog (docs/translating.md §4), which
Weblate cannot edit and Poedit's "needs work" replaces with ``fuzzy``. So a reviewer never has
to touch them: ``sheet`` writes every Quechua entry to a CSV a reviewer fills in a spreadsheet
(initials and date against each text they approve), and ``signoff`` turns that sheet into
``# review: ok <INITIALS> <YYYY-MM-DD> src=<hash>`` marks. A row whose Quechua changed after the
sheet was made is refused: a sign-off is for the text the reviewer read.

``glossary.tbx`` is ``locales/glossary.csv`` as TermBase eXchange, the format Weblate (and other
terminology tools) import with definitions and notes; ``update`` regenerates it, ``check`` fails
when it is stale.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

from bot.domain.models import Lang
from bot.i18n import DOMAIN, PO_WIDTH, po_path
from bot.review_marks import message_key, plural_id, review_marks, source_hash

#: Columns of the sign-off sheet, in Spanish: the reviewer reads them.
SHEET_COLUMNS = (
    "clave",
    "contexto",
    "espanol",
    "quechua",
    "marca_actual",
    "revisado_por",
    "fecha",
    "nota",
)
_INITIALS = re.compile(r"[A-Z]{2,5}")
GLOSSARY_CSV = Path("locales") / "glossary.csv"
GLOSSARY_TBX = Path("locales") / "glossary.tbx"


@dataclass(frozen=True, slots=True)
class SignOffResult:
    """What ``signoff`` did: entries marked ``ok`` and the rows it refused, with why."""

    signed: int
    refused: list[str]


def _read_qu(root: Path) -> Catalog:
    with po_path(root / "locales", Lang.QU).open("rb") as handle:
        return read_po(handle, locale=Lang.QU.value, domain=DOMAIN, abort_invalid=True)


def _write_qu(root: Path, catalog: Catalog) -> None:
    with po_path(root / "locales", Lang.QU).open("wb") as handle:
        write_po(handle, catalog, width=PO_WIDTH, ignore_obsolete=True, include_previous=True)


def _entry_hash(message: Message) -> str:
    context, msgid = message_key(message)
    return source_hash(msgid, plural_id(message), context)


def _quechua(message: Message) -> str:
    if isinstance(message.string, (list, tuple)):
        return str(message.string[0])
    return str(message.string)


def _mark_text(message: Message) -> str:
    marks, invalid = review_marks(message)
    texts = [f"{m.kind}" for m in marks] + invalid
    return ", ".join(texts)


def write_sheet(root: Path, out: Path) -> int:
    """Write the sign-off sheet for every ``qu`` entry to ``out``; return the row count."""
    catalog = _read_qu(root)
    rows = 0
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SHEET_COLUMNS)
        for message in catalog:
            if not message.id:
                continue
            context, msgid = message_key(message)
            spanish = msgid if plural_id(message) is None else f"{msgid} | {plural_id(message)}"
            writer.writerow(
                [
                    _entry_hash(message),
                    context or "",
                    spanish,
                    _quechua(message),
                    _mark_text(message),
                    "",
                    "",
                    "",
                ]
            )
            rows += 1
    return rows


def _row_problem(row: dict[str, str], message: Message | None) -> str | None:
    """Why a filled sheet row cannot become an ``ok`` mark, or None when it can."""
    if message is None:
        return "no such entry (the Spanish changed since the sheet was made: make a new one)"
    if not _INITIALS.fullmatch(row["revisado_por"].strip()):
        return "revisado_por must be 2-5 capital letters (initials)"
    try:
        date.fromisoformat(row["fecha"].strip())
    except ValueError:
        return "fecha must be a date such as 2026-12-10"
    if row["quechua"] != _quechua(message):
        return "the Quechua changed since the sheet was made: review the new text"
    return None


def sign_off(root: Path, sheet: Path) -> SignOffResult:
    """Mark ``ok`` every entry the reviewer signed in ``sheet`` (rows with ``revisado_por``).

    Each mark carries ``src=`` so a later change of the Spanish makes it stale. Rows without
    initials are skipped; rows that cannot be trusted are refused and listed, and the
    catalog is written only when at least one row was signed.
    """
    catalog = _read_qu(root)
    by_hash = {_entry_hash(m): m for m in catalog if m.id}
    signed = 0
    refused: list[str] = []
    with sheet.open(encoding="utf-8-sig", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            if not (row.get("revisado_por") or "").strip():
                continue
            message = by_hash.get((row.get("clave") or "").strip())
            problem = _row_problem(row, message)
            if problem is not None or message is None:
                refused.append(f"{sheet.name}:{line}: {problem}")
                continue
            mark = (
                f"review: ok {row['revisado_por'].strip()} {row['fecha'].strip()}"
                f" src={_entry_hash(message)}"
            )
            others = [c for c in message.user_comments if not c.strip().startswith("review")]
            message.user_comments = [mark, *others]
            signed += 1
    if signed:
        _write_qu(root, catalog)
    return SignOffResult(signed, refused)


def glossary_tbx(root: Path) -> str:
    """``locales/glossary.csv`` as a TBX document (one ``termEntry`` per row)."""
    with (root / GLOSSARY_CSV).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    martif = ET.Element("martif", {"type": "TBX", "xml:lang": "es"})
    header = ET.SubElement(ET.SubElement(martif, "martifHeader"), "fileDesc")
    ET.SubElement(ET.SubElement(header, "sourceDesc"), "p").text = (
        "Glosario de Chaski, generado desde locales/glossary.csv"
        " (python -m bot.i18n_check update). No editar a mano."
    )
    body = ET.SubElement(ET.SubElement(martif, "text"), "body")
    for row in rows:
        entry = ET.SubElement(body, "termEntry", {"id": row["term_id"]})
        ET.SubElement(entry, "descrip", {"type": "definition"}).text = row["definition"]
        status = row["status"] + (
            f" ({row['approved_by']} {row['date']})" if row["status"] == "approved" else ""
        )
        ET.SubElement(entry, "note").text = f"estado: {status}"
        for lang, term, note in (
            ("es", row["es_PE"], ""),
            ("qu", row["qu"], row["qu_collao_note"]),
        ):
            tig = ET.SubElement(ET.SubElement(entry, "langSet", {"xml:lang": lang}), "tig")
            ET.SubElement(tig, "term").text = term
            if note:
                ET.SubElement(tig, "note").text = f"collao: {note}"
    ET.indent(martif)
    buffer = io.StringIO()
    ET.ElementTree(martif).write(buffer, encoding="unicode", xml_declaration=False)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + buffer.getvalue() + "\n"


def write_glossary_tbx(root: Path) -> None:
    """Regenerate ``locales/glossary.tbx`` when it differs from the CSV (if there is one)."""
    if not (root / GLOSSARY_CSV).exists():
        return
    path = root / GLOSSARY_TBX
    text = glossary_tbx(root)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def glossary_problems(root: Path) -> list[str]:
    """``glossary.tbx`` must be what ``glossary.csv`` generates (run update)."""
    if not (root / GLOSSARY_CSV).exists():
        return []
    path = root / GLOSSARY_TBX
    if not path.exists() or path.read_text(encoding="utf-8") != glossary_tbx(root):
        return ["locales/glossary.tbx: out of date with glossary.csv (run update)"]
    return []
