"""docs/security-tests.md §4.3, content, encoding, injection: what the other suites leave open.

T-25 (markup in the texts an informant receives), T-26 (no ``LIKE`` anywhere, so there are
no wildcards to escape), T-27 (Hypothesis over every parser of user input not fuzzed
elsewhere: callback data, invite payloads, alert values, quiet hours, codename files, deletion
ids, command caps), T-29 (odd ``language_code`` values on first contact) and T-30 (unknown
fields and incomplete updates leave the dispatcher running).
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.alerts import TEMPLATES, QuietHours, clean_param, template_params
from bot.domain.errors import InviteRejected, ValidationError
from bot.domain.models import Lang, NewInvite, Role
from bot.domain.notices import AlertSent, HelpRequested
from bot.i18n import Catalogs
from bot.services.invite_batch import parse_codenames
from bot.services.outbox import MAX_DELETE_IDS, parse_message_ids
from bot.services.registration import RegistrationService
from bot.services.safety import (
    MAX_COMMAND_ARGS,
    command_arg_limit,
    command_args_too_long,
    text_too_long,
)
from handlers.alerts.gates import parse_id
from handlers.claims import HISTORY_DATA
from handlers.notices import renderer_table
from handlers.registration import LANGUAGE_DATA
from tests.conftest import RunningBot, seed_invite, seed_region
from tests.security.helpers import NEUTRAL, PICKER
from tests.services.fakes import (
    T0,
    FakeClock,
    FakeUnitOfWork,
    InMemoryInvites,
    InMemoryMembers,
    InMemoryRegions,
)

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Callback data is at most 64 bytes (Bot API); fuzz a little beyond.
CALLBACK_DATA = st.one_of(
    st.text(max_size=80),
    st.from_regex(
        r"(claim|lang|alert|appr|help|wipe):[a-z]{0,6}:[0-9\u0663\uff13-]{0,22}", fullmatch=True
    ),
)
ANA, LUIS = 71_101, 71_102

# --------------------------------------------------------------------------- T-25

INJECTION = '<b>x</b> </code> & <a href="tg://user?id=1">pulsa</a> *_[]()~ `'


@pytest.mark.parametrize("lang", list(Lang))
def test_t25_free_text_alert_reaches_informants_escaped(lang: Lang) -> None:
    params = {"template": "", "text_es": INJECTION, "text_qu": INJECTION, "alert": "5"}
    params["severity"] = "urgent"
    notice = AlertSent.from_params(params)
    text = renderer_table().render(Catalogs.load(drafts=True), lang, notice).text
    assert "&lt;a href=&quot;tg://user?id=1&quot;&gt;pulsa&lt;/a&gt;" in text
    assert "<a " not in text
    assert "</code>" not in text
    assert "&amp;" in text
    assert "*_[]()~ `" in text  # HTML mode: Markdown characters are plain text


def test_t25_template_values_and_codenames_are_escaped_for_coordinators() -> None:
    catalogs = Catalogs.load(drafts=True)
    table = renderer_table()
    place = {"template": "avoid_area", "p_place": "<i>Río</i>", "p_time": "18:00", "alert": "1"}
    notice = AlertSent.from_params({**place, "severity": "warning"})
    alert = table.render(catalogs, Lang.ES, notice).text
    assert "&lt;i&gt;Río&lt;/i&gt;" in alert
    help_text = table.render(catalogs, Lang.ES, HelpRequested(1, ((3, INJECTION),)))
    assert "<a " not in help_text.text
    assert "&lt;b&gt;x&lt;/b&gt;" in help_text.text


# --------------------------------------------------------------------------- T-26


def test_t26_no_like_in_any_query_so_no_wildcard_can_widen_a_search() -> None:
    """T-26: ``%``/``_`` would only matter in ``LIKE``/``GLOB``; none exists (M-08).

    Every lookup of a user-typed value is an exact keyed-HMAC match. Adding a ``LIKE`` must
    come with wildcard escaping (``ESCAPE '\\'``) and this test must be changed with it.
    """
    # SQL keywords are upper case in this code base; "like ?" catches a lower-case query.
    pattern = re.compile(r"\b(LIKE|GLOB)\b|\b(like|glob)\s+[?:']")
    sources = [*ROOT.joinpath("storage").rglob("*.py"), *ROOT.joinpath("storage").rglob("*.sql")]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line) and not line.lstrip().startswith(("#", "--"))
    ]
    assert sources
    assert offenders == []


# --------------------------------------------------------------------------- T-27: callbacks


@FUZZ
@given(CALLBACK_DATA)
def test_t27_claim_history_data_is_a_positive_id_or_nothing(data: str) -> None:
    match = HISTORY_DATA.fullmatch(data)
    if match is not None:
        assert data == f"claim:history:{int(match[1])}"
        assert 0 < int(match[1]) < 10**18


@FUZZ
@given(st.integers(min_value=1, max_value=10**18 - 1))
def test_t27_claim_history_data_round_trips(claim_id: int) -> None:
    match = HISTORY_DATA.fullmatch(f"claim:history:{claim_id}")
    assert match is not None
    assert int(match[1]) == claim_id


@FUZZ
@given(CALLBACK_DATA)
def test_t27_language_data_is_one_of_two_languages_or_nothing(data: str) -> None:
    match = LANGUAGE_DATA.fullmatch(data)
    if match is not None:
        assert Lang(match[1]) in set(Lang)
        assert data == f"lang:set:{match[1]}"


@FUZZ
@given(CALLBACK_DATA, st.sampled_from([{"ok", "no"}, {"safe", "help"}, {"ack"}]))
def test_t27_numbered_button_data_parses_or_raises_value_error(
    data: str, actions: set[str]
) -> None:
    try:
        action, number = parse_id(data.split(":"), frozenset(actions))
    except ValueError:
        return
    assert action in actions
    assert number >= 0


@FUZZ
@given(st.sampled_from(["ok", "no", "safe", "help", "ack"]), st.integers(0, 10**15))
def test_t27_numbered_button_data_round_trips(action: str, number: int) -> None:
    assert parse_id(f"x:{action}:{number}".split(":"), frozenset({action})) == (action, number)


# --------------------------------------------------------------------------- T-27: invites

INVITE_PAYLOAD = st.one_of(
    st.text(max_size=100),
    st.from_regex(r"[A-Za-z0-9_-]{43}", fullmatch=True),
    st.text(alphabet="ABCabc019_-=+/.%\x00 ", min_size=40, max_size=46),
)


@FUZZ
@given(payload=INVITE_PAYLOAD, telegram_id=st.integers(min_value=1, max_value=2**52))
def test_t27_invite_payloads_only_ever_raise_invite_rejected(
    payload: str, telegram_id: int
) -> None:
    """≥ 200 arbitrary payloads: ``InviteRejected`` and nothing else, nobody linked."""

    async def attempt() -> None:
        members = InMemoryMembers()
        invites = InMemoryInvites(members, InMemoryRegions().seed("Pichari"))
        await invites.create(
            NewInvite(Role.INFORMANT, "Pichari", "Kuntur-fuzz", None, 72),
            "V" * 43,
            T0 + timedelta(hours=72),
            T0,
        )
        service = RegistrationService(
            FakeUnitOfWork(members=members, invites=invites), FakeClock()
        )
        with pytest.raises(InviteRejected) as caught:
            await service.redeem(telegram_id, payload)
        assert caught.value.args == ()
        assert await service.identify(telegram_id) is None

    if payload != "V" * 43:
        asyncio.run(attempt())


# --------------------------------------------------------------------------- T-27: others


@FUZZ
@given(st.sampled_from(sorted(TEMPLATES)), st.lists(st.text(max_size=40), max_size=4))
def test_t27_alert_values_bind_or_raise_validation_error(key: str, values: list[str]) -> None:
    try:
        bound = template_params(TEMPLATES[key], values)
    except ValidationError:
        return
    assert set(bound) == set(TEMPLATES[key].placeholders)
    assert all(clean_param(name, value) == value for name, value in bound.items())


@FUZZ
@given(st.text(max_size=20))
def test_t27_clock_times_are_hh_mm_or_refused(value: str) -> None:
    try:
        cleaned = clean_param("time", value)
    except ValidationError:
        return
    assert re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", cleaned)


@FUZZ
@given(st.one_of(st.text(max_size=12), st.from_regex(r"\d{1,2} ?- ?\d{1,2}", fullmatch=True)))
def test_t27_quiet_hours_parse_or_raise_value_error(text: str) -> None:
    try:
        parsed = QuietHours.parse(text)
    except ValueError:
        return
    if parsed is not None:
        assert 0 <= parsed.start <= 23
        assert 0 <= parsed.end <= 23
        assert parsed.start != parsed.end
        assert QuietHours.parse(f"{parsed.start}-{parsed.end}") == parsed


@FUZZ
@given(st.binary(max_size=600) | st.text(max_size=300).map(lambda s: s.encode("utf-8")))
def test_t27_codename_files_give_clean_names_or_line_errors(data: bytes) -> None:
    names, errors = parse_codenames(data)
    assert not (names and errors) or all(e.line >= 0 for e in errors)
    for number, name in names:
        assert number >= 1
        assert name == name.strip()
        assert "\n" not in name


@FUZZ
@given(st.text(max_size=120))
def test_t27_deletion_ids_are_positive_and_bounded_or_none(text: str) -> None:
    ids = parse_message_ids({"message_ids": text})
    if ids is not None:
        assert 0 < len(ids) <= MAX_DELETE_IDS
        assert all(i > 0 for i in ids)


@FUZZ
@given(st.one_of(st.none(), st.text(max_size=200)))
def test_t27_size_caps_never_raise(text: str | None) -> None:
    long_args = command_args_too_long(text)
    assert isinstance(long_args, bool)
    assert isinstance(text_too_long(text), bool)
    if long_args:
        assert text is not None
        command, *rest = text.split(maxsplit=1)
        limit = command_arg_limit(command)
        assert limit is not None
        assert limit >= MAX_COMMAND_ARGS
        assert len(rest[0].strip() if rest else "") > limit


# --------------------------------------------------------------------------- T-29

ODD_CODES = ["es-419", "ES", "xx", "", "q" * 300]


@pytest.mark.parametrize("language_code", ODD_CODES, ids=["es-419", "ES", "xx", "empty", "300"])
async def test_t29_first_contact_is_spanish_and_the_picker(
    running_bot: RunningBot, language_code: str
) -> None:
    bot = running_bot
    await seed_region(bot.services)
    code = await seed_invite(bot.services, "Kuntur-lang")
    bot.fake.push_message(LUIS, "hola", language_code=language_code)
    bot.fake.push_message(ANA, f"/start {code}", language_code=language_code)
    await bot.settle()

    assert bot.fake.texts(LUIS) == [NEUTRAL]  # strangers: Spanish, whatever the hint
    assert bot.fake.texts(ANA) == [PICKER]
    member = await bot.services.registration.identify(ANA)
    assert member is not None
    assert (member.lang, member.lang_chosen) == (Lang.ES, False)


async def test_t29_the_stored_choice_wins_over_later_hints(running_bot: RunningBot) -> None:
    bot = running_bot
    await seed_region(bot.services)
    await bot.register(ANA, await seed_invite(bot.services, "Kuntur-qu"), "qu")
    for hint in ("es", "es-PE", None):
        bot.fake.push_message(ANA, "/menu", language_code=hint)
        await bot.settle()
        keyboard = bot.fake.sent(ANA)[-1].params["reply_markup"]["keyboard"]
        assert keyboard[0][0]["text"] == "Mañakuyniykuna", hint
    member = await bot.services.registration.identify(ANA)
    assert member is not None
    assert member.lang is Lang.QU


# --------------------------------------------------------------------------- T-30


def _sender(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "X", "brand_new_flag": True}


async def test_t30_unknown_fields_and_incomplete_updates_leave_the_dispatcher_running(
    running_bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = running_bot
    now = int(time.time())
    chat = {"id": ANA, "type": "private", "first_name": "X", "future_chat_field": [1, 2]}
    # A newer Bot API: unknown fields on the message, the user, the chat and the update.
    bot.fake.push_update(
        {
            "message": {
                "message_id": 1,
                "date": now,
                "chat": chat,
                "from": _sender(ANA),
                "text": "hola",
                "paid_star_reaction": {"stars": 5},
            },
            "future_update_kind": {"anything": None},
        }
    )
    # A button press without its message (too old for Telegram to include it).
    bot.fake.push_update(
        {
            "callback_query": {
                "id": "orphan-1",
                "from": _sender(ANA),
                "chat_instance": "ci",
                "data": "lang:set:qu",
            }
        }
    )
    # A message without a sender and without text.
    bot.fake.push_update(
        {"message": {"message_id": 2, "date": now, "chat": {"id": ANA, "type": "private"}}}
    )
    await bot.settle()
    # The dispatcher still answers an ordinary update afterwards.
    bot.fake.push_message(LUIS, "/start")
    await bot.settle()

    assert bot.fake.texts(ANA) == [NEUTRAL]
    assert bot.fake.texts(LUIS) == [NEUTRAL]
    answered = [c.params["callback_query_id"] for c in bot.fake.calls_to("answerCallbackQuery")]
    assert answered == ["orphan-1"]
    assert [r for r in caplog.records if r.name == "handlers.errors"] == []
