"""Coordinators keep claims true in the chat (issue #16.2), end to end.

Real application, fake Bot API, real SQLite file: ``/reclamos``, opening a claim, changing its
status with a visible or internal note, recording a payment, refusals with their reasons; a
coordinator outside the claim's region and a demoted one pressing an old button (refused,
audited; M-04, T-10, T-11); two coordinators confirming at once (compare-and-set); an edit
that survives a restart of the bot.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.models import ClaimStatus, Role
from bot.domain.pin import PinPass
from tests.conftest import (
    CLAIMS_HEADER,
    RunningBot,
    ServedFake,
    TestClock,
    seed_claims,
    seed_invite,
    seed_region,
    sender_of,
    set_pin_in_chat,
)
from tests.fakes.world import World as SharedWorld
from tests.fakes.world import bot_process
from tests.secrets_registry import remember
from tests.security.helpers import query

ANA, JEFE, OTRO, LEJOS = 801, 802, 803, 804
EXPIRED = "Este menú ya no está disponible. Escribe /menu."
CHANGED = (
    "Otra persona cambió este reclamo mientras tanto; tu cambio no se guardó."
    " Ábrelo de nuevo con /reclamos para ver cómo quedó."
)
ANA_CLAIM = (
    "R-2016-0007,Puma,Tornado 2016,2016-05-20,Pichari,1500.00,under_review,"
    "2026-03-04,Cita con el coordinador,2026-04-02"
)


@dataclass(slots=True)
class World(SharedWorld):
    async def claim(self) -> tuple[int, int, ClaimStatus]:
        found = self.query("SELECT id, version, status FROM claims ORDER BY id")
        claim_id, version, status = found[0]
        return int(claim_id), int(version), ClaimStatus(status)


async def _seed(bot: RunningBot) -> None:
    services = bot.services
    await seed_region(services)
    await seed_region(services, "Llochegua")
    codes = {
        ANA: await seed_invite(services, "Puma"),
        JEFE: await seed_invite(services, "Jefe", role=Role.COORDINATOR),
        OTRO: await seed_invite(services, "Otro", role=Role.COORDINATOR),
        LEJOS: await seed_invite(services, "Lejos", role=Role.COORDINATOR, region="Llochegua"),
    }
    await seed_claims(services, ANA_CLAIM)
    for user, code in codes.items():
        await bot.register(user, code, "es")
    for user in (JEFE, OTRO, LEJOS):
        await set_pin_in_chat(bot, user)
    bot.fake.reset_calls()


@pytest.fixture
async def world(running_bot: RunningBot) -> World:
    await _seed(running_bot)
    return World.of(running_bot)


async def test_coordinator_finds_opens_and_approves_with_a_visible_note(world: World) -> None:
    listing = await world.say(JEFE, "/reclamos")
    assert "<b>R-2016-0007</b> · Puma · En revisión · 10 días de atraso" in listing
    claim_id, version, _ = await world.claim()
    assert world.buttons(JEFE)["R-2016-0007"] == f"cadm:open:{claim_id}"

    opened = await world.press(JEFE, f"cadm:open:{claim_id}")
    assert "Informante: Puma" in opened
    assert "Monto prometido: S/\xa01,500" in opened
    buttons = world.buttons(JEFE)
    assert buttons["→ Aprobado"] == f"cadm:to:{claim_id}:{version}:approved"
    assert "→ Pagado" not in buttons  # paid follows from payments only

    preview = await world.press(JEFE, buttons["→ Aprobado"])
    assert "Nuevo estado: Aprobado" in preview
    preview = await world.say(JEFE, "/nota Aprobado por el comité")
    assert "Nota: Aprobado por el comité" in preview
    assert "El informante verá la nota." in preview
    done = await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    assert done.startswith("Guardado. R-2016-0007 ahora está en «Aprobado».")

    assert await world.claim() == (claim_id, version + 1, ClaimStatus.APPROVED)
    history = query(
        world.db_path,
        "SELECT status, visible, actor_id IS NOT NULL FROM claim_events"
        " WHERE claim_id = ? ORDER BY id",
        (claim_id,),
    )
    assert history[-1] == ("approved", 1, 1)
    assert world.audit("claim_status") == [
        ("coordinator", "claim_status", f"claim:{claim_id}", "ok")
    ]
    # Nothing of the note is in the database in clear (M-07).
    assert b"comit" not in world.db_path.read_bytes()


async def test_an_internal_note_stays_out_of_the_informants_history(world: World) -> None:
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    await world.say(JEFE, "/nota Verificado con el expediente 12")
    internal = await world.press(JEFE, "cadm:vis:0")
    assert "La nota es interna: el informante no la verá." in internal
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    member = await world.bot.services.registration.identify(ANA)
    assert member is not None
    _, events = await world.bot.services.claims.history(member, claim_id, PinPass())
    assert [e.status for e in events][-1] is ClaimStatus.APPROVED
    assert all(e.note is None for e in events)  # the informant sees the change, not the note


async def test_rejection_needs_a_reason_and_says_so(world: World) -> None:
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:rejected")
    refused = await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    assert refused == "Para rechazar hace falta el motivo: escribe /nota y el motivo."
    assert (await world.claim())[2] is ClaimStatus.UNDER_REVIEW
    await world.say(JEFE, "/nota Sin pruebas de participación")  # the edit was kept
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    assert (await world.claim())[2] is ClaimStatus.REJECTED
    closed = query(world.db_path, "SELECT closed_at IS NOT NULL FROM claims")
    assert closed == [(1,)]


async def test_payments_are_recorded_and_overpaying_is_refused(world: World) -> None:
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    await world.press(JEFE, f"cadm:open:{claim_id}")
    asked = await world.press(JEFE, world.buttons(JEFE)["Registrar pago"])
    assert "/pago 1500.50 transferencia OP-123" in asked
    preview = await world.say(JEFE, "/pago 2000 transferencia OP-9")
    assert "Pago: S/\xa02,000 (transferencia, referencia OP-9)" in preview
    refused = await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    assert refused == "Ese pago es mayor que lo que falta pagar."
    await world.say(JEFE, "/pago 500 transferencia OP-9")
    done = await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    assert "«Pagado en parte»" in done
    [payment] = query(world.db_path, "SELECT paid_on, amount_enc FROM claim_payments")
    assert payment[0] == "2026-03-14"
    member = await world.bot.services.registration.identify(ANA)
    assert member is not None
    [claim] = await world.bot.services.claims.list_for(member, PinPass())
    assert claim.paid_cents == 50_000


async def test_an_imported_paid_amount_shows_as_a_payment_from_the_file(world: World) -> None:
    """Issue #16.6: the file's paid amount is a payment, shown neutrally, and a payment in
    chat adds a row beside it, so the paid total is the sum of the payments listed."""
    remember("R-2016-0009")
    await world.bot.services.claims_import.import_file(
        (
            CLAIMS_HEADER + ",paid_amount,status_date\n"
            "R-2016-0009,Puma,Tornado 2016,2016-05-20,Pichari,1500.00,partially_paid,"
            "2026-03-04,,,400,2025-11-03\n"
        ).encode()
    )
    claim_id = world.query("SELECT id FROM claims ORDER BY id DESC")[0][0]
    opened = await world.press(JEFE, f"cadm:open:{claim_id}")
    assert "Pago: S/\xa0400 el 03/11/2025 (según la planilla importada)" in opened
    assert "(import)" not in opened
    await world.press(JEFE, world.buttons(JEFE)["Registrar pago"])
    await world.say(JEFE, "/pago 100 efectivo")
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    opened = await world.press(JEFE, f"cadm:open:{claim_id}")
    assert "Pago: S/\xa0400 el 03/11/2025 (según la planilla importada)" in opened
    assert "Pago: S/\xa0100 el 14/03/2026 (efectivo)" in opened
    assert world.query("SELECT imported FROM claim_payments ORDER BY id") == [(1,), (0,)]
    member = await world.bot.services.registration.identify(ANA)
    assert member is not None
    mine = {c.reference: c for c in await world.bot.services.claims.list_for(member, PinPass())}
    assert mine["R-2016-0009"].paid_cents == 50_000


async def test_bad_typed_values_get_a_clear_answer(world: World) -> None:
    assert await world.say(JEFE, "/nota algo") == (
        "No hay ningún cambio empezado. Abre un reclamo con /reclamos."
    )
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:step:{claim_id}:{version}")
    # The example is two weeks ahead of today, so copying it is never refused as past.
    example = (world.bot.clock.today() + timedelta(days=14)).strftime("%d/%m/%Y")
    assert f"/paso {example} Cita" in await world.say(JEFE, "/paso mañana cita")
    assert "Próximo paso: Cita con el coordinador" in await world.say(
        JEFE, f"/paso {example} Cita con el coordinador"
    )
    preview = await world.say(JEFE, "/paso 02/05/2026 Firma del acta")
    assert "Próximo paso: Firma del acta (02/05/2026)" in preview
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    member = await world.bot.services.registration.identify(ANA)
    assert member is not None
    [claim] = await world.bot.services.claims.list_for(member, PinPass())
    assert claim.next_step == "Firma del acta"


async def test_coordinator_outside_the_region_is_refused_and_audited(world: World) -> None:
    claim_id, version, _ = await world.claim()
    found = await world.say(LEJOS, "/reclamos R-2016-0007")
    assert found.startswith("No hay reclamos que coincidan en tus regiones.")
    assert await world.press(LEJOS, f"cadm:open:{claim_id}") == EXPIRED
    assert await world.press(LEJOS, f"cadm:to:{claim_id}:{version}:rejected") == EXPIRED
    assert await world.claim() == (claim_id, version, ClaimStatus.UNDER_REVIEW)
    assert world.audit("update_claim") == [
        ("coordinator", "update_claim", f"claim:{claim_id}", "denied"),
        ("coordinator", "update_claim", f"claim:{claim_id}", "denied"),
    ]
    assert "R-2016-0007" not in "".join(world.fake.texts(LEJOS))


async def test_a_demoted_coordinator_pressing_an_old_button_is_refused(world: World) -> None:
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:open:{claim_id}")
    approve = world.buttons(JEFE)["→ Aprobado"]
    jefe = await world.bot.services.registration.identify(JEFE)
    assert jefe is not None
    # An administrator moves Jefe to another region while the menu is still open.
    with closing(sqlite3.connect(world.db_path)) as conn, conn:
        conn.execute(
            "UPDATE member_regions SET region_id = (SELECT id FROM regions WHERE name ="
            " 'Llochegua') WHERE member_id = ?",
            (jefe.id,),
        )
    assert await world.press(JEFE, approve) == EXPIRED
    assert await world.claim() == (claim_id, version, ClaimStatus.UNDER_REVIEW)
    assert world.audit("update_claim")[-1][3] == "denied"
    # Demoted to informant: the staff button is not theirs any more at all.
    with closing(sqlite3.connect(world.db_path)) as conn, conn:
        conn.execute("UPDATE members SET role = 'informant' WHERE id = ?", (jefe.id,))
    assert await world.press(JEFE, approve) == EXPIRED
    assert await world.claim() == (claim_id, version, ClaimStatus.UNDER_REVIEW)


async def test_two_coordinators_editing_one_claim_the_second_is_told(world: World) -> None:
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    jefe_confirm = world.buttons(JEFE)["Confirmar"]
    await world.press(OTRO, f"cadm:to:{claim_id}:{version}:rejected")
    await world.say(OTRO, "/nota No corresponde")
    otro_confirm = world.buttons(OTRO)["Confirmar"]
    # Both press Confirmar in the same batch of updates.
    world.fake.push_callback(JEFE, jefe_confirm, message_id=world.bot.last_message_id(JEFE))
    world.fake.push_callback(OTRO, otro_confirm, message_id=world.bot.last_message_id(OTRO))
    await world.bot.settle()
    assert world.fake.texts(JEFE)[-1].startswith("Guardado.")
    assert world.fake.texts(OTRO)[-1] == CHANGED
    assert await world.claim() == (claim_id, version + 1, ClaimStatus.APPROVED)
    assert query(
        world.db_path, "SELECT count(*) FROM claim_events WHERE note_enc IS NOT NULL"
    ) == [(0,)]
    # The loser's edit is gone: pressing again is an old button.
    assert await world.press(OTRO, otro_confirm) == EXPIRED


# ---------------------------------------------------------------------- restart


async def test_an_edit_survives_a_restart_of_the_bot(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    db_path = tmp_path / "db" / "chaski.sqlite3"
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        await _seed(bot)
        world = World(bot, db_path)
        claim_id, version, _ = await world.claim()
        await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
        await world.say(JEFE, "/nota Revisado antes del reinicio")
        confirm = world.buttons(JEFE)["Confirmar"]
        message_id = bot.last_message_id(JEFE)
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        replies = len(fake_api_server.fake.sent(JEFE))
        fake_api_server.fake.push_callback(JEFE, confirm, message_id=message_id)
        await fake_api_server.fake.wait_for_call("sendMessage", chat_id=JEFE, count=replies + 1)
        await bot.settle()
        assert fake_api_server.fake.texts(JEFE)[-1].startswith("Guardado.")
        world = World(bot, db_path)
        assert await world.claim() == (claim_id, version + 1, ClaimStatus.APPROVED)
        assert query(db_path, "SELECT count(*) FROM claim_edits") == [(0,)]


# ---------------------------------------------------------------------- the informant's push


NEWS_ES = "Tienes novedades. Abre el menú."
NEWS_QU = "Musuq willayniykikuna kachkan. Menúta kichay."


async def _news_rows(world: World) -> list[tuple[str, str]]:
    rows = query(
        world.db_path,
        "SELECT template, status FROM outbox WHERE template = 'claim_news' ORDER BY id",
    )
    return [(str(template), str(status)) for template, status in rows]


async def _deliver(world: World, user: int, count: int) -> None:
    """Let the push's short wait pass and the sender deliver ``count`` messages to ``user``."""
    world.bot.clock.advance(timedelta(minutes=3))
    sender_of(world.bot.services).wake()
    await world.fake.wait_for_call("sendMessage", chat_id=user, count=count)


