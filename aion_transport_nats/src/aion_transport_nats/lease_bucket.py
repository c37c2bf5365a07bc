"""The KV bucket holding a namespace's leases: its keys, its values, and bounded requests.

Keys are ``partition.<n>`` (held by the owning node) and ``node.<id>`` (each
live node's registration). Values are JSON: ``{"node": id, "incarnation": x}``,
plus ``"partitions": n`` in registrations. The bucket's ``max_age`` is the
lease TTL, so a key no one rewrites vanishes `ttl` seconds after its last write.
"""

from __future__ import annotations

import asyncio
import json
import math
import string
from collections.abc import Awaitable
from typing import Any, TypeVar

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError, KeyNotFoundError, ServiceUnavailableError
from nats.js.kv import KeyValue

from aion_core.errors import ConfigurationError
from aion_transport_nats.streams import (
    STREAM_NAME_IN_USE_ERROR,
    StreamNames,
    jetstream_missing_error,
)

__all__ = [
    "NODE_PREFIX",
    "TRANSIENT_ERRORS",
    "LeaseBucket",
    "lease_value",
    "node_key",
    "node_of",
    "partition_key",
    "partitions_of",
]

T = TypeVar("T")

NODE_PREFIX = "node."
_PARTITION_PREFIX = "partition."
_KEY_SAFE = frozenset((string.ascii_letters + string.digits + "-_").encode())
# Failures of a request to NATS that a later attempt may not have.
TRANSIENT_ERRORS = (nats.errors.Error, TimeoutError, OSError)


def partition_key(partition: int) -> str:
    """The key of `partition`'s lease: ``partition.<n>``."""
    return f"{_PARTITION_PREFIX}{partition}"


def node_key(node_id: str) -> str:
    """The key of a node's registration: ``node.<id>``, the id made a valid key token.

    Letters, digits, ``-`` and ``_`` stay; every other UTF-8 byte becomes ``=XX``.
    """
    token = "".join(chr(byte) if byte in _KEY_SAFE else f"={byte:02X}" for byte in node_id.encode())
    return f"{NODE_PREFIX}{token}"


def lease_value(node_id: str, incarnation: str, partitions: int | None = None) -> bytes:
    """The value a node writes: its id and incarnation (and, registering, its partition count)."""
    value: dict[str, Any] = {"node": node_id, "incarnation": incarnation}
    if partitions is not None:
        value["partitions"] = partitions
    return json.dumps(value).encode()


def node_of(value: bytes | None) -> str:
    """The node id a value names (the raw text for a value aion did not write)."""
    node = _field(value, "node")
    return node if isinstance(node, str) else (value or b"").decode(errors="replace")


def partitions_of(value: bytes | None) -> int | None:
    """The partition count a registration announces, if any."""
    partitions = _field(value, "partitions")
    return partitions if isinstance(partitions, int) else None


def _field(value: bytes | None, name: str) -> Any:
    try:
        decoded = json.loads(value or b"")
    except ValueError:
        return None
    return decoded.get(name) if isinstance(decoded, dict) else None


class LeaseBucket:
    """The lease bucket of one namespace; every request is bounded by `request_timeout`.

    Args:
        js: The JetStream context to use.
        names: The namespace's names (bucket ``aion_<ns>_leases``).
        ttl: Seconds a key outlives its last write (the bucket's ``max_age``).
        request_timeout: Seconds any one request may take.
        replicas: Replicas of the bucket when it is created here.
    """

    def __init__(
        self,
        js: JetStreamContext,
        names: StreamNames,
        *,
        ttl: float,
        request_timeout: float,
        replicas: int = 1,
    ) -> None:
        self._js = js
        self._names = names
        self._ttl = ttl
        self._request_timeout = request_timeout
        self._replicas = replicas
        self._kv: KeyValue | None = None

    @property
    def name(self) -> str:
        """The bucket's name."""
        return self._names.leases_bucket

    @property
    def subject_prefix(self) -> str:
        """``$KV.<bucket>.``: every write to the bucket is published on this prefix + key."""
        return f"$KV.{self.name}."

    async def open(self) -> None:
        """Create the bucket, or open the existing one after checking its TTL.

        Raises:
            ConfigurationError: JetStream is off, or the bucket has another TTL.
        """
        config = KeyValueConfig(
            bucket=self.name,
            description=f"aion partition leases of namespace {self._names.namespace}",
            history=1,
            ttl=self._ttl,
            storage=StorageType.FILE,
            replicas=self._replicas,
        )
        try:
            self._kv = await self._js.create_key_value(config)
            return
        except ServiceUnavailableError as error:
            raise jetstream_missing_error(error, f"lease bucket {self.name!r}") from error
        except BadRequestError as error:
            if error.err_code != STREAM_NAME_IN_USE_ERROR:
                raise
        kv = await self._js.key_value(self.name)
        existing_ttl = (await kv.status()).ttl
        if existing_ttl is None or not math.isclose(existing_ttl, self._ttl, rel_tol=1e-3):
            raise ConfigurationError(
                f"lease bucket {self.name!r} has a TTL of {existing_ttl} s but this node uses "
                f"{self._ttl} s; give every engine node of namespace "
                f"{self._names.namespace!r} the same lease ttl, or delete the bucket while no "
                f"node runs (nats kv rm {self.name})"
            )
        self._kv = kv

    def _bucket(self) -> KeyValue:
        if self._kv is None:
            raise RuntimeError("the lease bucket is not open; call start() first")
        return self._kv

    async def _request(self, request: Awaitable[T]) -> T:
        return await asyncio.wait_for(request, self._request_timeout)

    async def create(self, key: str, value: bytes) -> int:
        """Write `key` if it does not exist; its revision.

        Raises:
            KeyWrongLastSequenceError: The key exists.
        """
        return await self._request(self._bucket().create(key, value))

    async def update(self, key: str, value: bytes, revision: int) -> int:
        """Rewrite `key` if its revision is still `revision`; the new revision.

        Raises:
            KeyWrongLastSequenceError: Someone else wrote (or deleted) the key since.
        """
        return await self._request(self._bucket().update(key, value, last=revision))

    async def delete(self, key: str, revision: int) -> None:
        """Delete `key` if its revision is still `revision` (otherwise a ``BadRequestError``)."""
        await self._request(self._bucket().delete(key, last=revision))

    async def get(self, key: str) -> KeyValue.Entry | None:
        """The live entry of `key`, or None when it is absent, deleted or expired."""
        try:
            return await self._request(self._bucket().get(key))
        except KeyNotFoundError:
            return None

    async def snapshot(self) -> dict[str, KeyValue.Entry]:
        """Every live key with its value and revision.

        One ``STREAM.INFO`` lists the subjects, direct gets read them: no
        consumer is created, so snapshots every few seconds cost the server little.
        """
        info = await self._request(
            self._js.stream_info(f"KV_{self.name}", subjects_filter=f"{self.subject_prefix}>")
        )
        keys = [subject[len(self.subject_prefix) :] for subject in info.state.subjects or {}]
        entries = await asyncio.gather(*(self.get(key) for key in keys))
        return {entry.key: entry for entry in entries if entry is not None}
