"""The whole journey end to end: four services as separate processes, real Kafka and MongoDB, HTTP only.

An authority registers, a partner registers and is approved, matching suggests
it, a partnership is established, a position is published, three candidates
apply (one ineligible), one is selected and engaged, a mission is planned and
started, a check-in is missed, a security alert is issued and answered, the
mission ends. At each step: the events on the topics, the mail received by the
SMTP server, the regional view of FR-ARA (and that FR-IDF's consumer saw
nothing), and the authority's Territoires Volontaires journey.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from vies_dev.service_process import ServiceProcess, stop_all, wait_all_ready
from vies_dev.testing import KafkaProbe, free_port, wait_until
from vies_dev.testing.helpers import running
from vies_shared.events.topics import events_topic
from vies_shared.regional.app import create as create_regional
from vies_shared.regional.report import summarise
from vies_shared.regional.settings import RegionalSettings
from vies_shared.regional.store import JOURNAL
from vies_shared.settings import ServiceSettings
from vies_shared.storage import create_mongo_client
from vies_shared.web import issue_token

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SERVICES = ("partners", "recruitment", "missions", "notifications")


class SmsProvider:
    """A real local HTTP server standing in for the SMS provider; it keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                provider.received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "queued"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def sms() -> Iterator[SmsProvider]:
    provider = SmsProvider()
    yield provider
    provider.close()


