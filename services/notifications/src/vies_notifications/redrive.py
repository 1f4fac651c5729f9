"""Re-drive failed notifications: put them back in the queue after the cause is fixed.

``vies notifications redrive --since 2026-12-01T08:00 [--category safety]``: every email and SMS
that failed since then (of that category) goes back to ``pending`` with its attempts reset; the
delivery worker sends them on its next pass. Webhook deliveries are left alone (their body is not
kept once they end), and so are messages to erased persons.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from vies_notifications import store
from vies_notifications.domain.delivery import FAILED, PENDING

notifications_app = typer.Typer(help="Operate the notifications service.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``vies notifications ...`` to the kit's ``vies`` command (its ``vies.commands`` entry point)."""
    app.add_typer(notifications_app, name="notifications", help="Re-drive failed notifications.")


def failed_since(since: datetime, category: str | None) -> dict[str, Any]:
    """The query of the failed emails and SMS a re-drive puts back in the queue."""
    query: dict[str, Any] = {
        "status": FAILED,
        "failed_at": {"$gte": since},
        "channel": {"$in": ["email", "sms"]},
        "recipient.id": {"$ne": "erased"},
    }
    if category:
        query["category"] = {"$in": ["safety", "security"]} if category == "safety" else category
    return query


async def redrive(db: Any, *, since: datetime, category: str | None, now: datetime | None = None) -> int:
    """Re-queue the failed notifications matching ``since`` and ``category``; returns how many.

    ``category`` ``safety`` covers both mandatory categories (safety and security).
    """
    now = now or datetime.now(UTC)
    result = await db[store.NOTIFICATIONS].update_many(
        failed_since(since, category),
        {
            "$set": {"status": PENDING, "attempts": 0, "next_attempt_at": now, "redriven_at": now, "updated_at": now},
            "$unset": {"failed_at": ""},
        },
    )
    return int(result.modified_count)


@notifications_app.command("redrive")
def redrive_command(
    since: Annotated[datetime, typer.Option(help="failed at or after this moment (ISO 8601, UTC if no offset)")],
    category: Annotated[str | None, typer.Option(help="only this category (safety = safety and security)")] = None,
    db: Annotated[str | None, typer.Option("--db", help="database (default: vies_notifications)")] = None,
) -> None:
    """Put failed emails and SMS back in the send queue (after an SMTP or SMS outage, or fixed credentials)."""
    from vies_notifications.settings import NotificationsSettings
    from vies_shared.storage import create_mongo_client

    settings = NotificationsSettings()
    moment = since if since.tzinfo else since.replace(tzinfo=UTC)

    async def run() -> int:
        client = create_mongo_client(settings.mongodb_uri)
        try:
            return await redrive(client[db or settings.mongodb_db], since=moment, category=category)
        finally:
            await client.close()

    count = asyncio.run(run())
    typer.echo(f"re-queued {count} failed notification(s) since {moment.isoformat()}")
