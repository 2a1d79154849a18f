"""Operator documentation stays true to the code: every setting and command is documented."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _setting_names() -> set[str]:
    source = (ROOT / "bot" / "config.py").read_text(encoding="utf-8")
    return set(re.findall(r'"((?:CHASKI|TELEGRAM)_[A-Z_]+)"', source))


def test_every_setting_is_in_the_readme_table() -> None:
    names = _setting_names()
    assert "TELEGRAM_BOT_TOKEN" in names
    missing = sorted(name for name in names if f"| `{name}` |" not in README)
    assert missing == []


def test_readme_documents_no_setting_the_code_does_not_read() -> None:
    documented = set(re.findall(r"^\| `((?:CHASKI|TELEGRAM)_[A-Z_]+)` \|", README, re.M))
    assert documented - _setting_names() == set()


def test_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[1] == "python3 scripts/dev.py test"
    assert "python3 scripts/dev.py test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
