"""What every ``chaski`` command shares: its output, its errors and the services it opens.

Kept apart from ``bot.root.cli`` (the parser table and the older commands) so that the
command modules (``cli_members``, ``cli_operations``, ``cli_report`` …) import these at the
top instead of reaching back into ``cli``, which imports them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:
    from bot.root.wiring import Wiring


class CliError(Exception):
    """An operator mistake the command found itself (missing file, empty file …)."""


def out(line: str = "") -> None:
    """One line of command output on stdout (ruff T201 bans print)."""
    sys.stdout.write(line + "\n")


def err(line: str) -> None:
    """One line for the operator on stderr, in the ``chaski: …`` form."""
    sys.stderr.write(f"chaski: {line}\n")


def to_json(value: object) -> str:
    """Compact JSON on one line, non-ASCII codenames kept readable."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"): a leading
#: ``=``, ``+``, ``-``, ``@``, tab or carriage return.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str) -> str:
    """A typed name (codename, region) as a table or TSV cell, safe to paste in a spreadsheet.

    Operators copy ``members list`` and ``invite create-batch`` output into spreadsheets; a
    codename such as ``=HYPERLINK(…)`` would then run as a formula on their machine (issue
    #11.10). As OWASP advises, such a value gets a leading ``'``, which spreadsheets read as
    "this is text" and do not show; tabs and line breaks, which names cannot hold anyway
    (``clean_name``), become spaces so that a cell never splits a row. JSON output is left
    exact: it is for programs, not spreadsheets. A lone ``-``, the tables' "nothing here",
    is no formula in any spreadsheet and stays as it is: escaped it read ``'-`` (#16.3).
    """
    value = value.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return f"'{value}" if value.startswith(FORMULA_START) and value != "-" else value


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print left-aligned columns separated by two spaces (no trailing blanks)."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@asynccontextmanager
async def wired(
    settings: Settings, *, create: bool = False, reuse_keys: bool = False
) -> AsyncIterator[Wiring]:
    """Open keys, database and services for one command; always close them.

    Only ``migrate`` passes ``create``: every other command needs an existing database and
    creates nothing when it is missing (#11.4).
    """
    from bot.root.wiring import open_wiring  # noqa: PLC0415 - keeps `chaski --help` light

    wiring = await open_wiring(settings, create=create, reuse_keys=reuse_keys)
    try:
        yield wiring
    finally:
        await wiring.close()


def iso(moment: datetime) -> str:
    """ISO 8601 with offset, to the second (UTC as stored)."""
    return moment.isoformat(timespec="seconds")
