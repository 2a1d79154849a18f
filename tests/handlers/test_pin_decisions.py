"""The PIN decided in services, declared with the roles (issue #10, PIN items), end to end.

Real application, fake Bot API, real SQLite file. What is checked here is where the decision
lives: the PIN service decides (and arms the prompt), the claim service decides the duress
decoy and reads claims only with the pass of that decision, a command declared with a PIN
rule never runs its body without it, and the PIN continuations are a closed table that the
start-up checks.
"""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from telegram.ext import CallbackQueryHandler, CommandHandler

import handlers
from bot.domain.errors import NotFound
from bot.domain.models import Role
from bot.domain.pin import (
    PinAsked,
    PinLockedOut,
    PinMissing,
    PinPass,
    PinRule,
    Resume,
    SessionState,
)
from handlers.access import Guarded
from handlers.pin import PinText
from tests.conftest import (
    RunningBot,
    World,
    seed_claims,
    seed_invite,
    seed_region,
    set_pin_in_chat,
)
from tests.secrets_registry import remember
from tests.security.helpers import touching, traced

ANA, JEFE = 701, 702
PIN, DURESS, WRONG = "482916", "735204", "550913"
ASK = "Escribe tu PIN. El bot borrará tu mensaje."
CREATE_FIRST = "Primero crea tu PIN con /pin."
EMPTY = "Todavía no tienes trámites."
ANA_CLAIM = "R-2016-0007,Puma,Tornado 2016,2016-05-20,Pichari,150.00,approved,,,"
#: Past the PIN session (10 minutes at most, M-05).
LATER = timedelta(minutes=11)


@pytest.fixture
async def world(running_bot: RunningBot) -> World:
    services = running_bot.services
    await seed_region(services)
    await running_bot.register(ANA, await seed_invite(services, "Puma"))
    await running_bot.register(JEFE, await seed_invite(services, "Jefe", role=Role.COORDINATOR))
    await seed_claims(services, ANA_CLAIM)
    running_bot.fake.reset_calls()
    return World.of(running_bot)


async def _with_duress(world: World) -> None:
    """Ana's PIN and duress PIN, set in the chat; then her session runs out."""
    await set_pin_in_chat(world.bot, ANA, PIN)
    remember(DURESS)
    for text in ("/pin_duress", PIN, DURESS, DURESS):
        await world.say(ANA, text)
    assert world.last(ANA) == "Listo: tu PIN de emergencia quedó guardado."
    world.bot.clock.advance(LATER)


# ---------------------------------------------------------------------- claims after the PIN


async def test_estado_reads_no_claim_while_the_pin_is_asked(world: World) -> None:
    """M-05: with a closed session nothing of the claims is read (so nothing decrypted);
    after the PIN the list is read and shown."""
    await set_pin_in_chat(world.bot, ANA, PIN)
    world.bot.clock.advance(LATER)

    async with traced(world.bot) as seen:
        await world.say(ANA, "/estado")
    assert world.last(ANA) == ASK
    assert touching(seen, "claims", "claim_events", "operations") == []

    async with traced(world.bot) as seen:
        await world.say(ANA, PIN)
    assert "R-2016-0007" in world.last(ANA)
    assert touching(seen, "claims") != []  # the trace sees claim reads when there are some


