"""JetStream streams, KV bucket names and NATS subjects of one aion namespace.

Every subject starts with ``aion.<namespace>.``:

==============================================  ==============================================
``aion.<ns>.task.<queue>``                      activity tasks (stream ``aion_<ns>_tasks``)
``aion.<ns>.result.<partition>``                activity results (stream ``aion_<ns>_results``)
``aion.<ns>.events.<workflow_id>``              live events of one workflow, after commit
``aion.<ns>.ctl.<partition>``                   request/reply to the engine owning a partition
``aion.<ns>.api``                               requests any engine node answers (queue group)
==============================================  ==============================================

Names of streams and buckets allow letters, digits, ``-`` and ``_`` only, so
the namespace is sanitised there (see `name_token`); subjects use the
namespace as given, which therefore may not contain ``.``, ``*``, ``>`` or
whitespace. Workflow ids and task queue names may contain anything: they are
percent-encoded into one subject token (see `encode_subject_token`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import string
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import APIError, BadRequestError, NotFoundError, ServiceUnavailableError

from aion_core.errors import ConfigurationError

__all__ = [
    "NamespaceStreams",
    "StreamNames",
    "decode_subject_token",
    "encode_subject_token",
    "ensure_streams",
    "name_token",
    "validate_namespace",
]

log = logging.getLogger("aion.nats")

_NAME_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_SUBJECT_FORBIDDEN = re.compile(r"[.*>\s]")
_MAX_NAME_TOKEN = 48
# Bytes kept as they are in a subject token: readable ids stay readable.
_TOKEN_SAFE = frozenset((string.ascii_letters + string.digits + "-_~:=@+!").encode())
_PERCENT_ESCAPE = re.compile(r"%([0-9A-F]{2})")
# JetStream's error code for "stream name already in use with a different configuration".
STREAM_NAME_IN_USE_ERROR = 10058
_JETSTREAM_NOT_ENABLED = 10039


def validate_namespace(namespace: str) -> str:
    """Return `namespace` if it can prefix subjects, else raise `ConfigurationError`.

    Raises:
        ConfigurationError: Empty, or holds ``.``, ``*``, ``>`` or whitespace.
    """
    if not isinstance(namespace, str) or not namespace:
        raise ConfigurationError("the aion namespace is empty; give a name such as 'default'")
    if _SUBJECT_FORBIDDEN.search(namespace) or not namespace.isprintable():
        raise ConfigurationError(
            f"aion namespace {namespace!r} cannot be a NATS subject token: it may not contain "
            "'.', '*', '>', whitespace or control characters; use for example 'shop-eu'"
        )
    return namespace


def name_token(text: str) -> str:
    """`text` as a part of a stream, bucket or consumer name (letters, digits, ``-``, ``_``).

    Text that already qualifies (and is short) is kept; otherwise the other
    characters become ``_`` and an 8-hex-digit hash of the original text is
    appended, so two different texts never share a name.
    """
    if _NAME_SAFE.match(text) and len(text) <= _MAX_NAME_TOKEN:
        return text
    digest = hashlib.blake2b(text.encode(), digest_size=4).hexdigest()
    return f"{_NAME_UNSAFE.sub('_', text)[:_MAX_NAME_TOKEN]}_{digest}"


def encode_subject_token(text: str) -> str:
    """`text` as one subject token, reversibly: `decode_subject_token` gives it back.

    Letters, digits and ``- _ ~ : = @ + !`` stay as they are; every other byte
    of the UTF-8 encoding becomes ``%XX`` (upper-case hex), like URL
    percent-encoding. The token never holds ``.``, ``*``, ``>``, whitespace or
    ``$``, so ``order.42`` becomes ``order%2E42`` and ``a b`` becomes ``a%20b``.

    Raises:
        ValueError: `text` is empty (a subject token cannot be).
    """
    if not text:
        raise ValueError("an empty workflow id or queue name cannot be a subject token")
    return "".join(chr(byte) if byte in _TOKEN_SAFE else f"%{byte:02X}" for byte in text.encode())


def decode_subject_token(token: str) -> str:
    """The text `encode_subject_token` turned into `token`.

    Raises:
        ValueError: `token` was not produced by `encode_subject_token`.
    """
    decoded = _PERCENT_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), token)
    try:
        text = decoded.encode("latin-1").decode()
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise ValueError(f"{token!r} is not an encoded subject token") from None
    if not text or encode_subject_token(text) != token:
        raise ValueError(f"{token!r} is not an encoded subject token")
    return text


@dataclass(frozen=True, slots=True)
class StreamNames:
    """The names of streams, buckets, consumers and subjects of one namespace.

    Attributes:
        namespace: The namespace as given; subjects use it unchanged.
    """

    namespace: str

    def __post_init__(self) -> None:
        validate_namespace(self.namespace)

    @property
    def prefix(self) -> str:
        """``aion.<ns>``: the first two tokens of every subject of the namespace."""
        return f"aion.{self.namespace}"

    @property
    def tasks_stream(self) -> str:
        """Work-queue stream of activity tasks: ``aion_<ns>_tasks``."""
        return f"aion_{name_token(self.namespace)}_tasks"

    @property
    def results_stream(self) -> str:
        """Work-queue stream of activity results: ``aion_<ns>_results``."""
        return f"aion_{name_token(self.namespace)}_results"

    @property
    def leases_bucket(self) -> str:
        """KV bucket of partition leases and node registrations: ``aion_<ns>_leases``."""
        return f"aion_{name_token(self.namespace)}_leases"

    @property
    def tasks_subjects(self) -> str:
        """``aion.<ns>.task.>``: every task queue."""
        return f"{self.prefix}.task.>"

    @property
    def results_subjects(self) -> str:
        """``aion.<ns>.result.>``: every partition's results."""
        return f"{self.prefix}.result.>"

    @property
    def all_events_subject(self) -> str:
        """``aion.<ns>.events.>``: live events of every workflow."""
        return f"{self.prefix}.events.>"

    @property
    def api_queue_group(self) -> str:
        """Queue group of engine nodes on `api_subject`: one node answers each request."""
        return "aion-engines"

    def task_subject(self, queue: str) -> str:
        """``aion.<ns>.task.<queue>``, the queue name encoded as one subject token."""
        return f"{self.prefix}.task.{encode_subject_token(queue)}"

    def task_consumer(self, queue: str) -> str:
        """Durable consumer name shared by the workers of `queue`: ``tasks-<queue>``."""
        return f"tasks-{name_token(queue)}"

    def result_subject(self, partition: int) -> str:
        """``aion.<ns>.result.<partition>``: results for workflows of `partition`."""
        return f"{self.prefix}.result.{_partition_token(partition)}"

    def result_consumer(self, partition: int) -> str:
        """Durable consumer of `partition`'s results (its owner consumes it): ``results-<n>``."""
        return f"results-{_partition_token(partition)}"

    def events_subject(self, workflow_id: str) -> str:
        """``aion.<ns>.events.<workflow_id>``, the id encoded as one subject token."""
        return f"{self.prefix}.events.{encode_subject_token(workflow_id)}"

    def workflow_id_of_events_subject(self, subject: str) -> str:
        """The workflow id `events_subject` encoded into `subject`.

        Raises:
            ValueError: `subject` is not an events subject of this namespace.
        """
        head = f"{self.prefix}.events."
        if not subject.startswith(head) or "." in subject[len(head) :]:
            raise ValueError(
                f"{subject!r} is not an events subject of namespace {self.namespace!r}"
            )
        return decode_subject_token(subject[len(head) :])

    def control_subject(self, partition: int) -> str:
        """``aion.<ns>.ctl.<partition>``: request/reply to the owner of `partition`."""
        return f"{self.prefix}.ctl.{_partition_token(partition)}"

    def api_subject(self) -> str:
        """``aion.<ns>.api``: requests any engine node can answer (see `api_queue_group`)."""
        return f"{self.prefix}.api"


