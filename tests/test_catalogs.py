"""The catalog gate (translating.md): the real catalogs pass, and each failure kind is caught."""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

from bot.domain.models import Lang
from bot.i18n import po_path
from bot.i18n_check import (
    ROOT,
    WIDTH,
    check,
    extract,
    main,
    needs_translation_count,
    source_hash,
    update,
)

SOURCE = '''\
"""Synthetic user-facing strings."""


def texts(t, _):
    # Translators: {name} is the member's pseudonym.
    t.gettext("Hola {name}")
    t.pgettext("estado de reclamo", "Pendiente")
    t.ngettext("Tienes {n} solicitud pendiente.", "Tienes {n} solicitudes pendientes.", 2)
    t.gettext("Reclamo <b>{reference}</b>")
    _("Avance: %(percent)s")
'''

PLURAL = "Tienes {n} solicitud pendiente."

# Test fixtures only, never shipped: shaped like the glossary drafts of locales/glossary.csv.
QUECHUA: dict[tuple[str | None, str], str | tuple[str, ...]] = {
    (None, "Hola {name}"): "Rimaykullayki {name}",
    ("estado de reclamo", "Pendiente"): "Suyachkan",
    (None, PLURAL): ("{n} mañakuyniyki suyachkan.",),
    (None, "Reclamo <b>{reference}</b>"): "Mañakuy <b>{reference}</b>",
    (None, "Avance: %(percent)s"): "Ñawpaqman: %(percent)s",
}

Edit = Callable[[Catalog], None]


def _edit(root: Path, lang: Lang, edit: Edit) -> None:
    path = po_path(root / "locales", lang)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang.value)
    edit(catalog)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=WIDTH, include_previous=True)


def _message(catalog: Catalog, msgid: str, context: str | None = None) -> Message:
    message = catalog.get(msgid, context=context)
    assert message is not None
    return message


def _translate_all(catalog: Catalog) -> None:
    for (context, msgid), text in QUECHUA.items():
        message = _message(catalog, msgid, context)
        message.string = text
        message.user_comments = ["review: draft"]


def _set(msgid: str, text: str, *, context: str | None = None) -> Edit:
    def edit(catalog: Catalog) -> None:
        _message(catalog, msgid, context).string = text

    return edit


