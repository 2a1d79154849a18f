"""``/informe``: the operations report for coordinators and administrators (issue #16.6).

Real application, fake Bot API, real SQLite file: a coordinator sees the operations and
claims of their regions and nothing of another region's (M-04), an administrator all of
them, an informant "not available" (T-13), a Quechua coordinator the Quechua text; the PIN
comes first (M-05); the report is protected from forwarding, deleted later (M-10) and
audited with who asked.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image

from bot.domain.errors import NotAllowed
from bot.domain.models import Lang, Role
from bot.domain.oversight import summarize
from bot.i18n import Catalogs
from bot.services import charts
from handlers.render import render_operations_report
from tests.conftest import (
    STAFF_PIN,
    RunningBot,
    ServedFake,
    TestClock,
    seed_claims,
    seed_invite,
    seed_region,
    set_pin_in_chat,
)
from tests.fakes.bot_api import Upload
from tests.fakes.world import bot_process
from tests.security.helpers import query

ROOT = Path(__file__).resolve().parents[2]
ANA, WAYTA, JEFE, LEJOS, ADMIN = 811, 812, 813, 814, 815
NO_CHART = (
    "No se pudo dibujar el gráfico esta vez. El informe de arriba está completo; para ver el"
    " gráfico, vuelve a escribir /informe más tarde."
)
NO_CHART_QU = (
    "Kunanqa manam gráficota ruwayta atikurqachu. Hawapi kaq willakuyqa huntasqam; gráficota"
    " rikunaykipaq, qipaman /informe huktawan qillqay."
)
NOT_AVAILABLE = "Este comando no está disponible. Escribe /menu."
PICHARI_CLAIM = (
    "R-2016-0007,Puma,Tornado 2016,2016-05-20,Pichari,1500.00,under_review,"
    "2026-03-04,Cita con el coordinador,2026-04-02"
)
LLOCHEGUA_CLAIM = "R-2017-0002,Wayta,Halcón 2017,2017-08-01,Llochegua,800.00,approved,,,"


@dataclass(slots=True)
class World:
    bot: RunningBot
    db_path: Path

    async def say(self, user: int, text: str) -> list[str]:
        """Send ``text`` as ``user``; every message the bot sent back."""
        before = len(self.bot.fake.texts(user))
        self.bot.fake.push_message(user, text)
        await self.bot.settle()
        return self.bot.fake.texts(user)[before:]

    def audit(self) -> list[tuple[Any, ...]]:
        return query(
            self.db_path,
            "SELECT actor_role, action, result FROM audit"
            " WHERE action = 'report_operations' ORDER BY id",
        )

    def deletions(self) -> int:
        [(count,)] = query(self.db_path, "SELECT COUNT(*) FROM outbox WHERE kind = 'deletion'")
        return int(count)


@pytest.fixture
async def world(running_bot: RunningBot, tmp_path: Path) -> World:
    return await _seeded(running_bot, tmp_path)


async def _seeded(running_bot: RunningBot, tmp_path: Path) -> World:
    """Two regions' operations and claims; an informant in each, a coordinator of each (the
    second one reads Quechua) and an administrator, all registered, the staff with a PIN."""
    services = running_bot.services
    await seed_region(services)
    await seed_region(services, "Llochegua")
    codes = {
        ANA: (await seed_invite(services, "Puma"), "es"),
        WAYTA: (await seed_invite(services, "Wayta", region="Llochegua"), "es"),
        JEFE: (await seed_invite(services, "Jefe", role=Role.COORDINATOR), "es"),
        LEJOS: (
            await seed_invite(services, "Lejos", role=Role.COORDINATOR, region="Llochegua"),
            "qu",
        ),
        ADMIN: (await seed_invite(services, "Jefa", role=Role.ADMIN), "es"),
    }
    await seed_claims(services, PICHARI_CLAIM, LLOCHEGUA_CLAIM)
    for user, (code, lang) in codes.items():
        await running_bot.register(user, code, lang)
    for user in (JEFE, LEJOS, ADMIN):
        await set_pin_in_chat(running_bot, user)
    running_bot.fake.reset_calls()
    return World(running_bot, tmp_path / "db" / "chaski.sqlite3")


async def test_a_coordinator_sees_their_regions_operation_and_not_another_regions(
    world: World,
) -> None:
    deletions = world.deletions()
    [report] = await world.say(JEFE, "/informe")
    assert report.startswith("<b>Informe de operaciones al 14/03/2026</b>")
    assert "<b>Tornado 2016</b> · Pichari · 20/05/2016" in report
    assert "Informantes: 1" in report
    assert "Prometido: S/\xa01,500. Pagado: S/\xa00. Falta pagar: S/\xa01,500." in report
    assert "Reclamos atrasados: 1. Mayor atraso: 10 días." in report
    assert "<b>Total: 1 operación</b>" in report
    assert "Halcón" not in report  # Llochegua's operation (M-04)
    assert "S/\xa0800" not in report
    # A staff view of claim data: not forwardable, deleted after a few minutes (M-10), the
    # chart that follows the text too.
    [sent] = world.bot.fake.sent(JEFE)
    assert sent.params["protect_content"] is True
    [photo] = world.bot.fake.photos(JEFE)
    assert photo.params["protect_content"] is True
    assert world.deletions() == deletions + 2
    assert world.audit() == [("coordinator", "report_operations", "operations:1")]


async def test_an_administrator_sees_every_region(world: World) -> None:
    [report] = await world.say(ADMIN, "/informe")
    assert "<b>Tornado 2016</b> · Pichari" in report
    assert "<b>Halcón 2017</b> · Llochegua · 01/08/2017" in report
    assert "Sin reclamos atrasados." in report  # Halcón's claim has no promised date
    assert "<b>Total: 2 operaciones</b>" in report
    assert "Prometido: S/\xa02,300. Pagado: S/\xa00. Falta pagar: S/\xa02,300." in report
    assert world.audit() == [("admin", "report_operations", "operations:2")]


async def test_an_informant_gets_not_available(world: World) -> None:
    assert await world.say(ANA, "/informe") == [NOT_AVAILABLE]
    assert world.audit() == []  # the gate stopped it before the service
    # Behind the gate, the service refuses on its own (one ``authorize``) and audits it.
    informant = await world.bot.services.registration.identify(ANA)
    assert informant is not None
    with pytest.raises(NotAllowed):
        await world.bot.services.oversight.report_for(informant)
    assert world.audit() == [("informant", "report_operations", "denied")]


async def test_a_quechua_coordinator_reads_it_in_quechua(world: World) -> None:
    [report] = await world.say(LEJOS, "/informe")
    assert report.startswith("<b>Operacionkunamanta willakuy, 14/03/2026 punchawkama</b>")
    assert "<b>Halcón 2017</b> · Llochegua · 01/08/2017" in report
    assert "Willakuqkuna: 1" in report
    assert "Prometisqa: S/\xa0800. Pagasqa: S/\xa00. Manaraq pagasqa: S/\xa0800." in report
    assert "Manam mañakuykuna qipakunchu." in report
    assert "<b>Llapanpi: 1 operación</b>" in report
    assert "Tornado" not in report
    assert "Informe" not in report  # no Spanish left in the text


async def test_the_pin_is_asked_first(world: World) -> None:
    world.bot.clock.advance(timedelta(minutes=11))  # the PIN session has run out
    [asked] = await world.say(JEFE, "/informe")
    assert asked == "Escribe tu PIN. El bot borrará tu mensaje."
    assert world.audit() == []  # nothing was read
    await world.say(JEFE, STAFF_PIN)
    [report] = await world.say(JEFE, "/informe")
    assert "<b>Tornado 2016</b>" in report


async def test_a_long_report_is_cut_between_operations_within_telegrams_limit(
    world: World,
) -> None:
    rows = [
        f"R-2018-{n:04d},Puma,Operación número {n:03d} del valle,2018-01-01,Pichari,10.00,"
        "registered,,,"
        for n in range(1, 61)
    ]
    await seed_claims(world.bot.services, *rows)
    messages = await world.say(JEFE, "/informe")
    assert len(messages) > 1
    assert all(len(text) <= 4096 for text in messages)
    joined = "\n".join(messages)
    for n in range(1, 61):
        assert joined.count(f"<b>Operación número {n:03d} del valle</b>") == 1
    assert messages[-1].rstrip().endswith("Reclamos atrasados: 1. Mayor atraso: 10 días.")
    assert "<b>Total: 61 operaciones</b>" in messages[-1]


def test_regions_without_operations_say_so_in_one_message() -> None:
    catalogs = Catalogs.load(drafts=True)
    for lang, expected in (
        (Lang.ES, "No hay operaciones ni reclamos en tus regiones."),
        (Lang.QU, "Regionniykikunapiqa manam operacionkuna nitaq mañakuykuna kanchu."),
    ):
        report = summarize([], date(2026, 3, 14))
        [text] = render_operations_report(catalogs.for_lang(lang), lang, report)
        assert text.endswith(expected)
        assert "14/03/2026" in text


def _pixels(photo: object) -> np.ndarray:
    """The uploaded PNG as an RGB(A) array (0..1), read by matplotlib."""
    assert isinstance(photo, Upload)
    assert photo.data.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(image.imread(io.BytesIO(photo.data), format="png"))


def _has_colour(pixels: np.ndarray, colour: str) -> bool:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    return bool(np.any(np.all(np.abs(pixels[:, :, :3] * 255.0 - rgb) <= 3.0, axis=2)))


async def test_the_chart_follows_the_text_as_a_protected_photo_deleted_with_it(
    world: World,
) -> None:
    deletions = world.deletions()
    texts = await world.say(JEFE, "/informe")
    assert len(texts) == 1
    assert "<b>Tornado 2016</b> · Pichari" in texts[0]  # the text summary still comes
    [photo] = world.bot.fake.photos(JEFE)
    assert photo.params["protect_content"] is True  # M-11
    assert photo.params["disable_notification"] is True  # the text already notified
    assert "caption" not in photo.params  # one operation: nothing left out of the chart
    pixels = _pixels(photo.params["photo"])
    assert pixels.shape[1] >= 900  # sharp on a phone
    assert _has_colour(pixels, charts.PROMISED_COLOUR)
    assert _has_colour(pixels, charts.WAIT_COLOUR)  # the claim 10 days overdue
    # After the text, and deleted like it (M-10).
    [text_call] = world.bot.fake.sent(JEFE)
    assert text_call.at <= photo.at
    assert world.deletions() == deletions + 2


async def test_a_quechua_coordinator_gets_the_chart_too_and_an_informant_none(
    world: World,
) -> None:
    await world.say(LEJOS, "/informe")
    [photo] = world.bot.fake.photos(LEJOS)
    assert _has_colour(_pixels(photo.params["photo"]), charts.PROMISED_COLOUR)
    await world.say(ANA, "/informe")
    assert world.bot.fake.photos(ANA) == []


async def test_a_long_report_charts_the_operations_owed_most_and_says_so(world: World) -> None:
    rows = [
        f"R-2018-{n:04d},Puma,Operación número {n:03d} del valle,2018-01-01,Pichari,10.00,"
        "registered,,,"
        for n in range(1, 61)
    ]
    await seed_claims(world.bot.services, *rows)
    await world.say(JEFE, "/informe")
    [photo] = world.bot.fake.photos(JEFE)
    assert photo.params["caption"] == (
        "El gráfico muestra las 40 operaciones con más por pagar, de 61."
    )
    assert photo.params["protect_content"] is True


async def test_no_chart_when_the_regions_have_nothing(world: World) -> None:
    await seed_region(world.bot.services, "Vacía")
    boss = 816
    code = await seed_invite(world.bot.services, "Nadie", role=Role.COORDINATOR, region="Vacía")
    await world.bot.register(boss, code, "es")
    await set_pin_in_chat(world.bot, boss)
    [text] = await world.say(boss, "/informe")
    assert text.endswith("No hay operaciones ni reclamos en tus regiones.")
    assert world.bot.fake.photos(boss) == []


def test_after_informe_the_bot_process_holds_no_matplotlib() -> None:
    """The point of drawing in a child: after a report the bot has not grown by matplotlib.

    This suite's process imports matplotlib elsewhere, so the check runs in a fresh
    interpreter (tests/handlers/report_fresh_process.py, the same fixtures).
    """
    result = subprocess.run(  # this interpreter, our own test
        [sys.executable, "-m", "pytest", "tests/handlers/report_fresh_process.py", "-q"],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


async def test_a_chart_that_takes_too_long_gives_the_text_and_one_neutral_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    deletions = world.deletions()
    charts_process = world.bot.app.bot_data.charts
    charts_process.timeout = 0.05  # no child starts Python and matplotlib that fast: killed
    caplog.set_level(logging.WARNING)
    texts = await world.say(JEFE, "/informe")
    assert len(texts) == 2
    assert "<b>Tornado 2016</b> · Pichari" in texts[0]  # the report itself is whole
    assert texts[1] == NO_CHART
    assert world.bot.fake.photos(JEFE) == []
    assert all(call.params["protect_content"] is True for call in world.bot.fake.sent(JEFE))
    assert world.deletions() == deletions + 2  # the neutral line goes with the text (M-10)
    assert "Chart process killed after 0.05 s" in caplog.text
    for claim_data in ("Tornado", "Pichari", "1500", "1,500", "R-2016"):
        assert claim_data not in caplog.text
    assert "Traceback" not in caplog.text
    # In Quechua too.
    assert (await world.say(LEJOS, "/informe"))[1:] == [NO_CHART_QU]
    # The bot keeps working: with the usual timeout the next report has its chart.
    charts_process.timeout = charts.CHILD_TIMEOUT
    assert len(await world.say(JEFE, "/informe")) == 1
    [photo] = world.bot.fake.photos(JEFE)
    assert _has_colour(_pixels(photo.params["photo"]), charts.PROMISED_COLOUR)


async def test_the_operators_chart_time_limit_reaches_the_child(
    fake_api_server: ServedFake,
    tmp_path: Path,
    clock: TestClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``CHASKI_CHART_TIMEOUT`` (``Settings.chart_timeout``) is the limit the bot's child
    gets: far below what starting Python and matplotlib takes, every chart is killed."""
    async with bot_process(
        fake_api_server, tmp_path, clock, quechua_drafts=True, chart_timeout=0.05
    ) as bot:
        world = await _seeded(bot, tmp_path)
        caplog.set_level(logging.WARNING)
        texts = await world.say(JEFE, "/informe")
        assert len(texts) == 2
        assert texts[1] == NO_CHART
        assert world.bot.fake.photos(JEFE) == []
        assert "Chart process killed after 0.05 s" in caplog.text


