"""Telegram's HTTP transport on aiohttp: PTB's ``BaseRequest`` extension point.

PTB's default ``HTTPXRequest`` was the largest CPU cost per Bot API call on the benchmark
machine (httpx + httpcore + anyio dominated the outbox sender's profile, and httpcore's pool
gets slower with more requests in flight). :class:`AiohttpRequest` does the same job through
one ``aiohttp.ClientSession`` for a fraction of the CPU (``docs/performance.md``, First pass,
Findings and Other measurements). Everything above the transport
is PTB's own:
``BaseRequest.post`` still decodes the answer and turns 4xx/5xx into ``RetryAfter``,
``Forbidden``, ``BadRequest`` … exactly as with httpx.

The body is ``RequestData.json_payload`` (the same string values PTB would form-encode, as
one JSON object; the Bot API accepts ``application/json``). Uploads (never used by Chaski)
fall back to a multipart form with the same fields as httpx would send.

Errors are mapped like ``HTTPXRequest`` does: any timeout → ``TimedOut``, any other
transport failure → ``NetworkError`` whose message names the aiohttp exception class only
(an aiohttp message can quote the URL, and the URL holds the bot token).
"""

from __future__ import annotations

import logging
from typing import TypeAlias, cast

import aiohttp
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_LOGGER = logging.getLogger(__name__)

#: PTB's ``ApplicationBuilder`` defaults for its httpx requests (seconds, connections).
DEFAULT_TIMEOUT = 5.0
DEFAULT_POOL_TIMEOUT = 1.0
DEFAULT_POOL_SIZE = 256
#: ``HTTPXRequest``'s write timeout when files are uploaded.
MEDIA_WRITE_TIMEOUT = 20.0

_JSON = "application/json"


#: A timeout argument of ``BaseRequest.do_request``: seconds, None for no limit, or
#: ``BaseRequest.DEFAULT_NONE`` when the caller left it unset. PTB publishes no name for this
#: type; this module is the one place that imports its private one (tests/test_architecture.py).
TimeoutArg: TypeAlias = ODVInput[float]


def _resolve(value: TimeoutArg, default: float | None) -> float | None:
    """A per-call timeout, or this request's default when the caller left it unset.

    ``is BaseRequest.DEFAULT_NONE`` is the check PTB documents for "not passed"; it is the
    only default value PTB hands a request, so what is left is seconds or None.
    """
    if value is BaseRequest.DEFAULT_NONE:
        return default
    return cast("float | None", value)


def _total(*parts: float | None) -> float | None:
    """An overall ceiling: the sum of every phase's limit, or none if any phase is unbounded.

    aiohttp has no write timeout of its own; this ceiling is what keeps a stuck upload from
    hanging for ever while each phase keeps its own, tighter limit where aiohttp has one.
    """
    total = 0.0
    for part in parts:
        if part is None:
            return None
        total += part
    return total


class AiohttpRequest(BaseRequest):
    """Implements ``telegram.request.BaseRequest`` over one ``aiohttp.ClientSession``.

    Build one instance for the bot's calls and another for ``getUpdates`` (PTB adds the long
    poll's ``timeout`` to this instance's ``read_timeout`` for each ``getUpdates``). The
    session is created in :meth:`initialize` (inside the running loop) and closed in
    :meth:`shutdown`; PTB calls both. Timeouts follow ``HTTPXRequest``: connect, read,
    write and pool, in seconds, ``None`` for no limit.
    """

    __slots__ = (
        "_connect_timeout",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        *,
        connection_pool_size: int = DEFAULT_POOL_SIZE,
        read_timeout: float | None = DEFAULT_TIMEOUT,
        write_timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_TIMEOUT,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT,
    ) -> None:
        """Keep the limits; no I/O happens before :meth:`initialize`."""
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds a long poll's ``timeout`` to it)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session and its connection pool (again after a shutdown)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                # Per call (``do_request``); the session's own 5-minute default is not ours.
                timeout=aiohttp.ClientTimeout(total=None),
            )

    async def shutdown(self) -> None:
        """Close the session; calling it twice is harmless."""
        if self._session is None or self._session.closed:
            _LOGGER.debug("AiohttpRequest already shut down")
            return
        await self._session.close()

    async def do_request(  # noqa: PLR0917 - the signature is BaseRequest's
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        write_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        connect_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        pool_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make one HTTP call and return its status code and raw body.

        Raises:
            RuntimeError: :meth:`initialize` was not called (or the session was shut down).
            TimedOut: a connect, pool, read or overall timeout ran out.
            NetworkError: the connection failed or dropped.
        """
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        read = _resolve(read_timeout, self._read_timeout)
        write = _resolve(write_timeout, MEDIA_WRITE_TIMEOUT if files else self._write_timeout)
        connect = _resolve(connect_timeout, self._connect_timeout)
        pool = _resolve(pool_timeout, self._pool_timeout)
        timeout = aiohttp.ClientTimeout(
            total=_total(pool, connect, write, read),
            # aiohttp's ``connect`` covers waiting for a pooled connection and opening one.
            connect=_total(pool, connect),
            sock_connect=connect,
            sock_read=read,
        )
        data: bytes | aiohttp.FormData | None = None
        headers: dict[str, str] | None = None
        if request_data is not None:
            if files:
                data = _form(request_data)
            else:
                data = request_data.json_payload
                headers = {"Content-Type": _JSON}
        try:
            async with session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts subclass it (asyncio's alias)
            raise TimedOut from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}") from exc


def _form(request_data: RequestData) -> aiohttp.FormData:
    """A multipart body with the JSON-encoded fields and the files, as httpx would send."""
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in (request_data.multipart_data or {}).items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
