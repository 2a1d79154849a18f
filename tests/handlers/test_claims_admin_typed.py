"""What a Peruvian coordinator really types into ``/nota``, ``/pago``, ``/paso`` and ``/monto``
(issue #16.2, tried as a new user would).

The commands are typed by people used to writing soles as ``S/ 1,500.50`` and notes of a
sentence or two; each test here is something a new coordinator hit. Real application, fake
Bot API, real SQLite file (the world of ``test_claims_admin``).
"""

from __future__ import annotations

import unicodedata

import pytest

from bot.domain.models import ClaimStatus
from bot.domain.pin import PinPass
from tests.conftest import RunningBot, seed_claims, seed_invite
from tests.handlers.test_claims_admin import ANA, JEFE, OTRO, World, _seed

UNAVAILABLE = "Este comando no está disponible. Escribe /menu."


@pytest.fixture
async def world(running_bot: RunningBot) -> World:
    await _seed(running_bot)
    return World.of(running_bot)


async def _approved(world: World) -> int:
    """Approve the claim and start a payment on it; its id."""
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    await world.press(JEFE, f"cadm:open:{claim_id}")
    await world.press(JEFE, world.buttons(JEFE)["Registrar pago"])
    return claim_id


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


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        (
            "/pago S/ 1,200.50 transferencia OP-123",
            "Pago: S/\xa01,200.50 (transferencia, referencia OP-123)",
        ),
        ("/pago S/. 300 yape", "Pago: S/\xa0300 (yape)"),
        ("/pago s/ 1,000 plin", "Pago: S/\xa01,000 (plin)"),
        ("/pago S/1500 efectivo", "Pago: S/\xa01,500 (efectivo)"),
        ("/pago 1,500 efectivo", "Pago: S/\xa01,500 (efectivo)"),
    ],
)
async def test_payments_typed_as_soles_are_written_in_peru(
    world: World, typed: str, shown: str
) -> None:
    """``S/ 1,500.50`` (with the space Peru writes after S/) was "Escribe /pago, el monto…"."""
    await _approved(world)
    preview = await world.say(JEFE, typed)
    assert shown in preview
    done = await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    assert done.startswith("Guardado. R-2016-0007")
    member = await world.bot.services.registration.identify(ANA)
    assert member is not None
    [claim] = await world.bot.services.claims.list_for(member, PinPass())
    assert claim.paid_cents > 0


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("/monto aprobado S/ 1,200", "Nuevo monto aprobado: S/\xa01,200"),
        ("/monto prometido S/ 2,000,000", "Nuevo monto prometido: S/\xa02,000,000"),
        ("/monto Prometido S/. 1,500.50", "Nuevo monto prometido: S/\xa01,500.50"),
    ],
)
async def test_amounts_typed_as_soles_are_written_in_peru(
    world: World, typed: str, shown: str
) -> None:
    claim_id, _, _ = await world.claim()
    await world.press(JEFE, f"cadm:open:{claim_id}")
    await world.press(JEFE, world.buttons(JEFE)["Cambiar montos"])
    assert shown in await world.say(JEFE, typed)


async def test_the_payment_reference_typed_is_shown_back(world: World) -> None:
    """The reference typed after the means (``OP-123``) was stored but shown nowhere: the
    coordinator could not check it in the preview nor find it under the opened claim."""
    await _approved(world)
    preview = await world.say(JEFE, "/pago S/ 500 transferencia BCP OP-123")
    assert "Pago: S/\xa0500 (transferencia, referencia BCP OP-123)" in preview
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    claim_id = (await world.claim())[0]
    opened = await world.press(JEFE, f"cadm:open:{claim_id}")
    assert "Pago: S/\xa0500 el 14/03/2026 (transferencia, referencia BCP OP-123)" in opened
    await world.press(JEFE, world.buttons(JEFE)["Registrar pago"])
    assert "Pago: S/\xa0100 (efectivo)" in await world.say(JEFE, "/pago 100 efectivo")


async def test_a_next_step_dated_in_the_past_is_refused(world: World) -> None:
    """``/paso 02/04/2025`` (last year's date typed by habit) was saved and shown to the
    informant as their next step; today is still a date for the next step."""
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:step:{claim_id}:{version}")
    refused = await world.say(JEFE, "/paso 13/03/2026 Cita con el coordinador")
    assert refused == (
        "Esa fecha ya pasó: el próximo paso va con una fecha de hoy en adelante."
        " Escribe /paso, la fecha y el paso."
    )
    assert "Próximo paso: Firma (14/03/2026)" in await world.say(JEFE, "/paso 14/03/2026 Firma")
    assert "Próximo paso: Cita (02/04/2026)" in await world.say(JEFE, "/paso 2/4/2026 Cita")


async def test_a_value_of_another_kind_of_change_says_which_change_is_under_way(
    world: World,
) -> None:
    """``/pago`` typed while a status change was under way was answered "No hay ningún cambio
    empezado", which was false: the change is shown again with what it takes."""
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    for typed in ("/pago 500 efectivo", "/paso 02/05/2026 Cita", "/monto aprobado 100"):
        await world.say(JEFE, typed)
        refusal, shown = world.fake.texts(JEFE)[-2:]
        assert refusal == (
            "Ese dato no es del cambio que tienes empezado; abajo está ese cambio."
            " Complétalo con lo que pide o pulsa Cancelar."
        )
        assert "Nuevo estado: Aprobado" in shown
        assert "Cancelar" in world.buttons(JEFE)
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    assert (await world.claim())[2] is ClaimStatus.APPROVED


async def test_a_plain_text_during_a_change_says_how_to_type_the_note(world: World) -> None:
    """A note typed as a plain message after the preview was answered "Este comando no está
    disponible", though the coordinator typed no command."""
    hint = (
        "Tu mensaje no se usó: en el cambio que tienes empezado, la nota va con /nota y el"
        " texto (p. ej. /nota Aprobado por el comité), y los datos con el comando que pide"
        " el cambio (/pago, /paso o /monto). Luego pulsa Confirmar."
    )
    assert await world.say(JEFE, "Aprobado por el comité") == UNAVAILABLE  # nothing under way
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    assert await world.say(JEFE, "Aprobado por el comité") == hint
    assert await world.say(OTRO, "Aprobado por el comité") == UNAVAILABLE  # not theirs
    await world.say(JEFE, "/nota Aprobado por el comité")
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    assert await world.say(JEFE, "Aprobado por el comité") == UNAVAILABLE  # saved: none
    assert await world.say(ANA, "hola") == UNAVAILABLE  # informants as before


async def test_a_codename_with_accents_is_found_however_the_keyboard_sends_them(
    world: World,
) -> None:
    """``/reclamos Cóndor`` with the accent sent decomposed (as some keyboards do) found
    nothing, though the informant is there."""
    code = await seed_invite(world.bot.services, "Cóndor")
    await world.bot.register(901, code, "qu")
    await seed_claims(
        world.bot.services,
        "R-2016-0010,Cóndor,Tornado 2016,2016-05-20,Pichari,500.00,under_review,2026-03-04,,",
    )
    for typed in ("Cóndor", "CÓNDOR", unicodedata.normalize("NFD", "cóndor")):
        listing = await world.say(JEFE, f"/reclamos {typed}")
        assert "<b>R-2016-0010</b> · Cóndor · En revisión" in listing
        assert "R-2016-0007" not in listing
