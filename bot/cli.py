"""The ``chaski`` command line: run the bot and administer the programme.

A composition root like ``bot.app``: it may wire storage. Errors an operator can fix are one
line on stderr naming what is wrong and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from bot.config import ConfigError, Settings
from bot.domain.errors import DomainError
from storage.keys import KeyFileError

_LOGGER = logging.getLogger("chaski")

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr; ``httpx`` at WARNING because it logs URLs containing the token (M-17)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(max(level, logging.INFO))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.wiring import open_wiring  # noqa: PLC0415 - keeps `chaski --help` light

    del args
    wiring = await open_wiring(settings)
    await wiring.close()
    print(f"Database {settings.database_path} is up to date.")  # noqa: T201
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command (each has ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="chaski", description="Chaski: reward-claim status and safety alerts on Telegram."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the bot (long polling; needs TELEGRAM_BOT_TOKEN)")
    migrate = commands.add_parser("migrate", help="create or upgrade the database and exit")
    migrate.set_defaults(handler=_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``chaski`` and ``python -m bot``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "run"
    configure_logging()
    try:
        settings = Settings.from_env(need_token=command == "run")
        if command == "run":
            from bot.app import run  # noqa: PLC0415 - imports telegram only when running

            run(settings)
            return 0
        handler: Handler = args.handler
        return asyncio.run(handler(args, settings))
    except (ConfigError, KeyFileError) as exc:
        print(f"chaski: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except DomainError as exc:
        print(f"chaski: {exc}", file=sys.stderr)  # noqa: T201
        return 2
