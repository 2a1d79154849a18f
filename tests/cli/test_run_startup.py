"""Every fatal start-up condition of ``chaski run`` (T-51): one line, non-zero exit, no hang.

The bot runs as a real subprocess (``python -m bot run``, as systemd starts it) against the
fake Bot API served by the test: a bot that hangs instead of exiting, or exits with a
traceback, is exactly what these tests must catch, and only a real process can show it
(threads left open keep a process alive after ``main`` returned). systemd restarts a
service only when it exits, so "stays up, deaf or stuck" is the failure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage.keys import DATA_KEYS
from tests.cli.harness import Result
from tests.fakes.bot_api import FakeBotApi, serve

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:" + "A" * 35
#: Generous: a bot that stops takes about a second; one that hangs never does.
EXIT_WITHIN_S = 60.0


@dataclass(frozen=True, slots=True)
class Exit:
    """How the bot process ended."""

    code: int
    err: str

    @property
    def last_line(self) -> str:
        lines = self.err.strip().splitlines()
        return lines[-1] if lines else ""


def _environment(env: Path, base_url: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CHASKI_", "TELEGRAM_"))}
    return {
        **clean,
        "CHASKI_DB": str(env / "data" / "chaski.sqlite3"),
        "CHASKI_KEY_DIR": str(env / "keys"),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": base_url,
        "CHASKI_POLL_TIMEOUT": "1",
        "PYTHONPATH": str(ROOT),
    }


async def _stop_twice(process: asyncio.subprocess.Process) -> list[bytes]:
    """SIGTERM, then SIGTERM again while the bot is stopping (GNU ``timeout``, supervisors).

    The second signal is sent once the bot says it is stopping, so it lands inside the
    shutdown, where it used to skip the closing of the database. Returns the stderr lines
    read meanwhile.
    """
    assert process.stderr is not None
    process.send_signal(signal.SIGTERM)
    seen: list[bytes] = []
    while not seen or b"Application is stopping" not in seen[-1]:
        line = await process.stderr.readline()
        assert line, b"".join(seen).decode()
        seen.append(line)
    process.send_signal(signal.SIGTERM)
    return seen


async def _run_bot(
    fake: FakeBotApi,
    env: Path,
    *,
    stop_twice: bool = False,
) -> Exit:
    """Start ``python -m bot run``; optionally stop it twice once it polls; wait for its exit."""
    async with serve(fake) as base_url:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=env,
            env=_environment(env, base_url),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        seen: list[bytes] = []
        try:
            if stop_twice:
                await fake.wait_for_call("getUpdates", timeout=EXIT_WITHIN_S)
                seen = await asyncio.wait_for(_stop_twice(process), EXIT_WITHIN_S)
            _, err = await asyncio.wait_for(process.communicate(), EXIT_WITHIN_S)
        except TimeoutError:
            process.kill()
            await process.communicate()
            pytest.fail("the bot did not exit: it hangs instead of stopping")
    assert process.returncode is not None
    return Exit(process.returncode, (b"".join(seen) + err).decode("utf-8", "replace"))


def _one_fatal_line(done: Exit) -> str:
    """The bot exited non-zero with one ``chaski:`` line last and no traceback."""
    assert done.code == 2, done.err
    assert "Traceback" not in done.err, done.err
    assert done.last_line.startswith("chaski: "), done.err
    assert [line for line in done.err.splitlines() if line.startswith("chaski: ")] == [
        done.last_line
    ]
    return done.last_line


async def test_t51_a_file_that_is_no_database_stops_the_bot_with_one_line(
    chaski: Callable[..., Result], installed: None, env: Path
) -> None:
    del installed
    database = env / "data" / "chaski.sqlite3"
    for companion in database.parent.glob("chaski.sqlite3-*"):
        companion.unlink()
    database.write_bytes(b"this is not a database at all\n" * 200)
    line = _one_fatal_line(await _run_bot(FakeBotApi(), env))
    assert line.startswith(f"chaski: {database} cannot be opened as a Chaski database")


async def test_t51_a_key_file_others_can_read_stops_the_bot_with_the_documented_line(
    chaski: Callable[..., Result], installed: None, env: Path
) -> None:
    del installed
    key = env / "keys" / DATA_KEYS
    key.chmod(0o644)
    line = _one_fatal_line(await _run_bot(FakeBotApi(), env))
    assert line == (
        f"chaski: key file {key} is readable or writable by other users (mode 644);"
        f" run: chmod 600 {key}"
    )


async def test_t51_missing_keys_for_an_existing_database_stop_the_bot_with_one_line(
    chaski: Callable[..., Result], installed: None, env: Path
) -> None:
    del installed
    (env / "keys" / DATA_KEYS).rename(env / "elsewhere.keys")
    (env / "keys" / "pepper.key").rename(env / "elsewhere.pepper")
    (env / "keys" / "audit.keys").rename(env / "elsewhere.audit")
    line = _one_fatal_line(await _run_bot(FakeBotApi(), env))
    assert line.startswith(f"chaski: no keys in {env / 'keys'}, but database")
    assert sorted(p.name for p in (env / "keys").iterdir()) == []


async def test_t51_a_wrong_database_path_next_to_existing_keys_stops_the_bot(
    chaski: Callable[..., Result], installed: None, env: Path
) -> None:
    """Not a first run: the bot must not start on a new, empty database (#11.4)."""
    del installed
    (env / "data" / "chaski.sqlite3").rename(env / "data" / "moved.sqlite3")
    line = _one_fatal_line(await _run_bot(FakeBotApi(), env))
    assert line.startswith(f"chaski: no database at {env / 'data' / 'chaski.sqlite3'}, but")
    assert not (env / "data" / "chaski.sqlite3").exists()


async def test_t51_a_token_rejected_on_get_updates_stops_the_bot_instead_of_leaving_it_deaf(
    chaski: Callable[..., Result], installed: None, env: Path
) -> None:
    del installed
    fake = FakeBotApi()
    fake.fail("getUpdates", status=401, description="Unauthorized", times=None)
    line = _one_fatal_line(await _run_bot(fake, env))
    assert line.startswith(
        "chaski: TELEGRAM_BOT_TOKEN was rejected by Telegram on getUpdates (HTTP 401)"
    )


async def test_t51_a_token_rejected_at_start_is_one_line(
    chaski: Callable[..., Result], installed: None, env: Path
) -> None:
    del installed
    fake = FakeBotApi()
    fake.fail("getMe", status=401, description="Unauthorized", times=None)
    line = _one_fatal_line(await _run_bot(fake, env))
    assert line.startswith("chaski: TELEGRAM_BOT_TOKEN was rejected by Telegram on getMe")


async def test_t51_two_sigterms_in_quick_succession_still_stop_the_bot_cleanly(
    chaski: Callable[..., Result], installed: None, env: Path
) -> None:
    del installed
    done = await _run_bot(FakeBotApi(), env, stop_twice=True)
    assert done.code == 0, done.err
    assert "Traceback" not in done.err
    assert "Outbox sender stopped" in done.err  # the shutdown ran in full


def test_t51_a_per_minute_rate_above_the_daily_default_is_refused_naming_the_fix(
    chaski: Callable[..., Result], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("CHASKI_RATE_PER_MINUTE", "600")
    result = chaski("run")
    assert result.code == 2
    assert result.err_lines == [
        "chaski: CHASKI_RATE_PER_DAY (default 200) must be at least CHASKI_RATE_PER_MINUTE"
        " (600): set CHASKI_RATE_PER_DAY=600 or more, or lower CHASKI_RATE_PER_MINUTE"
    ]
    assert not (env / "data").exists()
    monkeypatch.setenv("CHASKI_RATE_PER_DAY", "599")
    assert chaski("run").err_lines == [
        "chaski: CHASKI_RATE_PER_DAY must be a whole number between 600 and 100000"
    ]


@pytest.mark.parametrize("argv", [["migrate"], ["members", "list"], ["backup", "b.chaski"]])
def test_t51_a_file_that_is_no_database_is_one_line_in_the_cli_too(
    argv: list[str], chaski: Callable[..., Result], installed: None, env: Path
) -> None:
    del installed
    database = env / "data" / "chaski.sqlite3"
    for companion in database.parent.glob("chaski.sqlite3-*"):
        companion.unlink()
    database.write_bytes(b"this is not a database at all\n" * 200)
    result = chaski(*argv)
    assert result.code == 2
    assert "Traceback" not in result.err
    assert result.err_lines == [
        f"chaski: {database} cannot be opened as a Chaski database (file is not a database);"
        " check CHASKI_DB, or restore the latest backup (docs/operations.md, restore)"
    ]
