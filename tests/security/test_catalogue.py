"""docs/security-tests.md stays true: every T-id once, every cited test exists, reasons given.

The catalogue maps the bad-input cases T-01..T-54 to the tests proving them. A renamed or deleted
test, a forgotten id or a bare "not applicable" would silently weaken the assurance it claims,
so it is checked like code.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "security-tests.md"
ROW = re.compile(r"^\|\s*(T-\d{2})\s*\|")
REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
NOT_APPLICABLE = re.compile(r"not applicable:\s*(\S.{10,})", re.IGNORECASE)
ALL_IDS = [f"T-{n:02d}" for n in range(1, 55)]


def _rows() -> list[tuple[str, str]]:
    rows = []
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            rows.append((match[1], line))
    return rows


@cache
def _functions(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def _proved_by(line: str) -> str:
    """The "Proved by" cell: the third column of the row."""
    return line.split("|")[3]


def test_every_id_appears_exactly_once() -> None:
    ids = [tid for tid, _ in _rows()]
    assert sorted(ids) == ALL_IDS
    assert len(ids) == len(set(ids))


def test_every_referenced_test_exists() -> None:
    missing = [
        f"{tid}: {path}::{name}"
        for tid, line in _rows()
        for path, name in REFERENCE.findall(line)
        if not (ROOT / path).is_file() or name not in _functions(path)
    ]
    assert missing == []


def test_every_row_is_proved_or_says_why_not() -> None:
    unproved = [
        tid
        for tid, line in _rows()
        if not REFERENCE.search(_proved_by(line)) and not NOT_APPLICABLE.search(_proved_by(line))
    ]
    assert unproved == []


def test_every_not_applicable_row_gives_a_reason() -> None:
    bare = [
        tid
        for tid, line in _rows()
        if "not applicable" in line.lower() and not NOT_APPLICABLE.search(line)
    ]
    assert bare == []


def test_the_checks_catch_a_bad_catalogue() -> None:
    """The parser sees ids, references and reasons as the checks above assume."""
    line = "| T-07 | x | tests/security/test_catalogue.py::no_such_test | |"
    [(path, name)] = REFERENCE.findall(line)
    assert name not in _functions(path)
    assert NOT_APPLICABLE.search("| T-31 | x | not applicable: | |") is None
    assert NOT_APPLICABLE.search("| T-31 | x | not applicable: polling only (M-18) | |")
