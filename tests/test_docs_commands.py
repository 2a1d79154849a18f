"""The command tables stay true to the code: every command is documented, none is invented.

Chat commands are read from ``handlers.COMMANDS``, the table ``handlers.register`` adds, so a
command added there without a line in ``README.md`` and ``docs/commands.md`` fails here. The
``chaski`` sub-commands and their options are read from the real ``bot.root.cli.build_parser()``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bot.root.cli import build_parser
from handlers import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
REFERENCE = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
#: A table row documenting a chat command: "| `/name" then a space or the closing backtick.
CHAT_ROW = re.compile(r"^\| `/([a-z_]+)[` ]", re.MULTILINE)
#: A table row documenting a ``chaski`` command in the README.
CLI_ROW = re.compile(r"^\| `chaski ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", re.MULTILINE)


def registered_chat_commands() -> set[str]:
    """Every command of the table ``handlers.register`` adds (``handlers.COMMANDS``)."""
    return {name for name, _ in COMMANDS}


def cli_commands() -> dict[tuple[str, ...], list[str]]:
    """Each leaf ``chaski`` command path and its long options (``--help`` left out)."""
    leaves: dict[tuple[str, ...], list[str]] = {}

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if path and not groups:
            leaves[path] = [
                option
                for action in parser._actions
                for option in action.option_strings
                if option.startswith("--") and option != "--help"
            ]
        for group in groups:
            for name, child in group.choices.items():
                walk(child, (*path, name))

    walk(build_parser(), ())
    return leaves


def _mentions(text: str, phrase: str) -> bool:
    """``phrase`` as whole words (``invite create`` is not ``invite create-batch``)."""
    return re.search(re.escape(phrase) + r"(?![\w-])", text) is not None


def _sections(text: str) -> list[tuple[str, str]]:
    """``(heading, body)`` of every ``###`` section of the reference."""
    parts = re.split(r"^(### .*)$", text, flags=re.MULTILINE)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def test_the_sources_are_read() -> None:
    chat = registered_chat_commands()
    assert {"start", "estado", "aviso", "pin", "borrar", "desvincular"} <= chat
    cli = cli_commands()
    assert ("run",) in cli
    assert cli[("region", "list")] == ["--json"]
    assert "--retire-old" in cli[("keys", "rotate")]


def test_readme_documents_exactly_the_registered_chat_commands() -> None:
    assert set(CHAT_ROW.findall(README)) == registered_chat_commands()


def test_reference_documents_exactly_the_registered_chat_commands() -> None:
    chat_part = REFERENCE.split("## 2. Chat commands", 1)[1]
    assert set(CHAT_ROW.findall(chat_part)) == registered_chat_commands()


def test_readme_lists_exactly_the_cli_commands() -> None:
    # Arguments are upper case (NAME, PATH) or options (--json): the row's command stops there.
    assert set(CLI_ROW.findall(README)) == {" ".join(path) for path in cli_commands()}


def test_reference_has_a_section_with_every_option_of_every_cli_command() -> None:
    sections = _sections(REFERENCE.split("## 2. Chat commands", 1)[0])
    missing: list[str] = []
    for path, options in cli_commands().items():
        command = "chaski " + " ".join(path)
        body = "".join(h + b for h, b in sections if _mentions(h, command))
        if not body:
            missing.append(f"{command}: no section")
            continue
        missing += [f"{command} {opt}" for opt in options if not _mentions(body, opt)]
    assert missing == []
