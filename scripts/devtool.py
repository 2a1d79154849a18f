"""What `scripts/dev.py` does once it knows the interpreter is new enough.

`python3 scripts/dev.py run` installs the hash-pinned runtime dependencies into `.venv`
and starts the bot; `python3 scripts/dev.py test` installs the development set and runs
every gate CI runs (format, lint, types, tests with coverage). One script, so the README's
two commands and `.ci/run` can never drift apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The virtual environment; CI points CHASKI_DEV_VENV at .venvs/<version> to run the same
#: suite under each supported Python from one clone (.ci/run).
VENV = ROOT / os.environ.get("CHASKI_DEV_VENV", ".venv")
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")

#: Statement coverage floor for the whole suite (docs/threat-model.md §9).
COVERAGE_FLOOR = "90"
#: Where pytest-cov writes the JSON report the gate below reads (inside the ignored venv).
COVERAGE_JSON = VENV / "coverage.json"
#: threat-model.md §9: "100 % branch on the authz, invites, pin, crypto, outbox, retention, audit
#: modules; CI fails below". Invite redemption lives in registration.py.
FULL_BRANCH_MODULES = (
    "bot/services/authz.py",
    "bot/services/invites.py",
    "bot/services/registration.py",
    "bot/services/pin.py",
    "storage/crypto.py",
    "bot/services/outbox.py",
    "storage/outbox.py",
    "bot/services/retention.py",
    "storage/retention.py",
    "storage/audit.py",
)


#: Locks installed before the project: the build backend, then the dependency set.
BUILD_LOCK = "requirements-build.lock"


class SetupError(Exception):
    """A set-up step failed; the message is the one or two lines shown to the person."""


def check_python(version: tuple[int, ...] = tuple(sys.version_info)) -> None:
    """Refuse an interpreter older than the project supports, in one line."""
    if version[:2] < (3, 11):
        found = ".".join(str(part) for part in version[:3])
        raise SetupError(
            f"Chaski needs Python 3.11 or newer; this is Python {found}.\n"
            "Install Python 3.11+ and run this command with it (e.g. python3.11 scripts/dev.py …)."
        )


def pip_install_commands(python: Path, root: Path, lock: str) -> list[list[str]]:
    """The pip calls that install `lock` exactly, whatever pip and the index are.

    Every call passes ``--no-deps``: the locks are complete, universal resolutions, so pip
    never needs to resolve anything itself. Resolution is what broke the quick start
    (issue #9): pip 23.2 reads ``pytest-cov``'s ``coverage[toml]`` as a second, unpinned
    requirement and takes the newest coverage on the index, which ``--require-hashes``
    then refuses. Without resolution the installer's age and the index's newest releases
    cannot change what is installed; ``pip check`` afterwards proves the set is whole.
    """
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q"]
    return [
        [*pip, "install", "--no-deps", "--require-hashes", "-r", str(root / BUILD_LOCK)],
        [*pip, "install", "--no-deps", "--require-hashes", "-r", str(root / lock)],
        [*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(root)],
        [*pip, "check"],
    ]


_STEP_NAMES = (
    f"installing the build backend from {BUILD_LOCK}",
    "installing the locked dependencies from {lock}",
    "installing Chaski itself into the virtual environment",
    "checking that the installed set is complete (pip check)",
)


def install_lock(python: Path, root: Path, lock: str) -> None:
    """Install `lock` into the venv of `python`; one readable `SetupError` on failure."""
    for step, command in zip(_STEP_NAMES, pip_install_commands(python, root, lock), strict=True):
        result = subprocess.run(command, check=False)
        if result.returncode:
            raise SetupError(
                f"Set-up failed while {step.format(lock=lock)} (pip exit code"
                f" {result.returncode}; pip's own message is above).\n"
                "Check that this machine reaches the package index, then delete .venv and"
                " run the command again."
            )


def _ensure_venv(lock: str) -> None:
    """Create `.venv` and install `lock` (hash-checked) plus the project, once per lock."""
    check_python()
    if not PY.exists():
        print(f"Creating virtual environment in {VENV} ...", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except (OSError, subprocess.CalledProcessError) as error:
            raise SetupError(
                f"Could not create the virtual environment in {VENV}: {error}.\n"
                "On Debian or Ubuntu install the python3-venv package, then try again."
            ) from error
    lock_path = ROOT / lock
    digest = hashlib.sha256(
        lock_path.read_bytes()
        + (ROOT / BUILD_LOCK).read_bytes()
        + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    stamp = VENV / f".installed-{lock}"
    if stamp.exists() and stamp.read_text(encoding="utf-8") == digest:
        return
    print(f"Installing dependencies from {lock} (hash-checked) ...", flush=True)
    install_lock(PY, ROOT, lock)
    stamp.write_text(digest, encoding="utf-8")


def _env() -> dict[str, str]:
    return {**os.environ, "PTB_TIMEDELTA": "1"}


def _bot_env() -> dict[str, str]:
    """The bot's environment from a clone: development serves the Quechua drafts.

    Unreviewed Quechua is off by default for a production install (issue #17); a clone run
    through this script is development or a supervised trial, where the drafts are wanted.
    An explicit CHASKI_QUECHUA_DRAFTS still wins. (The tests set it themselves.)
    """
    return {"CHASKI_QUECHUA_DRAFTS": "on", **_env()}


def _run(*args: str) -> int:
    return subprocess.run([str(PY), "-m", *args], cwd=ROOT, env=_env(), check=False).returncode


def _exec_bot(*args: str) -> int:
    """Become the bot process, so that SIGTERM and Ctrl-C reach it, not a parent that dies.

    With a child process a supervisor's SIGTERM killed this script and left the bot polling
    on its own (issue #14). On POSIX the script replaces itself; Windows has no such exec
    and keeps the child, whose console already receives Ctrl-C.
    """
    command = [str(PY), "-m", "bot", *args]
    if os.name == "posix":
        os.chdir(ROOT)
        os.execve(command[0], command, _bot_env())
    return subprocess.run(command, cwd=ROOT, env=_bot_env(), check=False).returncode


def coverage_gate(report: dict[str, Any]) -> list[str]:
    """Problems with the coverage report: overall statements and the 100 % branch modules."""
    problems: list[str] = []
    totals = report["totals"]
    overall = 100.0 * totals["covered_lines"] / max(totals["num_statements"], 1)
    if overall < float(COVERAGE_FLOOR):
        problems.append(f"overall statement coverage {overall:.2f} % < {COVERAGE_FLOOR} %")
    files = report["files"]
    for module in FULL_BRANCH_MODULES:
        summary = files.get(module, {}).get("summary")
        if summary is None:
            problems.append(f"{module}: not in the coverage report")
            continue
        branches, covered = summary["num_branches"], summary["covered_branches"]
        statements, lines = summary["num_statements"], summary["covered_lines"]
        if covered < branches or lines < statements:
            percent = 100.0 * (covered + lines) / max(branches + statements, 1)
            entry = files[module]
            # The exact lines and arcs, so that a run whose output is cut still says which.
            missed = [str(line) for line in entry.get("missing_lines", [])] + [
                f"{start}->{end}" for start, end in entry.get("missing_branches", [])
            ]
            problems.append(
                f"{module}: {percent:.2f} % ({covered}/{branches} branches,"
                f" {lines}/{statements} statements; missed {', '.join(missed)}),"
                " docs/threat-model.md §9 requires 100 %"
            )
    return problems


def main(argv: list[str]) -> int:
    """Dispatch `run [chaski args...]` or `test [pytest args...]`; set-up errors in 2 lines."""
    try:
        return _main(argv)
    except SetupError as error:
        print(f"dev.py: {error}", file=sys.stderr)
        return 1


def _main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test"}:
        print("usage: python3 scripts/dev.py {run|test} [args...]", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        _ensure_venv("requirements.lock")
        return _exec_bot(*(rest or ["run"]))
    _ensure_venv("requirements-dev.lock")
    for gate in (
        ("ruff", "format", "--check", "."),
        ("ruff", "check", "."),
        ("mypy",),
    ):
        print(f"== {' '.join(gate)}", flush=True)
        if code := _run(*gate):
            return code
    print("== pytest", flush=True)
    if code := _run(
        "pytest",
        "--cov",
        "--cov-branch",
        "--cov-report=term:skip-covered",
        f"--cov-report=json:{COVERAGE_JSON}",
        f"--cov-fail-under={COVERAGE_FLOOR}",
        *rest,
    ):
        return code
    print("== coverage gate (docs/threat-model.md §9)", flush=True)
    problems = coverage_gate(json.loads(COVERAGE_JSON.read_text(encoding="utf-8")))
    for problem in problems:
        # stdout as well as stderr: CI logs that keep only one stream still name the gap.
        print(f"coverage gate: {problem}", flush=True)
        print(f"coverage gate: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
