"""Interceptors from plugins wrap every workflow run and every activity attempt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aion_core import Engine, activity, workflow
from aion_core.interceptors import (
    ActivityCall,
    ActivityInterceptor,
    WorkflowCall,
    WorkflowInterceptor,
)
from aion_core.plugins import load_plugins


@activity.defn
async def double(x: int) -> int:
    return 2 * x


@workflow.defn
async def doubler(x: int) -> int:
    return await workflow.execute_activity(double, x)


class Tracing:
    def __init__(self) -> None:
        self.seen: list[str] = []
        outer = self

        class Workflows(WorkflowInterceptor):
            async def execute_workflow(
                self, call: WorkflowCall, proceed: Callable[[WorkflowCall], Awaitable[object]]
            ) -> object:
                outer.seen.append(f"workflow {call.workflow_type}{call.args} in {call.workflow_id}")
                result = await proceed(call)
                outer.seen.append(f"workflow returned {result}")
                return result

        class Activities(ActivityInterceptor):
            async def execute_activity(
                self, call: ActivityCall, proceed: Callable[[ActivityCall], Awaitable[object]]
            ) -> object:
                outer.seen.append(
                    f"activity {call.activity_type}{call.args} attempt {call.attempt}"
                )
                changed = ActivityCall(
                    call.activity_type, (call.args[0] + 1,), call.workflow_id, call.attempt
                )
                return await proceed(changed)

        self.workflows = Workflows()
        self.activities = Activities()

    def aion_workflow_interceptors(self) -> list[WorkflowInterceptor]:
        return [self.workflows]

    def aion_activity_interceptors(self) -> list[ActivityInterceptor]:
        return [self.activities]


async def test_interceptors_wrap_workflows_and_activities() -> None:
    tracing = Tracing()
    plugins = load_plugins()
    plugins.manager.register(tracing, name="tracing")
    async with Engine(
        "memory://", workflows=[doubler], activities=[double], plugins=plugins
    ) as engine:
        assert await engine.execute_workflow(doubler, 20, id="d") == 42  # the interceptor added 1
    assert tracing.seen == [
        "workflow doubler(20,) in d",
        "activity double(20,) attempt 1",
        "workflow returned 42",
    ]
