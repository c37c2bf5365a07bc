"""The workflow list (and the start form on it), a workflow's detail page, and the actions."""

from __future__ import annotations

from typing import Any

from aion_cli.commands.visibility import STATUS_CHOICES
from aion_core.errors import AionError
from aion_core.events import WorkflowStatus
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from aion_plugin_ui.actions import (
    HANDLER_ACTIONS,
    LIFECYCLE_ACTIONS,
    ActionResult,
    InputError,
    parse_input,
    parse_start_input,
    run_workflow_action,
    start_workflow,
)
from aion_plugin_ui.history_views import read_detail
from aion_plugin_ui.listing import FilterError, ListQuery, parse_list_query, read_page
from aion_plugin_ui.pages import guarded, render, render_problem, ui_of, workflow_url
from aion_plugin_ui.problems import Problem, problem_of, start_problem_of
from aion_plugin_ui.security import Session

__all__ = ["list_query_of", "routes"]

STATUSES = [status.value for status in WorkflowStatus]


def list_query_of(request: Request) -> ListQuery:
    """The list filters a request's query string gives.

    Raises:
        FilterError: One does not parse.
    """
    params = request.query_params
    return parse_list_query(params, params.getlist("status"), ui_of(request).settings.page_size)


async def _list(
    request: Request,
    session: Session,
    *,
    start_problem: Problem | None = None,
    start_form: dict[str, str] | None = None,
) -> Response:
    context: dict[str, Any] = {
        "statuses": STATUSES,
        "status_choices": STATUS_CHOICES,
        "start_problem": start_problem,
        "start_form": start_form or {},
    }
    status = start_problem.status if start_problem is not None else 200
    try:
        query = list_query_of(request)
        page = await read_page(await ui_of(request).store.get(), query)
    except FilterError as error:
        context.update(query=ListQuery(), page=None, filter_problem=str(error))
        return render(request, session, "list.html", context, 400)
    return render(request, session, "list.html", {**context, "query": query, "page": page}, status)


async def list_page(request: Request, session: Session) -> Response:
    """The workflows matching the filters, a page at a time, with counts by status."""
    return await _list(request, session)


async def start(request: Request, session: Session) -> Response:
    """Start the workflow the start form names, then show its page.

    A start redirects to the new workflow's page, which says it started; a form
    that does not parse, a type the engines do not run, an id already running are
    shown on the list with the form as it was filled in, and nothing started.
    """
    ui = ui_of(request)
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    try:
        given = parse_start_input(
            form.get("workflow_type", ""),
            form.get("workflow_id", ""),
            form.get("input", ""),
            form.get("task_queue", ""),
        )
    except InputError as error:
        problem = Problem(f"{error}; nothing was started", 400, "The input is not valid")
        return await _list(request, session, start_problem=problem, start_form=form)
    try:
        client = await ui.engines.get()
    except AionError as error:  # no engines within reach (inproc://, down), a codec's keys
        problem = problem_of(error)
    else:
        try:
            handle = await start_workflow(client, given)
        except AionError as error:
            problem = start_problem_of(error)
        else:
            session.notices.append(f"started {given.workflow_type} as {handle.workflow_id}")
            return RedirectResponse(workflow_url(handle.workflow_id), status_code=303)
    return await _list(request, session, start_problem=problem, start_form=form)


async def _detail(
    request: Request,
    session: Session,
    workflow_id: str,
    *,
    done: ActionResult | None = None,
    problem: Problem | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    ui = ui_of(request)
    detail = await read_detail(await ui.store.get(), ui.decoder, workflow_id)
    context = {
        "detail": detail,
        "done": done,
        "problem": problem,
        "form": form or {},
        "notices": session.take_notices(),
    }
    status = problem.status if problem is not None else 200
    return render(request, session, "detail.html", context, status)


async def detail_page(request: Request, session: Session) -> Response:
    """Summary, outcome, pending work, children and the timeline of one workflow."""
    return await _detail(request, session, request.path_params["workflow_id"])


async def act(request: Request, session: Session) -> Response:
    """Do the posted action (``action`` field) on the workflow, then show it again.

    Changes (signal, cancel, ...) redirect to the detail page, which says they were
    done; a query's answer or an update's value is shown at once; a refusal is shown
    with the form as it was filled in, and nothing was recorded.
    """
    ui = ui_of(request)
    workflow_id = request.path_params["workflow_id"]
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    action = form.get("action", "")
    if action not in (*HANDLER_ACTIONS, *LIFECYCLE_ACTIONS):
        return render_problem(request, session, Problem(f"no such action: {action!r}", 400))
    try:
        given = parse_input(
            action, form.get("name", ""), form.get("input", ""), form.get("reason", "")
        )
    except InputError as error:
        problem = Problem(f"{error}; nothing was sent", 400, "The input is not valid")
        return await _detail(request, session, workflow_id, problem=problem, form=form)
    try:
        client = await ui.engines.get()
        result = await run_workflow_action(
            client, action, workflow_id, given, ui.settings.call_timeout
        )
    except AionError as error:
        problem = problem_of(error)
        if problem.status == 404:
            return render_problem(request, session, problem)
        return await _detail(request, session, workflow_id, problem=problem, form=form)
    if result.answer is not None:
        return await _detail(request, session, workflow_id, done=result, form=form)
    session.notices.append(result.message)
    return RedirectResponse(workflow_url(workflow_id), status_code=303)


def routes() -> list[BaseRoute]:
    """The list and detail routes."""
    return [
        Route("/workflows", guarded(list_page), methods=["GET"]),
        Route("/workflows", guarded(start), methods=["POST"]),
        Route("/workflows/{workflow_id:path}", guarded(detail_page), methods=["GET"]),
        Route("/workflows/{workflow_id:path}", guarded(act), methods=["POST"]),
    ]
