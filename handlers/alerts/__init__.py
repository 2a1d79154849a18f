"""Safety alerts in chat (issue #12), one module per job.

* ``compose``: ``/aviso``, ``/aviso_texto``, ``/aviso_datos`` and the compose buttons (a
  persisted draft, previewed in both languages, confirmed once).
* ``approval``: ``/aprobar``, approve / reject with a reason / withdraw, and the tick that
  escalates urgent alerts waiting for approval (M-14, T-14).
* ``answers``: the informants' answer buttons, a coordinator taking a help request, and the
  follow-ups of a sent alert (all clear, a note to someone who asked for help).
* ``views``: ``/alertas`` with the tallies, the pages of an alert's answers, tally refreshes.
* ``renderers``: pure presentation, including the outbox renderers of the alert notices
  (listed in ``handlers.notices``).
* ``gates``: the role and PIN gates every staff command and button passes first (M-05).

``handlers.register`` and the menu dispatch use the names exported here.
"""

from __future__ import annotations

from handlers.alerts.answers import on_answer_button, on_follow_up_button, on_help_button
from handlers.alerts.approval import approve_command, escalate_approvals, on_approval_button
from handlers.alerts.compose import (
    alert_command,
    alert_text_command,
    alert_values_command,
    on_alert_compose_button,
)
from handlers.alerts.gates import SENDERS
from handlers.alerts.views import alerts_command, refresh_tallies

__all__ = [
    "SENDERS",
    "alert_command",
    "alert_text_command",
    "alert_values_command",
    "alerts_command",
    "approve_command",
    "escalate_approvals",
    "on_alert_compose_button",
    "on_answer_button",
    "on_approval_button",
    "on_follow_up_button",
    "on_help_button",
    "refresh_tallies",
]
