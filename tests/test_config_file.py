"""The configuration file the service and the CLI share: strict, line-precise, never echoing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import CONFIG_VARIABLE, SETTING_NAMES, ConfigError
from bot.config_file import MAX_BYTES, load_settings, read_config_file
from bot.root.cli import main

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAH-abcdefghijklmnopqrstuvwxyz_01234"
#: A value that must never appear in any message.
SECRET = "zzzSECRETzzz"


def _write(tmp_path: Path, text: str | bytes, mode: int = 0o640) -> Path:
    path = tmp_path / "chaski.env"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    path.chmod(mode)
    return path


def test_setting_names_are_exactly_what_from_env_reads() -> None:
    source = (ROOT / "bot" / "config.py").read_text(encoding="utf-8")
    body = source.split("def from_env", 1)[1]
    read = set(re.findall(r'"((?:CHASKI|TELEGRAM)_[A-Z_]+)"', body))
    assert read == set(SETTING_NAMES)
    assert SETTING_NAMES[0] == "TELEGRAM_BOT_TOKEN"  # bot.config_file guards it by position
    assert len(SETTING_NAMES) == len(set(SETTING_NAMES))


def test_a_good_file_is_read(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "# Chaski\n\nCHASKI_DB=/var/lib/chaski/chaski.sqlite3\nCHASKI_KEY_DIR=/etc/chaski/keys\n"
        "CHASKI_QUIET_HOURS=22-5\nCHASKI_BOT_USERNAME=\n#CHASKI_TIMEZONE=UTC\n",
    )
    parsed = read_config_file(path)
    assert parsed.values == {
        "CHASKI_DB": "/var/lib/chaski/chaski.sqlite3",
        "CHASKI_KEY_DIR": "/etc/chaski/keys",
        "CHASKI_QUIET_HOURS": "22-5",
        "CHASKI_BOT_USERNAME": "",
    }
    assert parsed.lines["CHASKI_DB"] == 3
    settings, notes = load_settings({}, path, need_token=False)
    assert settings.database_path == Path("/var/lib/chaski/chaski.sqlite3")
    assert settings.key_dir == Path("/etc/chaski/keys")
    assert settings.quiet_hours is not None
    assert (settings.quiet_hours.start, settings.quiet_hours.end) == (22, 5)
    assert settings.bot_username is None
    assert notes == []


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (f"CHASKI_DB = {SECRET}\n", 1, "expected NAME=value"),
        (f"# ok\n  CHASKI_DB={SECRET}\n", 2, "expected NAME=value"),
        (f"export CHASKI_DB={SECRET}\n", 1, "expected NAME=value"),
        (f"{SECRET}\n", 1, "expected NAME=value"),
        (f"CHASKI_DB={SECRET}\nCHASKI_DB={SECRET}\n", 2, "CHASKI_DB repeats line 1"),
        (f"CHASKI_QUIET_HOUR={SECRET}\n", 1, "CHASKI_QUIET_HOUR is not a Chaski setting"),
        (f"TOKEN={SECRET}\n", 1, "this name is not a Chaski setting"),
        (f"PTB_TIMEDELTA={SECRET}\n", 1, "this name is not a Chaski setting"),
        (f"CHASKI_CONFIG={SECRET}\n", 1, "CHASKI_CONFIG cannot be set"),
        (f'CHASKI_DB="{SECRET}"\n', 1, "CHASKI_DB: quotes, backslashes"),
        (f"CHASKI_DB=$HOME/{SECRET}\n", 1, "CHASKI_DB: quotes, backslashes"),
        (f"CHASKI_DB=a\\{SECRET}\n", 1, "CHASKI_DB: quotes, backslashes"),
        (f"CHASKI_DB=`{SECRET}`\n", 1, "CHASKI_DB: quotes, backslashes"),
        (f"CHASKI_DB={SECRET} \n", 1, "CHASKI_DB: the value contains a space"),
        (f"CHASKI_DB=a {SECRET}\n", 1, "CHASKI_DB: the value contains a space"),
        (f"CHASKI_DB={SECRET}\u200b\n", 1, "CHASKI_DB: the value contains a control"),
        (f"CHASKI_DB={SECRET}\r\n", 1, "Windows line ending"),
        (b"CHASKI_DB=\xff" + SECRET.encode() + b"\n", 1, "not UTF-8 text"),
    ],
)
def test_a_bad_line_is_one_error_naming_file_and_line_never_the_value(
    tmp_path: Path, text: str | bytes, line: int, reason: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_config_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path} line {line}: {reason}")
    assert SECRET not in message
    assert "\n" not in message


def test_the_cli_reports_a_bad_file_in_one_line_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, f"CHASKI_DB=/x\nCHASKI_TIMEZONE = {SECRET}\n")
    assert main(["--config", str(path), "region", "list"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"chaski: {path} line 2: expected NAME=value (no spaces around '=', no 'export')\n"
    )
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("CHASKI_POLL_TIMEOUT", "CHASKI_POLL_TIMEOUT must be a whole number"),
        ("CHASKI_TIMEZONE", "CHASKI_TIMEZONE is not a known IANA time zone"),
        ("TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN does not look like a bot token"),
        ("CHASKI_QUIET_HOURS", "CHASKI_QUIET_HOURS must be START-END"),
    ],
)
def test_a_bad_value_from_the_file_names_file_and_line(
    tmp_path: Path, name: str, reason: str
) -> None:
    path = _write(tmp_path, f"# settings\nCHASKI_DB=/x\n{name}={SECRET}\n", mode=0o600)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, path, need_token=False)
    assert str(caught.value).startswith(f"{path} line 3: {reason}")
    assert SECRET not in str(caught.value)


def test_the_environment_wins_and_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path, "CHASKI_DB=/from/file.sqlite3\nCHASKI_POLL_TIMEOUT=7\n")
    environ = {"CHASKI_DB": "/from/env.sqlite3", "CHASKI_POLL_TIMEOUT": "  ", "HOME": "/root"}
    settings, notes = load_settings(environ, path, need_token=False)
    assert settings.database_path == Path("/from/env.sqlite3")
    assert settings.poll_timeout == 7  # a blank variable does not override
    assert notes == [f"CHASKI_DB from the environment overrides {path}"]


def test_a_bad_value_from_the_environment_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "CHASKI_POLL_TIMEOUT=7\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({"CHASKI_POLL_TIMEOUT": SECRET}, path, need_token=False)
    assert str(caught.value).startswith("CHASKI_POLL_TIMEOUT must be")
    assert SECRET not in str(caught.value)


def test_settings_the_file_leaves_out_still_come_from_the_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, "CHASKI_DB=/x.sqlite3\n")
    settings, _ = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN}, path, need_token=True)
    assert settings.bot_token == TOKEN
    with pytest.raises(ConfigError, match=r"^TELEGRAM_BOT_TOKEN is not set"):
        load_settings({}, path, need_token=True)


def test_the_token_may_live_only_in_a_file_other_users_cannot_read(tmp_path: Path) -> None:
    path = _write(tmp_path, f"TELEGRAM_BOT_TOKEN={TOKEN}\n", mode=0o644)
    with pytest.raises(ConfigError, match="holds TELEGRAM_BOT_TOKEN but every user") as caught:
        read_config_file(path)
    assert TOKEN not in str(caught.value)
    path.chmod(0o640)
    settings, _ = load_settings({}, path, need_token=True)
    assert settings.bot_token == TOKEN


def test_a_file_every_user_may_change_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "CHASKI_DB=/x\n", mode=0o646)
    with pytest.raises(ConfigError, match="every user may change"):
        read_config_file(path)


def test_missing_folder_and_huge_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        read_config_file(tmp_path / "missing.env")
    with pytest.raises(ConfigError, match="is a folder"):
        read_config_file(tmp_path)
    big = _write(tmp_path, "#" * (MAX_BYTES + 1))
    with pytest.raises(ConfigError, match="larger than"):
        read_config_file(big)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "CHASKI_DB=/x\n", mode=0o000)
    try:
        path.read_bytes()
    except PermissionError:
        pass
    else:
        pytest.skip("running as root: every file is readable")
    with pytest.raises(ConfigError, match="cannot be read"):
        read_config_file(path)


def _cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SETTING_NAMES, CONFIG_VARIABLE):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("how", ["option", "variable"])
def test_the_cli_reads_the_file_named_by_option_or_variable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    _cli_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    path = _write(
        tmp_path,
        f"CHASKI_DB={tmp_path}/state/chaski.sqlite3\nCHASKI_KEY_DIR={tmp_path}/secret-keys\n",
    )
    if how == "option":
        argv = ["--config", str(path), "migrate"]
    else:
        monkeypatch.setenv(CONFIG_VARIABLE, str(path))
        argv = ["migrate"]
    assert main(argv) == 0
    assert main([*argv[:-1], "region", "add", "Pichari"]) == 0
    capsys.readouterr()
    assert (tmp_path / "state" / "chaski.sqlite3").is_file()
    assert (tmp_path / "secret-keys" / "data.keys").is_file()
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "keys").exists()


def test_the_option_wins_over_the_variable_and_overrides_are_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _cli_env(monkeypatch)
    monkeypatch.setenv(CONFIG_VARIABLE, str(tmp_path / "missing.env"))
    monkeypatch.setenv("CHASKI_KEY_DIR", str(tmp_path / "env-keys"))
    path = _write(
        tmp_path,
        f"CHASKI_DB={tmp_path}/db/chaski.sqlite3\nCHASKI_KEY_DIR={tmp_path}/file-keys\n",
    )
    assert main(["--config", str(path), "migrate"]) == 0
    captured = capsys.readouterr()
    assert f"chaski: note: CHASKI_KEY_DIR from the environment overrides {path}\n" in (
        captured.err
    )
    assert (tmp_path / "env-keys" / "data.keys").is_file()
    assert not (tmp_path / "file-keys").exists()
