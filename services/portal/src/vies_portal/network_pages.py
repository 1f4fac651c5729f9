"""The network's pages for the app to mount: duty officer, regional branch, head office."""

from __future__ import annotations

from vies_portal import branch, duty, head_office

ROUTERS = (duty.router, branch.router, head_office.router)
