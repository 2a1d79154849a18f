"""Start-up refusals of ``chaski`` (T-50): keys only with a new database, never a new database
by accident, and keys that do not fit the database stop everything with one line (#11.4).

Each scenario is what an operator hits for real: a key folder that is not mounted, a
``CHASKI_DB`` or working folder that points elsewhere, another installation's keys.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from storage.keys import DATA_KEYS, PEPPER
from tests.cli.harness import Result, members
from tests.cli.test_cli import create_invite, one_error_line, redeem

#: Commands that must find a database and must create nothing when there is none.
NEEDS_A_DATABASE = [
    ["region", "list"],
    ["region", "add", "Ayacucho"],
    ["members", "list"],
    ["outbox", "status"],
    ["purge"],
    ["keys", "rotate"],
    ["invite", "create", "--role", "informant", "--region", "Ayacucho", "--codename", "Puma"],
]


def _tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def _installed_with_a_member(chaski: Callable[..., Result]) -> None:
    assert chaski("migrate").code == 0
    assert chaski("region", "add", "Ayacucho").code == 0
    redeem(create_invite(chaski, "Puma")["code"])


def _other_installation(
    chaski: Callable[..., Result], env: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Make a second installation (database and keys) under ``env/other``; its key folder."""
    with monkeypatch.context() as patch:
        patch.setenv("CHASKI_DB", str(env / "other" / "data" / "chaski.sqlite3"))
        patch.setenv("CHASKI_KEY_DIR", str(env / "other" / "keys"))
        assert chaski("migrate").code == 0
    return env / "other" / "keys"


@pytest.mark.parametrize("argv", NEEDS_A_DATABASE, ids=" ".join)
def test_t50_without_a_database_commands_create_nothing_and_say_so(
    argv: list[str], chaski: Callable[..., Result], env: Path
) -> None:
    before = _tree(env)
    line = one_error_line(chaski(*argv))
    database = (env / "data" / "chaski.sqlite3").absolute()
    assert line.startswith(f"chaski: no database at {database}: check CHASKI_DB")
    assert "chaski migrate" in line
    assert _tree(env) == before  # no data/, no keys/


