"""One trace in Jaeger from an application's HTTP request to the candidate's email.

Recruitment and notifications run as processes exporting to a real Jaeger (``OTEL_EXPORTER_OTLP_ENDPOINT``);
a candidate applies over HTTP; once the acknowledgement is in Mailpit, Jaeger's query API must hold one
trace with the request's server span, the relay's publish span (child of it), the notifications
consumer's span (child of that, across Kafka) and the SMTP send span (child of the consumer's).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from vies_dev.service_process import ServiceProcess, stop_all, wait_all_ready
from vies_dev.testing import free_port, wait_until
from vies_dev.testing.recruitment import candidate, position, publish
from vies_shared.events.partners import (
    AuthorityRegistered,
    PartnerApproved,
    PartnershipEstablished,
    SendingOrganisationRegistered,
)
from vies_shared.settings import ServiceSettings
from vies_shared.web import issue_token

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

APPLY = "POST /positions/{position_id}/applications"


@pytest_asyncio.fixture
async def services(
    vies_stack: Any, vies_jaeger: Any, topic_prefix: str, test_id: str, tmp_path: Path
) -> AsyncIterator[dict[str, ServiceProcess]]:
    common = {
        "VIES_KAFKA_BOOTSTRAP": vies_stack.kafka_bootstrap,
        "VIES_MONGODB_URI": vies_stack.mongodb_uri,
        "VIES_TOPIC_PREFIX": topic_prefix,
        "VIES_SMTP_HOST": vies_stack.smtp_host,
        "VIES_SMTP_PORT": str(vies_stack.smtp_port),
        "VIES_ENV": "dev",
        "VIES_RELAY_POLL_SECONDS": "0.05",
        "VIES_CONSUMER_BATCH_TIMEOUT_MS": "50",
        "VIES_DELIVERY_POLL_SECONDS": "0.2",
        "VIES_DRAIN_SECONDS": "5",
        "OTEL_EXPORTER_OTLP_ENDPOINT": vies_jaeger.otlp_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within the test's patience, not every 5 s
    }
    processes = {
        name: ServiceProcess(name, free_port(), {**common, "VIES_MONGODB_DB": f"t{test_id}_{name}"}, tmp_path / name)
        for name in ("recruitment", "notifications")
    }
    for process in processes.values():
        process.start()
    try:
        await asyncio.to_thread(wait_all_ready, list(processes.values()))
        yield processes
    finally:
        await asyncio.to_thread(stop_all, list(processes.values()), 20)


def auth(role: str, **scope: str) -> dict[str, str]:
    token = issue_token(ServiceSettings(), sub=f"{role}-1", role=role, **scope)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


async def seed_directory(bootstrap: str, prefix: str) -> None:
    """What partners would publish: an authority, an approved partner, their partnership, a sending organisation."""
    for event in (
        AuthorityRegistered(
            authority_id="auth-1",
            name="Région test",
            kind="region",
            region="FR-ARA",
            contact_email="international@region.example",
            territoires_volontaires=True,
        ),
        PartnerApproved(partner_id="partner-1"),
        PartnershipEstablished(
            partnership_id="ps-1",
            authority_id="auth-1",
            partner_id="partner-1",
            country="SN",
            themes=["water"],
            starts_on=date(2026, 1, 1),
        ),
        SendingOrganisationRegistered(
            organisation_id="org-1",
            name="Association d'envoi",
            approval_number="VSI-2025-01",
            approved_from=date(2025, 1, 1),
            approved_until=date(2029, 12, 31),
        ),
    ):
        await publish(bootstrap, prefix, event, "FR-ARA")


def find_trace(traces: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The trace holding request → publish → consume → SMTP send, each span the child of the one before."""
    for found in traces:
        spans = {span["spanID"]: span for span in found["spans"]}
        service = {pid: process["serviceName"] for pid, process in found["processes"].items()}

        def parent(span: dict[str, Any], spans: dict[str, dict[str, Any]] = spans) -> dict[str, Any] | None:
            refs = [r for r in span.get("references", []) if r["refType"] == "CHILD_OF"]
            return spans.get(refs[0]["spanID"]) if refs else None

        for send in (s for s in spans.values() if s["operationName"] == "smtp send"):
            consume = parent(send)
            relay = parent(consume) if consume else None
            request = parent(relay) if relay else None
            chain = [request, relay, consume, send]
            if None in chain:
                continue
            names = [(service[s["processID"]], s["operationName"]) for s in chain if s is not None]
            if names == [
                ("vies-recruitment", APPLY),
                ("vies-recruitment", "publish recruitment.ApplicationSubmitted"),
                ("vies-notifications", "process recruitment.ApplicationSubmitted"),
                ("vies-notifications", "smtp send"),
            ]:
                return found
    return None


async def test_one_trace_from_the_application_request_to_the_candidates_email(
    services: dict[str, ServiceProcess], vies_stack: Any, vies_jaeger: Any, topic_prefix: str, test_id: str
) -> None:
    await seed_directory(vies_stack.kafka_bootstrap, topic_prefix)
    mayor = auth("authority", authority_id="auth-1", region="FR-ARA")
    email = f"trace-{test_id}@example.org"
    async with httpx.AsyncClient(base_url=services["recruitment"].url, timeout=30) as recruitment:

        async def drafted() -> str | None:
            # 409/422 until recruitment has projected the partners directory's events.
            response = await recruitment.post("/positions", json=position(), headers=mayor)
            return str(response.json()["position_id"]) if response.status_code == 201 else None

        position_id = await wait_until(drafted, timeout=60, message="position drafted")
        published = await recruitment.post(f"/positions/{position_id}/publish", headers=mayor)
        assert published.status_code == 200, published.text
        applied = await recruitment.post(
            f"/positions/{position_id}/applications", json=candidate("Awa Diallo", email), headers=auth("staff")
        )
        assert applied.status_code == 201, applied.text

    async with httpx.AsyncClient(timeout=10) as http:

        async def mailed() -> bool:
            r = await http.get(f"{vies_stack.mailpit_url}/api/v1/search", params={"query": f"to:{email}"})
            return bool(r.json().get("messages"))

        await wait_until(mailed, timeout=60, message=f"the acknowledgement to {email}")

        async def traced() -> dict[str, Any] | None:
            r = await http.get(
                f"{vies_jaeger.url}/api/traces",
                params={"service": "vies-recruitment", "operation": APPLY, "limit": 20, "lookback": "1h"},
            )
            return find_trace(r.json().get("data") or []) if r.status_code == 200 else None

        trace = await wait_until(traced, timeout=30, message="the application's trace in Jaeger")
    # The trace also holds the database commands of the request and of the handler (PyMongo).
    assert any(span["operationName"].startswith("insert ") for span in trace["spans"])
