"""An administrator's command run as the wrong user changes nothing (T-53, #14.3).

``chaski keys rotate`` or the first ``chaski backup`` run as root over the service user's
files used to leave ``data.keys`` / ``backup.key`` owned by root, mode 0600: the service
then died at its next start. Here the installation belongs to "nobody" (uid 65534) and the
commands run as root, as an administrator who forgot ``chaski-admin`` would: every command
that writes is refused with one line naming the user to run as, and no file changes owner.
Changing owners needs root, so these tests are skipped otherwise.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.harness import Result
from tests.cli.test_cli import one_error_line

NOBODY = 65534
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


def _chown_tree(root: Path, uid: int) -> None:
    os.chown(root, uid, -1)
    for path in root.rglob("*"):
        os.chown(path, uid, -1, follow_symlinks=False)


def _state(env: Path) -> dict[str, tuple[int, str]]:
    """Owner and content digest of every file of the installation."""
    return {
        str(path.relative_to(env)): (
            path.stat().st_uid,
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "",
        )
        for folder in ("data", "keys")
        for path in [env / folder, *(env / folder).rglob("*")]
    }


@pytest.fixture
def service_owned(chaski: Callable[..., Result], installed: None, env: Path) -> Path:
    """An installation whose database and keys belong to the service user (here: nobody)."""
    del installed
    assert chaski("region", "add", "Ayacucho").code == 0
    _chown_tree(env / "data", NOBODY)
    _chown_tree(env / "keys", NOBODY)
    return env


@pytest.mark.parametrize(
    "argv",
    [
        ["keys", "rotate"],
        ["backup", "{env}/first.chaski"],
        ["region", "add", "Pichari"],
        ["migrate"],
        ["purge"],
    ],
    ids=" ".join,
)
def test_t53_a_command_run_as_root_over_the_services_files_is_refused(
    argv: list[str], chaski: Callable[..., Result], service_owned: Path
) -> None:
    before = _state(service_owned)
    line = one_error_line(chaski(*(arg.format(env=service_owned) for arg in argv)))
    assert "belongs to user nobody, but this runs as root: run it as nobody" in line
    assert "sudo chaski-admin" in line
    assert _state(service_owned) == before  # no root-owned file, nothing rewritten
    assert not (service_owned / "keys" / "backup.key").exists()
    assert not (service_owned / "first.chaski").exists()


def test_t53_restore_as_root_over_the_services_files_is_refused(
    chaski: Callable[..., Result], installed: None, env: Path
) -> None:
    del installed
    assert chaski("backup", str(env / "b.chaski")).code == 0
    _chown_tree(env / "data", NOBODY)
    _chown_tree(env / "keys", NOBODY)
    before = _state(env)
    line = one_error_line(chaski("restore", str(env / "b.chaski"), "--force"))
    assert "belongs to user nobody" in line
    assert _state(env) == before


def test_t53_status_may_still_read_as_root(
    chaski: Callable[..., Result], service_owned: Path
) -> None:
    """Reading changes nothing: a monitoring probe run as root keeps working."""
    before = _state(service_owned)
    result = chaski("status")
    [keys_line] = [line for line in result.out.splitlines() if " keys " in line]
    assert keys_line.startswith("OK        keys"), result.out
    assert _state(service_owned) == before
