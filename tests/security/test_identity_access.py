"""security-tests.md §4.1, identity, registration, access control: the cases nothing else covers.

T-04 (refusals run identical statements), T-05 (bad payloads never reach the invite table,
through the real handler), T-06 (per-account lock through the handler), T-07 (names and
``language_code`` change nothing), T-12 (a moved or demoted coordinator is judged afresh),
T-13 (every staff command from an informant gets the generic answer), and the alarms and
audits added later: T-06 (failures across accounts alarm the administrators), T-08 (leaving a
group is audited without the chat), T-11 (repeated out-of-scope actions notify the
administrators). The other §4.1 cases are proved where docs/security-tests.md says.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.models import Lang, Role
from tests.conftest import RunningBot, seed_claims, seed_invite, seed_region, set_pin_in_chat
from tests.security.helpers import (
    EXPIRED,
    NEUTRAL,
    NOT_AVAILABLE,
    PICKER,
    db_file,
    query,
    touching,
    traced,
    write,
)

ANA, PUMA = 70_101, 70_201
INVITE_TABLES = ("invites", "members", "account_counters", "audit")


@pytest.fixture
async def region(running_bot: RunningBot) -> RunningBot:
    await seed_region(running_bot.services, "Pichari")
    await seed_region(running_bot.services, "Kimbiri")
    return running_bot


async def _start(bot: RunningBot, user_id: int, payload: str) -> tuple[int, list[str]]:
    """``/start <payload>`` from ``user_id``; the message id and the statement shapes run."""
    async with traced(bot) as seen:
        message_id = bot.fake.push_message(user_id, f"/start {payload}")
        await bot.settle()
    return message_id, touching(seen, *INVITE_TABLES)


# --------------------------------------------------------------------------- T-04


async def test_t04_every_refusal_runs_the_same_statements(region: RunningBot) -> None:
    """T-04: never issued, expired, used and revoked codes do identical database work.

    The lookup is one keyed HMAC and one conditional UPDATE whatever the reason, so there is
    no code path (and no query count) that could become a timing oracle.
    """
    bot = region
    services = bot.services
    used = await seed_invite(services, "Kuntur-used")
    await bot.register(70_001, used)
    expired = await seed_invite(services, "Kuntur-expired", ttl_hours=1)
    revoked = await seed_invite(services, "Kuntur-revoked")
    write(
        db_file(bot),
        "UPDATE invites SET revoked = 1 WHERE used_at IS NULL AND id = "
        "(SELECT max(id) FROM invites)",
    )
    bot.clock.advance(timedelta(hours=2))
    unknown = "Q" * 42 + "x"
    off_by_one = revoked[:-1] + ("A" if revoked[-1] != "A" else "B")

    shapes = {}
    for offset, (name, code) in enumerate(
        {
            "unknown": unknown,
            "expired": expired,
            "used": used,
            "revoked": revoked,
            "off_by_one": off_by_one,
        }.items()
    ):
        user = 70_010 + offset
        _, statements = await _start(bot, user, code)
        assert bot.fake.texts(user) == [NEUTRAL], name
        assert any(s.startswith("UPDATE invites SET used_at") for s in statements), name
        shapes[name] = statements
    assert len({tuple(s) for s in shapes.values()}) == 1, shapes


# --------------------------------------------------------------------------- T-05

BAD_PAYLOADS = {
    "65-chars": "A" * 65,
    "padding": "A" * 42 + "=",
    "plus": "A" * 42 + "+",
    "slash": "A" * 42 + "/",
    "dot": "A" * 42 + ".",
    "percent": "A" * 41 + "%2",
    "unicode": "Ñ" * 43,
    "nul": "A" * 21 + "\x00" + "A" * 21,
    "dotdot": "../../../../../../../../../../../../../../a",
    "sql": "'; DROP TABLE invites;--" + "A" * 19,
    "4kb": "A" * 4_000,
}


@pytest.mark.parametrize("payload", BAD_PAYLOADS.values(), ids=BAD_PAYLOADS.keys())
async def test_t05_bad_payloads_never_reach_the_invite_table(
    region: RunningBot, payload: str
) -> None:
    """T-05 through the real handler: neutral reply, message deleted, no invite lookup."""
    bot = region
    await seed_invite(bot.services, "Kuntur-valid")
    message_id, statements = await _start(bot, ANA, payload)

    assert bot.fake.texts(ANA) == [NEUTRAL]
    assert message_id not in bot.fake.live_messages(ANA)
    assert [s for s in statements if "invites" in s] == []
    assert await bot.services.registration.identify(ANA) is None
    # The failure still counts towards the account's lock (T-06).
    assert query(
        db_file(bot), "SELECT count(*) FROM account_counters WHERE kind = ?", ("invite_failure",)
    ) == [(1,)]


async def test_t05_a_10kb_forged_payload_is_dropped_before_any_handler(
    region: RunningBot,
) -> None:
    """T-05/T-23: a 10 KB payload (only a forged update can carry one) never gets in."""
    bot = region
    async with traced(bot) as seen:
        bot.fake.push_message(ANA, "/start " + "A" * 10_240)
        await bot.settle()
    assert bot.fake.sent(ANA) == []
    assert touching(seen, *INVITE_TABLES) == []


async def test_t05_empty_payload_is_the_stranger_reply(region: RunningBot) -> None:
    bot = region
    _, statements = await _start(bot, ANA, "   ")
    assert bot.fake.texts(ANA) == [NEUTRAL]
    assert [s for s in statements if "invites" in s] == []


# --------------------------------------------------------------------------- T-06


async def test_t06_five_bad_payloads_lock_the_account_even_for_a_valid_invite(
    region: RunningBot,
) -> None:
    """T-06: locked silently after 5; a valid code is refused until the 24 h lock ends."""
    bot = region
    valid = await seed_invite(bot.services, "Kuntur-locked")
    for n in range(5):
        bot.fake.push_message(ANA, f"/start {'B' * 42}{n}")
        await bot.settle()
    start_id, _ = await _start(bot, ANA, valid)

    assert bot.fake.texts(ANA) == [NEUTRAL]  # one neutral reply a day, nothing more
    assert start_id not in bot.fake.live_messages(ANA)
    assert await bot.services.registration.identify(ANA) is None
    assert query(db_file(bot), "SELECT count(*) FROM invites WHERE used_at IS NULL") == [(1,)]
    assert query(
        db_file(bot), "SELECT result FROM audit WHERE action = 'invite_redeem' ORDER BY id"
    ) == [("rejected",)] * 5 + [("locked",)]

    bot.clock.advance(timedelta(hours=24, minutes=1))
    await _start(bot, ANA, valid)
    member = await bot.services.registration.identify(ANA)
    assert member is not None
    assert member.codename == "Kuntur-locked"
    assert bot.fake.texts(ANA)[-1] == PICKER


# --------------------------------------------------------------------------- T-07


def _raw_message(
    user_id: int, text: str, message_id: int, *, first_name: str, **user: Any
) -> dict[str, Any]:
    sender = {"id": user_id, "is_bot": False, "first_name": first_name, **user}
    return {
        "message": {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": first_name},
            "from": sender,
            "text": text,
            **(
                {"entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}
                if text.startswith("/")
                else {}
            ),
        }
    }


@pytest.mark.parametrize(
    "user",
    [
        {"username": "Admin", "language_code": "es"},
        {"username": "Jefe_Pichari", "language_code": "en"},
        {"last_name": "Coordinador", "language_code": "es-419"},
        {},  # username and language_code removed
    ],
    ids=["admin-username", "coordinator-name", "renamed", "removed"],
)
async def test_t07_names_and_language_code_change_nothing(
    region: RunningBot, user: dict[str, Any]
) -> None:
    """T-07: still the same member by id; role and the stored language stay as they were."""
    bot = region
    await seed_invite(bot.services, "Jefe", role=Role.COORDINATOR)
    await bot.register(ANA, await seed_invite(bot.services, "Kuntur-seven"), "qu")
    before = await bot.services.registration.identify(ANA)
    bot.fake.reset_calls()

    bot.fake.push_update(_raw_message(ANA, "/aviso", 9_001, first_name="Admin", **user))
    bot.fake.push_update(_raw_message(ANA, "/menu", 9_002, first_name="Jefe", **user))
    await bot.settle()

    after = await bot.services.registration.identify(ANA)
    assert after == before
    assert after is not None
    assert (after.role, after.lang, after.codename) == (Role.INFORMANT, Lang.QU, "Kuntur-seven")
    texts = bot.fake.texts(ANA)
    assert len(texts) == 2
    assert texts[0] != NOT_AVAILABLE  # answered in Quechua, the stored choice
    assert "/menu" in texts[0]
    menu = bot.fake.sent(ANA)[-1].params["reply_markup"]["keyboard"]
    assert [b["text"] for row in menu for b in row] == [
        "Mañakuyniykuna",
        "Imayna llamkachina",
        "Simi",
    ]


# --------------------------------------------------------------------------- T-12


def _buttons(params: dict[str, Any]) -> dict[str, str]:
    markup = params.get("reply_markup") or {}
    return {
        b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
    }


async def test_t12_a_moved_then_demoted_coordinator_is_judged_with_the_new_role(
    region: RunningBot,
) -> None:
    """T-12: no cached role or region; the very next update sees the change."""
    bot = region
    await bot.register(PUMA, await seed_invite(bot.services, "Puma-Jefe", role=Role.COORDINATOR))
    await set_pin_in_chat(bot, PUMA)
    path = db_file(bot)
    [(member_id,)] = query(path, "SELECT max(id) FROM members")
    [(pichari,)] = query(path, "SELECT id FROM regions WHERE name = 'Pichari'")

    bot.fake.push_message(PUMA, "/aviso")
    await bot.settle()
    bot.fake.push_callback(PUMA, "alert:tpl:stay_home", message_id=bot.last_message_id(PUMA))
    await bot.settle()
    step = bot.fake.calls_to("editMessageText")[-1].params
    assert "Pichari" in _buttons(step)

    # An administrator moves the coordinator to Kimbiri while the draft is open.
    write(
        path,
        "UPDATE member_regions SET region_id = (SELECT id FROM regions WHERE name ="
        " 'Kimbiri') WHERE member_id = ?",
        (member_id,),
    )
    bot.fake.push_callback(PUMA, f"alert:reg:{pichari}", message_id=step["message_id"])
    await bot.settle()
    assert bot.fake.texts(PUMA)[-1] == EXPIRED
    assert query(path, "SELECT regions FROM alert_drafts WHERE member_id = ?", (member_id,)) in (
        [("",)],
        [(None,)],
    )

    # Then demotes them to informant: staff commands are gone at the next message.
    write(path, "UPDATE members SET role = 'informant' WHERE id = ?", (member_id,))
    bot.fake.push_message(PUMA, "/aviso")
    await bot.settle()
    assert bot.fake.texts(PUMA)[-1] == NOT_AVAILABLE


# --------------------------------------------------------------------------- T-13

STAFF_COMMANDS = [
    "/aviso",
    "/aviso_texto hola || rimay",
    "/aviso_datos Pichari | 18:00",
    "/aprobar",
    "/alertas",
    "/pin_reset Puma",
    "/desvincular Puma",
    "/admin",
    "/region add X",
]


@pytest.mark.parametrize("command", STAFF_COMMANDS)
async def test_t13_staff_commands_from_an_informant_get_the_generic_answer(
    region: RunningBot, command: str
) -> None:
    """T-13: the same text as an unknown command, so nothing hints that they exist."""
    bot = region
    await bot.register(ANA, await seed_invite(bot.services, "Kuntur-thirteen"))
    bot.fake.reset_calls()
    bot.fake.push_message(ANA, command)
    bot.fake.push_message(ANA, "/no_such_command")
    await bot.settle()

    assert bot.fake.texts(ANA) == [NOT_AVAILABLE, NOT_AVAILABLE]
    assert [c.method for c in bot.fake.calls if c.method != "getUpdates"] == [
        "sendMessage",
        "sendMessage",
    ]


# --------------------------------------------------------------------------- T-06 (global)

ADMIN = 70_901
ALARM_NOTE = "Muchos intentos fallidos de registro en la última hora."


async def _notes(bot: RunningBot, prefix: str) -> list[tuple[str, str]]:
    """(idempotency key, status) of outbox rows whose key starts with ``prefix``."""
    return [
        (str(key), str(status))
        for key, status in query(
            db_file(bot),
            "SELECT idempotency_key, status FROM outbox WHERE idempotency_key LIKE ? ORDER BY id",
            (prefix + "%",),
        )
    ]


async def _wait_sent(bot: RunningBot, chat_id: int, count: int) -> None:
    await bot.fake.wait_for(lambda fake: len(fake.sent(chat_id)) >= count)


async def test_t06_failures_across_accounts_alarm_the_admins_once_an_hour(
    region: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    """T-06/R-13: 50 refused codes in an hour over 10 accounts: one warning, one note."""
    bot = region
    await bot.register(ADMIN, await seed_invite(bot.services, "Apu-admin", role=Role.ADMIN))
    bot.fake.reset_calls()
    payloads = [f"{'C' * 40}{n:03d}" for n in range(55)]
    for n, payload in enumerate(payloads[:50]):
        bot.fake.push_message(71_000 + n // 5, f"/start {payload}")  # 5 per account
    await bot.settle()
    await _wait_sent(bot, ADMIN, 1)

    assert bot.fake.texts(ADMIN) == [ALARM_NOTE]
    assert query(db_file(bot), "SELECT result FROM audit WHERE action = 'invite_alarm'") == [
        ("raised",)
    ]
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.services.vigilance"]
    assert warnings == [
        "Possible invite brute force: 50 or more failed registrations in the last hour"
    ]

    # More failures in the same hour (from a new account too): no second note or warning.
    for n, payload in enumerate(payloads[50:]):
        bot.fake.push_message(71_100 + n, f"/start {payload}")
    await bot.settle()
    assert len(query(db_file(bot), "SELECT 1 FROM audit WHERE action = 'invite_alarm'")) == 1
    assert [status for _, status in await _notes(bot, "invite-alarm:")] == ["sent"]
    assert bot.fake.texts(ADMIN) == [ALARM_NOTE]


async def test_t06_failures_spread_over_more_than_an_hour_raise_no_alarm(
    region: RunningBot,
) -> None:
    bot = region
    await bot.register(ADMIN, await seed_invite(bot.services, "Apu-calm", role=Role.ADMIN))
    for n in range(49):
        bot.fake.push_message(72_000 + n // 5, f"/start {'D' * 40}{n:03d}")
    await bot.settle()
    bot.clock.advance(timedelta(hours=1, minutes=1))  # the first 49 are older than an hour
    bot.fake.push_message(72_100, f"/start {'D' * 43}")
    await bot.settle()

    assert query(db_file(bot), "SELECT count(*) FROM audit WHERE action = 'invite_alarm'") == [
        (0,)
    ]
    assert await _notes(bot, "invite-alarm:") == []


# --------------------------------------------------------------------------- T-08 (audit)

GROUP = -100_777


@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
async def test_t08_leaving_a_group_is_audited_without_the_chat(
    region: RunningBot, chat_type: str
) -> None:
    bot = region
    bot.fake.push_message(ANA, "hola", chat_id=GROUP, chat_type=chat_type)
    await bot.settle()

    assert [c.params for c in bot.fake.calls_to("leaveChat")] == [{"chat_id": GROUP}]
    rows = query(
        db_file(bot),
        "SELECT actor_id, actor_role, action, target, result FROM audit"
        " WHERE action = 'leave_group'",
    )
    assert rows == [(None, None, "leave_group", None, "ok")]
    content = query(
        db_file(bot), "SELECT at, actor_id, actor_role, action, target, result FROM audit"
    )
    every_value = " ".join(str(value) for row in content for value in row)
    assert str(GROUP) not in every_value
    assert str(abs(GROUP)) not in every_value
    assert str(ANA) not in every_value


# --------------------------------------------------------------------------- T-11 (notify)

DENIAL_NOTE = "Puma-Sur intentó varias veces en la última hora acciones fuera de sus regiones."


async def test_t11_repeated_out_of_scope_actions_notify_the_admins_once(
    region: RunningBot,
) -> None:
    """T-11: five refused claim views/resets/unlinks in an hour: each audited, admins told once."""
    bot = region
    services = bot.services
    await bot.register(ADMIN, await seed_invite(services, "Apu-jefe", role=Role.ADMIN))
    await bot.register(ANA, await seed_invite(services, "Kuntur-Kimbiri", region="Kimbiri"))
    await bot.register(PUMA, await seed_invite(services, "Puma-Sur", role=Role.COORDINATOR))
    await seed_claims(
        services,
        "R-2024-0411,Kuntur-Kimbiri,Halcon 2024,2024-05-20,Kimbiri,1500.00,registered,,,",
    )
    [(claim_id,)] = query(db_file(bot), "SELECT max(id) FROM claims")
    await set_pin_in_chat(bot, PUMA)
    bot.fake.reset_calls()

    for command in ["/pin_reset", "/desvincular", "/pin_reset"]:
        bot.fake.push_message(PUMA, f"{command} Kuntur-Kimbiri")
        await bot.settle()
    # A forged "open this claim" button for an informant of another region (T-10 too).
    bot.fake.push_callback(PUMA, f"claim:history:{claim_id}", message_id=1)
    await bot.settle()
    assert bot.fake.sent(ADMIN) == []  # four refusals: nobody paged yet
    bot.fake.push_message(PUMA, "/desvincular Nadie-Existe")  # unknown counts the same
    await bot.settle()
    await _wait_sent(bot, ADMIN, 1)

    assert bot.fake.texts(ADMIN) == [DENIAL_NOTE]
    assert set(bot.fake.texts(PUMA)) == {"No encontramos a ese miembro.", EXPIRED}
    path = db_file(bot)
    assert query(path, "SELECT action, result FROM audit WHERE result = 'denied' ORDER BY id") == [
        ("pin_reset", "denied"),
        ("member_unlink", "denied"),
        ("pin_reset", "denied"),
        ("view_claim", "denied"),
        ("member_unlink", "denied"),
    ]
    assert query(path, "SELECT result FROM audit WHERE action = 'denial_alarm'") == [("raised",)]
    member = await services.registration.identify(ANA)
    assert member is not None  # still linked: nothing was done to them

    # A sixth refusal in the same hour: audited, no second note.
    bot.fake.push_message(PUMA, "/pin_reset Kuntur-Kimbiri")
    await bot.settle()
    assert len(query(path, "SELECT 1 FROM audit WHERE result = 'denied'")) == 6
    assert [status for _, status in await _notes(bot, "denials:")] == ["sent"]
    assert bot.fake.texts(ADMIN) == [DENIAL_NOTE]


async def test_t11_staff_views_of_claim_history_are_audited_and_kept_to_their_regions(
    region: RunningBot,
) -> None:
    """T-11, #11.10: no screen lists claims to staff, so a coordinator reaches a history only
    by typing its callback. Inside their regions it is shown after the PIN and audited
    (actor, ``view_claim``, ``claim:<id>``, nothing else); outside it is "menu expired" and
    audited as denied; an administrator's view is audited too; an informant's own is not."""
    bot = region
    services = bot.services
    path = db_file(bot)
    await bot.register(ADMIN, await seed_invite(services, "Apu-Vista", role=Role.ADMIN))
    await bot.register(ANA, await seed_invite(services, "Kuntur-Pichari"))
    await bot.register(
        PUMA, await seed_invite(services, "Puma-Vista", role=Role.COORDINATOR, region="Pichari")
    )
    await seed_region(services, "Llochegua")
    await seed_invite(services, "Oso-Llochegua", region="Llochegua")
    await seed_claims(
        services,
        "R-2024-0501,Kuntur-Pichari,Halcon 2024,2024-05-20,Pichari,1500.00,registered,,,",
        "R-2024-0502,Oso-Llochegua,Condor 2024,2024-05-20,Llochegua,900.00,registered,,,",
    )
    [(mine,)] = query(
        path,
        "SELECT id FROM claims WHERE region_id = (SELECT id FROM regions WHERE name = 'Pichari')",
    )
    [(other,)] = query(path, "SELECT id FROM claims WHERE id <> ?", (mine,))
    [(puma_id,)] = query(path, "SELECT max(id) FROM members WHERE role = 'coordinator'")
    [(admin_id,)] = query(path, "SELECT max(id) FROM members WHERE role = 'admin'")

    def views() -> list[tuple[Any, ...]]:
        return query(
            path,
            "SELECT actor_id, actor_role, action, target, result FROM audit"
            " WHERE action = 'view_claim' ORDER BY id",
        )

    # Without an open PIN session nothing is shown, so nothing is audited as seen.
    bot.fake.push_callback(PUMA, f"claim:history:{mine}", message_id=1)
    await bot.settle()
    assert not any("Historial" in text for text in bot.fake.texts(PUMA))
    assert views() == []

    await set_pin_in_chat(bot, PUMA)
    bot.fake.reset_calls()
    bot.fake.push_callback(PUMA, f"claim:history:{mine}", message_id=1)
    await bot.settle()
    [shown] = bot.fake.texts(PUMA)
    assert shown.startswith("Historial de <b>R-2024-0501</b>")
    bot.fake.push_callback(PUMA, f"claim:history:{other}", message_id=1)  # forged
    await bot.settle()
    assert bot.fake.texts(PUMA)[-1] == EXPIRED
    assert views() == [
        (puma_id, "coordinator", "view_claim", f"claim:{mine}", "ok"),
        (puma_id, "coordinator", "view_claim", f"claim:{other}", "denied"),
    ]

    await set_pin_in_chat(bot, ADMIN)
    bot.fake.push_callback(ADMIN, f"claim:history:{other}", message_id=1)
    await bot.settle()
    assert bot.fake.texts(ADMIN)[-1].startswith("Historial de <b>R-2024-0502</b>")
    assert views()[-1] == (admin_id, "admin", "view_claim", f"claim:{other}", "ok")

    bot.fake.push_callback(ANA, f"claim:history:{mine}", message_id=1)
    await bot.settle()
    assert bot.fake.texts(ANA)[-1].startswith("Historial de <b>R-2024-0501</b>")
    assert len(views()) == 3  # an informant's look at their own claim leaves no row
    rows = query(path, "SELECT target FROM audit")
    assert not any("R-2024" in str(target) or "Halcon" in str(target) for (target,) in rows)
