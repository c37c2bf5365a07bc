"""Schedules (DESIGN 4.8): workflows started by themselves, by cron or at a fixed interval.

A schedule is itself a durable workflow of type ``aion.schedule`` with id
``schedule:<schedule_id>``: it is recovered, replayed, listed and kept bounded
(continue-as-new) like any workflow. Create one with `Engine.create_schedule`;
steer it through its `ScheduleHandle`. A cron is read as wall-clock time in the
schedule's time zone; `time_zones` states what happens across DST changes.
"""

from aion_core.schedules.client import ScheduleHandle
from aion_core.schedules.cron import CronExpression
from aion_core.schedules.spec import (
    CatchupPolicy,
    OverlapPolicy,
    ScheduleAlreadyExistsError,
    ScheduleDescription,
    ScheduleNotFoundError,
    ScheduleRun,
)
from aion_core.schedules.workflow import SCHEDULE_WORKFLOW_TYPE, ScheduleWorkflow

__all__ = [
    "SCHEDULE_WORKFLOW_TYPE",
    "CatchupPolicy",
    "CronExpression",
    "OverlapPolicy",
    "ScheduleAlreadyExistsError",
    "ScheduleDescription",
    "ScheduleHandle",
    "ScheduleNotFoundError",
    "ScheduleRun",
    "ScheduleWorkflow",
]
