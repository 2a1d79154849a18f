"""Settings from the environment: fail closed, name the variable, never echo its value."""

from __future__ import annotations

import ast
import inspect
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import bot.config
from bot.config import DEFAULT_BASE_URL, ConfigError, Settings

TOKEN = "123456789:AAH-abcdefghijklmnopqrstuvwxyz_01234"


def _env(**extra: str) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": TOKEN, **extra}


def _int_variables() -> list[tuple[str, int, int | None, int]]:
    """``(name, default, low, high)`` of every ``_int(env, ...)`` call in bot/config.py.

    Read from the source so a variable added later is covered without editing this test;
    ``low`` is None when it depends on another variable.
    """
    tree = ast.parse(inspect.getsource(bot.config))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "_int"
        ):
            name, default, low, high = (node.args[1], node.args[2], node.args[3], node.args[4])
            assert isinstance(name, ast.Constant)
            assert isinstance(default, ast.Constant)
            high_value = ast.literal_eval(high)
            low_value = ast.literal_eval(low) if isinstance(low, ast.Constant) else None
            assert isinstance(name.value, str)
            assert isinstance(default.value, int)
            found.append((name.value, default.value, low_value, high_value))
    assert len(found) >= 5
    return found


INT_VARIABLES = _int_variables()
INT_NAMES = [name for name, *_ in INT_VARIABLES]


def test_missing_token_is_refused_when_needed() -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        Settings.from_env({})
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": "   "})


def test_missing_token_is_fine_for_the_cli() -> None:
    settings = Settings.from_env({}, need_token=False)
    assert settings.bot_token is None


@pytest.mark.parametrize(
    "bad",
    [
        "notatoken",
        "123456:short",
        "abc:AAH-abcdefghijklmnopqrstuvwxyz",
        "123456:AAH abcdefghijklmnopqrstuvwxyz",
        "123456:AAH-abcdefghijklmnopqrstuvwxyz\x00",
        "123456:" + "a" * 101,
        "123456:AAH-abcdefghijklmnopqrstu/../x",
    ],
)
@pytest.mark.parametrize("need_token", [True, False])
def test_malformed_token_is_refused_without_echo(bad: str, need_token: bool) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN") as caught:
        Settings.from_env({"TELEGRAM_BOT_TOKEN": bad}, need_token=need_token)
    assert bad.strip() not in str(caught.value)
    assert "abcdefghijklmnop" not in str(caught.value)


def test_token_is_stripped_and_kept_out_of_repr() -> None:
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": f"  {TOKEN}\n"})
    assert settings.bot_token == TOKEN
    assert TOKEN not in repr(settings)
    assert "AAH-" not in repr(settings)


@pytest.mark.parametrize(
    "bad",
    ["ftp://example.org/bot", "api.telegram.org/bot", "http://", "http://exa mple/bot", "x"],
)
def test_bad_base_url_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BASE_URL") as caught:
        Settings.from_env(_env(TELEGRAM_BASE_URL=bad))
    if len(bad) > 7:  # "http://" and "x" occur in the message's own example
        assert bad not in str(caught.value)


def test_local_base_url_is_accepted() -> None:
    url = "http://127.0.0.1:8081/bot"
    assert Settings.from_env(_env(TELEGRAM_BASE_URL=url)).base_url == url


@pytest.mark.parametrize(
    "bad", ["Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "Lima\x00", "America/"]
)
def test_bad_timezone_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="CHASKI_TIMEZONE") as caught:
        Settings.from_env(_env(CHASKI_TIMEZONE=bad))
    assert bad.strip("\x00/") not in str(caught.value)


def test_timezone_is_read() -> None:
    assert Settings.from_env(_env(CHASKI_TIMEZONE="UTC")).timezone == ZoneInfo("UTC")


@pytest.mark.parametrize(("name", "default", "low", "high"), INT_VARIABLES, ids=INT_NAMES)
def test_int_variable_bounds(name: str, default: int, low: int | None, high: int) -> None:
    assert low is None or low <= default <= high
    if low is not None:
        assert _read(name, str(low)) == low
    assert _read(name, f" {high} ") == high
    below = str(low - 1) if low is not None else "-1"
    for bad in (below, str(high + 1), "999999937"):
        with pytest.raises(ConfigError, match=name) as caught:
            Settings.from_env(_env(**{name: bad}))
    assert "999999937" not in str(caught.value)  # the value is never echoed


