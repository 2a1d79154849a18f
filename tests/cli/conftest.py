"""Fixtures of the CLI tests: an isolated environment and an in-process ``chaski``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.root.cli import main
from tests.cli.harness import Result


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Database and keys under ``tmp_path``; no token, URL, username, time zone, drafts."""
    monkeypatch.setenv("CHASKI_DB", str(tmp_path / "data" / "chaski.sqlite3"))
    monkeypatch.setenv("CHASKI_KEY_DIR", str(tmp_path / "keys"))
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_BASE_URL",
        "CHASKI_BOT_USERNAME",
        "CHASKI_TIMEZONE",
        "CHASKI_QUECHUA_DRAFTS",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def chaski(env: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``chaski ARGS…`` in-process and capture what it printed."""
    del env

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def installed(chaski: Callable[..., Result]) -> None:
    """A new installation: ``chaski migrate`` made the database and keys (#11.4)."""
    result = chaski("migrate")
    assert result.code == 0, result.err
