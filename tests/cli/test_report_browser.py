"""``chaski report operations --html`` opened in a real browser: what a reader sees (#16.6).

Debian's Chromium, headless, by subprocess (no test package brings its own browser): the
DOM it renders has the operations and the totals, and a screenshot at a phone's width shows
the bars matplotlib drew (their colours are there). The page must stand alone: no address
in it to fetch, and Chromium runs with its networking off.

Without ``/usr/bin/chromium`` the test is skipped, saying so, except under CI (``CI`` set),
where it fails: ``.ci/run`` installs Chromium, so a skip there would hide a broken page.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from bot.services.charts import PAID_COLOUR, PROMISED_COLOUR, WAIT_COLOUR
from tests.cli.harness import Result
from tests.cli.test_cli_oversight import loaded  # noqa: F401 - the claims the report is made of

CHROMIUM = Path("/usr/bin/chromium")
#: A phone's viewport width in CSS pixels; tall enough for the whole page.
PHONE = (390, 2600)
#: Chromium with nothing of its own to fetch: no sync, updates, field trials or QUIC.
FLAGS = (
    "--headless",
    "--no-sandbox",  # as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    # Every host name resolves nowhere: a request the page made could not leave.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; missing, a skip that says why (a failure under CI)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is absent: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must render the report in a browser: {reason}")
        pytest.skip(reason)
    return CHROMIUM


def _run(chromium: Path, profile: Path, *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - a fixed program and our own arguments
        [str(chromium), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(profile)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _has_colour(pixels: np.ndarray, colour: str, *, at_least: int = 200) -> bool:
    """Whether ``at_least`` pixels have ``colour`` (``#rrggbb``), give or take rounding."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    close = np.all(np.abs(pixels[:, :, :3] * 255.0 - rgb) <= 3.0, axis=2)
    return int(close.sum()) >= at_least


@pytest.mark.usefixtures("loaded")
def test_a_browser_shows_the_report_and_its_charts_on_a_phone(
    chromium: Path, chaski: Callable[..., Result], tmp_path: Path
) -> None:
    page = tmp_path / "informe.html"
    assert chaski("report", "operations", "--html", str(page)).code == 0
    source = page.read_text(encoding="utf-8")
    # Nothing the page could fetch: no address in a src or href, no import, no url() but
    # the page's own #ids (matplotlib's clip paths).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", source, re.I)
    assert not re.search(r"url\((?!#)|@import", source, re.I)

    # Chromium serialises the no-break space of "S/ 1,500" as an entity.
    dom = _run(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    dom = dom.replace("&nbsp;", "\xa0")
    assert "Operación Halcón" in dom
    assert '<td>=HYPERLINK("http://x")</td>' in dom  # a label shown as text, not a link
    assert "S/\xa02,500.50" in dom  # promised for Halcón, as the table shows it
    assert re.search(r"<td[^>]*>Total</td>", dom)
    assert "S/\xa03,800.50" in dom  # promised in total
    assert dom.count('class="chart"') == 2  # both charts made it into the DOM
    assert "Prometido y pagado por operación" in dom
    assert "Cuánto han esperado los informantes" in dom

    shot = tmp_path / "phone.png"
    _run(
        chromium,
        tmp_path / "profile",
        f"--window-size={PHONE[0]},{PHONE[1]}",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    pixels = image.imread(shot)
    assert pixels.shape[1] == PHONE[0]
    # The bars were drawn: promised, paid (S/ 1,000 paid on Halcón) and the waits.
    assert _has_colour(pixels, PROMISED_COLOUR)
    assert _has_colour(pixels, PAID_COLOUR)
    assert _has_colour(pixels, WAIT_COLOUR)
    # The charts fit the phone's width: no bar pixel beyond the viewport's last column
    # could be seen anyway, so check the page did not need to scroll sideways for them:
    # the last columns hold no bar colour.
    edge = pixels[:, -4:, :]
    assert not _has_colour(edge, PROMISED_COLOUR, at_least=1)
