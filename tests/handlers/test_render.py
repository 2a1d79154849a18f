"""Pure rendering of claims, histories and help, without Telegram (T-25, architecture.md §3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from gettext import NullTranslations
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from telegram.ext import CommandHandler

from bot.config import Settings
from bot.domain.models import Claim, ClaimEvent, ClaimStatus, Lang, Operation, Role
from bot.i18n import Catalogs
from bot.root.app import build_application
from handlers import FEATURES
from handlers.access import Guarded
from handlers.menus import button_labels, chat_commands, help_commands, main_keyboard
from handlers.pin import duress_text
from handlers.render import (
    CLAIMS_PER_PAGE,
    MAX_MESSAGE,
    MAX_NOTE,
    _claim_texts,
    _paginate,
    _status_labels,
    render_claim,
    render_claim_list,
    render_claim_page,
    render_help,
    render_history,
    render_safety_rules,
    status_label,
)
from tests.conftest import TOKEN
from tests.fakes.bot_api import MAX_TEXT_LENGTH, html_text

LIMA = ZoneInfo("America/Lima")
TODAY = date(2026, 3, 14)
CATALOGS = Catalogs.load(drafts=True)
ES, QU = CATALOGS.for_lang(Lang.ES), CATALOGS.for_lang(Lang.QU)

CLAIM = Claim(
    id=7,
    reference="R-2016-0007",
    member_id=1,
    operation=Operation(id=1, label="Tornado 2016", date=date(2016, 5, 20), region="Pichari"),
    region="Pichari",
    status=ClaimStatus.PARTIALLY_PAID,
    promised_cents=200_000_000,
    approved_cents=150_000_000,
    paid_cents=50_000,
    promised_date=date(2026, 3, 13),
    next_step="Segundo pago",
    next_step_date=date(2026, 4, 2),
    updated_at=datetime(2026, 3, 1, tzinfo=UTC),
    version=1,
)


def test_every_status_has_a_distinct_label_in_both_languages() -> None:
    for t in (ES, QU):
        labels = [status_label(t, status) for status in ClaimStatus]
        assert len(set(labels)) == len(ClaimStatus)
    # Unreviewed payment statuses carry the Spanish alongside while drafts are served.
    assert status_label(QU, ClaimStatus.PAID) == "Pagasqañam / Pagado"
    assert status_label(QU, ClaimStatus.APPROVED) == "Arí nisqañam / Aprobado"
    assert status_label(ES, ClaimStatus.UNDER_REVIEW) == "En revisión"


def test_claim_shows_all_amounts_one_day_overdue_and_next_step_in_spanish() -> None:
    assert render_claim(ES, Lang.ES, CLAIM, TODAY) == (
        "Reclamo <b>R-2016-0007</b> · Tornado 2016\n"
        "Estado: Pagado en parte\n"
        "Monto prometido: S/\xa02,000,000\n"
        "Monto aprobado: S/\xa01,500,000\n"
        "Pagado hasta ahora: S/\xa0500\n"
        "Pago atrasado 1 día.\n"
        "Próximo paso: Segundo pago (02/04/2026)"
    )


def test_fixed_texts_are_kept_per_catalog_and_never_hold_claim_data() -> None:
    """Each catalog's sentences are translated once; the claims are formatted every time."""
    spanish = render_claim(ES, Lang.ES, CLAIM, TODAY)
    quechua = render_claim(QU, Lang.QU, CLAIM, TODAY)
    other = replace(CLAIM, reference="R-2016-0099", status=ClaimStatus.REOPENED)

    assert spanish != quechua
    assert render_claim(ES, Lang.ES, CLAIM, TODAY) == spanish  # catalogs are not mixed up
    assert render_claim(QU, Lang.QU, other, TODAY).startswith("Mañakuy <b>R-2016-0099</b>")
    assert "Estado: Reabierto" in render_claim(NullTranslations(), Lang.ES, other, TODAY)
    for t in (ES, QU):
        kept = repr((_claim_texts(t), _status_labels(t)))
        for data in ("R-2016-00", "Tornado", "Segundo pago", "Puma", "S/"):
            assert data not in kept


def test_claim_in_quechua_uses_quechua_sentences_and_qu_pe_dates() -> None:
    text = render_claim(QU, Lang.QU, CLAIM, TODAY)

    assert "Imaynam kachkan: Wakinllam pagasqa" in text
    assert "Arí nisqa qullqi: S/\xa01,500,000" in text
    assert "Pagayqa 1 punchawñam qipakun." in text
    assert "Qatiq ruway: Segundo pago (02/04/2026)" in text


