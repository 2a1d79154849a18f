"""The one authorization check (M-04, T-10..T-13): deny by default, region-scoped.

Every (role, action, target) combination is checked against an explicit grant list written
here, so anything not listed must be refused: a new ``Action`` is denied to everyone until
someone adds it to both ``authz.py`` and this list.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from bot.domain.alerts import Alert, AlertContent, AlertStatus, Approval, Severity
from bot.domain.claims import AmountRequest
from bot.domain.errors import NotAllowed
from bot.domain.models import Member, MemberState, Role
from bot.services.authz import Action, Target, authorize, is_allowed
from tests.services.fakes import make_claim, make_member

ACTOR_ID = 10
OTHER_ID = 99
HOME = ("Kimbiri", "Pichari")


def _alert(creator_id: int, *regions: str, approval: Approval = Approval.ADMIN) -> Alert:
    """A pending alert; free text needs an administrator, ``PEER`` is a wide template."""
    return Alert(
        id=1,
        creator_id=creator_id,
        nonce="n",
        content=AlertContent(text_es="Cuidado", text_qu="Cuidado"),
        severity=Severity.URGENT,
        regions=regions,
        status=AlertStatus.PENDING,
        recipients=3,
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
        approval=approval,
    )


#: Target kinds, relative to an actor with id ACTOR_ID and regions HOME.
TARGETS: dict[str, Target] = {
    "none": None,
    "own_claim": make_claim(1, member_id=ACTOR_ID, region="Pichari"),
    "own_claim_elsewhere": make_claim(2, member_id=ACTOR_ID, region="Llochegua"),
    "claim_in": make_claim(3, member_id=OTHER_ID, region="Pichari"),
    "claim_out": make_claim(4, member_id=OTHER_ID, region="Llochegua"),
    "regions_in": frozenset({"Pichari"}),
    "regions_all_in": frozenset(HOME),
    "regions_partial": frozenset({"Pichari", "Llochegua"}),
    "regions_out": frozenset({"Llochegua"}),
    "regions_empty": frozenset(),
    "alert_own_in": _alert(ACTOR_ID, "Pichari"),
    # The author's cross-region alert a peer approved (issue #12.5: its author follows it up).
    "alert_own_out": _alert(ACTOR_ID, "Llochegua", approval=Approval.PEER),
    "alert_in": _alert(OTHER_ID, "Pichari"),
    "alert_all_in": _alert(OTHER_ID, *HOME),
    "alert_partial": _alert(OTHER_ID, "Pichari", "Llochegua"),
    "alert_out": _alert(OTHER_ID, "Llochegua"),
    "alert_nowhere": _alert(OTHER_ID),
    "peer_alert_own_in": _alert(ACTOR_ID, "Pichari", approval=Approval.PEER),
    "peer_alert_in": _alert(OTHER_ID, "Pichari", approval=Approval.PEER),
    "peer_alert_all_in": _alert(OTHER_ID, *HOME, approval=Approval.PEER),
    "peer_alert_partial": _alert(OTHER_ID, "Pichari", "Llochegua", approval=Approval.PEER),
    "peer_alert_out": _alert(OTHER_ID, "Llochegua", approval=Approval.PEER),
    "member_self": make_member(ACTOR_ID, regions=("Pichari",)),
    "informant_in": make_member(OTHER_ID, regions=("Pichari",)),
    "informant_out": make_member(OTHER_ID, regions=("Llochegua",)),
    "coordinator_in": make_member(OTHER_ID, role=Role.COORDINATOR, regions=("Pichari",)),
    # Amount changes waiting for a second person (issue #16.2, M-14).
    "amounts_own_in": AmountRequest(1, 1, "Pichari", 1, ACTOR_ID, None, 100),
    "amounts_in": AmountRequest(2, 1, "Pichari", 1, OTHER_ID, None, 100),
    "amounts_out": AmountRequest(3, 4, "Llochegua", 1, OTHER_ID, None, 100),
}
CLAIM_KINDS = {k for k in TARGETS if "claim" in k}
REGION_KINDS = {k for k in TARGETS if k.startswith("regions")}
#: Region-scoped staff actions; managing schedules (issue #15) and the operations report
#: (issue #16.6) are scoped like alerts.
ALERT_ACTIONS = (
    Action.SEND_ALERT,
    Action.APPROVE_ALERT,
    Action.ACK_HELP,
    Action.VIEW_ALERTS,
    Action.MANAGE_SCHEDULES,
    Action.VIEW_REPORT,
)
SELF = {
    (Action.CHOOSE_LANGUAGE, "none"),
    (Action.ANSWER_CHECKIN, "none"),
    (Action.ANSWER_ALERT, "none"),
    (Action.SET_PIN, "none"),
    (Action.WIPE_SELF, "none"),
    (Action.VIEW_OWN_REMINDERS, "none"),
}
MEMBER_ACTIONS = (Action.UNLINK_MEMBER, Action.RESET_PIN)
#: A sent alert's answers, its "all clear", writing to who asked for help (issue #12.5).
FOLLOW_UPS = (Action.VIEW_ALERTS, Action.FOLLOW_UP_ALERT)
ALERT_KINDS = {k for k in TARGETS if k.startswith(("alert_", "peer_alert_"))}

GRANTS: dict[Role, set[tuple[Action, str]]] = {
    Role.INFORMANT: SELF
    | {
        (Action.VIEW_OWN_CLAIMS, "none"),
        (Action.VIEW_CLAIM, "own_claim"),
        (Action.VIEW_CLAIM, "own_claim_elsewhere"),
        (Action.SET_DURESS_PIN, "none"),
    },
    Role.COORDINATOR: SELF
    | {
        (action, kind)
        for action in (Action.VIEW_CLAIM, Action.UPDATE_CLAIM)
        for kind in ("own_claim", "claim_in")
    }
    | {(action, kind) for action in ALERT_ACTIONS for kind in ("regions_in", "regions_all_in")}
    # Two-person rule (M-14): someone else's template alert, every region of it in scope;
    # free text and alerts over the threshold are for administrators (issue #12.3).
    | {(Action.APPROVE_ALERT, kind) for kind in ("peer_alert_in", "peer_alert_all_in")}
    # Only the author withdraws a pending alert (issue #12.4).
    | {
        (Action.WITHDRAW_ALERT, kind)
        for kind in ("alert_own_in", "alert_own_out", "peer_alert_own_in")
    }
    # A sent alert's follow-ups: its author, or every region of it in scope (issue #12.5).
    | {
        (action, kind)
        for action in FOLLOW_UPS
        for kind in ALERT_KINDS
        if kind.endswith("_in") or "_own_" in kind
    }
    # Remote unlink and PIN reset (M-13c, M-05): informants of their regions only.
    | {(action, "informant_in") for action in MEMBER_ACTIONS}
    # Someone else's amount change in their region (M-14, issue #16.2).
    | {(Action.APPROVE_CLAIM_AMOUNT, "amounts_in")},
    Role.ADMIN: SELF
    | {
        (action, kind)
        for action in (Action.VIEW_CLAIM, Action.UPDATE_CLAIM)
        for kind in CLAIM_KINDS
    }
    | {
        (action, kind)
        for action in (*ALERT_ACTIONS, Action.MANAGE_MEMBERS)
        for kind in {"none"} | REGION_KINDS
    }
    # Programme-wide, but never their own alert (T-14: self-approval refused).
    | {
        (Action.APPROVE_ALERT, kind)
        for kind in TARGETS
        if kind.startswith(("alert_", "peer_alert_")) and "_own_" not in kind
    }
    | {
        (Action.WITHDRAW_ALERT, kind)
        for kind in ("alert_own_in", "alert_own_out", "peer_alert_own_in")
    }
    | {(action, kind) for action in FOLLOW_UPS for kind in ALERT_KINDS}
    # Anyone but themselves.
    | {
        (action, kind)
        for action in MEMBER_ACTIONS
        for kind in ("informant_in", "informant_out", "coordinator_in")
    }
    # Anyone else's amount change, programme-wide (M-14, issue #16.2).
    | {(Action.APPROVE_CLAIM_AMOUNT, kind) for kind in ("amounts_in", "amounts_out")},
}

CASES = list(itertools.product(Role, Action))


def _actor(role: Role, *, state: MemberState = MemberState.ACTIVE, linked: bool = True) -> Member:
    return make_member(ACTOR_ID, role=role, regions=HOME, state=state, linked=linked)


@pytest.mark.parametrize(("role", "action"), CASES, ids=[f"{r}-{a}" for r, a in CASES])
def test_active_member_gets_exactly_the_granted_actions(role: Role, action: Action) -> None:
    """Every target kind is tried; the message lists each wrong decision."""
    actor = _actor(role)
    wrong = []
    for kind, target in TARGETS.items():
        expected = (action, kind) in GRANTS[role]
        if is_allowed(actor, action, target) is not expected:
            wrong.append(f"{kind}: expected {'allow' if expected else 'deny'}")
        try:
            authorize(actor, action, target)
        except NotAllowed:
            raised = True
        else:
            raised = False
        if raised is expected:
            wrong.append(f"{kind}: authorize() disagrees with is_allowed()")
    assert wrong == []


INACTIVE = {
    "suspended": (MemberState.SUSPENDED, True),
    "unlinked": (MemberState.UNLINKED, False),
    "unlinked-telegram": (MemberState.ACTIVE, False),  # state active, no account linked
    "unlinked-state-but-linked": (MemberState.UNLINKED, True),
}


@pytest.mark.parametrize("why", sorted(INACTIVE))
@pytest.mark.parametrize("role", list(Role))
def test_inactive_members_are_refused_everything(why: str, role: Role) -> None:
    state, linked = INACTIVE[why]
    actor = _actor(role, state=state, linked=linked)
    assert not actor.active
    for action, target in itertools.product(Action, TARGETS.values()):
        assert is_allowed(actor, action, target) is False
        with pytest.raises(NotAllowed):
            authorize(actor, action, target)


def test_every_action_is_denied_somewhere_and_granted_somewhere() -> None:
    """Guards the grant list itself: no Action is unreachable or granted to all."""
    for action in Action:
        decisions = {
            is_allowed(_actor(role), action, target)
            for role in Role
            for target in TARGETS.values()
        }
        assert decisions == {True, False}, action


def test_informant_sees_own_claim_but_not_a_neighbours() -> None:
    informant = make_member(1, regions=("Pichari",))
    mine = make_claim(1, member_id=1)
    neighbours = make_claim(2, member_id=2)  # same region, other informant
    assert is_allowed(informant, Action.VIEW_CLAIM, mine)
    assert not is_allowed(informant, Action.VIEW_CLAIM, neighbours)
    assert not is_allowed(informant, Action.UPDATE_CLAIM, mine)


def test_role_and_region_are_read_from_the_member_passed_in() -> None:
    """T-12: a coordinator moved to another region loses the old one at the next check."""
    claim = make_claim(3, member_id=OTHER_ID, region="Pichari")
    before = make_member(ACTOR_ID, role=Role.COORDINATOR, regions=("Pichari",))
    after = make_member(ACTOR_ID, role=Role.COORDINATOR, regions=("Pangoa",))
    demoted = make_member(ACTOR_ID, role=Role.INFORMANT, regions=("Pichari",))
    assert is_allowed(before, Action.UPDATE_CLAIM, claim)
    assert not is_allowed(after, Action.UPDATE_CLAIM, claim)
    assert not is_allowed(demoted, Action.UPDATE_CLAIM, claim)
    assert not is_allowed(after, Action.SEND_ALERT, frozenset({"Pichari"}))


def test_coordinator_without_regions_has_no_scope() -> None:
    lonely = make_member(ACTOR_ID, role=Role.COORDINATOR, regions=())
    assert not is_allowed(lonely, Action.SEND_ALERT, frozenset())
    assert not is_allowed(lonely, Action.SEND_ALERT, frozenset({"Pichari"}))
    assert not is_allowed(lonely, Action.VIEW_CLAIM, make_claim(member_id=OTHER_ID))


def test_not_allowed_carries_the_action_only() -> None:
    informant = make_member(1, codename="Cóndor-7")
    with pytest.raises(NotAllowed) as caught:
        authorize(informant, Action.MANAGE_MEMBERS)
    assert caught.value.args == (Action.MANAGE_MEMBERS,)
    assert "Cóndor" not in str(caught.value)


@pytest.mark.parametrize(
    ("role", "target", "allowed"),
    [
        (Role.COORDINATOR, "amounts_in", True),
        (Role.COORDINATOR, "amounts_own_in", False),  # never the requester (M-14)
        (Role.COORDINATOR, "amounts_out", False),
        (Role.ADMIN, "amounts_out", True),
        (Role.ADMIN, "amounts_own_in", False),
        (Role.INFORMANT, "amounts_in", False),
    ],
)
def test_an_amount_change_is_decided_by_a_second_person_in_scope(
    role: Role, target: str, allowed: bool
) -> None:
    assert is_allowed(_actor(role), Action.APPROVE_CLAIM_AMOUNT, TARGETS[target]) is allowed
    # No other action is granted on an amount request.
    assert not any(
        is_allowed(_actor(role), action, TARGETS[target])
        for action in Action
        if action is not Action.APPROVE_CLAIM_AMOUNT
    )
