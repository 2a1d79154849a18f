"""The production install in ``deploy/``: units that systemd accepts, one configuration, one
recipe with ``scripts/dev.py``, and a wrapper that runs every command as the service user."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config_file import read_config_file

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").iterdir())
WRAPPER = DEPLOY / "chaski-admin"
INSTALL = DEPLOY / "install-venv"


def _assignments(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of a shell script (the wrapper's fixed paths)."""
    found = re.findall(r"^([A-Z_]+)=(\S+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    return dict(found)


def _directives(path: Path) -> list[tuple[str, str]]:
    """``(key, value)`` of every directive of a unit file, in order (comments skipped)."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


WRAPPED = _assignments(WRAPPER)
SERVICES = [unit for unit in UNITS if unit.suffix == ".service"]


def test_the_units_are_the_ones_the_docs_install() -> None:
    assert [unit.name for unit in UNITS] == [
        "chaski-backup.service",
        "chaski-backup.timer",
        "chaski.service",
    ]
    guide = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for unit in UNITS:
        assert f"deploy/systemd/{unit.name}" in guide or unit.name in guide


@pytest.mark.parametrize("unit", SERVICES, ids=lambda unit: unit.name)
def test_every_service_runs_as_the_wrapper_does(unit: Path) -> None:
    directives = _directives(unit)
    assert ("User", WRAPPED["CHASKI_USER"]) in directives
    assert ("Group", WRAPPED["CHASKI_USER"]) in directives
    assert ("Environment", f"CHASKI_CONFIG={WRAPPED['CHASKI_CONFIG_FILE']}") in directives
    assert ("UMask", "0077") in directives
    assert ("ProtectSystem", "strict") in directives
    commands = [value for key, value in directives if key.startswith("ExecStart")]
    assert any(WRAPPED["CHASKI_BIN"] in command for command in commands)
    # Every setting comes from the one file: none is set in the unit itself.
    assert not [v for k, v in directives if k == "Environment" and v.startswith("CHASKI_DB")]


def test_only_the_bot_reads_the_token_and_it_cannot_change_its_keys() -> None:
    bot = dict(_directives(DEPLOY / "systemd" / "chaski.service"))
    assert bot["EnvironmentFile"] == "/etc/chaski/token.env"
    assert "ReadWritePaths" not in bot  # only its StateDirectory, the database
    assert bot["StateDirectory"] == "chaski"
    backup = dict(_directives(DEPLOY / "systemd" / "chaski-backup.service"))
    assert "EnvironmentFile" not in backup


def test_the_example_configuration_parses_and_keeps_keys_apart_from_data(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "chaski.env"
    shutil.copy(DEPLOY / "chaski.env.example", copy)
    copy.chmod(0o640)
    parsed = read_config_file(copy)
    database = Path(parsed.values["CHASKI_DB"])
    keys = Path(parsed.values["CHASKI_KEY_DIR"])
    bot = dict(_directives(DEPLOY / "systemd" / "chaski.service"))
    assert database.parent == Path("/var/lib") / bot["StateDirectory"]
    assert database.parent not in (keys, *keys.parents)
    assert "TELEGRAM_BOT_TOKEN" not in parsed.values


def _chaski_executable() -> Path | None:
    """This environment's ``chaski`` script (a real executable for the units to name)."""
    candidate = Path(sys.executable).parent / "chaski"
    return candidate if os.access(candidate, os.X_OK) else None


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    executable = _chaski_executable()
    if executable is None:
        pytest.skip("no installed chaski executable next to this Python")
    # The units name /opt/chaski/.venv/bin/chaski, which exists only on a server; systemd
    # refuses a unit whose command is missing, so point them at this environment's copy.
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8")
        (tmp_path / unit.name).write_text(
            text.replace(WRAPPED["CHASKI_BIN"], str(executable)), encoding="utf-8"
        )
    result = subprocess.run(  # noqa: S603 - systemd's own tool, our unit files
        [analyze, "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    # systemd reports unknown keys and bad values as warnings with exit code 0: any line
    # about our units is a failure.
    about_us = [line for line in result.stderr.splitlines() if "chaski" in line]
    assert (result.returncode, about_us) == (0, [])


def _fake_bin(tmp_path: Path, uid: int, user: str) -> Path:
    """``id``, ``runuser`` and ``env`` stand-ins that print what they were asked to do."""
    fake = tmp_path / "bin"
    fake.mkdir()
    scripts = {
        "id": f'#!/bin/sh\nif [ "$1" = -u ]; then echo {uid}; else echo {user}; fi\n',
        "runuser": '#!/bin/sh\necho "umask $(umask)"\nfor a in runuser "$@"; do echo "$a"; done\n',
        "env": '#!/bin/sh\nfor a in env "$@"; do echo "$a"; done\n',
    }
    for name, body in scripts.items():
        path = fake / name
        path.write_text(body, encoding="utf-8")
        path.chmod(0o755)
    return fake


def _wrap(tmp_path: Path, uid: int, user: str, *argv: str) -> subprocess.CompletedProcess[str]:
    fake = _fake_bin(tmp_path, uid, user)
    environment = {"PATH": f"{fake}:/usr/bin:/bin", "CHASKI_DB": "/tmp/stray.sqlite3"}  # noqa: S108
    return subprocess.run(  # noqa: S603 - the shipped script, fixed arguments
        ["/bin/sh", str(WRAPPER), *argv],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        timeout=30,
    )


CLEAN = [
    "env",
    "-i",
    "PATH=/usr/bin:/bin",
    "LANG=C.UTF-8",
    "PTB_TIMEDELTA=1",
    "CHASKI_CONFIG=/etc/chaski/chaski.env",
    "/opt/chaski/.venv/bin/chaski",
]


def test_the_wrapper_runs_chaski_as_the_service_user_with_only_the_config(
    tmp_path: Path,
) -> None:
    result = _wrap(tmp_path, 0, "root", "claims", "import", "/srv/two words.csv")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "umask 0077",
        "runuser",
        "-u",
        "chaski",
        "--",
        *CLEAN,
        "claims",
        "import",
        "/srv/two words.csv",
    ]


def test_the_service_user_may_use_the_wrapper_directly(tmp_path: Path) -> None:
    result = _wrap(tmp_path, 999, "chaski", "status", "--json")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [*CLEAN, "status", "--json"]


def test_anyone_else_is_told_to_use_sudo(tmp_path: Path) -> None:
    result = _wrap(tmp_path, 1000, "alice", "members", "list")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("chaski-admin: run it as root (sudo chaski-admin ...)")


def _dev_recipe() -> list[list[str]]:
    """``scripts/dev.py``'s pip calls (in devtool.py), with placeholders for python and root."""
    spec = importlib.util.spec_from_file_location(
        "chaski_devtool", ROOT / "scripts" / "devtool.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    commands: list[list[str]] = module.pip_install_commands(
        Path("PY"), Path("ROOT"), "requirements.lock"
    )
    return commands


def test_install_venv_follows_the_dev_recipe_without_editable_install() -> None:
    dev = _dev_recipe()
    prefix = ["PY", "-m", "pip", "--disable-pip-version-check", "-q"]
    assert all(command[: len(prefix)] == prefix for command in dev)
    expected = [[arg for arg in command[len(prefix) :] if arg != "-e"] for command in dev]
    script = INSTALL.read_text(encoding="utf-8")
    assert 'PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"' in script
    steps = [
        line.removeprefix("$PIP ").replace('"$ROOT/', "ROOT/").replace('"$ROOT"', "ROOT")
        for line in script.splitlines()
        if line.startswith("$PIP ")
    ]
    assert [step.replace('"', "").split() for step in steps] == expected


def test_the_scripts_are_valid_sh(tmp_path: Path) -> None:
    for script in (WRAPPER, INSTALL):
        assert os.access(script, os.X_OK), f"{script.name} must be executable"
        result = subprocess.run(  # noqa: S603 - a syntax check of the shipped script
            ["/bin/sh", "-n", str(script)], capture_output=True, text=True, check=False
        )
        assert (result.returncode, result.stderr) == (0, "")
    old = tmp_path / "python"
    old.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")  # "sys.version_info < (3, 11)"
    old.chmod(0o755)
    result = subprocess.run(  # noqa: S603 - the shipped script, a stand-in Python
        ["/bin/sh", str(INSTALL)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(old)},
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("install-venv: Chaski needs Python 3.11 or newer")
    assert not (tmp_path / ".venv").exists()
