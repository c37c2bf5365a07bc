"""The metrics aion exports, each defined once on a registry of its own.

A private `CollectorRegistry` per `AionMetrics` (never prometheus_client's
global one) lets several engines, tests or plugin objects live in one process
without "Duplicated timeseries" errors, and lets each be scraped on its own.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["UNKNOWN", "AionMetrics"]

UNKNOWN = "unknown"
"""The label value used when a workflow or activity type was not seen by this process."""

# Workflows run from milliseconds (tests) to days (sagas waiting on people).
_WORKFLOW_SECONDS = (0.01, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 21600, 86400, 604800)
# A step usually appends a handful of events; a burst of signals or a fan-out more.
_EVENTS_PER_APPEND = (1, 2, 3, 5, 8, 13, 21, 50, 100, 250)
# Replays run from a few events (milliseconds) to long histories (a second or more).
_REPLAY_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
# One commit carries one append alone up to the committer's bound (1,024).
_APPENDS_PER_COMMIT = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# A commit costs an fsync (SQLite) or a round trip (PostgreSQL), more when it is large.
_COMMIT_SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class AionMetrics:
    """Every aion metric, on `registry`.

    Args:
        registry: Where the metrics are registered; a new private one by default.

    Attributes:
        registry: The registry to scrape (`serve_metrics`, `generate_latest`).
        workflows_started: Counter of WorkflowStarted events, by workflow type.
        workflows_closed: Counter of closed runs, by workflow type and status.
        workflow_duration: Histogram of start-to-close seconds, by type and status.
        activity_attempts: Counter of recorded attempt outcomes, by activity type and outcome.
        activity_schedule_to_start: Histogram of seconds from schedule to first start.
        activity_attempt_duration: Histogram of attempt seconds measured where it ran.
        append_events: Histogram of events per durable append.
        replay_duration: Histogram of seconds to rebuild a run from its history, by type.
        cached_workflows: Gauge of workflows in the engines' caches.
        cache_evictions: Counter of idle workflows evicted from the caches.
        commit_appends: Histogram of workflow appends per store commit (group commit).
        commit_duration: Histogram of seconds per store commit.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.workflows_started = Counter(
            "aion_workflows_started",
            "Workflow runs started (WorkflowStarted recorded).",
            ["workflow_type"],
            registry=self.registry,
        )
        self.workflows_closed = Counter(
            "aion_workflows_closed",
            "Workflow runs closed, by the status their closing event put them in.",
            ["workflow_type", "status"],
            registry=self.registry,
        )
        self.workflow_duration = Histogram(
            "aion_workflow_duration_seconds",
            "Seconds from WorkflowStarted to the closing event, both as recorded.",
            ["workflow_type", "status"],
            buckets=_WORKFLOW_SECONDS,
            registry=self.registry,
        )
        self.activity_attempts = Counter(
            "aion_activity_attempts",
            "Activity attempts whose outcome was recorded (completed, failed, timed_out).",
            ["activity_type", "outcome"],
            registry=self.registry,
        )
        self.activity_schedule_to_start = Histogram(
            "aion_activity_schedule_to_start_seconds",
            "Seconds from ActivityScheduled to ActivityStarted of attempt 1.",
            registry=self.registry,
        )
        self.activity_attempt_duration = Histogram(
            "aion_activity_attempt_seconds",
            "Seconds one activity attempt ran, measured by the engine or worker running it.",
            ["activity_type", "outcome"],
            registry=self.registry,
        )
        self.append_events = Histogram(
            "aion_append_events",
            "Events made durable per append.",
            buckets=_EVENTS_PER_APPEND,
            registry=self.registry,
        )
        self.replay_duration = Histogram(
            "aion_workflow_replay_seconds",
            "Seconds to read a run's history and replay it (recovery, back into the cache).",
            ["workflow_type"],
            buckets=_REPLAY_SECONDS,
            registry=self.registry,
        )
        self.cached_workflows = Gauge(
            "aion_workflow_cache_size",
            "Workflows held in the engines' caches (all engines this plugin observes).",
            registry=self.registry,
        )
        self.cache_evictions = Counter(
            "aion_workflow_cache_evictions",
            "Idle workflows evicted from an engine's cache (max_cached_workflows).",
            registry=self.registry,
        )
        self.commit_appends = Histogram(
            "aion_store_commit_appends",
            "Workflow appends carried by one store commit (group commit batch size).",
            buckets=_APPENDS_PER_COMMIT,
            registry=self.registry,
        )
        self.commit_duration = Histogram(
            "aion_store_commit_seconds",
            "Seconds one store commit took.",
            buckets=_COMMIT_SECONDS,
            registry=self.registry,
        )
