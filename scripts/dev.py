"""Bootstrap and run Chaski from a fresh clone with nothing but Python 3.11+.

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
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")

#: Statement coverage floor for the whole suite (security.md §5).
COVERAGE_FLOOR = "90"
#: Where pytest-cov writes the JSON report the gate below reads (inside the ignored venv).
COVERAGE_JSON = VENV / "coverage.json"
#: security.md §5: "100 % branch on the authz, invites, pin, crypto, outbox, retention, audit
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


def _ensure_venv(lock: str) -> None:
    """Create `.venv` and install `lock` (hash-checked) plus the project, once per lock."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs before any check
        sys.exit("Chaski needs Python 3.11 or newer.")
    if not PY.exists():
        print(f"Creating virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    lock_path = ROOT / lock
    digest = hashlib.sha256(
        lock_path.read_bytes() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    stamp = VENV / f".installed-{lock}"
    if stamp.exists() and stamp.read_text(encoding="utf-8") == digest:
        return
    print(f"Installing dependencies from {lock} (hash-checked) ...", flush=True)
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--require-hashes", "-r", str(lock_path)], check=True)
    subprocess.run([*pip, "install", "--no-deps", "-e", str(ROOT)], check=True)
    stamp.write_text(digest, encoding="utf-8")


def _run(*args: str) -> int:
    env = {**os.environ, "PTB_TIMEDELTA": "1"}
    return subprocess.run([str(PY), "-m", *args], cwd=ROOT, env=env, check=False).returncode


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
            problems.append(
                f"{module}: {percent:.2f} % ({covered}/{branches} branches,"
                f" {lines}/{statements} statements), security.md §5 requires 100 %"
            )
    return problems


def main(argv: list[str]) -> int:
    """Dispatch `run [chaski args...]` or `test [pytest args...]`."""
    if not argv or argv[0] not in {"run", "test"}:
        print("usage: python3 scripts/dev.py {run|test} [args...]", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        _ensure_venv("requirements.lock")
        return _run("bot", *(rest or ["run"]))
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
    print("== coverage gate (security.md §5)", flush=True)
    problems = coverage_gate(json.loads(COVERAGE_JSON.read_text(encoding="utf-8")))
    for problem in problems:
        print(f"coverage gate: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