async def test_the_pin_service_decides_and_arms_the_prompt_itself(world: World) -> None:
    """The decision is a value from the service: asked (prompt armed with the command to
    resume), locked, or "create one first" for staff; a pass otherwise."""
    services = world.bot.services
    ana = await world.member(ANA)
    assert await services.pin.admit(ana, PinRule.DATA, Resume.CLAIMS) == PinPass()  # no PIN

    await set_pin_in_chat(world.bot, ANA, PIN)
    ana = await world.member(ANA)
    assert await services.pin.admit(ana, PinRule.DATA) == PinPass()  # open session
    world.bot.clock.advance(LATER)
    assert not await services.pin.prompt_armed_for(ANA)
    assert await services.pin.admit(ana, PinRule.DATA, Resume.CLAIMS) == PinAsked()
    prompt = await services.pin.uow.pins.get_prompt(ana.id)
    assert prompt is not None
    assert prompt.then is Resume.CLAIMS

    remember(WRONG)
    for _ in range(5):
        await world.say(ANA, WRONG)
    decision = await services.pin.admit(ana, PinRule.DATA, Resume.CLAIMS)
    assert isinstance(decision, PinLockedOut)
    assert decision.until == world.bot.clock.now() + timedelta(minutes=15)

    jefe = await world.member(JEFE)
    assert await services.pin.admit(jefe, PinRule.ACTION) == PinMissing()


async def test_the_duress_decoy_is_decided_by_the_services(world: World) -> None:
    """M-13b: a duress session passes data commands as a decoy, and the claim service turns
    it into the real empty list (nothing read), while a history or another page of an old
    screen does not exist; a privileged action never counts a decoy session."""
    await _with_duress(world)
    services = world.bot.services
    ana = await world.member(ANA)
    [claim] = await services.claims.list_for(ana, PinPass())
    await services.pin.ask(ana)
    await services.pin.submit(ana, DURESS)
    assert await services.pin.session(ana) is SessionState.DECOY

    decision = await services.pin.admit(ana, PinRule.DATA, Resume.CLAIMS)
    assert decision == PinPass(decoy=True)
    assert isinstance(decision, PinPass)
    async with traced(world.bot) as seen:
        assert await services.claims.list_for(ana, decision) == []
        with pytest.raises(NotFound):
            await services.claims.history(ana, claim.id, decision)
        with pytest.raises(NotFound):
            await services.claims.page_of(ana, decision)
    assert touching(seen, "claims", "claim_events") == []
    assert await services.pin.admit(ana, PinRule.ACTION) == PinAsked()

    await world.say(ANA, "/estado")
    assert world.last(ANA) == EMPTY


# ---------------------------------------------------------------------- the declaration


#: Every chat command and button that needs the PIN today, with its rule (M-05).
PIN_COMMANDS = {
    "estado": PinRule.DATA,
    "aviso": PinRule.ACTION,
    "aviso_texto": PinRule.ACTION,
    "aviso_datos": PinRule.ACTION,
    "aprobar": PinRule.ACTION,
    "alertas": PinRule.ACTION,
    "pin_reset": PinRule.ACTION,
    "desvincular": PinRule.ACTION,
    "reclamos": PinRule.ACTION,
    "nota": PinRule.ACTION,
    "pago": PinRule.ACTION,
    "paso": PinRule.ACTION,
    "monto": PinRule.ACTION,
    "revisar": PinRule.ACTION,
    "miembros": PinRule.ACTION,
    "informe": PinRule.ACTION,
    # Schedules (issue #15): an informant's reminders are their data, the rest staff's.
    "recordatorios": PinRule.DATA,
    "recordar": PinRule.ACTION,
    "control": PinRule.ACTION,
    "programados": PinRule.ACTION,
}
#: By callback-data pattern (informants' answers to an alert are never gated: one tap).
PIN_BUTTONS = {
    "^claim:": PinRule.DATA,
    "^alert:": PinRule.ACTION,
    "^appr:": PinRule.ACTION,
    "^help:": PinRule.ACTION,
    "^afu:": PinRule.ACTION,
    "^unlink:": PinRule.ACTION,
    "^cadm:": PinRule.ACTION,
    "^madm:": PinRule.ACTION,
    "^mops:": PinRule.ACTION,
    "^sch:": PinRule.ACTION,
}


