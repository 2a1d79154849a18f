"""The installed Chaski version, as ``chaski status`` and the bot's heartbeat report it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def installed_version() -> str:
    """The version pip installed (``pyproject.toml``), or ``unknown`` when run from a copy."""
    try:
        return version("chaski")
    except PackageNotFoundError:  # pragma: no cover - the project is always installed
        return "unknown"
