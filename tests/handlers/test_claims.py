"""``/estado``, *Mis recompensas* and claim histories, end to end (M-04, T-10, T-13, T-25)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pytest

from bot.domain.models import Role
from bot.domain.pin import PinPass
from tests.conftest import RunningBot, seed_claims, seed_invite, seed_region
from tests.fakes.bot_api import MAX_TEXT_LENGTH, html_text

ANA, LUIS, COORD = 501, 502, 503
EXPIRED = "Este menú ya no está disponible. Escribe /menu."
NOT_AVAILABLE = "Este comando no está disponible. Escribe /menu."
# Today is 2026-03-14 in Lima (TestClock); the promised date 2026-03-04 is 10 days ago.
ANA_CLAIM = (
    "R-2016-0007,Puma,Tornado 2016,2016-05-20,Pichari,2000000.00,under_review,"
    "2026-03-04,Cita con el coordinador,2026-04-02"
)
LUIS_CLAIM = "R-2016-0008,Condor,Tornado 2016,2016-05-20,Pichari,150.00,approved,,,"


@dataclass(slots=True)
class Seeded:
    bot: RunningBot
    codes: dict[str, str]

    async def register(self, user_id: int, codename: str, lang: str = "es") -> None:
        await self.bot.register(user_id, self.codes[codename], lang)
        self.bot.fake.reset_calls()


@pytest.fixture
async def seeded(running_bot: RunningBot) -> Seeded:
    services = running_bot.services
    await seed_region(services)
    codes = {
        "Puma": await seed_invite(services, "Puma"),
        "Condor": await seed_invite(services, "Condor"),
        "Jefe": await seed_invite(services, "Jefe", role=Role.COORDINATOR),
    }
    await seed_claims(services, ANA_CLAIM, LUIS_CLAIM)
    return Seeded(running_bot, codes)


async def _claim_id(bot: RunningBot, user_id: int) -> int:
    member = await bot.services.registration.identify(user_id)
    assert member is not None
    [claim] = await bot.services.claims.list_for(member, PinPass())
    return claim.id


def _answered(bot: RunningBot) -> list[str]:
    return [c.params["callback_query_id"] for c in bot.fake.calls_to("answerCallbackQuery")]


async def test_status_in_spanish_shows_amounts_dates_overdue_and_next_step(
    seeded: Seeded,
) -> None:
    await seeded.register(ANA, "Puma", "es")
    fake = seeded.bot.fake

    fake.push_message(ANA, "/estado")
    await seeded.bot.settle()

    [call] = fake.sent(ANA)
    text = call.params["text"]
    assert text == (
        "<b>Puma</b>, estos son tus reclamos:\n\n"
        "Reclamo <b>R-2016-0007</b> · Tornado 2016\n"
        "Estado: En revisión\n"
        "Monto prometido: S/\xa02,000,000\n"
        "Pago atrasado 10 días.\n"
        "Próximo paso: Cita con el coordinador (02/04/2026)"
    )
    assert "R-2016-0008" not in text  # only the member's own claims
    [[button]] = call.params["reply_markup"]["inline_keyboard"]
    assert button == {
        "text": "Ver R-2016-0007",
        "callback_data": f"claim:history:{await _claim_id(seeded.bot, ANA)}",
    }
    assert call.params["parse_mode"] == "HTML"


async def test_status_in_quechua_uses_quechua_labels_and_qu_pe_formats(seeded: Seeded) -> None:
    await seeded.register(ANA, "Puma", "qu")
    fake = seeded.bot.fake

    fake.push_message(ANA, "Mañakuyniykuna")  # the Quechua menu button
    await seeded.bot.settle()

    [text] = fake.texts(ANA)
    assert "Imaynam kachkan: Qawarichkanku" in text
    assert "Prometisqa qullqi: S/\xa02,000,000" in text
    assert "Pagayqa 10 punchawñam qipakun." in text
    assert "Qatiq ruway: Cita con el coordinador (02/04/2026)" in text
    [[button]] = fake.sent(ANA)[0].params["reply_markup"]["inline_keyboard"]
    assert button["text"] == "R-2016-0007 qaway"


async def test_spanish_menu_button_lists_claims(seeded: Seeded) -> None:
    await seeded.register(ANA, "Puma", "es")

    seeded.bot.fake.push_message(ANA, "Mis trámites")
    await seeded.bot.settle()

    [text] = seeded.bot.fake.texts(ANA)
    assert "Reclamo <b>R-2016-0007</b>" in text


async def test_history_button_shows_the_visible_history(seeded: Seeded) -> None:
    await seeded.register(ANA, "Puma", "es")
    bot = seeded.bot
    bot.fake.push_message(ANA, "/estado")
    await bot.settle()
    status_id = bot.last_message_id(ANA)
    bot.fake.reset_calls()

    query_id = bot.fake.push_callback(
        ANA, f"claim:history:{await _claim_id(bot, ANA)}", message_id=status_id
    )
    await bot.settle()

    [text] = bot.fake.texts(ANA)
    assert text == (
        "Historial de <b>R-2016-0007</b> · Tornado 2016\n\n14/03/2026 10:00 · En revisión"
    )
    assert _answered(bot) == [query_id]


async def test_forged_callback_for_another_members_claim_is_a_stale_menu(
    seeded: Seeded,
) -> None:
    await seeded.register(LUIS, "Condor", "es")
    luis_claim = await _claim_id(seeded.bot, LUIS)
    await seeded.register(ANA, "Puma", "es")
    bot = seeded.bot

    query_id = bot.fake.push_callback(
        ANA, f"claim:history:{luis_claim}", message_id=bot.last_message_id(ANA)
    )
    await bot.settle()

    assert bot.fake.texts(ANA) == [EXPIRED]
    assert bot.fake.texts(LUIS) == []
    assert _answered(bot) == [query_id]


@pytest.mark.parametrize(
    "data",
    [
        "claim:history:abc",
        "claim:history:0",
        "claim:history:-1",
        "claim:history:1:2",
        "claim:history:99999999999999999999",
        "claim:delete:1",
        "x" * 64,
        "lang:",
        "menu:old",
    ],
)
async def test_garbage_callback_data_gets_menu_expired(seeded: Seeded, data: str) -> None:
    await seeded.register(ANA, "Puma", "es")
    bot = seeded.bot

    query_id = bot.fake.push_callback(ANA, data, message_id=bot.last_message_id(ANA))
    await bot.settle()

    assert bot.fake.texts(ANA) == [EXPIRED]
    assert _answered(bot) == [query_id]


@pytest.mark.parametrize("text", ["/estado", "Mis trámites"])
async def test_coordinator_gets_not_available_for_informant_status(
    seeded: Seeded, text: str
) -> None:
    await seeded.register(COORD, "Jefe", "es")

    seeded.bot.fake.push_message(COORD, text)
    await seeded.bot.settle()

    assert seeded.bot.fake.texts(COORD) == [NOT_AVAILABLE]


async def test_coordinator_menu_has_no_rewards_button(seeded: Seeded) -> None:
    await seeded.register(COORD, "Jefe", "es")

    seeded.bot.fake.push_message(COORD, "/menu")
    await seeded.bot.settle()

    [call] = seeded.bot.fake.sent(COORD)
    labels = [b["text"] for row in call.params["reply_markup"]["keyboard"] for b in row]
    # Alert commands on buttons (issue #12.6); still no rewards button.
    assert labels == ["Enviar aviso", "Avisos recientes", "Por aprobar", "Cómo usar", "Idioma"]


async def test_member_without_claims_is_told_so(running_bot: RunningBot) -> None:
    await seed_region(running_bot.services)
    code = await seed_invite(running_bot.services, "Puma")
    await running_bot.register(ANA, code, "qu")
    running_bot.fake.reset_calls()

    running_bot.fake.push_message(ANA, "/estado")
    await running_bot.settle()

    assert running_bot.fake.texts(ANA) == ["Manaraqmi mañakuyniyki kanchu."]


async def test_html_in_codename_operation_and_next_step_is_rendered_literally(
    running_bot: RunningBot,
) -> None:
    services = running_bot.services
    await seed_region(services)
    code = await seed_invite(services, "Zorro<b>&")
    await seed_claims(
        services,
        'R-1,Zorro<b>&,"<a href=""tg://user?id=1"">op</a>",2016-05-20,Pichari,10.00,'
        'registered,,"</code> *_[]()~ & <b>",',
    )
    await running_bot.register(ANA, code, "es")
    running_bot.fake.reset_calls()

    running_bot.fake.push_message(ANA, "/estado")
    await running_bot.settle()

    [text] = running_bot.fake.texts(ANA)
    assert "<b>Zorro&lt;b&gt;&amp;</b>" in text
    assert "&lt;a href=&quot;tg://user?id=1&quot;&gt;op&lt;/a&gt;" in text
    assert "Próximo paso: &lt;/code&gt; *_[]()~ &amp; &lt;b&gt;" in text
    assert "<a" not in text
    assert "</code>" not in text


def _csv_row(*fields: str) -> str:
    row = io.StringIO()
    csv.writer(row, lineterminator="").writerow(fields)
    return row.getvalue()


async def test_claims_far_longer_once_escaped_are_cut_into_valid_messages(
    running_bot: RunningBot,
) -> None:
    """#11.10: every ``"`` becomes six characters; each message still parses, fits, and the
    pages together show every claim whole, also on the pages reached with the buttons."""
    services, fake = running_bot.services, running_bot.fake
    codename = '"<&>' * 16  # 64 characters, 336 once escaped
    operation = '"&<>' + '"' * 196
    step = '&<"' + '"' * 497
    await seed_region(services)
    code = await seed_invite(services, codename)
    rows = [
        _csv_row(
            f"R-{n}",
            codename,
            operation,
            "2016-05-20",
            "Pichari",
            "10.00",
            "approved",
            "",
            step,
            "",
        )
        for n in range(1, 8)
    ]
    await seed_claims(services, *rows)
    await running_bot.register(ANA, code, "es")
    fake.reset_calls()

    fake.push_message(ANA, "/estado")
    await running_bot.settle()
    [listed] = fake.sent(ANA)
    message_id = running_bot.last_message_id(ANA)
    pages, keyboard = [listed.params["text"]], listed.params["reply_markup"]["inline_keyboard"]
    while f"claim:page:{len(pages)}" in {button["callback_data"] for button in keyboard[-1]}:
        fake.push_callback(ANA, f"claim:page:{len(pages)}", message_id=message_id)
        await running_bot.settle()
        edited = fake.calls_to("editMessageText")[-1].params
        pages.append(edited["text"])
        keyboard = edited["reply_markup"]["inline_keyboard"]

    assert [c for c in fake.calls if c.failed] == []
    shown = [html_text(text) for text in pages]  # no entity or tag cut in half
    assert all(len(text.encode("utf-16-le")) // 2 <= MAX_TEXT_LENGTH for text in shown)
    assert len(pages) > 2
    everything = "\n".join(shown)
    assert everything.count(f"Próximo paso: {step}") == 7  # nothing cut away
    assert everything.count(f"R-{7} · {operation}") == 1


async def test_help_lists_the_members_commands(seeded: Seeded) -> None:
    await seeded.register(ANA, "Puma", "es")

    seeded.bot.fake.push_message(ANA, "/ayuda")
    await seeded.bot.settle()

    # Two messages: the commands, then the safety rules with the menu buttons.
    [text, rules] = seeded.bot.fake.texts(ANA)
    assert "/estado · Ver tus trámites" in text
    assert "/idioma · Cambiar el idioma" in text
    assert "«Todavía no tienes trámites.»" in rules
    assert "/estado" not in rules
    [_, last] = seeded.bot.fake.sent(ANA)
    assert "keyboard" in last.params["reply_markup"]