@pytest.mark.parametrize("name", INT_NAMES)
@pytest.mark.parametrize("bad", ["zzz-secret-value", "1.5", "1e3", "0x10", "ten", "5 5"])
def test_int_variable_not_a_number_is_refused_without_echo(name: str, bad: str) -> None:
    with pytest.raises(ConfigError, match=name) as caught:
        Settings.from_env(_env(**{name: bad}))
    assert bad not in str(caught.value)


def _read(name: str, raw: str) -> object:
    # The daily limit is judged with the per-minute one (#11.6): give it room.
    room = {"CHASKI_RATE_PER_DAY": "100000"} if name == "CHASKI_RATE_PER_MINUTE" else {}
    settings = Settings.from_env(_env(**{name: raw}, **room))
    value = {
        "CHASKI_DELETE_AFTER_MINUTES": settings.delete_after_minutes,
        "CHASKI_CONCURRENT_UPDATES": settings.concurrent_updates,
        "CHASKI_SEND_RATE": settings.send_rate,
        "CHASKI_ALERT_APPROVAL_THRESHOLD": settings.alert_approval_threshold,
        "CHASKI_POLL_TIMEOUT": settings.poll_timeout,
    }.get(name)
    if value is None:  # a variable added later: find the field that changed
        changed = [
            getattr(settings, f)
            for f in settings.__dataclass_fields__
            if getattr(settings, f) != getattr(Settings.from_env(_env()), f)
        ]
        value = changed[0] if changed else int(raw)
    return value


def test_defaults() -> None:
    settings = Settings.from_env(_env())
    assert replace(settings, bot_token=None) == Settings()
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.database_path == Path("data/chaski.sqlite3")
    assert settings.key_dir == Path("keys")
    assert settings.timezone == ZoneInfo("America/Lima")
    assert settings.delete_after_minutes == 10
    assert settings.send_rate == 25.0
    assert settings.poll_timeout == 30
    assert settings.bot_username is None


def test_empty_values_mean_default() -> None:
    blank = dict.fromkeys(INT_NAMES, "  ")
    blank |= {
        "CHASKI_TIMEZONE": "",
        "TELEGRAM_BASE_URL": " ",
        "CHASKI_DB": "",
        "CHASKI_KEY_DIR": "",
    }
    assert Settings.from_env(_env(**blank)) == Settings.from_env(_env())


def test_paths_are_read() -> None:
    settings = Settings.from_env(_env(CHASKI_DB="/srv/chaski/db.sqlite3", CHASKI_KEY_DIR="/k"))
    assert settings.database_path == Path("/srv/chaski/db.sqlite3")
    assert settings.key_dir == Path("/k")


@pytest.mark.parametrize(
    ("raw", "expected"), [("@chaski_bot", "chaski_bot"), ("Chaski1", "Chaski1")]
)
def test_bot_username(raw: str, expected: str) -> None:
    assert Settings.from_env(_env(CHASKI_BOT_USERNAME=raw)).bot_username == expected


@pytest.mark.parametrize("bad", ["ab", "1chaski", "chaski-bot", "x" * 33, "chaski bot"])
def test_bad_bot_username_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="CHASKI_BOT_USERNAME") as caught:
        Settings.from_env(_env(CHASKI_BOT_USERNAME=bad))
    assert bad not in str(caught.value)


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("CHASKI_POLL_TIMEOUT", "7")
    assert Settings.from_env().poll_timeout == 7


def test_quiet_hours_default_off_and_bad_value() -> None:
    default = Settings.from_env(_env()).quiet_hours
    assert default is not None
    assert Settings.from_env(_env(CHASKI_QUIET_HOURS="off")).quiet_hours is None
    with pytest.raises(ConfigError, match="CHASKI_QUIET_HOURS") as caught:
        Settings.from_env(_env(CHASKI_QUIET_HOURS="zzz-secret-value"))
    assert "zzz-secret-value" not in str(caught.value)


def test_quechua_drafts_are_off_unless_the_operator_turns_them_on() -> None:
    assert Settings.from_env(_env()).quechua_drafts is False
    for raw in ("on", "ON", "1", "yes", "true"):
        assert Settings.from_env(_env(CHASKI_QUECHUA_DRAFTS=raw)).quechua_drafts is True
    for raw in ("off", "0", "no", "false", " "):
        assert Settings.from_env(_env(CHASKI_QUECHUA_DRAFTS=raw)).quechua_drafts is False
    with pytest.raises(ConfigError, match="CHASKI_QUECHUA_DRAFTS must be on or off") as caught:
        Settings.from_env(_env(CHASKI_QUECHUA_DRAFTS="zzz-secret-value"))
    assert "zzz-secret-value" not in str(caught.value)
