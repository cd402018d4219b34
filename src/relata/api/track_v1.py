"""track_v1 API (under construction in this change)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