@pytest.mark.parametrize(
    ("status", "promised", "expected"),
    [
        (ClaimStatus.APPROVED, date(2026, 3, 14), None),  # due today: not late yet
        (ClaimStatus.APPROVED, date(2026, 3, 4), "Pago atrasado 10 días."),
        (ClaimStatus.PAID, date(2026, 1, 1), None),  # paid: nothing is owed
        (ClaimStatus.APPROVED, None, None),
    ],
)
def test_overdue_line_only_when_the_promised_date_passed_unpaid(
    status: ClaimStatus, promised: date | None, expected: str | None
) -> None:
    text = render_claim(ES, Lang.ES, replace(CLAIM, status=status, promised_date=promised), TODAY)

    lines = [line for line in text.splitlines() if "atrasado" in line]
    assert lines == ([expected] if expected else [])


def test_optional_lines_are_left_out() -> None:
    bare = replace(CLAIM, approved_cents=None, paid_cents=0, next_step=None, next_step_date=None)

    text = render_claim(ES, Lang.ES, bare, TODAY)

    assert "aprobado" not in text
    assert "Pagado hasta" not in text
    assert "Próximo" not in text
    dated = render_claim(ES, Lang.ES, replace(bare, next_step_date=date(2026, 4, 2)), TODAY)
    assert dated.endswith("Fecha del próximo paso: 02/04/2026")


def test_markup_in_data_is_escaped() -> None:
    hostile = replace(
        CLAIM,
        operation=replace(CLAIM.operation, label='<a href="tg://user?id=1">x</a>'),
        next_step="</code> & <b>",
    )

    [page] = render_claim_list(ES, Lang.ES, "<i>Puma</i>", [hostile], TODAY)

    assert "<b>&lt;i&gt;Puma&lt;/i&gt;</b>" in page.text
    assert "&lt;a href=&quot;tg://user?id=1&quot;&gt;x&lt;/a&gt;" in page.text
    assert "Próximo paso: &lt;/code&gt; &amp; &lt;b&gt; (02/04/2026)" in page.text


def test_long_lists_are_split_within_the_limit_keeping_every_claim() -> None:
    claims = [
        replace(CLAIM, id=i, reference=f"R-2016-{i:04d}", next_step="x" * 400) for i in range(60)
    ]

    pages = render_claim_list(ES, Lang.ES, "Puma", claims, TODAY)

    assert len(pages) > 1
    assert all(len(page.text) <= MAX_MESSAGE for page in pages)
    assert [c.id for page in pages for c in page.claims] == list(range(60))
    for page in pages:
        for claim in page.claims:
            assert f"<b>{claim.reference}</b>" in page.text
    assert pages[0].text.startswith("<b>Puma</b>, estos son tus reclamos:")


#: Raw text whose escaped form is about six times as long: every ``"`` becomes ``&quot;``.
QUOTES_OPERATION = '"&<>' + '"' * 196
QUOTES_STEP = '&<"' + '"' * 497