def test_t50_a_wrong_working_folder_leaves_nothing_behind(
    chaski: Callable[..., Result], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defaults are relative: run from another folder, a command finds no database."""
    monkeypatch.delenv("CHASKI_DB")
    monkeypatch.delenv("CHASKI_KEY_DIR")
    elsewhere = env / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    line = one_error_line(chaski("region", "list"))
    assert f"no database at {elsewhere / 'data' / 'chaski.sqlite3'}" in line
    assert list(elsewhere.iterdir()) == []


def test_t50_migrate_makes_database_and_keys_together(
    chaski: Callable[..., Result], env: Path
) -> None:
    result = chaski("migrate")
    assert result.code == 0, result.err
    assert (env / "data" / "chaski.sqlite3").is_file()
    # audit.keys: the audit chain's key, made on the first open (issue #16.5, M-16).
    assert sorted(p.name for p in (env / "keys").iterdir()) == ["audit.keys", DATA_KEYS, PEPPER]


@pytest.mark.parametrize("argv", [["migrate"], ["region", "list"], ["members", "list"]])
def test_t50_a_missing_key_folder_never_gets_new_keys_for_an_existing_database(
    argv: list[str], chaski: Callable[..., Result], env: Path
) -> None:
    _installed_with_a_member(chaski)
    keys = env / "keys"
    shutil.move(keys, env / "unmounted")
    line = one_error_line(chaski(*argv))
    assert line == (
        f"chaski: no keys in {keys}, but database {env / 'data' / 'chaski.sqlite3'} exists:"
        f" restore {DATA_KEYS} and {PEPPER} from the offline copy, or check CHASKI_KEY_DIR"
        " (new keys are made only with a new database)"
    )
    assert not keys.exists()
    shutil.move(env / "unmounted", keys)
    assert [m.codename for m in members()] == ["Puma"]  # the real keys still open everything


def test_t50_another_installations_keys_are_refused(
    chaski: Callable[..., Result], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert chaski("migrate").code == 0  # an empty database: only the key check can tell
    foreign = _other_installation(chaski, env, monkeypatch)
    monkeypatch.setenv("CHASKI_KEY_DIR", str(foreign))
    for argv in (["region", "add", "Ayacucho"], ["migrate"]):
        line = one_error_line(chaski(*argv))
        assert line.startswith(
            f"chaski: the data key file {DATA_KEYS} in {foreign} is not the one"
        )
        assert "CHASKI_KEY_DIR" in line
    monkeypatch.setenv("CHASKI_KEY_DIR", str(env / "keys"))
    assert "No regions yet" in chaski("region", "list").out  # nothing was written meanwhile


def test_t50_the_right_data_key_with_another_pepper_is_refused(
    chaski: Callable[..., Result], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert chaski("migrate").code == 0
    foreign = _other_installation(chaski, env, monkeypatch)
    shutil.copy2(foreign / PEPPER, env / "keys" / PEPPER)
    line = one_error_line(chaski("region", "list"))
    assert line.startswith(f"chaski: the pepper file {PEPPER} in {env / 'keys'} is not the one")


def _drop_key_check(database: Path) -> None:
    """Make the database look like one written before the key check existed."""
    with closing(sqlite3.connect(database)) as conn:
        conn.execute("DELETE FROM key_check")
        conn.commit()


def _key_check_rows(database: Path) -> int:
    with closing(sqlite3.connect(database)) as conn:
        return int(conn.execute("SELECT count(*) FROM key_check").fetchone()[0])


def test_t50_an_older_database_gets_its_key_check_on_first_open(
    chaski: Callable[..., Result], env: Path
) -> None:
    _installed_with_a_member(chaski)
    database = env / "data" / "chaski.sqlite3"
    _drop_key_check(database)
    assert chaski("members", "list").code == 0
    assert _key_check_rows(database) == 1


def test_t50_an_older_database_refuses_foreign_keys_before_writing_its_check(
    chaski: Callable[..., Result], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _installed_with_a_member(chaski)
    database = env / "data" / "chaski.sqlite3"
    _drop_key_check(database)
    foreign = _other_installation(chaski, env, monkeypatch)
    monkeypatch.setenv("CHASKI_KEY_DIR", str(foreign))
    assert "is not the one" in one_error_line(chaski("members", "list"))
    assert _key_check_rows(database) == 0
    # Right data key, wrong pepper: the newest linked member's lookup hash tells.
    monkeypatch.setenv("CHASKI_KEY_DIR", str(env / "keys"))
    saved = (env / "keys" / PEPPER).read_bytes()
    shutil.copy2(foreign / PEPPER, env / "keys" / PEPPER)
    assert "the pepper file" in one_error_line(chaski("members", "list"))
    assert _key_check_rows(database) == 0
    (env / "keys" / PEPPER).write_bytes(saved)
    assert chaski("members", "list").code == 0
    assert _key_check_rows(database) == 1


def test_t50_status_names_keys_that_do_not_fit_even_an_empty_database(
    chaski: Callable[..., Result], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No member and no claim to try the keys on: only the key check can tell."""
    assert chaski("migrate").code == 0
    foreign = _other_installation(chaski, env, monkeypatch)
    shutil.copy2(foreign / PEPPER, env / "keys" / PEPPER)
    result = chaski("status")
    assert result.code == 2
    [keys_line] = [line for line in result.out.splitlines() if " keys " in line]
    assert keys_line.startswith("CRITICAL  keys")
    assert f"the pepper file {PEPPER} in {env / 'keys'} is not the one" in keys_line


def test_t50_a_wrong_database_path_next_to_existing_keys_is_no_first_run(
    chaski: Callable[..., Result], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``migrate`` (the unit's ExecStartPre) must not start an empty database by mistake."""
    _installed_with_a_member(chaski)
    wrong = env / "typo" / "chaski.sqlite3"
    monkeypatch.setenv("CHASKI_DB", str(wrong))
    line = one_error_line(chaski("migrate"))
    assert line == (
        f"chaski: no database at {wrong}, but {env / 'keys'} holds keys made with an earlier"
        " one: check CHASKI_DB (or the configuration file) and the working folder; to start"
        " a new, empty database with these keys, run 'chaski migrate --new-database';"
        " nothing was created"
    )
    assert not (env / "typo").exists()
    result = chaski("migrate", "--new-database")
    assert result.code == 0, result.err
    assert _key_check_rows(wrong) == 1
    assert "No members yet" in chaski("members", "list").out
