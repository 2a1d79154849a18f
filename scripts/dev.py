"""Bootstrap and run Chaski from a fresh clone with nothing but Python 3.11+.

`python3 scripts/dev.py run` installs the hash-pinned runtime dependencies into `.venv`
and starts the bot; `python3 scripts/dev.py test` installs the development set and runs
every gate CI runs (format, lint, types, tests with coverage). One script, so the README's
two commands and `.ci/run` can never drift apart.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")

#: Statement coverage floor for the whole suite (security.md §5).
COVERAGE_FLOOR = "90"


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
    return _run(
        "pytest",
        "--cov",
        "--cov-report=term:skip-covered",
        f"--cov-fail-under={COVERAGE_FLOOR}",
        *rest,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
