"""A consumer service that test_guarantees runs as its own process and kills with SIGKILL.

Each ``partners.PartnerApproved`` inserts one ``handled`` document (a fresh ``_id``, so a killed
transaction's uncommitted insert never blocks the restarted consumer) and emits nothing. When
``VIES_TEST_BLOCK_ON`` names the partner being handled, the handler writes ``VIES_TEST_BLOCKED_FILE``
and waits forever inside the transaction: the batch is received, partly handled, not committed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from vies_shared.events.partners import PartnerApproved
from vies_shared.messaging.consumer import HandlerContext
from vies_shared.service import ServiceDefinition, serve
from vies_shared.settings import ServiceSettings


async def on_approved(ctx: HandlerContext, event: PartnerApproved) -> None:
    """Record the event; block inside the transaction on the chosen partner (killed there)."""
    await ctx.uow["handled"].insert_one({"partner_id": event.partner_id, "ce_id": ctx.meta.id})
    if event.partner_id == os.environ.get("VIES_TEST_BLOCK_ON"):
        await asyncio.to_thread(Path(os.environ["VIES_TEST_BLOCKED_FILE"]).write_text, str(os.getpid()))
        await asyncio.sleep(3600)


DEFINITION = ServiceDefinition(name="missions", title="killable consumer", handlers=[on_approved])


if __name__ == "__main__":
    serve(DEFINITION, ServiceSettings(service="missions"))
