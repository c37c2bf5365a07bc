"""The schedules page: every schedule the engines run, and pause, resume, trigger.

Schedules are durable workflows on the engine nodes (``schedule:<id>``), so
this page asks them through the transport (their ``describe`` query), like
``aion schedule list``; with no transport to reach engines it says so.
"""

from __future__ import annotations

from aion_cli.output import format_seconds
from aion_cli.schedules import list_schedules
from aion_core.errors import AionError
from aion_core.schedules.spec import ScheduleDescription
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from aion_plugin_ui.actions import SCHEDULE_ACTIONS, run_schedule_action
from aion_plugin_ui.pages import guarded, render, render_problem, ui_of
from aion_plugin_ui.problems import Problem, problem_of
from aion_plugin_ui.security import Session

__all__ = ["routes", "when"]


def when(schedule: ScheduleDescription) -> str:
    """A schedule's timing rule, for people."""
    if schedule.cron is not None:
        return f"cron '{schedule.cron}' in {schedule.time_zone}"
    assert schedule.every is not None
    return f"every {format_seconds(schedule.every.total_seconds())}"


async def _page(request: Request, session: Session, problem: Problem | None = None) -> Response:
    ui = ui_of(request)
    schedules: list[ScheduleDescription] = []
    try:
        schedules = await list_schedules(await ui.engines.get())
    except AionError as error:
        problem = problem or problem_of(error)
    context = {
        "schedules": schedules,
        "when": when,
        "problem": problem,
        "notices": session.take_notices(),
        "actions": SCHEDULE_ACTIONS,
    }
    return render(request, session, "schedules.html", context, problem.status if problem else 200)


async def schedules_page(request: Request, session: Session) -> Response:
    """Every schedule that is not deleted, with its rule, state and next fire."""
    return await _page(request, session)


async def schedule_action(request: Request, session: Session) -> Response:
    """Pause, resume or trigger the posted ``schedule_id``, then list them again."""
    form = await request.form()
    action, schedule_id, note = (
        str(form.get(key, "")) for key in ("action", "schedule_id", "note")
    )
    if action not in SCHEDULE_ACTIONS or not schedule_id:
        return render_problem(request, session, Problem("name a schedule and an action", 400))
    try:
        result = await run_schedule_action(
            await ui_of(request).engines.get(), action, schedule_id, note.strip()
        )
    except AionError as error:
        return await _page(request, session, problem_of(error))
    session.notices.append(result.message)
    return RedirectResponse("/schedules", status_code=303)


def routes() -> list[BaseRoute]:
    """The schedules routes."""
    return [
        Route("/schedules", guarded(schedules_page), methods=["GET"]),
        Route("/schedules", guarded(schedule_action), methods=["POST"]),
    ]
