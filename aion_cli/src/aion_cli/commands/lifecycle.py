"""`aion cancel`, `terminate`, `pause`, `resume`, `reopen`: change a workflow's course.

Each returns once the engine has recorded it. A workflow not in a state that
allows it (pause a paused run, reopen a completed one) is refused with
nothing recorded, and the command exits with code 1.
"""

from __future__ import annotations

import click

from aion_cli.connections import run_with_client
from aion_cli.options import client_options, reason_option
from aion_core import Client
from aion_core.plugins import Plugins

__all__ = [
    "cancel_command",
    "pause_command",
    "reopen_command",
    "resume_command",
    "terminate_command",
]


def _lifecycle_command(verb: str, done: str, help: str) -> click.Command:
    """A command ``aion VERB WORKFLOW_ID [--reason TEXT]`` calling the client's `verb`."""

    @click.command(verb, help=help)
    @click.argument("workflow_id")
    @reason_option
    @client_options
    @click.pass_obj
    def command(
        plugins: Plugins,
        workflow_id: str,
        reason: str,
        transport: str,
        namespace: str | None,
        timeout: float,
    ) -> None:
        async def act(client: Client) -> None:
            await getattr(client, verb)(workflow_id, reason)

        run_with_client(plugins, transport, namespace, timeout, act)
        click.echo(f"{workflow_id}: {done}")

    return command


cancel_command = _lifecycle_command(
    "cancel",
    "cancellation requested",
    """Ask WORKFLOW_ID to cancel; its code decides how it ends.

    The workflow sees a CancelledError at the await it is waiting on and may
    clean up (compensate) before it closes as cancelled.
    """,
)
terminate_command = _lifecycle_command(
    "terminate",
    "terminated",
    """End WORKFLOW_ID now, without running more of its code.

    Running activities are cancelled and open children are closed as their
    parent close policy says.
    """,
)
pause_command = _lifecycle_command(
    "pause",
    "paused",
    """Pause WORKFLOW_ID until aion resume.

    Signals, timer fires and activity results are recorded and kept, not
    delivered, and no new activity attempt starts.
    """,
)
resume_command = _lifecycle_command(
    "resume",
    "resumed",
    """Resume a paused WORKFLOW_ID.

    What arrived while it was paused is delivered now, in order.
    """,
)
reopen_command = _lifecycle_command(
    "reopen",
    "reopened",
    """Revive a failed, cancelled or suspended WORKFLOW_ID.

    Use it after a fix: the run continues from its history, activities that
    had failed for good run again (attempt numbers go on), timers it waited
    for are armed again.
    """,
)