def test_every_command_declares_its_pin_rule_next_to_its_roles(running_bot: RunningBot) -> None:
    """The PIN rule is part of each handler's declaration, read from the real application:
    exactly the commands and buttons above have one, the others none."""
    commands: dict[str, PinRule | None] = {}
    buttons: dict[str, PinRule | None] = {}
    for handler in running_bot.app.handlers[handlers.FEATURES]:
        callback = handler.callback
        rule = callback.requirement.pin if isinstance(callback, Guarded) else None
        if isinstance(handler, CommandHandler):
            for name in handler.commands:
                commands[name] = rule
        elif isinstance(handler, CallbackQueryHandler) and handler.pattern is not None:
            buttons[str(getattr(handler.pattern, "pattern", handler.pattern))] = rule
    assert {name: rule for name, rule in commands.items() if rule} == PIN_COMMANDS
    assert {pattern: rule for pattern, rule in buttons.items() if rule} == PIN_BUTTONS
    assert buttons["^alert:(safe|help):"] is None


async def test_a_pin_declared_command_does_not_run_its_body_without_the_pin(
    world: World,
) -> None:
    """Even the body's first words (a usage hint) wait for the PIN: staff without a PIN are
    told to create one, with a PIN but no session they are asked for it."""
    await world.say(JEFE, "/desvincular")
    assert world.bot.fake.texts(JEFE) == [CREATE_FIRST]
    await world.say(JEFE, "/pin_reset")
    assert world.last(JEFE) == CREATE_FIRST

    await set_pin_in_chat(world.bot, JEFE)
    world.bot.clock.advance(LATER)
    world.bot.fake.reset_calls()
    await world.say(JEFE, "/desvincular")
    assert world.bot.fake.texts(JEFE) == [ASK]
    await world.say(JEFE, "482916")  # the PIN: no continuation, the member repeats
    assert world.last(JEFE) == "PIN correcto. Ya puedes continuar."
    await world.say(JEFE, "/desvincular")
    assert world.last(JEFE) == "Escribe /desvincular y el nombre clave."


def test_only_the_pin_service_makes_a_pin_pass() -> None:
    """A handler cannot hand a use case a pass of its own making: outside the tests,
    ``PinPass(...)`` is called in ``bot/services/pin.py`` only (``PinService.admit``)."""
    root = Path(__file__).resolve().parents[2]
    makers: set[str] = set()
    for package in ("bot", "handlers", "storage"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                func = node.func if isinstance(node, ast.Call) else None
                if isinstance(func, ast.Name) and func.id == "PinPass":
                    makers.add(path.relative_to(root).as_posix())
    assert makers == {"bot/services/pin.py"}


# ---------------------------------------------------------------------- continuations


def test_every_pin_continuation_has_its_command() -> None:
    """The closed set: one command per ``Resume``, each declared for that ``Resume``."""
    table = handlers.pin_continuations()
    assert set(table) == set(Resume)
    for resume, command in table.items():
        assert command.requirement.resume is resume
        assert command.requirement.pin is not None
    assert set(PinText(table).continuations) == set(Resume)


def test_a_missing_or_misplaced_continuation_stops_the_start() -> None:
    table = handlers.pin_continuations()
    without: dict[Resume, Guarded] = {
        resume: command for resume, command in table.items() if resume is not Resume.CLAIMS
    }
    with pytest.raises(ValueError, match="without a command: estado"):
        PinText(without)
    swapped = {**table, Resume.CLAIMS: table[Resume.ALERT_LIST]}
    with pytest.raises(ValueError, match="handed to another command"):
        PinText(swapped)


async def test_a_resumed_command_runs_through_its_own_gate(world: World) -> None:
    """The *Mis trámites* button asks for the PIN with the list as its continuation, which
    then runs through the command's own gate (roles, then the PIN service's decision)."""
    await set_pin_in_chat(world.bot, ANA, PIN)
    world.bot.clock.advance(LATER)
    await world.say(ANA, "Mis trámites")
    assert world.last(ANA) == ASK
    await world.say(ANA, PIN)
    assert "R-2016-0007" in world.last(ANA)