def _shown(texts: list[str]) -> str:
    """What a reader sees across messages; each must be valid HTML within Telegram's limit."""
    shown = [html_text(text) for text in texts]  # ValueError on a cut entity or tag
    assert all(len(text) <= MAX_MESSAGE for text in texts)
    assert all(len(text.encode("utf-16-le")) // 2 <= MAX_TEXT_LENGTH for text in shown)
    return "\n".join(shown)


def test_an_oversized_claim_block_is_cut_between_lines_never_inside_an_entity() -> None:
    """#11.10: escaped, one claim is longer than a message; each cut falls between lines."""
    claims = [
        replace(
            CLAIM,
            id=i,
            reference=f"R-2016-{i:04d}",
            operation=replace(CLAIM.operation, label=QUOTES_OPERATION),
            next_step=QUOTES_STEP,
        )
        for i in range(3)
    ]
    assert len(render_claim(ES, Lang.ES, claims[0], TODAY)) > MAX_MESSAGE

    pages = render_claim_list(ES, Lang.ES, '"<&>' * 16, claims, TODAY)
    first = render_claim_page(ES, Lang.ES, '"<&>' * 16, claims, TODAY, number=0)
    paged = [
        render_claim_page(ES, Lang.ES, '"<&>' * 16, claims, TODAY, number=n)
        for n in range(first.count)
    ]

    for texts in ([page.text for page in pages], [page.text for page in paged]):
        shown = _shown(texts)
        assert shown.count(f"Próximo paso: {QUOTES_STEP} (02/04/2026)") == 3  # nothing lost
        assert shown.count(f"· {QUOTES_OPERATION}") == 3
    for page in [*pages, *paged]:  # a message with the rest of a claim keeps its button
        assert page.claims
    assert {claim.id for page in pages for claim in page.claims} == {0, 1, 2}


def test_a_line_longer_than_a_message_is_cut_between_tokens_with_tags_closed() -> None:
    """The last resort: a single line over the limit is cut between entities and tags, the
    first piece filling the room left under the header, and a tag open at a cut is closed
    and opened again, so each message parses on its own."""
    header = "<b>" + "&quot;" * 500 + "</b>"
    block = "<b>" + "&amp;" * 2000 + "</b> " + "x&lt;" * 10

    pages = _paginate(header, [(block, "item")], MAX_MESSAGE)

    texts = [text for text, _ in pages]
    shown = _shown(texts).replace("\n", "")  # cuts add no characters, only message breaks
    assert shown == '"' * 500 + "&" * 2000 + " " + "x<" * 10
    assert [items for _, items in pages] == [["item"]] * len(pages)
    assert len(pages) == 4
    assert texts[0].startswith(header + "\n\n<b>&amp;")
    assert all(text.startswith("<b>&amp;") for text in texts[1:])
    assert all(text.endswith("&amp;</b>") for text in texts[:-1])


def test_a_history_with_a_long_escaped_note_fits_and_loses_nothing() -> None:
    claim = replace(CLAIM, operation=replace(CLAIM.operation, label=QUOTES_OPERATION))
    note = '"' * (MAX_NOTE - 1)
    events = [
        ClaimEvent(7, datetime(2026, 3, 2, 13, 0, tzinfo=UTC), ClaimStatus.PAID, note, True)
    ] * 2

    texts = render_history(ES, Lang.ES, LIMA, claim, events)

    assert _shown(texts).count(note) == 2


def test_empty_list_says_so_without_buttons() -> None:
    [page] = render_claim_list(QU, Lang.QU, "Puma", [], TODAY)

    assert page.text == "Manaraqmi mañakuyniyki kanchu."
    assert page.claims == ()


def test_history_in_lima_time_with_escaped_clipped_notes() -> None:
    events = [
        ClaimEvent(7, datetime(2026, 3, 1, 20, 5, tzinfo=UTC), ClaimStatus.APPROVED, None, True),
        ClaimEvent(
            7, datetime(2026, 3, 2, 13, 0, tzinfo=UTC), ClaimStatus.PAID, "<b>" * 400, True
        ),
    ]

    [text] = render_history(ES, Lang.ES, LIMA, CLAIM, events)

    lines = text.split("\n")
    assert lines[0] == "Historial de <b>R-2016-0007</b> · Tornado 2016"
    assert lines[2] == "01/03/2026 15:05 · Aprobado"
    assert lines[4] == "02/03/2026 08:00 · Pagado"
    assert lines[5].endswith("…")
    assert "<b>" not in lines[5]
    assert lines[5].count("&lt;b&gt;") == (MAX_NOTE - 1) // 3


def test_history_without_events() -> None:
    [text] = render_history(QU, Lang.QU, LIMA, CLAIM, [])

    assert text.endswith("Manaraqmi ima tikraypas qillqasqachu.")


def test_help_lists_role_commands_in_the_members_language() -> None:
    informant, _ = render_help(QU, Role.INFORMANT, help_commands(QU, Role.INFORMANT))
    coordinator, rules = render_help(ES, Role.COORDINATOR, help_commands(ES, Role.COORDINATOR))

    assert "/estado · Mañakuyniykikunata qaway" in informant
    assert "/pin · PINniykita ruway utaq tikray" in informant
    assert "/estado" not in coordinator
    assert "/idioma · Cambiar el idioma" in coordinator
    assert "/aviso_texto · Aviso con texto libre" in coordinator
    assert "/pin · Crear o cambiar tu PIN (obligatorio para avisos y aprobaciones)" in coordinator
    assert "fotografiar" in rules


INFORMANT_MENU = ["estado", "pin", "menu", "idioma", "ayuda", "borrar"]
STAFF_MENU = [
    "aviso",
    "alertas",
    "aprobar",
    "reclamos",
    "revisar",
    "informe",
    "pin",
    "pin_reset",
    "desvincular",
    "menu",
    "idioma",
    "ayuda",
    "borrar",
]
#: Administrators also manage registrations (issue #16.3).
ADMIN_MENU = [*STAFF_MENU[:9], "miembros", *STAFF_MENU[9:]]


@pytest.mark.parametrize(
    ("role", "menu"),
    [
        (Role.INFORMANT, INFORMANT_MENU),
        (Role.COORDINATOR, STAFF_MENU),
        (Role.ADMIN, ADMIN_MENU),
    ],
)
@pytest.mark.parametrize("t", [ES, QU], ids=["es", "qu"])
def test_chat_menu_of_each_role(t: NullTranslations, role: Role, menu: list[str]) -> None:
    commands = chat_commands(t, role)
    assert [command for command, _ in commands] == menu
    # Telegram's limits for a command menu entry (docs/telegram-limits.md §1).
    assert all(1 <= len(text) <= 256 for _, text in commands)
    assert all(text.strip() == text for _, text in commands)


def _roles_of_registered_commands(tmp_path: Path) -> dict[str, frozenset[Role]]:
    """Each registered chat command and the roles its ``requires`` declaration names."""
    settings = Settings(
        bot_token=TOKEN, database_path=tmp_path / "db.sqlite3", key_dir=tmp_path / "keys"
    )
    app = build_application(settings)
    roles: dict[str, frozenset[Role]] = {}
    for handler in app.handlers[FEATURES]:
        if isinstance(handler, CommandHandler):
            callback = handler.callback
            gate = callback.requirement.roles if isinstance(callback, Guarded) else frozenset()
            for command in handler.commands:
                roles[command] = gate
    return roles


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("t", [ES, QU], ids=["es", "qu"])
def test_help_explains_exactly_the_commands_the_role_may_use(
    t: NullTranslations, role: Role, tmp_path: Path
) -> None:
    registered = _roles_of_registered_commands(tmp_path)
    assert registered["start"] == frozenset()  # the invite link; no role gate, no help entry
    assert registered["pin_duress"] == frozenset({Role.INFORMANT})
    allowed = {command for command, roles in registered.items() if role in roles}
    explained = [command for command, _ in help_commands(t, role)]
    assert len(explained) == len(set(explained))
    assert set(explained) == allowed
    assert {command for command, _ in chat_commands(t, role)} <= set(explained)
    commands, rules = render_help(t, role, help_commands(t, role))
    assert all(f"/{command} · " in commands for command in allowed)
    assert not any(f"/{command} · " in rules for command in allowed)
    assert len(commands) <= MAX_MESSAGE


def test_informant_help_says_what_the_bot_never_asks_for() -> None:
    informant = render_safety_rules(ES, Role.INFORMANT)
    coordinator = render_safety_rules(ES, Role.COORDINATOR)
    never = (
        "El bot nunca te pedirá ir a un lugar, ni tu ubicación, nombres, fotos o dinero. Si un"
        " mensaje lo pide, no lo hagas y avisa a tu coordinador."
    )
    assert never in informant
    assert never not in coordinator
    # M-11: protect_content does not stop a photo of the screen; everyone is told.
    for text in (informant, coordinator):
        assert "No se pueden reenviar, pero sí fotografiar" in text
    quechua = render_safety_rules(QU, Role.INFORMANT)
    assert QU.gettext(never) in quechua
    assert QU.gettext(never) != never


# --- issue #14.8: delays in years and months, pages, status dates ----------------------------


@pytest.mark.parametrize(
    ("promised", "expected"),
    [
        (date(2026, 1, 14), "Pago atrasado 59 días."),
        (date(2026, 1, 13), "Pago atrasado 2 meses."),
        (date(2025, 3, 15), "Pago atrasado 11 meses."),
        (date(2025, 3, 14), "Pago atrasado 1 año."),
        (date(2024, 2, 14), "Pago atrasado 2 años y 1 mes."),
        (date(2016, 5, 20), "Pago atrasado 9 años y 9 meses."),  # 3585 days
    ],
)
def test_long_delays_are_told_in_years_and_months(promised: date, expected: str) -> None:
    claim = replace(CLAIM, status=ClaimStatus.APPROVED, promised_date=promised)
    lines = render_claim(ES, Lang.ES, claim, TODAY).splitlines()
    assert expected in lines


def test_long_delays_in_quechua() -> None:
    claim = replace(CLAIM, status=ClaimStatus.APPROVED, promised_date=date(2016, 5, 20))
    assert "Pagayqa 9 wata 9 killañam qipakun." in render_claim(QU, Lang.QU, claim, TODAY)


def test_a_page_holds_a_few_claims_and_says_which_page_it_is() -> None:
    claims = [replace(CLAIM, id=i, reference=f"R-2016-{i:04d}") for i in range(12)]

    first = render_claim_page(ES, Lang.ES, "Puma", claims, TODAY, number=0)
    last = render_claim_page(ES, Lang.ES, "Puma", claims, TODAY, number=99)

    assert [c.id for c in first.claims] == list(range(CLAIMS_PER_PAGE))
    assert (first.number, first.count) == (0, 3)
    assert first.text.startswith("<b>Puma</b>, estos son tus reclamos:")
    assert first.text.endswith("\n\nPágina 1 de 3")
    assert (last.number, [c.id for c in last.claims]) == (2, [10, 11])
    assert last.text.endswith("Página 3 de 3")
    alone = render_claim_page(ES, Lang.ES, "Puma", claims[:1], TODAY, number=0)
    assert "Página" not in alone.text
    empty = render_claim_page(ES, Lang.ES, "Puma", [], TODAY, number=3)
    assert (empty.text, empty.claims) == ("Todavía no tienes trámites.", ())


def test_pages_of_long_claims_still_fit_one_message() -> None:
    claims = [
        replace(CLAIM, id=i, reference=f"R-2016-{i:04d}", next_step="&" * 500) for i in range(10)
    ]
    pages = [render_claim_page(ES, Lang.ES, "Puma", claims, TODAY, number=n) for n in range(20)]
    assert all(len(page.text) <= MAX_MESSAGE for page in pages)
    assert {c.id for page in pages for c in page.claims} == set(range(10))


def test_history_shows_the_day_the_status_took_effect_when_known() -> None:
    events = [
        ClaimEvent(
            7,
            datetime(2026, 3, 1, 20, 5, tzinfo=UTC),
            ClaimStatus.APPROVED,
            None,
            True,
            effective=date(2019, 5, 30),
        ),
    ]
    [text] = render_history(ES, Lang.ES, LIMA, CLAIM, events)
    assert text.split("\n")[2] == "30/05/2019 · Aprobado"


@pytest.mark.parametrize("t", [ES, QU], ids=["es", "qu"])
def test_the_emergency_pin_shows_exactly_what_ayuda_and_pin_duress_promise(
    t: NullTranslations,
) -> None:
    [decoy] = render_claim_list(t, Lang.ES, "Puma", [], TODAY)  # what a duress session gets
    quoted = f"«{decoy.text}»"
    assert quoted in render_safety_rules(t, Role.INFORMANT)  # /ayuda
    assert quoted in duress_text(t)  # /pin_duress


@pytest.mark.parametrize("t", [ES, QU], ids=["es", "qu"])
def test_menu_buttons_posted_as_the_members_text_are_neutral(t: NullTranslations) -> None:
    for role in Role:
        for label in button_labels(t).values():
            lowered = label.lower()
            # Nothing that betrays a reward programme on a seized phone, and no "help" word
            # that looks like the SOS button.
            assert not any(word in lowered for word in ("recompens", "ayuda", "yanap")), label
        assert main_keyboard(t, role).keyboard


@pytest.mark.parametrize("t", [ES, QU], ids=["es", "qu"])
@pytest.mark.parametrize("role", list(Role))
def test_help_fits_a_phone_screen(t: NullTranslations, role: Role) -> None:
    """Commands and safety rules apart: the rules read at a glance, the list stays short."""
    commands, rules = render_help(t, role, help_commands(t, role))
    # About one screen of a 360-dp phone; the Quechua also carries the unreviewed emergency
    # PIN rule's Spanish. Staff lists are longer: /aviso_texto, /aviso_datos and /recordar
    # need examples, the schedules' commands came with issue #15 and the claim commands
    # (/reclamos, /nota, /pago, /paso, /monto, /revisar) with issue #16.2.
    assert len(rules) <= (450 if t is ES else 720)
    assert len(commands) <= (450 if role is Role.INFORMANT else 1200)
