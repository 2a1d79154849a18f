"""The reviewer's round trip (issue #17.7): sheet out, sign-off in, and the glossary as TBX."""

from __future__ import annotations

import csv
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bot.domain.models import Lang
from bot.i18n import Catalogs
from bot.i18n_check import ROOT, check, main, source_hash
from bot.i18n_review import SHEET_COLUMNS, glossary_tbx, sign_off, write_sheet

MENU = "Elige una opción del menú."
MENU_QU = "Menúmanta huk botonta akllay."
WRONG_PIN = "PIN incorrecto. Te queda {n} intento."


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what the gate reads: the code, babel.cfg and the locales."""
    for name in ("bot", "handlers", "storage", "locales"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copyfile(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    return tmp_path


def _sheet(project: Path) -> tuple[Path, list[dict[str, str]]]:
    path = project / "revision.csv"
    write_sheet(project, path)
    with path.open(encoding="utf-8", newline="") as handle:
        return path, list(csv.DictReader(handle))


def _fill(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, SHEET_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def test_the_sheet_lists_every_entry_with_its_key_and_current_mark(project: Path) -> None:
    _, rows = _sheet(project)
    by_spanish = {row["espanol"]: row for row in rows}
    assert by_spanish[MENU]["quechua"] == MENU_QU
    assert by_spanish[MENU]["clave"] == source_hash(MENU)
    assert by_spanish[MENU]["marca_actual"] == "draft"
    plural = next(row for row in rows if row["espanol"].startswith(WRONG_PIN))
    assert plural["espanol"] == f"{WRONG_PIN} | PIN incorrecto. Te quedan {{n}} intentos."
    assert {row["revisado_por"] for row in rows} == {""}


def test_a_filled_sheet_becomes_ok_marks_that_the_bot_serves(project: Path) -> None:
    path, rows = _sheet(project)
    for row in rows:
        if row["espanol"] == MENU:
            row.update(revisado_por="AB", fecha="2026-12-10")
    _fill(path, rows)

    assert main(["--root", str(project), "signoff", str(path)]) == 0

    po = (project / "locales" / "qu" / "LC_MESSAGES" / "messages.po").read_text("utf-8")
    assert f"# review: ok AB 2026-12-10 src={source_hash(MENU)}\n" in po
    assert check(project) == []  # the gate accepts the marks it wrote
    served = Catalogs.load(project / "locales", drafts=False).for_lang(Lang.QU)
    assert served.gettext(MENU) == MENU_QU


def test_rows_that_cannot_be_trusted_are_refused(project: Path) -> None:
    path, rows = _sheet(project)
    picked = {row["espanol"]: row for row in rows}
    picked[MENU].update(revisado_por="AB", fecha="2026-12-10", quechua="otra cosa")
    picked["Listo."].update(revisado_por="ab", fecha="2026-12-10")
    picked["Aviso cancelado."].update(revisado_por="AB", fecha="10/12/2026")
    picked["Plantilla traducida."].update(revisado_por="AB", fecha="2026-12-10", clave="0" * 8)
    _fill(path, rows)

    result = sign_off(project, path)

    assert result.signed == 0
    reasons = "\n".join(result.refused)
    assert "the Quechua changed since the sheet was made" in reasons
    assert "revisado_por must be 2-5 capital letters" in reasons
    assert "fecha must be a date" in reasons
    assert "no such entry" in reasons
    assert main(["--root", str(project), "signoff", str(path)]) == 1


def test_the_glossary_tbx_is_generated_from_the_csv_and_checked(project: Path) -> None:
    tbx = project / "locales" / "glossary.tbx"
    assert tbx.read_text(encoding="utf-8") == glossary_tbx(project)
    root = ET.fromstring(tbx.read_text(encoding="utf-8"))  # noqa: S314 - our own file
    entries = {entry.get("id"): entry for entry in root.iter("termEntry")}
    region = entries["region"]
    terms = {
        lang_set.get("{http://www.w3.org/XML/1998/namespace}lang"): lang_set.findtext("tig/term")
        for lang_set in region.iter("langSet")
    }
    assert terms == {"es": "región", "qu": "región"}
    assert "llaqta" in (region.findtext("descrip") or "")

    with (project / "locales" / "glossary.csv").open("a", encoding="utf-8") as handle:
        handle.write("prueba,prueba,pruebay,,definición,draft,,\n")
    assert check(project) == ["locales/glossary.tbx: out of date with glossary.csv (run update)"]
