"""``chaski keys``, ``backup``, ``restore`` and ``purge`` run in-process (R-11, M-07, M-15).

Each test calls ``bot.root.cli.main`` as the console script does, with ``CHASKI_DB`` and
``CHASKI_KEY_DIR`` in ``tmp_path``; effects are checked through the services and the files.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.models import Role
from tests.cli.harness import Result, members, with_services
from tests.conftest import TestClock


def one_error(result: Result) -> str:
    assert result.code == 2
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("chaski: ")
    return lines[0]


@pytest.fixture
def populated(chaski: Callable[..., Result], installed: None) -> list[str]:
    del installed
    assert chaski("region", "add", "Ayacucho").code == 0
    names = ["Puma", "Kuntur"]
    for name in names:
        result = chaski(
            "invite", "create", "--role", "informant", "--region", "Ayacucho",
            "--codename", name, "--json",
        )  # fmt: skip
        assert result.code == 0, result.err
        assert json.loads(result.out)["code"]
    return names


@pytest.mark.parametrize(
    "path", [["keys"], ["keys", "rotate"], ["keys", "retire"], ["backup"], ["restore"], ["purge"]]
)
def test_help_touches_nothing(path: list[str], chaski: Callable[..., Result], env: Path) -> None:
    result = chaski(*path, "--help")
    assert result.code == 0
    assert result.out.startswith(f"usage: chaski {' '.join(path)}")
    assert not (env / "data").exists()
    assert not (env / "keys").exists()


def test_backup_restore_rotate_and_retire(
    chaski: Callable[..., Result],
    populated: list[str],
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backup = env / "backup.chaski"
    result = chaski("backup", str(backup))
    assert result.code == 0, result.err
    assert result.out.startswith(f"Backup written to {backup} (")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert b"Puma" not in backup.read_bytes()
    assert "already exists" in one_error(chaski("backup", str(backup)))

    # Restore drill into a scratch database with the production keys (T-39).
    monkeypatch.setenv("CHASKI_DB", str(env / "drill" / "chaski.sqlite3"))
    result = chaski("restore", str(backup))
    assert result.code == 0, result.err
    assert "2 member(s), 0 claim(s)" in result.out
    assert "integrity ok" in result.out
    assert sorted(m.codename for m in members()) == sorted(populated)
    assert "--force" in one_error(chaski("restore", str(backup)))
    result = chaski("restore", str(backup), "--force")
    assert result.code == 0, result.err
    assert "The previous database was moved to" in result.out
    assert list((env / "drill").glob("chaski.sqlite3.before-restore-*"))

    # Rotation on the live database; the bot's data stays readable.
    monkeypatch.setenv("CHASKI_DB", str(env / "data" / "chaski.sqlite3"))
    old = json.loads((env / "keys" / "data.keys").read_text())["active"]
    result = chaski("keys", "rotate")
    assert result.code == 0, result.err
    new = json.loads((env / "keys" / "data.keys").read_text())["active"]
    assert new != old
    # Two codenames and the key check (#11.4), which rotation re-seals like any value.
    assert f"New data key {new} is active; re-sealed 3 value(s)" in result.out
    assert f"key {new}: 3 value(s)" in result.out
    assert "offline copy" in result.err
    assert sorted(m.codename for m in members()) == sorted(populated)
    result = chaski("keys", "retire")
    assert result.code == 0, result.err
    assert result.out == f"Retired old key(s): {old}.\n"
    assert chaski("keys", "rotate", "--retire-old").out.endswith(f"Retired old key(s): {new}.\n")

    # The old backup needs the retired key now: refused, and the scratch copy is untouched.
    monkeypatch.setenv("CHASKI_DB", str(env / "drill2" / "chaski.sqlite3"))
    line = one_error(chaski("restore", str(backup)))
    assert "do not open with the current keys" in line
    assert not (env / "drill2" / "chaski.sqlite3").exists()


def test_retire_is_refused_while_old_values_remain(
    chaski: Callable[..., Result], populated: list[str], env: Path
) -> None:
    del populated
    doc = json.loads((env / "keys" / "data.keys").read_text())
    doc["keys"]["n3wk3y00"] = doc["keys"][doc["active"]]  # an interrupted rotation
    old, doc["active"] = doc["active"], "n3wk3y00"
    (env / "keys" / "data.keys").write_text(json.dumps(doc))
    line = one_error(chaski("keys", "retire"))
    assert f"{old}: 3" in line  # two codenames and the key check
    assert "chaski keys rotate" in line


def test_restore_and_backup_refusals(chaski: Callable[..., Result], env: Path) -> None:
    assert "no such file" in one_error(chaski("restore", str(env / "missing.chaski")))
    assert "no database to back up" in one_error(chaski("backup", str(env / "b.chaski")))
    assert not (env / "data").exists()
    assert chaski("migrate").code == 0
    assert chaski("region", "add", "Ayacucho").code == 0
    assert chaski("backup", str(env / "b.chaski")).code == 0
    (env / "keys" / "backup.key").unlink()
    line = one_error(chaski("restore", str(env / "b.chaski"), "--force"))
    assert "backup.key is missing" in line
    (env / "b.chaski").write_bytes(b"not a backup at all")
    line = one_error(chaski("restore", str(env / "b.chaski"), "--force"))
    assert "not a chaski backup" in line
    assert not list((env / "data").glob("*.before-restore-*"))  # nothing was moved aside
    assert chaski("backup", str(env / "b.chaski"), "--force").code == 0
    assert (env / "b.chaski").read_bytes().startswith(b"CHASKIBK")  # overwritten on request


def test_purge_deletes_only_what_is_past_retention(
    chaski: Callable[..., Result], populated: list[str]
) -> None:
    del populated
    old_clock = TestClock(current=datetime.now(UTC) - timedelta(days=30))
    with_services(
        lambda s: s.invites.create(
            role=Role.INFORMANT, region="Ayacucho", codename="Viejo", ttl_hours=1
        ),
        clock=old_clock,
    )
    result = chaski("purge")
    assert result.code == 0, result.err
    assert result.out.splitlines() == ["TABLE    DELETED", "invites  1"]
    assert "Viejo" in {m.codename for m in members()}  # members are not purged
    again = chaski("purge")
    assert again.out == "Nothing was past its retention.\n"
