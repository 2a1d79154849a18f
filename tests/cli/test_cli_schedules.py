"""``chaski schedules``: list, pause, resume and cancel the stored schedules (issue #15.6)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from bot.domain.schedules import NewSchedule, Schedule, ScheduleKind, TargetKind
from bot.services.container import Services
from bot.services.schedules import TEMPLATE_CHECKIN
from tests.cli.harness import Result, with_services


async def _seed(services: Services) -> Schedule:
    await services.invites.add_region("Pichari")
    return await services.schedules.create(
        None,
        NewSchedule(
            kind=ScheduleKind.CHECKIN,
            target_kind=TargetKind.REGION,
            target="Pichari",
            template=TEMPLATE_CHECKIN,
            cron="0 19 * * *",
            window=timedelta(hours=2),
        ),
    )


def test_list_pause_resume_cancel(chaski: Callable[..., Result]) -> None:
    assert chaski("migrate").code == 0
    assert chaski("schedules", "list").out == "Nothing is scheduled.\n"
    schedule = with_services(_seed)

    listed = chaski("schedules", "list", "--json")
    assert listed.code == 0
    [row] = json.loads(listed.out)
    assert row["id"] == schedule.id
    assert (row["kind"], row["target"], row["rule"], row["state"]) == (
        "checkin",
        "Pichari",
        "0 19 * * *",
        "active",
    )
    assert "region:Pichari" in chaski("schedules", "list").out

    paused = chaski("schedules", "pause", str(schedule.id), "--json")
    assert json.loads(paused.out)["state"] == "paused"
    resumed = chaski("schedules", "resume", str(schedule.id))
    assert resumed.out == f"Schedule {schedule.id} is now active.\n"
    assert chaski("schedules", "cancel", str(schedule.id)).code == 0
    assert chaski("schedules", "list", "--json").out == "[]\n"

    again = chaski("schedules", "cancel", str(schedule.id))
    assert again.code == 2
    assert again.err_lines == [
        f"chaski: no schedule {schedule.id} to cancel (see chaski schedules list);"
        " nothing was changed"
    ]
    assert chaski("schedules", "pause", "999").code == 2