def _partition_token(partition: int) -> str:
    if not isinstance(partition, int) or isinstance(partition, bool) or partition < 0:
        raise ValueError(f"a partition is a whole number >= 0, not {partition!r}")
    return str(partition)


# --- streams -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NamespaceStreams:
    """The streams `ensure_streams` found or created.

    Attributes:
        tasks: The activity task stream.
        results: The activity result stream.
    """

    tasks: StreamInfo
    results: StreamInfo


async def ensure_streams(
    js: JetStreamContext,
    names: StreamNames,
    *,
    duplicate_window: float = 120.0,
    replicas: int | None = None,
) -> NamespaceStreams:
    """Create the namespace's task and result streams, or check the existing ones.

    Both are work-queue streams on file storage (a message is gone once a
    consumer acks it; data survives a server restart). Tasks are de-duplicated
    by ``Nats-Msg-Id`` within `duplicate_window` seconds. Result consumers
    filter on one partition each (`StreamNames.result_subject`), so their
    filters never overlap, which a work-queue stream requires.

    Idempotent: a second node gets the existing streams. An existing stream
    whose subjects, retention, storage, duplicate window (or replicas, when
    given) differ is updated; settings aion does not manage (limits an
    operator set) are kept.

    Args:
        js: The JetStream context to use.
        names: The namespace's names.
        duplicate_window: Seconds within which a task with the same
            ``Nats-Msg-Id`` is stored once.
        replicas: Replicas of each stream (at most the cluster size); None
            creates with 1 and leaves existing streams as they are.

    Raises:
        ConfigurationError: JetStream is not enabled, or a stream exists with a
            configuration that cannot be changed (retention, storage).
    """
    if duplicate_window <= 0:
        raise ConfigurationError(
            f"duplicate_window must be above 0 seconds, not {duplicate_window}"
        )
    if replicas is not None and not 1 <= replicas <= 5:
        raise ConfigurationError(f"replicas must be from 1 to 5, not {replicas}")
    common: dict[str, Any] = {
        "retention": RetentionPolicy.WORK_QUEUE,
        "storage": StorageType.FILE,
        "duplicate_window": duplicate_window,
    }
    if replicas is not None:
        common["num_replicas"] = replicas
    tasks = await _ensure_stream(
        js,
        StreamConfig(
            name=names.tasks_stream,
            description=f"aion activity tasks of namespace {names.namespace}",
            subjects=[names.tasks_subjects],
            **common,
        ),
    )
    results = await _ensure_stream(
        js,
        StreamConfig(
            name=names.results_stream,
            description=f"aion activity results of namespace {names.namespace}",
            subjects=[names.results_subjects],
            **common,
        ),
    )
    return NamespaceStreams(tasks=tasks, results=results)