async def _approve_and_pay(world: World) -> int:
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    await world.press(JEFE, f"cadm:pay:{claim_id}:{version + 1}")
    await world.say(JEFE, "/pago 500 transferencia OP-9")
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    return claim_id


async def test_changes_in_a_short_while_reach_the_informant_as_one_neutral_push(
    world: World,
) -> None:
    before = len(world.fake.sent(ANA))
    await _approve_and_pay(world)
    assert len(world.fake.sent(ANA)) == before  # nothing yet: the push waits for more
    assert await _news_rows(world) == [
        ("claim_news", "cancelled"),  # replaced by the second change's push
        ("claim_news", "queued"),
    ]
    await _deliver(world, ANA, before + 1)
    await world.bot.settle()
    pushes = world.fake.sent(ANA)[before:]
    assert [call.params["text"] for call in pushes] == [NEWS_ES]
    assert pushes[0].params["protect_content"] is True
    # The details only when the informant opens their claims.
    details = await world.say(ANA, "/estado")
    assert "Estado: Pagado en parte" in details
    assert "Pagado hasta ahora: S/\xa0500" in details


async def test_the_push_speaks_the_informants_language_and_details_wait_for_the_pin(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    services = bot.services
    await seed_region(services)
    codes = {
        ANA: await seed_invite(services, "Puma"),
        JEFE: await seed_invite(services, "Jefe", role=Role.COORDINATOR),
    }
    await seed_claims(services, ANA_CLAIM)
    await bot.register(ANA, codes[ANA], "qu")
    await bot.register(JEFE, codes[JEFE], "es")
    await set_pin_in_chat(bot, JEFE)
    await set_pin_in_chat(bot, ANA, "739164")
    world = World(bot, tmp_path / "db" / "chaski.sqlite3")
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    before = len(world.fake.sent(ANA))
    bot.clock.advance(timedelta(minutes=11))  # Ana's PIN session has run out
    sender_of(bot.services).wake()
    await world.fake.wait_for_call("sendMessage", chat_id=ANA, count=before + 1)
    await bot.settle()
    assert world.fake.texts(ANA)[before:] == [NEWS_QU]
    # Opening the claims asks for the PIN first: no detail before it.
    asked = await world.say(ANA, "Mañakuyniykuna")
    assert "R-2016-0007" not in asked
    assert "PIN" in asked
    shown = await world.say(ANA, "739164")
    assert "R-2016-0007" in shown
    assert "Arí nisqañam" in shown


# ---------------------------------------------------------------------- amounts (M-14)

SECOND_PERSON = "Otra persona debe decidir sobre este cambio, no quien lo pidió."


async def test_an_amount_change_waits_for_a_second_person(world: World) -> None:
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    await world.press(JEFE, f"cadm:open:{claim_id}")
    await world.press(JEFE, world.buttons(JEFE)["Cambiar montos"])
    too_much = await world.say(JEFE, "/monto aprobado 2000")
    assert "Nuevo monto aprobado: S/\xa02,000" in too_much
    refused = await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    assert refused == "El monto aprobado no puede superar el prometido."
    await world.say(JEFE, "/monto aprobado 1200")
    asked = await world.press(JEFE, world.buttons(JEFE)["Confirmar"])
    assert asked == (
        "Pedido enviado: el cambio de monto de R-2016-0007 espera la aprobación de otra persona."
    )
    ana = await world.bot.services.registration.identify(ANA)
    assert ana is not None
    [claim] = await world.bot.services.claims.list_for(ana, PinPass())
    assert claim.approved_cents == 150_000  # nothing changed yet

    # Neither the requester nor a coordinator of another region may decide it.
    assert await world.say(JEFE, "/revisar") == "No hay cambios de monto por aprobar."
    [(request_id,)] = query(world.db_path, "SELECT id FROM claim_amount_requests")
    assert await world.press(JEFE, f"cadm:amok:{request_id}") == SECOND_PERSON
    assert await world.press(LEJOS, f"cadm:amok:{request_id}") == SECOND_PERSON
    otro = await world.bot.services.registration.identify(OTRO)
    assert otro is not None
    notified = query(
        world.db_path,
        "SELECT member_id FROM outbox WHERE template = 'claim_amount_approval'",
    )
    assert notified == [(otro.id,)]

    listing = await world.say(OTRO, "/revisar")
    assert "<b>R-2016-0007</b>: cambio pedido por Jefe" in listing
    assert "Nuevo monto aprobado: S/\xa01,200" in listing
    done = await world.press(OTRO, world.buttons(OTRO)["Aprobar cambio"])
    assert done == "Aprobado: los montos de R-2016-0007 quedaron cambiados."
    [claim] = await world.bot.services.claims.list_for(ana, PinPass())
    assert claim.approved_cents == 120_000
    assert await world.press(OTRO, f"cadm:amok:{request_id}") == EXPIRED  # decided already
    decisions = query(
        world.db_path,
        "SELECT action, result FROM audit WHERE action LIKE 'claim_amount%' ORDER BY id",
    )
    assert decisions == [
        ("claim_amount_request", "pending"),
        ("claim_amounts", "ok"),
        ("claim_amount_decide", "approved"),
    ]
    denied = world.audit("approve_claim_amount")
    assert [row[3] for row in denied] == ["denied", "denied"]


async def test_who_asked_for_an_amount_change_is_told_the_decision(world: World) -> None:
    claim_id, version, _ = await world.claim()
    await world.press(JEFE, f"cadm:to:{claim_id}:{version}:approved")
    await world.press(JEFE, world.buttons(JEFE)["Confirmar"])

    async def ask(amount: str) -> None:
        await world.press(JEFE, f"cadm:open:{claim_id}")
        await world.press(JEFE, world.buttons(JEFE)["Cambiar montos"])
        await world.say(JEFE, f"/monto aprobado {amount}")
        await world.press(JEFE, world.buttons(JEFE)["Confirmar"])

    async def told() -> str:
        before = len(world.fake.sent(JEFE))
        sender_of(world.bot.services).wake()
        await world.fake.wait_for_call("sendMessage", chat_id=JEFE, count=before + 1)
        await world.bot.settle()
        [text] = world.fake.texts(JEFE)[before:]
        return text

    await ask("1200")
    await world.say(OTRO, "/revisar")
    await world.press(OTRO, world.buttons(OTRO)["Aprobar cambio"])
    assert await told() == (
        "Se aprobó el cambio que pediste en un trámite. Escribe /reclamos para verlo."
    )
    await ask("1100")
    await world.say(OTRO, "/revisar")
    await world.press(OTRO, world.buttons(OTRO)["Rechazar cambio"])
    assert await told() == (
        "Se rechazó el cambio que pediste en un trámite. Escribe /reclamos para verlo."
    )
    # The claim changes before the second person decides: nothing applies, and the one who
    # asked hears so.
    await ask("1150")
    _claim_id, version, _ = await world.claim()
    await world.press(OTRO, f"cadm:to:{claim_id}:{version}:payment_scheduled")
    await world.press(OTRO, world.buttons(OTRO)["Confirmar"])
    assert (await world.claim())[2] is ClaimStatus.PAYMENT_SCHEDULED
    await world.say(OTRO, "/revisar")
    await world.press(OTRO, world.buttons(OTRO)["Aprobar cambio"])
    assert await told() == (
        "El cambio que pediste en un trámite no se aplicó: el trámite cambió antes."
        " Escribe /reclamos para verlo."
    )
    jefe = await world.bot.services.registration.identify(JEFE)
    assert jefe is not None
    queued = query(
        world.db_path,
        "SELECT member_id FROM outbox WHERE template = 'claim_amount_decided' ORDER BY id",
    )
    assert queued == [(jefe.id,)] * 3  # to the requester only, never to the informant
