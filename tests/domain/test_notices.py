"""Typed notices: every kind reads back what it wrote, rows of the old code still read, and
whatever is missing or malformed fails loudly (never a guessed "?")."""

from __future__ import annotations

import json

import pytest

from bot.domain.alerts import AlertContent, AlertTally, RejectReason, Severity
from bot.domain.models import Role
from bot.domain.notices import (
    BY_TEMPLATE,
    NOTICE_TYPES,
    RENDERED_TYPES,
    AlertAllClear,
    AlertSent,
    AlertTallyChanged,
    AmountApprovalNeeded,
    ApprovalDecided,
    ChatMenu,
    ClaimUpdated,
    Decision,
    DeleteMessages,
    HelpAcked,
    HelpRequested,
    MemberBlocked,
    Notice,
    NoticeError,
    UnknownNotice,
    decode_notice,
)
from tests.fakes.notices import notice_samples

SAMPLES = [
    pytest.param(notice, id=f"{kind.__name__}-{variant}")
    for kind, variants in notice_samples().items()
    for variant, notice in variants
]
#: Keys a notice may lack when read back: optional fields, and the derived ``no_answer``
#: (a reminder's topic and event are never shown, so it is sent without them too).
OPTIONAL_KEYS = {"planned", "reason", "chat", "no_answer", "topic", "event"}


def test_every_kind_has_a_unique_template_and_only_deletions_and_menus_are_not_rendered() -> None:
    assert len(BY_TEMPLATE) == len(NOTICE_TYPES)
    assert set(NOTICE_TYPES) - set(RENDERED_TYPES) == {DeleteMessages, ChatMenu}


def test_a_command_menu_row_reads_back_its_role_or_its_removal() -> None:
    for menu in (ChatMenu(Role.COORDINATOR), ChatMenu(None, chat=77)):
        assert decode_notice("chat_menu", menu.to_params()) == menu
    assert ChatMenu(Role.ADMIN).to_params() == {"role": "admin"}
    with pytest.raises(NoticeError, match="'role'"):
        decode_notice("chat_menu", {"role": "boss"})


@pytest.mark.parametrize("notice", SAMPLES)
def test_a_notice_reads_back_what_it_wrote(notice: Notice) -> None:
    assert decode_notice(notice.TEMPLATE, notice.to_params()) == notice


@pytest.mark.parametrize("notice", SAMPLES)
def test_a_missing_field_raises_and_names_the_field_not_its_value(notice: Notice) -> None:
    params = notice.to_params()
    for key in params:
        if key in OPTIONAL_KEYS:
            continue
        without = {k: v for k, v in params.items() if k != key}
        with pytest.raises(NoticeError) as raised:
            decode_notice(notice.TEMPLATE, without)
        message = str(raised.value)
        # The missing key, or (an alert without its template key reads as free text) the
        # text that free text then lacks.
        assert repr(key) in message or "'text_es'" in message, message
        assert "Cóndor" not in message  # values are content: never in an error


def test_rows_written_before_notices_were_typed_still_read() -> None:
    """The serialised form is unchanged: queued rows survive the upgrade (exact old params)."""
    old_help = {
        "help": "5",
        "alert": "4",
        "codename": "Puma",
        "asked": json.dumps({"5": "Puma", "3": "Oso"}),
    }
    assert decode_notice("alert_help", old_help) == HelpRequested(4, ((3, "Oso"), (5, "Puma")))
    old_alert = {"alert": "4", "severity": "urgent", "template": "avoid_area"}
    old_alert |= {"p_place": "Pichari", "p_time": "18:00"}
    assert decode_notice("alert", old_alert) == AlertSent(
        4,
        Severity.URGENT,
        AlertContent(template="avoid_area", params={"place": "Pichari", "time": "18:00"}),
    )
    old_tally = {
        "alert": "4",
        "message_id": "77",
        "severity": "info",
        "total": "3",
        "queued": "1",
        "sent": "2",
        "failed": "0",
        "blocked": "0",
        "cancelled": "0",
        "safe": "1",
        "help": "0",
        "no_answer": "1",
        "planned": "06:00",
    }
    assert decode_notice("alert_tally", old_tally) == AlertTallyChanged(
        4, 77, Severity.INFO, AlertTally(total=3, queued=1, sent=2, safe=1), planned="06:00"
    )
    decided = {"alert": "4", "codename": "Kuntur", "decision": "rejected", "count": "2"}
    assert decode_notice("alert_approval_decided", decided | {"reason": "details"}) == (
        ApprovalDecided(4, "Kuntur", Decision.REJECTED, 2, RejectReason.DETAILS)
    )
    assert decode_notice("alert_all_clear", {"alert": "4", "silent": ""}) == AlertAllClear(4)
    assert decode_notice("alert_help_acked", {"help": "5", "codename": "", "by": "Oso"}) == (
        HelpAcked(5, "", "Oso")
    )
    assert decode_notice("member_blocked", {"codename": "Puma"}) == MemberBlocked("Puma")
    merged = {"claims": json.dumps({"9": 4, "5": 2})}
    assert decode_notice("claim_news", merged) == ClaimUpdated(((5, 2), (9, 4)))
    assert decode_notice("claim_amount_approval", {}) == AmountApprovalNeeded()
    assert decode_notice("delete", {"message_ids": "4,5", "chat": "77"}) == DeleteMessages(
        (4, 5), chat=77
    )


@pytest.mark.parametrize(
    ("template", "params", "field"),
    [
        ("alert_tally", {"alert": "4", "message_id": "x", "severity": "info"}, "total"),
        ("alert", {"alert": "4", "severity": "loud", "template": ""}, "severity"),
        ("alert", {"alert": "4", "severity": "info", "template": "go_there"}, "template"),
        ("alert", {"alert": "4", "severity": "info", "template": "avoid_area"}, "p_place"),
        ("alert", {"alert": "4", "severity": "info", "text_es": "x"}, "text_qu"),
        ("alert_help", {"alert": "4", "asked": "{}"}, "asked"),
        ("alert_help", {"alert": "4", "asked": '{"x": "Puma"}'}, "asked"),
        ("alert_help", {"alert": "4", "asked": "[1]"}, "asked"),
        ("claim_news", {"claims": "{}"}, "claims"),
        ("claim_news", {"claims": '{"5": "2"}'}, "claims"),
        ("claim_news", {"claims": '{"x": 2}'}, "claims"),
        ("claim_news", {}, "claims"),
        ("alert_approval_decided", {"alert": "4", "codename": "K", "count": "1"}, "decision"),
        ("alert_approval_escalated", {"alert": "4", "minutes": "٣"}, "minutes"),
        ("alert_all_clear", {"alert": "4", "silent": "yes"}, "silent"),
        ("delete", {"message_ids": "0"}, "message_ids"),
        ("delete", {"message_ids": "4", "chat": "-5"}, "chat"),
    ],
)
def test_a_malformed_field_raises_naming_it(
    template: str, params: dict[str, str], field: str
) -> None:
    with pytest.raises(NoticeError, match=field):
        decode_notice(template, params)


def test_an_unknown_template_is_its_own_error() -> None:
    with pytest.raises(UnknownNotice, match="claim_changed"):
        decode_notice("claim_changed", {})
