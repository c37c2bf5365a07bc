"""Which partition a workflow id belongs to.

Every engine node, client and worker must map a workflow id to the same
partition, in every process and on every Python version, so the hash is
BLAKE2b of the UTF-8 bytes (Python's `hash()` is salted per process).
"""

from __future__ import annotations

import hashlib

__all__ = ["partition_of"]


def partition_of(workflow_id: str, partitions: int) -> int:
    """The partition (``0 <= p < partitions``) that owns `workflow_id`.

    The first 8 bytes of the BLAKE2b digest of the id, read as a big-endian
    integer, modulo `partitions`: stable everywhere, and spread evenly (the
    modulo bias of a 64-bit value is negligible for any partition count).

    Raises:
        ValueError: `partitions` is below 1.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, not {partitions}")
    digest = hashlib.blake2b(workflow_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions
