"""The personal one-tap safety answer link in a volunteer's security-alert and reminder messages.

Minted here, when a message is rendered for one volunteer, never before: no event and no
stored notification holds it (the missions service verifies it; see ``vies_shared.safety_link``
and the missions README for why). The link is ``VIES_SAFETY_CHECK_URL`` with ``{token}``
replaced, the portal's short answer page. When no personal link can be made (the event
names no mission of this volunteer, or links are off: no ``VIES_SAFETY_LINK_KEYS`` outside
dev), the message links ``VIES_SAFETY_CHECK_SIGNED_IN_URL`` instead, where the volunteer
answers after signing in.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from vies_notifications import store
from vies_notifications.domain import routing
from vies_notifications.settings import NotificationsSettings
from vies_shared import safety_link
from vies_shared.logging import get_logger

Document = dict[str, Any]
log = get_logger(component="answer-links")


def check_settings(settings: NotificationsSettings) -> None:
    """At start-up of a process that delivers: refuse a published or short key (``InsecureSettings``); say so
    when links are off."""
    if settings.runs_workers and not safety_link.check_keys(settings.safety_link_keys, settings.env):
        log.warning("safety answer links are off: VIES_SAFETY_LINK_KEYS is not set")


async def alert_url(
    db: AsyncDatabase[Document], settings: NotificationsSettings, context: Document, recipient: Document
) -> str:
    """The link of an alert or reminder message to ``recipient``: personal when it can be, else the signed-in page."""
    alert_id = str(context["alert_id"])
    personal = await _personal_link(db, settings, alert_id, context.get("mission_ids") or [], recipient)
    return personal or settings.safety_check_signed_in_url.replace("{alert_id}", alert_id)


async def _personal_link(
    db: AsyncDatabase[Document],
    settings: NotificationsSettings,
    alert_id: str,
    mission_ids: list[str],
    recipient: Document,
) -> str | None:
    if recipient.get("role") != routing.VOLUNTEER or recipient.get("kind") != "person" or not mission_ids:
        return None
    keys = safety_link.keys_from(settings.safety_link_keys, settings.env)
    if not keys:
        return None
    # The volunteer's own mission among those the check asks (the projection of missions.MissionPlanned).
    # Looked up by volunteer (a handful of missions) and matched here: an alert lists every mission of
    # a country, and a query with that list costs the database per message sent.
    asked = {str(m) for m in mission_ids}
    cursor = db[store.MISSIONS].find({"volunteer_id": recipient.get("id")}, {"_id": 1})
    theirs = sorted([str(doc["_id"]) async for doc in cursor if str(doc["_id"]) in asked])
    if not theirs:
        return None
    token = safety_link.mint(keys, alert_id, theirs[0])
    return settings.safety_check_url.replace("{token}", token).replace("{alert_id}", alert_id)