def _comments(msgid: str, *comments: str, context: str | None = None) -> Edit:
    def edit(catalog: Catalog) -> None:
        _message(catalog, msgid, context).user_comments = list(comments)

    return edit


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A project tree that passes the gate: sources, babel.cfg, updated catalogs, qu drafts."""
    shutil.copyfile(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "texts.py").write_text(SOURCE, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_texts.py").write_text(
        'def test(t):\n    t.gettext("Solo en pruebas")\n', encoding="utf-8"
    )
    (tmp_path / "locales").mkdir()
    update(tmp_path)
    _edit(tmp_path, Lang.QU, _translate_all)
    return tmp_path


def _po_text(root: Path, lang: Lang) -> str:
    return po_path(root / "locales", lang).read_text(encoding="utf-8")


# --- the gate on the real catalogs ---------------------------------------------------------


def test_real_catalogs_pass_the_gate() -> None:
    assert check(ROOT) == []


# --- extraction and update -------------------------------------------------------------------


def test_extraction_finds_attribute_calls_and_skips_tests(tree: Path, tmp_path: Path) -> None:
    pot = tmp_path / "fresh.pot"
    extract(tree, pot)
    with pot.open("rb") as handle:
        template = read_po(handle)
    assert {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in template if m.id} == {
        *QUECHUA
    }
    comments = _message(template, "Hola {name}").auto_comments
    assert comments == ["Translators: {name} is the member's pseudonym."]
    assert "python-brace-format" in _message(template, "Hola {name}").flags


def test_update_fills_spanish_with_the_source_and_leaves_quechua_empty(tmp_path: Path) -> None:
    shutil.copyfile(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "texts.py").write_text(SOURCE, encoding="utf-8")
    update(tmp_path)
    spanish = _po_text(tmp_path, Lang.ES)
    assert 'msgstr "Hola {name}"' in spanish
    assert 'msgstr[2] "Tienes {n} solicitudes pendientes."' in spanish
    assert "Language: es\\n" in spanish
    quechua = _po_text(tmp_path, Lang.QU)
    assert 'msgstr[0] ""\n' in quechua
    assert "msgstr[1]" not in quechua
    assert "Plural-Forms: nplurals=1; plural=0;\\n" in quechua
    assert "Chanka-based Southern Quechua" in quechua
    problems = check(tmp_path)
    assert 'qu: "Hola {name}": untranslated' in problems
    assert 'qu: "Hola {name}": missing review mark' in problems
    assert not [p for p in problems if p.startswith("es:")]


def test_update_twice_changes_nothing(tree: Path) -> None:
    before = {path: path.read_bytes() for path in (tree / "locales").rglob("*.po*")}
    update(tree)
    assert {path: path.read_bytes() for path in (tree / "locales").rglob("*.po*")} == before


def test_changed_spanish_comes_back_fuzzy_with_the_old_draft(tree: Path) -> None:
    source = tree / "bot" / "texts.py"
    source.write_text(SOURCE.replace('"Hola {name}"', '"Hola, {name}"'), encoding="utf-8")
    update(tree)
    problems = check(tree)
    assert problems == ['qu: "Hola, {name}": fuzzy']
    quechua = _po_text(tree, Lang.QU)
    assert '#| msgid "Hola {name}"' in quechua
    assert "# review: draft" in quechua


# --- each failure kind -----------------------------------------------------------------------


def test_synthetic_tree_passes(tree: Path) -> None:
    assert check(tree) == []
    assert main(["--root", str(tree), "check"]) == 0


def test_untranslated_entry_is_reported(tree: Path) -> None:
    _edit(tree, Lang.QU, _set("Hola {name}", ""))
    assert check(tree) == ['qu: "Hola {name}": untranslated']


def test_untranslated_spanish_entry_is_reported(tree: Path) -> None:
    _edit(tree, Lang.ES, _set("Hola {name}", ""))
    assert check(tree) == ['es: "Hola {name}": untranslated']


def test_new_source_string_without_update_is_reported(tree: Path) -> None:
    source = tree / "bot" / "texts.py"
    source.write_text(SOURCE + '    t.gettext("Nuevo")\n', encoding="utf-8")
    problems = check(tree)
    assert "messages.pot: out of date with the source code (run update)" in problems
    assert 'qu: "Nuevo": missing from the catalog (run update)' in problems
    assert 'es: "Nuevo": missing from the catalog (run update)' in problems


def test_removed_source_string_is_reported(tree: Path) -> None:
    source = tree / "bot" / "texts.py"
    source.write_text(SOURCE.replace('    _("Avance: %(percent)s")\n', ""), encoding="utf-8")
    problems = check(tree)
    assert 'qu: "Avance: %(percent)s": not in the source code (run update)' in problems


def test_fuzzy_entries_are_reported(tree: Path) -> None:
    def fuzzy(catalog: Catalog) -> None:
        _message(catalog, "Hola {name}").flags.add("fuzzy")

    _edit(tree, Lang.ES, fuzzy)
    _edit(tree, Lang.QU, fuzzy)
    assert check(tree) == ['es: "Hola {name}": fuzzy', 'qu: "Hola {name}": fuzzy']


def test_placeholder_mismatch_is_reported(tree: Path) -> None:
    _edit(tree, Lang.QU, _set("Hola {name}", "Rimaykullayki {nombre}"))
    assert check(tree) == ["qu: \"Hola {name}\": placeholders ['nombre'] != ['name']"]


def test_plural_form_without_its_placeholder_is_reported(tree: Path) -> None:
    def drop_n(catalog: Catalog) -> None:
        _message(catalog, PLURAL).string = ("Mañakuyniyki suyachkan.",)

    _edit(tree, Lang.QU, drop_n)
    assert check(tree) == [f"qu: \"{PLURAL}\": placeholders [] != ['n']"]


def test_malformed_braces_are_reported(tree: Path) -> None:
    _edit(tree, Lang.QU, _set("Hola {name}", "Rimaykullayki {name"))
    assert check(tree) == ['qu: "Hola {name}": malformed {placeholder} braces']


def test_percent_format_mismatch_is_reported(tree: Path) -> None:
    _edit(tree, Lang.QU, _set("Avance: %(percent)s", "Ñawpaqman: %(porcentaje)s"))
    problems = check(tree)
    assert (
        "qu: \"Avance: %(percent)s\": %-format specs ['%(porcentaje)s'] != ['%(percent)s']"
        in problems
    )


def test_html_tag_mismatch_is_reported(tree: Path) -> None:
    _edit(tree, Lang.QU, _set("Reclamo <b>{reference}</b>", "Mañakuy {reference}"))
    assert check(tree) == ["qu: \"Reclamo <b>{reference}</b>\": HTML tags [] != ['</b', '<b']"]


def test_plural_forms_mismatch_is_reported(tree: Path) -> None:
    def two_forms(catalog: Catalog) -> None:
        catalog.mime_headers = [("Plural-Forms", "nplurals=2; plural=(n != 1);")]

    _edit(tree, Lang.QU, two_forms)
    assert "qu: Plural-Forms has nplurals=2, expected 1" in check(tree)


def test_spanish_differing_from_its_source_is_reported(tree: Path) -> None:
    _edit(tree, Lang.ES, _set("Hola {name}", "Buenas {name}"))
    assert check(tree) == [
        'es: "Hola {name}": differs from its msgid (es is the source: change the code instead)'
    ]


def test_missing_review_mark_is_reported(tree: Path) -> None:
    _edit(tree, Lang.QU, _comments("Pendiente", context="estado de reclamo"))
    assert check(tree) == ['qu: "Pendiente" (context "estado de reclamo"): missing review mark']


def test_invalid_and_duplicate_review_marks_are_reported(tree: Path) -> None:
    _edit(tree, Lang.QU, _comments("Hola {name}", "review: okay"))
    assert check(tree) == ['qu: "Hola {name}": invalid review mark "review: okay"']
    _edit(tree, Lang.QU, _comments("Hola {name}", "review: draft", "review: ok AB 2026-05-14"))
    assert check(tree) == ['qu: "Hola {name}": 2 review marks, expected exactly one']
    _edit(tree, Lang.QU, _comments("Hola {name}", "review: ok AB 2026-13-01"))
    assert check(tree) == ['qu: "Hola {name}": invalid review mark "review: ok AB 2026-13-01"']


def test_stale_source_hash_is_reported(tree: Path) -> None:
    current = source_hash("Hola {name}")
    _edit(tree, Lang.QU, _comments("Hola {name}", f"review: ok AB 2026-05-14 src={current}"))
    assert check(tree) == []
    _edit(tree, Lang.QU, _comments("Hola {name}", "review: ok AB 2026-05-14 src=0badc0de"))
    assert check(tree) == [
        f'qu: "Hola {{name}}": stale review mark: src=0badc0de but the source is now src={current}'
    ]


def test_source_hash_covers_context_and_plural() -> None:
    assert source_hash("Pendiente") != source_hash("Pendiente", context="estado de reclamo")
    assert source_hash("Un día", "{n} días") != source_hash("Un día")
    assert len(source_hash("x")) == 8


def test_release_mode_fails_every_entry_not_signed_off(tree: Path) -> None:
    assert check(tree, release=True) == [
        f'qu: "{msgid}"{f" (context {chr(34)}{context}{chr(34)})" if context else ""}: '
        "not reviewed (review: draft); a release needs review: ok"
        for context, msgid in sorted(QUECHUA, key=lambda key: key[1])
    ]

    def sign_off(catalog: Catalog) -> None:
        for message in catalog:
            if message.id:
                message.user_comments = ["review: ok AB 2026-05-14"]

    _edit(tree, Lang.QU, sign_off)
    assert check(tree, release=True) == []


def test_needs_translation_entries_are_counted(tree: Path) -> None:
    assert needs_translation_count(tree) == 0
    _edit(tree, Lang.QU, _set("Hola {name}", "Hola {name}"))
    _edit(tree, Lang.QU, _comments("Hola {name}", "review: needs-translation"))
    assert check(tree) == []
    assert needs_translation_count(tree) == 1
    assert (
        'qu: "Hola {name}": not reviewed (review: needs-translation); a release needs review: ok'
        in check(tree, release=True)
    )


def test_cli_check_exits_1_with_the_problem_list(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(tree, Lang.QU, _set("Hola {name}", ""))
    assert main(["--root", str(tree), "check"]) == 1
    err = capsys.readouterr().err
    assert 'qu: "Hola {name}": untranslated' in err
    assert main(["--root", str(tree), "check", "--release"]) == 1


def test_cli_hash_prints_the_source_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hash", "Pendiente", "--context", "estado de reclamo"]) == 0
    assert capsys.readouterr().out.strip() == source_hash("Pendiente", context="estado de reclamo")


def test_glossary_is_a_well_formed_terminology_list() -> None:
    with (ROOT / "locales" / "glossary.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "term_id",
        "es_PE",
        "qu",
        "qu_collao_note",
        "definition",
        "status",
        "approved_by",
        "date",
    ]
    assert len({row["term_id"] for row in rows}) == len(rows) >= 41
    assert {row["status"] for row in rows} <= {"draft", "approved"}
    assert all(row["es_PE"] and row["qu"] for row in rows)
    assert all(row["approved_by"] and row["date"] for row in rows if row["status"] == "approved")


#: Drafts a Chanka review found misleading (issue #17.3), with why; none may come back.
MISREADINGS = {
    "kallpachachkan": "reads 'is encouraging', not 'is forcing'",
    "munakunmi": "reads 'is loved', not 'is required'",
    "iskay minuto": "says one or two minutes; the deletion delay is configurable",
    "chaskisqachu": "mana chaskisqachu reads 'not received', not 'rejected'",
    "wakichisqa": "'the payment is ready' invites someone to go and collect it",
    "tarinchik": "inclusive 'we' includes the member",
    "Qunqaspayki": "same-subject -spa with different subjects",
    "kichanampaq": "the coordinator clears the PIN, not opens it",
    "usqhaylla": "Collao spelling; Chanka utqaylla",
    "llaqta": "town, not region (región)",
    "yanapakuy": "'help', confused with the SOS; service is servicio",
    "kamachikuy": "'order, law'; command is comando",
    "nombre clave": "Spanish left inside Quechua (pakasqa suti)",
    "n.º": "Spanish abbreviation left inside Quechua",
    "facil": "Spanish left inside Quechua",
    "minutu": "the loan is written minuto everywhere",
    "PIN de emergencia": "Spanish phrase left inside Quechua (emergenciapaq PIN)",
}


def test_quechua_drafts_avoid_the_known_misreadings() -> None:
    with po_path(ROOT / "locales", Lang.QU).open("rb") as handle:
        catalog = read_po(handle, locale="qu")
    found: list[str] = []
    for message in catalog:
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        for form in (str(text) for text in strings):
            found += [
                f"{word!r} in {form!r}: {why}" for word, why in MISREADINGS.items() if word in form
            ]
            # Chanka past tense: -rqa / -rqaku (Collao -rqan / -rqanku).
            found += [
                f"Collao past tense in {form!r}" for _ in re.finditer(r"rqan(?:ku|\b|ñ)", form)
            ]
    assert found == []


def test_glossary_has_the_terms_the_catalog_needs_and_no_contradiction() -> None:
    with (ROOT / "locales" / "glossary.csv").open(encoding="utf-8", newline="") as handle:
        rows = {row["term_id"]: row for row in csv.DictReader(handle)}
    for term in ("aviso", "borrar", "bloquear", "region", "servicio", "comando", "urgente"):
        assert term in rows, term
    # chaskisqa is "received": neither "aprobado" nor "rechazado" may be drafted with it.
    assert "chaskisqa" not in rows["aprobado"]["qu"] + rows["rechazado"]["qu"]