class Platform:
    """The four services as processes, HTTP clients with tokens, probes on every topic."""

    def __init__(self, stack: Any, prefix: str, test_id: str, sms: SmsProvider, logs: Path) -> None:
        self.stack = stack
        self.sms = sms
        self.prefix = prefix
        self.test_id = test_id
        self.settings = ServiceSettings()
        common = {
            "VIES_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "VIES_MONGODB_URI": stack.mongodb_uri,
            "VIES_TOPIC_PREFIX": prefix,
            "VIES_SMTP_HOST": stack.smtp_host,
            "VIES_SMTP_PORT": str(stack.smtp_port),
            "VIES_ENV": "dev",
            "VIES_JWT_SECRET": self.settings.jwt_secret,
            "VIES_LOG_LEVEL": "INFO",
            "VIES_RELAY_POLL_SECONDS": "0.05",
            "VIES_CONSUMER_BATCH_TIMEOUT_MS": "50",
            "VIES_RETRY_MAX_SECONDS": "2",
            "VIES_DRAIN_SECONDS": "10",
            # missions: a check-in every 4 s, scanned every 0.5 s, so a missed one shows within the test
            "VIES_CHECK_IN_INTERVAL_SECONDS": "4",
            "VIES_CHECK_IN_SCAN_SECONDS": "0.5",
            "VIES_SAFETY_DEADLINE_SCAN_SECONDS": "0.5",
            # notifications: deliver quickly, through the local SMS provider
            "VIES_SMS_PROVIDER_URL": sms.url,
            "VIES_DELIVERY_POLL_SECONDS": "0.2",
            "VIES_DELIVERY_RETRY_INITIAL_SECONDS": "1",
        }
        self.processes = {
            name: ServiceProcess(
                name, free_port(), {**common, "VIES_MONGODB_DB": f"t{test_id}_{name}"}, logs / f"{name}.log"
            )
            for name in SERVICES
        }
        self.http = {name: httpx.AsyncClient(base_url=p.url, timeout=30) for name, p in self.processes.items()}
        self.probe = KafkaProbe(stack.kafka_bootstrap, [events_topic(s, prefix) for s in SERVICES])

    def auth(self, role: str, sub: str = "e2e", **scope: str) -> dict[str, str]:
        token = issue_token(self.settings, sub=sub, role=role, **scope)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    async def call(self, service: str, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        response = await self.http[service].request(method, path, headers=headers, **kw)
        assert response.status_code in (200, 201), f"{method} {service}{path}: {response.status_code} {response.text}"
        return response.json()

    async def until_ok(self, service: str, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        """Retry a command that depends on a projection still catching up (409/404 until the event arrives)."""

        async def attempt() -> Any:
            response = await self.http[service].request(method, path, headers=headers, **kw)
            if response.status_code in (200, 201):
                return response.json()
            assert response.status_code in (404, 409), f"{path}: {response.status_code} {response.text}"
            return None

        return await wait_until(attempt, timeout=60, message=f"{method} {service}{path}")

    async def events(self, ce_type: str, count: int = 1, **where: Any) -> list[dict[str, Any]]:
        def match(event: dict[str, Any]) -> bool:
            return all(event["value"].get(k) == v for k, v in where.items())

        return await self.probe.wait_for(ce_type, count, where=match, timeout=60)

    async def mail_to(self, address: str, count: int = 1) -> list[dict[str, Any]]:
        """Messages Mailpit received for ``address`` (waits for ``count`` of them)."""
        async with httpx.AsyncClient(base_url=self.stack.mailpit_url, timeout=10) as mailpit:

            async def found() -> list[dict[str, Any]] | None:
                r = await mailpit.get("/api/v1/search", params={"query": f"to:{address}", "limit": 50})
                messages: list[dict[str, Any]] = r.json().get("messages", [])
                return messages if len(messages) >= count else None

            result: list[dict[str, Any]] = await wait_until(found, timeout=60, message=f"{count} mail(s) to {address}")
            return result

    async def close(self) -> None:
        for client in self.http.values():
            await client.aclose()
        await asyncio.to_thread(stop_all, list(self.processes.values()), 20)


@pytest_asyncio.fixture
async def platform(
    vies_stack: Any, topic_prefix: str, test_id: str, sms: SmsProvider, tmp_path: Path
) -> AsyncIterator[Platform]:
    p = Platform(vies_stack, topic_prefix, test_id, sms, tmp_path / "logs")
    for process in p.processes.values():
        process.start()
    try:
        await asyncio.to_thread(wait_all_ready, list(p.processes.values()), 180)
        yield p
    finally:
        await p.close()
        client = create_mongo_client(vies_stack.mongodb_uri)
        for name in SERVICES:
            await client.drop_database(f"t{test_id}_{name}")
        await client.close()


async def journey_step(p: Platform, authority_id: str, step: str, headers: dict[str, str]) -> str:
    """Wait until the authority's journey shows ``step`` reached; returns its date."""

    async def reached() -> str | None:
        journey = await p.call("partners", "GET", f"/authorities/{authority_id}/journey", headers)
        date_ = next(s["date"] for s in journey["steps"] if s["step"] == step)
        return None if date_ == "pending" else str(date_)

    result: str = await wait_until(reached, timeout=60, message=f"journey step {step}")
    return result


async def in_regional_view(harness: Any, ce_type: str, subject: str) -> None:
    """Wait until a regional consumer's journal holds the event ``ce_type`` about ``subject``."""

    async def kept() -> bool:
        return bool(await harness.runtime.db[JOURNAL].count_documents({"type": ce_type, "subject": subject}))

    await wait_until(kept, timeout=60, message=f"{ce_type} {subject} in the regional view")


async def test_the_whole_journey(platform: Platform, vies_settings: Any, test_id: str) -> None:
    p = platform
    staff = p.auth("staff")
    today = date.today()
    authority_mail = f"e2e-{test_id}-mairie@example.org"
    regional = {
        region: vies_settings("regional", RegionalSettings, region=region, mongodb_db=f"t{test_id}_regional_{region}")
        for region in ("FR-ARA", "FR-IDF")
    }
    async with (
        running(create_regional(regional["FR-ARA"]), regional["FR-ARA"]) as ara,
        running(create_regional(regional["FR-IDF"]), regional["FR-IDF"]) as idf,
    ):
        # 1. An authority registers (staff, on its behalf).
        authority = await p.call(
            "partners",
            "POST",
            "/authorities",
            staff,
            json={
                "name": f"Commune de Villeurbanne {test_id}",
                "kind": "commune",
                "region": "FR-ARA",
                "contact": {"name": "Service relations internationales", "email": authority_mail},
                "territoires_volontaires": True,
                "new_to_cooperation": True,
            },
        )
        authority_id = authority["authority_id"]
        [registered] = await p.events("partners.AuthorityRegistered", authority_id=authority_id)
        assert registered["headers"]["ce_region"] == "FR-ARA"
        mayor = p.auth("authority", sub="agent-1", authority_id=authority_id, region="FR-ARA")
        assert await journey_step(p, authority_id, "registered", mayor)
        await in_regional_view(ara, "partners.AuthorityRegistered", authority_id)

        # 2. A partner registers (pending) and the Volunteering Centre of Senegal approves it.
        partner = await p.call(
            "partners",
            "POST",
            "/partners",
            staff,
            json={
                "name": f"Association Santé Pour Tous {test_id}",
                "kind": "association",
                "country": "SN",
                "city": "Thiès",
                "themes": ["health"],
                "languages": ["fr", "wo"],
                "hosting_capacity": 2,
            },
        )
        partner_id = partner["partner_id"]
        assert partner["status"] == "pending"
        centre = p.auth("centre", sub="centre-sn", country="SN")
        approved = await p.call("partners", "POST", f"/partners/{partner_id}/approve", centre, json={})
        assert approved["status"] == "approved"
        await p.events("partners.PartnerApproved", partner_id=partner_id)

        # 3. Matching suggests it.
        match = await p.call(
            "partners",
            "POST",
            "/match-requests",
            mayor,
            json={"authority_id": authority_id, "countries": ["SN"], "themes": ["health"], "languages": ["fr"]},
        )
        suggestion = next(s for s in match["suggestions"] if s["partner_id"] == partner_id)
        assert 0 < suggestion["score"] <= 1 and suggestion["reasons"]
        await p.events("partners.MatchesProposed", request_id=match["request_id"])
        await p.mail_to(authority_mail, 1)  # the proposal

        # 4. A partnership is established.
        partnership = await p.call(
            "partners",
            "POST",
            "/partnerships",
            mayor,
            json={
                "authority_id": authority_id,
                "partner_id": partner_id,
                "themes": ["health"],
                "starts_on": today.isoformat(),
            },
        )
        partnership_id = partnership["partnership_id"]
        await p.events("partners.PartnershipEstablished", partnership_id=partnership_id)
        assert await journey_step(p, authority_id, "partner_found", mayor)
        await in_regional_view(ara, "partners.PartnershipEstablished", partnership_id)
        await p.mail_to(authority_mail, 2)  # the partnership

        # 5. A Service Civique position is drafted and published (once recruitment has the partnership).
        starts_on = today + timedelta(days=45)
        position = await p.until_ok(
            "recruitment",
            "POST",
            "/positions",
            mayor,
            json={
                "partnership_id": partnership_id,
                "scheme": "service_civique",
                "title": "Volontaire en promotion de la santé communautaire",
                "description": "Appui aux campagnes de prévention avec l'équipe de Thiès.",
                "starts_on": starts_on.isoformat(),
                "duration_months": 8,
                "places": 1,
                "languages": ["fr"],
                "skills": ["santé publique"],
            },
        )
        position_id = position["position_id"]
        await p.until_ok("recruitment", "POST", f"/positions/{position_id}/publish", mayor)
        [published] = await p.events("recruitment.PositionPublished", position_id=position_id)
        assert published["headers"]["ce_region"] == "FR-ARA"
        assert await journey_step(p, authority_id, "position_published", mayor)
        await in_regional_view(ara, "recruitment.PositionPublished", position_id)

        # 6. Three candidates apply; one is too old for Service Civique.
        def candidate(name: str, born: date) -> dict[str, Any]:
            return {
                "candidate": {
                    "name": name,
                    "email": f"e2e-{test_id}-{name.split(maxsplit=1)[0].lower()}@example.org",
                    "phone": "+33600000001",
                    "birth_date": born.isoformat(),
                    "nationality": "FR",
                    "residence_country": "FR",
                    "language": "fr",
                    "languages": ["fr"],
                    "skills": ["santé publique"],
                },
                "motivation": "Je souhaite m'engager dans la prévention santé.",
            }

        applications = {}
        for name, age in (("Awa Diallo", 22), ("Louis Martin", 24), ("Jeanne Petit", 40)):
            born = date(starts_on.year - age, 3, 1)
            applications[name] = await p.call(
                "recruitment", "POST", f"/positions/{position_id}/applications", staff, json=candidate(name, born)
            )
        ineligible = applications["Jeanne Petit"]
        assert ineligible["eligible"] is False or ineligible.get("status") == "ineligible", ineligible
        chosen = applications["Awa Diallo"]
        application_id = chosen["application_id"]
        volunteer_id = chosen["candidate_id"]
        await p.events("recruitment.ApplicationSubmitted", 3, position_id=position_id)
        screened = await p.events("recruitment.ApplicationScreened", 3)
        assert (
            next(e for e in screened if e["value"]["application_id"] == ineligible["application_id"])["value"][
                "eligible"
            ]
            is False
        )
        # The ineligible candidate is told why, and the authority hears of the applications.
        assert len(await p.mail_to(f"e2e-{test_id}-jeanne@example.org", 2)) == 2  # acknowledgement, reasons
        await p.mail_to(authority_mail, 5)  # three new applications
        # Personal data stays out of the events topics.
        raw = json.dumps([e["value"] for e in await p.probe.events()])
        assert "Awa Diallo" not in raw and f"e2e-{test_id}-awa@example.org" not in raw

        # 7. Shortlist, interview, select, engage.
        await p.call("recruitment", "POST", f"/applications/{application_id}/shortlist", mayor)
        interview_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
        await p.call(
            "recruitment",
            "POST",
            f"/applications/{application_id}/interview",
            mayor,
            json={"at": interview_at.isoformat()},
        )
        await p.call("recruitment", "POST", f"/applications/{application_id}/select", mayor)
        ends_on = starts_on + timedelta(days=240)
        await p.call(
            "recruitment",
            "POST",
            f"/applications/{application_id}/engage",
            mayor,
            json={"starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()},
        )
        [engaged] = await p.events("recruitment.VolunteerEngaged", application_id=application_id)
        assert engaged["value"]["volunteer_id"] == volunteer_id
        assert await journey_step(p, authority_id, "candidate_selected", mayor)
        assert await journey_step(p, authority_id, "volunteer_engaged", mayor)
        await in_regional_view(ara, "recruitment.VolunteerEngaged", engaged["value"]["engagement_id"])
        # acknowledgement, interview, selection, welcome; the authority hears of the engagement
        await p.mail_to(f"e2e-{test_id}-awa@example.org", 4)
        await p.mail_to(authority_mail, 6)

        # 8. The mission is planned from the engagement; the checklist is ticked; the volunteer departs.
        [planned] = await p.events("missions.MissionPlanned", engagement_id=engaged["value"]["engagement_id"])
        mission_id = planned["value"]["mission_id"]
        assert planned["value"]["centre_id"] == "ev-sn"
        for item in ("training", "insurance", "visa", "travel_registration", "emergency_contact"):
            await p.call(
                "missions",
                "POST",
                f"/missions/{mission_id}/checklist",
                centre,
                json={"item": item, "done_on": today.isoformat()},
            )
        await p.call(
            "missions", "POST", f"/missions/{mission_id}/start", centre, json={"departed_on": today.isoformat()}
        )
        await p.events("missions.MissionStarted", mission_id=mission_id)
        assert await journey_step(p, authority_id, "mission_started", mayor)
        await in_regional_view(ara, "missions.MissionStarted", mission_id)

        # 9. No check-in within the interval: a CheckInMissed.
        await p.events("missions.CheckInMissed", mission_id=mission_id)
        await in_regional_view(ara, "missions.CheckInMissed", mission_id)
        await p.mail_to(f"e2e-{test_id}-awa@example.org", 5)  # a check-in reminder
        volunteer = p.auth("volunteer", sub=volunteer_id)
        await p.call(
            "missions", "POST", f"/missions/{mission_id}/check-ins", volunteer, json={"status": "ok", "note": "RAS"}
        )

        # 10. A security alert in Senegal; the volunteer answers safe; the check closes with nobody unaccounted.
        alert = await p.call(
            "missions",
            "POST",
            "/security-alerts",
            centre,
            json={
                "country": "SN",
                "level": "vigilance",
                "message": "Manifestations à Dakar",
                "respond_within_hours": 6,
            },
        )
        alert_id = alert["alert_id"]
        await p.events("missions.SecurityAlertIssued", alert_id=alert_id)
        await in_regional_view(ara, "missions.SafetyCheckOpened", alert_id)  # the branch sees its region's part
        status = await p.call("missions", "GET", f"/security-alerts/{alert_id}", centre)
        assert [m["mission_id"] for m in status["unaccounted"]] == [mission_id]
        await p.call(
            "missions",
            "POST",
            f"/security-alerts/{alert_id}/responses",
            volunteer,
            json={"mission_id": mission_id, "status": "safe"},
        )
        await p.call("missions", "POST", f"/security-alerts/{alert_id}/close", centre)
        [closed] = await p.events("missions.SafetyCheckClosed", alert_id=alert_id)
        assert closed["value"]["unaccounted_mission_ids"] == []
        await in_regional_view(ara, "missions.SafetyCheckClosedInRegion", alert_id)
        # The volunteer was asked by SMS and email.
        await wait_until(
            lambda: any(m["to"] == "+33600000001" for m in p.sms.received), timeout=60, message="alert SMS"
        )

        # 11. The mission ends.
        await p.call(
            "missions",
            "POST",
            f"/missions/{mission_id}/end",
            centre,
            json={"ended_on": today.isoformat(), "debrief": "Mission écourtée pour le test de bout en bout."},
        )
        await p.events("missions.MissionEnded", mission_id=mission_id)
        assert await journey_step(p, authority_id, "mission_ended", mayor)
        await in_regional_view(ara, "missions.MissionEnded", mission_id)
        # The volunteer is thanked (after at least the alert and the reminder); the authority told, once each.
        await p.mail_to(f"e2e-{test_id}-awa@example.org", 7)
        assert len(await p.mail_to(authority_mail, 7)) == 7

        # Every delivery was logged and reported as sent; none failed.
        await p.events("notifications.NotificationSent", 5)

        # The FR-ARA branch sees its region's story; the FR-IDF branch saw none of it.
        async def ara_view() -> dict[str, Any] | None:
            view = await summarise(ara.runtime.db)
            by_type = view["events"]["by_type"]
            return view if by_type.get("missions.MissionEnded") else None

        view = await wait_until(ara_view, timeout=60, message="FR-ARA regional view")
        assert view["positions"] and view["applications"]
        assert view["missions"].get("SN")
        idf_view = await summarise(idf.runtime.db)
        assert idf_view["events"]["kept"] == 0
