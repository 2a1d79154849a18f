"""``chaski audit verify|list`` and ``chaski keys rotate-audit`` (issue #16.5, M-16, T-38).

The tampering is done the way an intruder with write access to the database file (and not
to CHASKI_KEY_DIR) would: a plain ``sqlite3`` connection, triggers dropped.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from storage.audit import GENESIS, entry_hash
from tests.cli.harness import Result
from tests.cli.test_cli import create_invite


@pytest.fixture
def history(chaski: Callable[..., Result], installed: None) -> None:
    """A few audited actions: a region and three invites."""
    del installed
    assert chaski("region", "add", "Ayacucho").code == 0
    for codename in ("Puma", "Condor", "Vicuna"):
        create_invite(chaski, codename)


def _database(env: Path) -> Path:
    return env / "data" / "chaski.sqlite3"


def _raw(env: Path) -> sqlite3.Connection:
    raw = sqlite3.connect(_database(env), isolation_level=None)
    raw.execute("DROP TRIGGER IF EXISTS audit_no_update")
    raw.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    return raw


def _verify(chaski: Callable[..., Result]) -> dict[str, object]:
    result = chaski("audit", "verify", "--json")
    doc: dict[str, object] = json.loads(result.out)
    assert result.code == (0 if doc["intact"] else 1)
    return doc


def test_an_intact_chain_verifies_and_shows_its_head(
    chaski: Callable[..., Result], history: None
) -> None:
    del history
    result = chaski("audit", "verify")
    assert result.code == 0, result.err
    assert result.out.startswith("The audit chain is intact: 4 entries, keyed.\n")
    assert "Head: entry 4, hash " in result.out
    doc = _verify(chaski)
    assert doc["first_broken"] is None
    assert doc["head"] == {"id": 4, "hash": doc["head"]["hash"]}  # type: ignore[index]


def test_a_tampered_row_is_named(chaski: Callable[..., Result], history: None, env: Path) -> None:
    del history
    with closing(_raw(env)) as raw:
        raw.execute("UPDATE audit SET result = 'denied' WHERE id = 2")
    result = chaski("audit", "verify")
    assert result.code == 1
    assert result.out.startswith("Audit entry 2 is the first broken one: its keyed hash")


def test_a_deleted_row_is_named(chaski: Callable[..., Result], history: None, env: Path) -> None:
    del history
    with closing(_raw(env)) as raw:
        raw.execute("DELETE FROM audit WHERE id = 2")
    doc = _verify(chaski)
    assert doc["first_broken"] == {
        "id": 3,
        "reason": "does not link to the entry before it (an entry was deleted or changed)",
    }


def test_a_recomputed_plain_chain_is_named(
    chaski: Callable[..., Result], history: None, env: Path
) -> None:
    """Edit entry 2 and re-hash it and everything after with SHA-256: still caught."""
    del history
    with closing(_raw(env)) as raw:
        raw.execute("UPDATE audit SET result = 'denied' WHERE id = 2")
        prev = raw.execute("SELECT hash FROM audit WHERE id = 1").fetchone()[0]
        for row_id, at, actor, role, action, target, result in raw.execute(
            "SELECT id, at, actor_id, actor_role, action, target, result FROM audit"
            " WHERE id >= 2 ORDER BY id"
        ).fetchall():
            digest = entry_hash(
                prev, (at, str(actor or ""), role or "", action, target or "", result)
            )
            raw.execute(
                "UPDATE audit SET prev_hash = ?, hash = ?, key_id = NULL WHERE id = ?",
                (prev, digest, row_id),
            )
            prev = digest
        assert prev != GENESIS
    doc = _verify(chaski)
    assert doc["first_broken"] == {
        "id": 2,
        "reason": "unkeyed entry where the chain is keyed (a recomputed plain chain)",
    }
    assert doc["broken"] == [2, 3, 4]


def test_list_filters_and_never_shows_content(
    chaski: Callable[..., Result], history: None
) -> None:
    del history
    every = json.loads(chaski("audit", "list", "--json").out)
    assert [entry["action"] for entry in every] == [
        "region_add",
        "invite_create",
        "invite_create",
        "invite_create",
    ]
    only = json.loads(chaski("audit", "list", "--action", "region_add", "--json").out)
    assert [entry["id"] for entry in only] == [1]
    later = json.loads(chaski("audit", "list", "--since", "2999-01-01", "--json").out)
    assert later == []
    newest = json.loads(chaski("audit", "list", "--limit", "1", "--json").out)
    assert [entry["id"] for entry in newest] == [4]
    text = chaski("audit", "list")
    assert text.out.splitlines()[0].split() == [
        "ID",
        "AT",
        "ACTOR",
        "ROLE",
        "ACTION",
        "TARGET",
        "RESULT",
    ]
    for codename in ("Puma", "Condor", "Vicuna"):
        assert codename not in text.out


def test_list_by_unknown_actor_is_one_line_error(
    chaski: Callable[..., Result], history: None
) -> None:
    del history
    result = chaski("audit", "list", "--actor", "Nobody")
    assert result.code == 2
    assert result.err == "chaski: no member with that codename (see chaski members list)\n"
    bad = chaski("audit", "list", "--since", "yesterday")
    assert bad.code == 2
    assert "--since" in bad.err
    assert chaski("audit", "list", "--limit", "0").code == 2


def test_rotating_the_audit_key_keeps_the_chain_verifiable(
    chaski: Callable[..., Result], history: None, env: Path
) -> None:
    del history
    before = json.loads((env / "keys" / "audit.keys").read_text())
    result = chaski("keys", "rotate-audit")
    assert result.code == 0, result.err
    after = json.loads((env / "keys" / "audit.keys").read_text())
    assert after["active"] != before["active"]
    assert set(before["keys"]) < set(after["keys"])
    assert result.out == (
        f"New audit key {after['active']} is active; older keys stay to verify older entries.\n"
    )
    create_invite(chaski, "Taruka")
    doc = _verify(chaski)
    assert doc["intact"] is True
    entries = json.loads(chaski("audit", "list", "--json").out)
    assert entries[-2]["action"] == "audit_key_rotated"
    assert entries[-2]["target"] == f"key:{after['active']}"


def test_a_missing_audit_key_stops_every_command(
    chaski: Callable[..., Result], history: None, env: Path
) -> None:
    del history
    (env / "keys" / "audit.keys").unlink()
    result = chaski("audit", "verify")
    assert result.code == 2
    assert "audit.keys is missing" in result.err
    assert not (env / "keys" / "audit.keys").exists()


def test_privileged_commands_on_the_server_are_audited(
    chaski: Callable[..., Result], history: None, env: Path
) -> None:
    """Key rotation and retirement, backup, dead letters and purge each leave an entry."""
    del history
    for argv in (
        ("keys", "rotate"),
        ("keys", "retire"),
        ("backup", str(env / "copy.chaski-backup")),
        ("outbox", "retry-dead"),
        ("purge",),
    ):
        result = chaski(*argv)
        assert result.code == 0, result.err
    entries = json.loads(chaski("audit", "list", "--json").out)
    assert [(e["action"], e["result"]) for e in entries[4:]] == [
        ("keys_rotate", "ok"),
        ("keys_retire", "retired:1"),
        ("backup", "ok"),
        ("outbox_retry_dead", "rows:0"),
        ("purge", "rows:0"),
    ]
    assert entries[4]["target"].startswith("key:")
    assert _verify(chaski)["intact"] is True


def test_restoring_a_backup_from_before_the_key_seals_its_chain(
    chaski: Callable[..., Result], history: None, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backup made before #16.5 has a plain chain: the restore adopts it, openly."""
    del history
    with closing(_raw(env)) as raw:  # turn the live chain into one made before the key
        prev = GENESIS
        for row_id, at, actor, role, action, target, result in raw.execute(
            "SELECT id, at, actor_id, actor_role, action, target, result FROM audit ORDER BY id"
        ).fetchall():
            fields = (at, str(actor or ""), role or "", action, target or "", result)
            digest = entry_hash(prev, fields)
            raw.execute(
                "UPDATE audit SET prev_hash = ?, hash = ?, key_id = NULL WHERE id = ?",
                (prev, digest, row_id),
            )
            prev = digest
    assert _verify(chaski)["first_broken"] == {
        "id": 1,
        "reason": "unkeyed entry where the chain is keyed (a recomputed plain chain)",
    }  # a normal open never adopts it
    backup = env / "old.chaski-backup"
    assert chaski("backup", str(backup)).code == 0
    monkeypatch.setenv("CHASKI_DB", str(env / "drill" / "chaski.sqlite3"))
    restored = chaski("restore", str(backup))
    assert restored.code == 0, restored.err
    assert "sealed under it as of now" in restored.out
    doc = _verify(chaski)
    assert doc["intact"] is True
    entries = json.loads(chaski("audit", "list", "--json").out)
    assert (entries[-1]["action"], entries[-1]["result"]) == ("audit_keyed", "restore")
