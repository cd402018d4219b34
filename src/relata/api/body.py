"""Reading request bodies: size limits, gzip, and JSON errors that name the problem."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Request

from relata.core.errors import ValidationError


async def read_json(request: Request, limit: int, *, required: bool = True) -> Any:
    """The parsed JSON body; 413 past ``limit`` bytes (after gzip), 400 when it is not JSON."""
    raw = await request.body()
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate"):
        raw = _inflate(raw, encoding, limit)
    elif encoding not in ("", "identity"):
        raise ValidationError("content-encoding", f"unsupported encoding {encoding!r}")
    if len(raw) > limit:
        raise ValidationError("body", f"is larger than {limit} bytes", "too_large")
    if not raw.strip():
        if required:
            raise ValidationError("body", "is empty; expected a JSON object")
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError("body", f"is not valid JSON: {exc}", "malformed_json") from None


def _inflate(raw: bytes, encoding: str, limit: int) -> bytes:
    try:
        inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        out = inflater.decompress(raw, limit + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise ValidationError("body", f"is not valid {encoding} data: {exc}") from None
    if len(out) > limit:
        raise ValidationError("body", f"is larger than {limit} bytes", "too_large")
    return out


def require_object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(path, "must be a JSON object")
    return value
