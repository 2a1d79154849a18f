"""Every ``chaski`` command prints JSON with ``--json`` (issue #16.3).

The only exceptions: ``run`` (the bot itself prints no result) and ``claims export``, whose
``--format json`` is its JSON. Each object is read back as JSON, so a script can rely on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.cli.harness import Result
from tests.cli.test_cli import HEADER
from tests.test_docs_commands import cli_commands

#: Commands without ``--json`` on purpose (see the module docstring).
WITHOUT_JSON = {("run",), ("claims", "export")}


def test_every_command_but_run_and_claims_export_has_json() -> None:
    missing = [
        " ".join(path)
        for path, options in cli_commands().items()
        if "--json" not in options and path not in WITHOUT_JSON
    ]
    assert missing == []
    assert ("claims", "export") in cli_commands()  # the exceptions still exist


def test_operator_commands_print_one_json_object(chaski: Callable[..., Result], env: Path) -> None:
    migrated = json.loads(chaski("migrate", "--json").out)
    assert migrated == {"database": str(env / "data" / "chaski.sqlite3"), "up_to_date": True}
    assert chaski("region", "add", "Ayacucho").code == 0
    made = chaski(
        "invite", "create", "--role", "informant", "--region", "Ayacucho", "--codename", "Puma"
    )
    assert made.code == 0, made.err
    claims = env / "claims.csv"
    claims.write_text(
        HEADER + "R-2016-0001,Puma,Operación Halcón,2016-02-10,Ayacucho,1500,approved,,,\n",
        encoding="utf-8",
    )
    checked = json.loads(chaski("claims", "import", str(claims), "--check", "--json").out)
    assert checked == {"written": False, "created": 1, "updated": 0, "unchanged": 0}
    imported = json.loads(chaski("claims", "import", str(claims), "--json").out)
    assert imported == {"written": True, "created": 1, "updated": 0, "unchanged": 0}
    assert json.loads(chaski("outbox", "retry-dead", "--json").out) == {"queued": 0}
    purged = json.loads(chaski("purge", "--json").out)
    assert set(purged) == {"deleted", "wal_truncated"}
    assert json.loads(chaski("keys", "retire", "--json").out) == {"retired": []}
    rotated = json.loads(chaski("keys", "rotate-audit", "--json").out)
    assert set(rotated) == {"new_audit_key"}
    target = env / "backup.chaski"
    backup = json.loads(chaski("backup", str(target), "--json").out)
    assert backup["path"] == str(target)
    assert backup["bytes"] == target.stat().st_size
    keys = json.loads(chaski("keys", "rotate", "--json").out)
    assert set(keys) == {"new_key", "resealed", "passes", "usage", "retired"}
    assert keys["retired"] is None
    restored = chaski("restore", str(target), "--force", "--json")
    assert restored.code == 0, restored.err
    doc = json.loads(restored.out)
    assert (doc["members"], doc["claims"]) == (1, 1)
    assert doc["moved_aside"] is not None