# The settings of a stream aion manages; everything else is left as found.
_MANAGED = ("subjects", "retention", "storage", "duplicate_window", "num_replicas")


async def _ensure_stream(js: JetStreamContext, wanted: StreamConfig) -> StreamInfo:
    """Create `wanted`, or bring the existing stream of that name to its managed settings."""
    name = wanted.name
    assert name is not None
    try:
        return await js.add_stream(wanted)
    except ServiceUnavailableError as error:
        raise jetstream_missing_error(error, f"stream {name!r}") from error
    except BadRequestError as error:
        if error.err_code != STREAM_NAME_IN_USE_ERROR:
            raise
    existing = await js.stream_info(name)
    differences = {
        setting: (getattr(existing.config, setting), getattr(wanted, setting))
        for setting in _MANAGED
        if getattr(wanted, setting) is not None
        and _normal(getattr(existing.config, setting)) != _normal(getattr(wanted, setting))
    }
    if not differences:
        return existing
    described = ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in differences.items())
    updated = existing.config.evolve(**{key: new for key, (_, new) in differences.items()})
    try:
        info = await js.update_stream(updated)
    except APIError as error:
        raise ConfigurationError(
            f"stream {name!r} exists with other settings than aion needs ({described}) and "
            f"cannot be changed: {error.description}. Delete it when it holds no work you need "
            f"(nats stream rm {name}) or use another namespace"
        ) from error
    log.warning("updated stream %s to the settings aion needs: %s", name, described)
    return info


def jetstream_missing_error(error: ServiceUnavailableError, what: str) -> Exception:
    """A `ConfigurationError` when JetStream is off for the account, else `error` itself.

    A JetStream that is on but busy (a cluster electing a leader) also answers
    "unavailable", with another error code; that error stays as it is.
    """
    if error.err_code in (None, _JETSTREAM_NOT_ENABLED):
        return ConfigurationError(
            f"JetStream does not answer while creating {what}; start nats-server with "
            "--jetstream (-js) or enable JetStream for this account"
        )
    return error


def _normal(value: object) -> object:
    """Compare enum members with the strings the server returns, lists as sets."""
    if isinstance(value, list):
        return frozenset(value)
    return getattr(value, "value", value)


async def delete_namespace(js: JetStreamContext, names: StreamNames) -> None:
    """Delete what the namespace keeps on the server: its streams and lease bucket.

    Those that do not exist are skipped. Stop its engines, workers and clients first.
    """
    for stream in (names.tasks_stream, names.results_stream, f"KV_{names.leases_bucket}"):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)
