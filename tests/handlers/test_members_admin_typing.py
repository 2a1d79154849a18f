"""``/miembros`` as an administrator types it on a phone (#16.3): without the accents.

Codenames are chosen with accents and ñ (``Ñusta Qhapaq``, ``José-Luis``); a phone keyboard
and a hurried administrator type ``nusta`` or ``JOSE``. The search found nothing, so the
member looked as if they were not enrolled.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.models import Role
from tests.conftest import RunningBot, seed_invite, seed_region, set_pin_in_chat
from tests.fakes.world import World

ADMIN = 903


@pytest.fixture
async def world(running_bot: RunningBot, tmp_path: Path) -> World:
    services = running_bot.services
    await seed_region(services)
    admin = await seed_invite(services, "Kóndor", role=Role.ADMIN)
    await seed_invite(services, "Ñusta Qhapaq")
    await seed_invite(services, "José-Luis")
    await running_bot.register(ADMIN, admin, "es")
    await set_pin_in_chat(running_bot, ADMIN)
    running_bot.fake.reset_calls()
    return World(running_bot, tmp_path / "db" / "chaski.sqlite3")


@pytest.mark.parametrize(
    ("typed", "found", "left_out"),
    [
        ("nusta", "Ñusta Qhapaq", "José-Luis"),
        ("ÑUSTA", "Ñusta Qhapaq", "José-Luis"),
        ("JOSE", "José-Luis", "Ñusta Qhapaq"),
        ("josé", "José-Luis", "Ñusta Qhapaq"),
    ],
)
async def test_the_search_ignores_accents_and_case(
    world: World, typed: str, found: str, left_out: str
) -> None:
    listing = await world.say(ADMIN, f"/miembros {typed}")
    assert f"<b>{found}</b>" in listing
    assert left_out not in listing
