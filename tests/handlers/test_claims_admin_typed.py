"""What a Peruvian coordinator really types into ``/nota``, ``/pago``, ``/paso`` and ``/monto``
(issue #16.2, tried as a new user would).

The commands are typed by people used to writing soles as ``S/ 1,500.50`` and notes of a
sentence or two; each test here is something a new coordinator hit. Real application, fake
Bot API, real SQLite file (the world of ``test_claims_admin``).
"""

from __future__ import annotations

import pytest

from bot.domain.models import ClaimStatus
from tests.conftest import RunningBot
from tests.handlers.test_claims_admin import JEFE, World, _seed


@pytest.fixture
async def world(running_bot: RunningBot) -> World:
    await _seed(running_bot)
    return World.of(running_bot)


async def test_a_note_of_a_few_sentences_is_taken(world: World) -> None:
    """A note longer than 64 characters was answered "Este comando no está disponible": the
    generic cap on command arguments cut every note a coordinator would really write."""
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    note = (
        "Aprobado por el comité regional en la sesión del 3 de marzo; falta la firma del"
        " jefe de la base de Pichari 🙏"
    )
    assert len(note) > 64
    preview = await world.say(JEFE, f"/nota {note}")
    assert f"Nota: {note}" in preview
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    assert (await world.claim())[2] is ClaimStatus.APPROVED


async def test_a_note_over_500_characters_is_refused_with_the_reason(world: World) -> None:
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    refused = await world.say(JEFE, "/nota " + "á" * 501)
    assert refused == "El texto es demasiado largo; acórtalo."
    assert "Nota: " + "á" * 500 in await world.say(JEFE, "/nota " + "á" * 500)


async def test_a_long_next_step_is_taken(world: World) -> None:
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:step:{claim_id}:{version}")
    step = "Cita con el coordinador en la oficina de Pichari, traer DNI y la constancia firmada"
    preview = await world.say(JEFE, f"/paso 02/04/2026 {step}")
    assert f"Próximo paso: {step} (02/04/2026)" in preview