async def test_a_chart_child_that_cannot_start_gives_the_text_and_one_neutral_line(
    fake_api_server: ServedFake,
    tmp_path: Path,
    clock: TestClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A child that cannot even be started (no interpreter there, no process slot left:
    ``OSError`` at spawn) fails like a stuck one: the report whole, then the one neutral
    line, deleted with it (M-10); logged without any of the report's content."""
    missing = tmp_path / "no-such-python"
    async with bot_process(
        fake_api_server, tmp_path, clock, quechua_drafts=True, chart_python=str(missing)
    ) as bot:
        world = await _seeded(bot, tmp_path)
        deletions = world.deletions()
        caplog.set_level(logging.WARNING)
        caplog.clear()  # the start's own lines name the test's folder
        texts = await world.say(JEFE, "/informe")
        assert len(texts) == 2
        assert "<b>Tornado 2016</b> · Pichari" in texts[0]
        assert texts[1] == NO_CHART
        assert world.bot.fake.photos(JEFE) == []
        assert world.deletions() == deletions + 2
        assert "Chart process could not start (No such file or directory)" in caplog.text
        for claim_data in ("Tornado", "Pichari", "1500", "1,500", "R-2016", str(missing)):
            assert claim_data not in caplog.text
        assert "Traceback" not in caplog.text
        # In Quechua too, and the bot keeps answering.
        assert (await world.say(LEJOS, "/informe"))[1:] == [NO_CHART_QU]
        assert (await world.say(JEFE, "/informe"))[1:] == [NO_CHART]
