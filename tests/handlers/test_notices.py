"""The renderer table: every notice kind has a renderer, in Spanish and in Quechua, and the
notifier refuses to start without one (issue #10.1: no import-time registration)."""

from __future__ import annotations

import gettext

import pytest
from telegram import Bot

from bot.domain.models import Lang
from bot.domain.notices import RENDERED_TYPES, DeleteMessages, News, Notice
from bot.i18n import Catalogs
from handlers.notices import render_news, renderer_table
from handlers.notifier import Rendered, RendererTable, TelegramNotifier, renders
from tests.fakes.notices import notice_samples

SAMPLES = [
    pytest.param(notice, id=f"{kind.__name__}-{variant}")
    for kind, variants in notice_samples().items()
    for variant, notice in variants
]


def test_every_notice_kind_has_exactly_one_renderer_and_a_sample() -> None:
    table = renderer_table()
    assert table.missing() == []
    assert table.kinds() == set(RENDERED_TYPES)
    assert set(notice_samples()) == set(RENDERED_TYPES)


@pytest.mark.parametrize("notice", SAMPLES)
def test_every_notice_renders_in_spanish_and_in_quechua(notice: Notice) -> None:
    """With the real catalogs: the Quechua text differs from the Spanish one, so the
    renderer's sentences are in the Quechua catalog (a missing entry falls back to Spanish)."""
    catalogs = Catalogs.load(drafts=True)
    table = renderer_table()
    spanish = table.render(catalogs, Lang.ES, notice)
    quechua = table.render(catalogs, Lang.QU, notice)
    assert spanish.text.strip()
    assert quechua.text.strip()
    assert quechua.text != spanish.text


def test_the_notifier_refuses_a_table_missing_a_kind() -> None:
    partial = RendererTable([renders(News, render_news)])
    with pytest.raises(ValueError, match="AlertSent") as raised:
        TelegramNotifier(Bot("123456:TEST-TOKEN"), Catalogs.load(), partial)
    assert "News" not in str(raised.value)


def test_a_table_refuses_duplicates_and_deletions() -> None:
    with pytest.raises(ValueError, match="two renderers"):
        RendererTable([renders(News, render_news), renders(News, render_news)])

    def render_deletion(
        t: gettext.NullTranslations, lang: Lang, notice: DeleteMessages
    ) -> Rendered:
        return Rendered("")

    with pytest.raises(ValueError, match="not rendered"):
        RendererTable([renders(DeleteMessages, render_deletion)])
