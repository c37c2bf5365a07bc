"""`ui_flows.Approval` after an incompatible change: its first activity is another one.

Replaying a history recorded by `ui_flows.Approval` against this code parts at
its first activity: what the replay page shows side by side.
"""

from __future__ import annotations

from datetime import timedelta

from aion_core import activity, workflow


@activity.defn
async def double_check(n: int) -> int:
    """What the new code calls first."""
    return n


@workflow.defn(name="Approval")
class Approval:
    """The changed workflow: a different first activity."""

    @workflow.run
    async def run(self, n: int) -> str:
        """Check twice, then give up."""
        await workflow.execute_activity(
            double_check, n, start_to_close_timeout=timedelta(seconds=30)
        )
        return "changed"
