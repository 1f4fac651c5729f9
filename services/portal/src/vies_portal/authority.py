"""The authority officer's pages (dashboard, partners, positions, pipeline, missions)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
