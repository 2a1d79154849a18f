"""Key files (M-07, M-17, T-49): created owner-only, refused when exposed, never guessed."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from storage.crypto import DecryptionError
from storage.keys import (
    DATA_KEYS,
    PEPPER,
    KeyFileError,
    ensure_keys,
    load_keys,
    new_key_id,
    read_data_keys,
    write_data_keys,
)
from tests.storage.test_crypto import Cell

CELL: Cell = {"table": "members", "column": "codename", "row_id": 1}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_run_creates_owner_only_files_and_folder(key_dir: Path, db_path: Path) -> None:
    assert ensure_keys(key_dir, db_path) is True
    assert _mode(key_dir) == 0o700
    assert _mode(key_dir / DATA_KEYS) == 0o600
    assert _mode(key_dir / PEPPER) == 0o600
    assert sorted(p.name for p in key_dir.iterdir()) == [DATA_KEYS, PEPPER]  # no .tmp left
    keys, active = read_data_keys(key_dir)
    assert list(keys) == [active]
    assert len(keys[active]) == 32


def test_second_run_loads_the_same_keys(key_dir: Path, db_path: Path) -> None:
    ensure_keys(key_dir, db_path)
    first = load_keys(key_dir)
    blob = first.cipher.seal("Cóndor-7", **CELL)
    digest = first.index("telegram", "987654321")
    assert ensure_keys(key_dir, db_path) is False  # nothing created, nothing replaced
    second = load_keys(key_dir)
    assert second.cipher.open(blob, **CELL) == "Cóndor-7"
    assert second.index("telegram", "987654321") == digest


def test_separate_installations_get_different_keys(tmp_path: Path, db_path: Path) -> None:
    ensure_keys(tmp_path / "a", db_path)
    ensure_keys(tmp_path / "b", db_path)
    blob = load_keys(tmp_path / "a").cipher.seal("x", **CELL)
    assert (tmp_path / "a" / PEPPER).read_bytes() != (tmp_path / "b" / PEPPER).read_bytes()
    with pytest.raises(DecryptionError):
        load_keys(tmp_path / "b").cipher.open(blob, **CELL)


@pytest.mark.parametrize("name", [DATA_KEYS, PEPPER])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660])
def test_file_readable_or_writable_by_others_is_refused(
    key_dir: Path, db_path: Path, name: str, mode: int
) -> None:
    ensure_keys(key_dir, db_path)
    (key_dir / name).chmod(mode)
    with pytest.raises(KeyFileError) as caught:
        load_keys(key_dir)
    message = str(caught.value)
    assert str(key_dir / name) in message  # names the file (T-49)
    assert "chmod 600" in message
    assert ensure_keys(key_dir, db_path) is False  # never "repaired" by a new key


@pytest.mark.parametrize("present", [DATA_KEYS, PEPPER])
def test_only_one_file_present_is_refused(key_dir: Path, db_path: Path, present: str) -> None:
    ensure_keys(key_dir, db_path)
    missing = PEPPER if present == DATA_KEYS else DATA_KEYS
    (key_dir / missing).unlink()
    before = (key_dir / present).read_bytes()
    with pytest.raises(KeyFileError, match=str(key_dir / missing)):
        ensure_keys(key_dir, db_path)
    with pytest.raises(KeyFileError, match="missing"):
        load_keys(key_dir)
    assert (key_dir / present).read_bytes() == before  # the surviving file is untouched
    assert not (key_dir / missing).exists()


def test_missing_folder_is_refused_by_load(key_dir: Path) -> None:
    with pytest.raises(KeyFileError, match="missing"):
        load_keys(key_dir)


def test_key_folder_equal_to_the_database_folder_is_refused(tmp_path: Path) -> None:
    db_path = tmp_path / "data" / "chaski.sqlite3"
    with pytest.raises(KeyFileError, match="database's folder"):
        ensure_keys(tmp_path / "data", db_path)
    with pytest.raises(KeyFileError):
        ensure_keys(tmp_path / "data" / ".." / "data", db_path)  # same folder, other spelling
    assert not (tmp_path / "data").exists()


def _write(key_dir: Path, name: str, data: bytes) -> None:
    path = key_dir / name
    path.write_bytes(data)
    path.chmod(0o600)


GOOD_KEY = base64.b64encode(os.urandom(32)).decode()
MALFORMED = {
    "not-json": b"{not json",
    "empty": b"",
    "list": b"[]",
    "keys-a-string": json.dumps({"active": "abcd1234", "keys": "abcd1234"}).encode(),
    "keys-a-list": json.dumps({"active": "abcd1234", "keys": ["abcd1234"]}).encode(),
    "no-active": json.dumps({"keys": {"abcd1234": GOOD_KEY}}).encode(),
    "active-unknown": json.dumps({"active": "ffff0000", "keys": {"abcd1234": GOOD_KEY}}).encode(),
    "bad-base64": json.dumps({"active": "abcd1234", "keys": {"abcd1234": "!!!"}}).encode(),
    "short-key": json.dumps(
        {"active": "abcd1234", "keys": {"abcd1234": base64.b64encode(b"x" * 16).decode()}}
    ).encode(),
    "bad-key-id": json.dumps({"active": "ab/", "keys": {"ab/": GOOD_KEY}}).encode(),
    "not-utf8": b"\xff\xfe\x00",
}


@pytest.mark.parametrize("content", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_data_keys_are_refused(key_dir: Path, db_path: Path, content: bytes) -> None:
    ensure_keys(key_dir, db_path)
    _write(key_dir, DATA_KEYS, content)
    with pytest.raises(KeyFileError, match=f"{DATA_KEYS} is malformed"):
        load_keys(key_dir)


def test_short_pepper_is_refused(key_dir: Path, db_path: Path) -> None:
    ensure_keys(key_dir, db_path)
    _write(key_dir, PEPPER, b"x" * 31)
    with pytest.raises(KeyFileError, match=f"{PEPPER} is malformed"):
        load_keys(key_dir)


def test_stale_world_readable_tmp_file_does_not_leak_into_the_key_file(
    key_dir: Path, db_path: Path
) -> None:
    """A .tmp left by a crash keeps its mode under O_CREAT; the writer must start afresh."""
    key_dir.mkdir(mode=0o700)
    stale = key_dir / (DATA_KEYS + ".tmp")
    stale.write_bytes(b"old")
    stale.chmod(0o644)
    ensure_keys(key_dir, db_path)
    assert _mode(key_dir / DATA_KEYS) == 0o600
    load_keys(key_dir)


def test_rotation_written_by_another_process_is_picked_up(key_dir: Path, db_path: Path) -> None:
    ensure_keys(key_dir, db_path)
    running = load_keys(key_dir)
    old_blob = running.cipher.seal("Cóndor-7", **CELL)
    keys, old = read_data_keys(key_dir)
    new = new_key_id()
    write_data_keys(key_dir, {**keys, new: os.urandom(32)}, new)
    assert running.cipher.seal("x", **CELL)[:8] == new.encode()  # reloaded before sealing
    assert running.cipher.open(old_blob, **CELL) == "Cóndor-7"
    assert running.reload_if_changed() is False
    assert old != new


def test_exposed_rotated_file_is_not_adopted(
    key_dir: Path, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ensure_keys(key_dir, db_path)
    running = load_keys(key_dir)
    keys, old = read_data_keys(key_dir)
    new = new_key_id()
    write_data_keys(key_dir, {**keys, new: os.urandom(32)}, new)
    (key_dir / DATA_KEYS).chmod(0o644)
    with caplog.at_level(logging.ERROR, logger="storage.keys"):
        blob = running.cipher.seal("x", **CELL)
    assert blob[:8] == old.encode()  # kept the verified key set
    assert "KeyFileError" in caplog.text
    assert str(keys[old]) not in caplog.text


def test_new_key_ids_are_8_hex_characters_and_random() -> None:
    ids = {new_key_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(key_id) == 8 and int(key_id, 16) >= 0 for key_id in ids)


def test_read_data_keys_refuses_missing_and_exposed_files(key_dir: Path, db_path: Path) -> None:
    with pytest.raises(KeyFileError, match="missing"):
        read_data_keys(key_dir)
    ensure_keys(key_dir, db_path)
    (key_dir / DATA_KEYS).chmod(0o644)
    with pytest.raises(KeyFileError, match=DATA_KEYS):
        read_data_keys(key_dir)
