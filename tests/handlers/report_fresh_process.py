"""``/informe`` in a fresh interpreter: the bot process never loads matplotlib (issue #16.6).

Not collected with the suite (no ``test_`` prefix): ``tests/handlers/test_report.py`` runs
``pytest`` on this file in a new process, where nothing imported matplotlib before, and
checks that it passed. In the suite's own process other tests import matplotlib, so only a
fresh interpreter can tell whether the bot loaded it.
"""

from __future__ import annotations

import sys

from bot.domain.models import Role
from bot.services.charts import PNG_SIGNATURE
from tests.conftest import RunningBot, seed_claims, seed_invite, seed_region, set_pin_in_chat
from tests.fakes.bot_api import Upload

JEFE = 813
PICHARI_CLAIM = (
    "R-2016-0007,Puma,Tornado 2016,2016-05-20,Pichari,1500.00,under_review,"
    "2026-03-04,Cita con el coordinador,2026-04-02"
)


def _charting_modules() -> list[str]:
    return [name for name in sys.modules if name.split(".")[0] in {"matplotlib", "numpy"}]


async def test_after_informe_the_bot_holds_no_matplotlib(running_bot: RunningBot) -> None:
    assert _charting_modules() == []  # nothing loaded it before the report
    services = running_bot.services
    await seed_region(services)
    await seed_invite(services, "Puma")  # the claim's informant
    code = await seed_invite(services, "Jefe", role=Role.COORDINATOR)
    await seed_claims(services, PICHARI_CLAIM)
    await running_bot.register(JEFE, code, "es")
    await set_pin_in_chat(running_bot, JEFE)
    running_bot.fake.push_message(JEFE, "/informe")
    await running_bot.settle()
    [photo] = running_bot.fake.photos(JEFE)
    assert photo.params["protect_content"] is True  # M-11
    upload = photo.params["photo"]
    assert isinstance(upload, Upload)
    assert upload.data.startswith(PNG_SIGNATURE)
    assert _charting_modules() == []  # drawn by a child process, gone with it
