"""A whole payload (metadata and data) as one byte string, and back.

The codec encrypts this form, so the original metadata (its encoding, other
codecs' marks) is hidden and authenticated with the data, and decoding gives
back exactly the payload that was encoded.

Layout: format version (1 byte), metadata JSON length (4 bytes, big-endian),
metadata as UTF-8 JSON, then the data.
"""

from __future__ import annotations

import json
import struct

from aion_core.events import Payload

__all__ = ["payload_from_bytes", "payload_to_bytes"]

_FORMAT = 1
_HEADER = struct.Struct(">BI")


def payload_to_bytes(payload: Payload) -> bytes:
    """`payload` as bytes that `payload_from_bytes` turns back into an equal payload."""
    metadata = json.dumps(payload.metadata, ensure_ascii=False, separators=(",", ":"))
    encoded = metadata.encode()
    return _HEADER.pack(_FORMAT, len(encoded)) + encoded + payload.data


def payload_from_bytes(serialised: bytes) -> Payload:
    """The payload `payload_to_bytes` made `serialised` from.

    Raises:
        ValueError: `serialised` is not in that form (it says how, not what it holds).
    """
    if len(serialised) < _HEADER.size:
        raise ValueError("too short to hold a payload")
    version, length = _HEADER.unpack_from(serialised)
    if version != _FORMAT:
        raise ValueError(f"payload format {version} is not one this version reads")
    end = _HEADER.size + length
    if end > len(serialised):
        raise ValueError("the metadata runs past the end")
    try:
        metadata = json.loads(serialised[_HEADER.size : end].decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("the metadata is not JSON") from None
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ValueError("the metadata is not a map of strings")
    return Payload(metadata=metadata, data=serialised[end:])
