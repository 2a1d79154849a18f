"""Owner-only files and folders (T-53, #11.8, #14.3): the database, its folder and the keys.

Under a usual umask (022) SQLite made the database 0644 in a 0755 folder; a key folder any
user could write was accepted; and a command run as root over the service user's files left
root-owned files behind. Tests that change a file's owner need root (``chown``); they are
skipped otherwise.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.database import Database, DatabaseFileError
from storage.keys import DATA_KEYS, PEPPER, KeyFileError, ensure_keys, load_keys

#: The traditional "nobody" user: exists on every Linux system, owns nothing of ours.
NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give a shell (022), whatever the test runner has."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


async def test_t53_a_new_database_and_its_folders_are_owner_only(
    tmp_path: Path, usual_umask: None
) -> None:
    del usual_umask
    path = tmp_path / "var" / "lib" / "chaski.sqlite3"
    db = await Database.open(path)
    try:
        await db.execute("INSERT INTO regions (name, created_at) VALUES ('Pichari', 'now')")
        files = [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))]
        assert {p.name: _mode(p) for p in files} == {
            "chaski.sqlite3": 0o600,
            "chaski.sqlite3-wal": 0o600,
            "chaski.sqlite3-shm": 0o600,
        }
    finally:
        await db.close()
    assert _mode(tmp_path / "var") == 0o700
    assert _mode(tmp_path / "var" / "lib") == 0o700


async def test_t53_a_database_others_could_read_is_narrowed_with_a_warning(
    tmp_path: Path, usual_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    del usual_umask
    path = tmp_path / "chaski.sqlite3"
    await (await Database.open(path)).close()
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="storage.database"):
        await (await Database.open(path)).close()
    assert _mode(path) == 0o600
    assert f"Narrowed {path} from mode 644 to 600" in caplog.text


@pytest.mark.parametrize("mode", [0o720, 0o702, 0o777])
def test_t53_a_key_folder_others_may_write_is_refused(
    key_dir: Path, db_path: Path, mode: int
) -> None:
    ensure_keys(key_dir, db_path)
    key_dir.chmod(mode)
    with pytest.raises(KeyFileError) as refused:
        load_keys(key_dir)
    assert str(refused.value) == (
        f"key folder {key_dir} is writable by other users (mode {mode:o});"
        f" run: chmod 700 {key_dir}"
    )
    key_dir.chmod(0o700)
    load_keys(key_dir)


def test_t53_no_keys_are_made_in_a_folder_others_may_write(key_dir: Path, db_path: Path) -> None:
    key_dir.mkdir()
    key_dir.chmod(0o777)
    with pytest.raises(KeyFileError, match="writable by other users"):
        ensure_keys(key_dir, db_path)
    assert list(key_dir.iterdir()) == []


@needs_root
@pytest.mark.parametrize("which", ["folder", DATA_KEYS, PEPPER])
def test_t53_keys_of_another_user_are_refused_naming_the_user_to_run_as(
    key_dir: Path, db_path: Path, which: str
) -> None:
    ensure_keys(key_dir, db_path)
    target = key_dir if which == "folder" else key_dir / which
    os.chown(target, NOBODY, -1)
    with pytest.raises(KeyFileError) as refused:
        load_keys(key_dir)
    assert f"{target} belongs to user nobody, but this runs as root: run it as nobody" in str(
        refused.value
    )
    load_keys(key_dir, check_owner=False)  # reading only (chaski status) is harmless


@needs_root
@pytest.mark.parametrize("which", ["folder", "database", "-wal"])
async def test_t53_a_database_of_another_user_is_refused_before_anything_is_created(
    tmp_path: Path, which: str
) -> None:
    from storage.database import check_owner  # noqa: PLC0415 - the rest runs without it

    path = tmp_path / "data" / "chaski.sqlite3"
    await (await Database.open(path)).close()
    target = {
        "folder": path.parent,
        "database": path,
        "-wal": path.with_name(path.name + "-wal"),
    }[which]
    target.touch()
    os.chown(target, NOBODY, -1)
    with pytest.raises(DatabaseFileError) as refused:
        check_owner(path)
    assert f"database {target} belongs to user nobody" in str(refused.value)


@needs_root
def test_t53_the_service_accepts_roots_folder_but_asks_for_a_file_root_took_back(
    key_dir: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the service user: a root-owned key folder is trusted; a root-owned key is not ours.

    The second case is what an administrator's command run as root used to leave: the
    service then died on a PermissionError; now it says to give the file back.
    """
    ensure_keys(key_dir, db_path)
    for name in (DATA_KEYS, PEPPER):
        os.chown(key_dir / name, NOBODY, -1)
    monkeypatch.setattr(os, "geteuid", lambda: NOBODY)  # this process, as the service
    load_keys(key_dir)  # the folder stays root's (e.g. root:chaski 0750): accepted
    os.chown(key_dir / DATA_KEYS, 0, -1)
    with pytest.raises(KeyFileError) as refused:
        load_keys(key_dir)
    assert str(refused.value) == (
        f"key file {key_dir / DATA_KEYS} belongs to user root, but this runs as nobody: give"
        f" it back (chown nobody {key_dir / DATA_KEYS}) and run administration commands as"
        " nobody (on a server: sudo chaski-admin …); nothing was changed"
    )
