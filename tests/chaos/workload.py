"""A steady mixed workload through the services' HTTP APIs, keeping a ledger of what was acknowledged.

Each worker plays whole journeys: an authority and a partner register, the partner is approved, a
partnership, a position published, two applications, one candidate shortlisted, interviewed,
selected and engaged, the mission planned (by missions, from the event), prepared, started,
checked in, ended for every second journey. Another loop issues security alerts in the
journeys' countries, answers some for the volunteers and closes them.

Every command is recorded as an :class:`~chaos.checker.Ack`: ``acked`` on a 2xx, ``uncertain``
when no answer came (connection cut, timeout) or a 5xx (it may have been applied). A command
refused before it was sent (connection refused: the process is down) is tried on another
replica, or again a moment later. State changes whose answer was lost are repeated; a 409 then
means the first attempt went through.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from chaos.checker import Ack, Directory
from vies_shared.settings import ServiceSettings
from vies_shared.tokens import issue_token

COUNTRIES = ("SN", "BJ")
REGIONS = ("FR-ARA", "FR-IDF")
CHECKLIST = ("training", "insurance", "visa", "travel_registration", "emergency_contact")


class Unanswered(Exception):
    """A command whose outcome is unknown, or that could not be sent for too long: the journey stops here."""


@dataclass
class Workload:
    """The workload's HTTP clients, tokens, ledger and counters."""

    urls: dict[str, list[str]]
    run_id: str
    settings: ServiceSettings
    rng: random.Random
    acks: list[Ack] = field(default_factory=list)
    directory: Directory = field(default_factory=Directory)
    counts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    missions_started: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # country -> (mission, volunteer)
    latencies: list[float] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=2.0))

    def token(self, role: str, sub: str = "chaos", **scope: str) -> dict[str, str]:
        """A development token (the services run with ``VIES_ENV=dev``)."""
        return {"Authorization": f"Bearer {issue_token(self.settings, sub=sub, role=role, **scope)}"}  # type: ignore[arg-type]

    def number(self) -> int:
        """A number unique in this run (names, addresses, phones)."""
        return next(self._numbers)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    # ------------------------------------------------------------------ commands

    async def send(
        self,
        service: str,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        json: Any = None,
        effect: tuple[str, str, str | None] | None = None,
        id_from: str | None = None,
        wait_for_state: bool = False,
        repeatable: bool = False,
        patience: float = 180.0,
    ) -> dict[str, Any]:
        """Send one command until it is acknowledged; record it in the ledger.

        ``effect`` = (event type, id field, id) it must cause (the id read from the answer's
        ``id_from`` when None). ``wait_for_state``: a 404/409 means a projection is still catching
        up, so try again. ``repeatable``: sending it twice does no harm (a checklist tick), so an
        unanswered one is sent again. Raises :class:`Unanswered` when it cannot know or cannot get through.
        """
        deadline = time.monotonic() + patience
        uncertain = 0
        op = f"{method} {service}{_shape(path)}"
        while True:
            replicas = list(self.urls[service])
            self.rng.shuffle(replicas)
            response: httpx.Response | None = None
            for base in replicas:
                started = time.monotonic()
                try:
                    response = await self.client.request(method, base + path, headers=headers, json=json)
                    self.latencies.append(time.monotonic() - started)
                    break
                except httpx.ConnectError:
                    continue  # not sent: that replica is down
                except httpx.HTTPError as exc:
                    # Sent, no answer: it may have been applied.
                    self.errors[f"{op}: {type(exc).__name__}"] += 1
                    response = None
                    uncertain += 1
                    self._uncertain(effect)
                    break
            if response is not None and response.status_code < 300:
                self.counts[op] += 1
                body: dict[str, Any] = response.json() if response.content else {}
                if effect is not None:
                    ce_type, name, value = effect
                    value = value if value is not None else str(body[id_from or name])
                    self.acks.append(Ack(next(self._seq), ce_type, name, value))
                return body
            if response is not None and response.status_code >= 500:
                self.errors[f"{op}: {response.status_code}"] += 1
                uncertain += 1
                self._uncertain(effect)
            elif response is not None and response.status_code == 409 and uncertain and (repeatable or effect):
                # An earlier attempt whose answer was lost went through.
                self.counts[f"{op} (done by an unanswered attempt)"] += 1
                return {}
            elif response is not None and response.status_code in (404, 409) and wait_for_state:
                pass
            elif response is not None:
                self.errors[f"{op}: {response.status_code} {response.text[:120]}"] += 1
                raise Unanswered(f"{op}: {response.status_code}")
            if uncertain and not repeatable and (effect is None or effect[2] is None):
                raise Unanswered(f"{op}: outcome unknown (a create is not repeated)")
            if time.monotonic() > deadline:
                self.errors[f"{op}: gave up after {patience:.0f}s"] += 1
                raise Unanswered(f"{op}: gave up")
            await asyncio.sleep(1.0)

    def _uncertain(self, effect: tuple[str, str, str | None] | None) -> None:
        if effect is not None and effect[2] is not None:
            self.acks.append(Ack(next(self._seq), effect[0], effect[1], effect[2], "uncertain"))
        else:
            self.counts["unanswered commands without an expected event id"] += 1

    async def read(self, service: str, path: str, headers: dict[str, str], patience: float = 180.0) -> Any:
        """A GET on any replica that answers, retried until it answers 200."""
        deadline = time.monotonic() + patience
        while True:
            for base in self.urls[service]:
                try:
                    response = await self.client.get(base + path, headers=headers)
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    return response.json()
            if time.monotonic() > deadline:
                raise Unanswered(f"GET {service}{_shape(path)}: gave up")
            await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ journeys

    async def journey(self) -> None:
        """One authority's whole story, from registration to the end of its volunteer's mission."""
        n = self.number()
        staff = self.token("staff")
        region = REGIONS[n % len(REGIONS)]
        country = COUNTRIES[n % len(COUNTRIES)]
        today = date.today()
        authority_mail = f"chaos-{self.run_id}-a{n}@example.org"
        authority = await self.send(
            "partners",
            "POST",
            "/authorities",
            staff,
            json={
                "name": f"Commune chaos {self.run_id} {n}",
                "kind": "commune",
                "region": region,
                "contact": {"name": "Relations internationales", "email": authority_mail},
            },
            effect=("partners.AuthorityRegistered", "authority_id", None),
        )
        authority_id = authority["authority_id"]
        self.directory.authority_email[authority_id] = authority_mail
        mayor = self.token("authority", sub=f"agent-{n}", authority_id=authority_id, region=region)
        partner_mail = f"chaos-{self.run_id}-p{n}@example.org"
        partner = await self.send(
            "partners",
            "POST",
            "/partners",
            staff,
            json={
                "name": f"Association chaos {self.run_id} {n}",
                "kind": "association",
                "country": country,
                "city": "Thiès" if country == "SN" else "Cotonou",
                "themes": ["health"],
                "languages": ["fr"],
                "hosting_capacity": 2,
                "contact_email": partner_mail,
            },
            effect=("partners.PartnerRegistered", "partner_id", None),
        )
        partner_id = partner["partner_id"]
        self.directory.partner_email[partner_id] = partner_mail
        centre = self.token("centre", sub=f"centre-{country.lower()}", country=country)
        await self.send(
            "partners",
            "POST",
            f"/partners/{partner_id}/approve",
            centre,
            json={},
            effect=("partners.PartnerApproved", "partner_id", partner_id),
        )
        partnership = await self.send(
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
            effect=("partners.PartnershipEstablished", "partnership_id", None),
        )
        starts_on = today + timedelta(days=45)
        position = await self.send(
            "recruitment",
            "POST",
            "/positions",
            mayor,
            json={
                "partnership_id": partnership["partnership_id"],
                "scheme": "service_civique",
                "title": f"Volontaire santé {n}",
                "description": "Appui aux campagnes de prévention.",
                "starts_on": starts_on.isoformat(),
                "duration_months": 8,
                "places": 1,
                "languages": ["fr"],
                "skills": ["santé publique"],
            },
            wait_for_state=True,  # recruitment learns the partnership from its event
        )
        position_id = position["position_id"]
        await self.send(
            "recruitment",
            "POST",
            f"/positions/{position_id}/publish",
            mayor,
            effect=("recruitment.PositionPublished", "position_id", position_id),
            wait_for_state=True,
        )
        chosen: dict[str, Any] | None = None
        for k in range(2):
            m = self.number()
            email = f"chaos-{self.run_id}-c{m}@example.org"
            phone = f"+3370{m:07d}"
            application = await self.send(
                "recruitment",
                "POST",
                f"/positions/{position_id}/applications",
                staff,
                json={
                    "candidate": {
                        "name": f"Candidat Chaos {m}",
                        "email": email,
                        "phone": phone,
                        "birth_date": date(starts_on.year - 22 - k, 3, 1).isoformat(),
                        "nationality": "FR",
                        "residence_country": "FR",
                        "language": "fr",
                        "languages": ["fr"],
                        "skills": ["santé publique"],
                    },
                    "motivation": "Je souhaite m'engager.",
                },
                effect=("recruitment.ApplicationSubmitted", "application_id", None),
            )
            self.directory.application_candidate[application["application_id"]] = application["candidate_id"]
            self.directory.person[application["candidate_id"]] = (email, phone)
            chosen = chosen or application
        assert chosen is not None
        application_id = chosen["application_id"]
        volunteer_id = chosen["candidate_id"]
        at = (datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)).isoformat()
        steps: list[tuple[str, Any, str]] = [
            ("shortlist", None, "recruitment.ApplicationShortlisted"),
            ("interview", {"at": at}, "recruitment.InterviewScheduled"),
            ("select", None, "recruitment.CandidateSelected"),
            (
                "engage",
                {"starts_on": starts_on.isoformat(), "ends_on": (starts_on + timedelta(days=240)).isoformat()},
                "recruitment.VolunteerEngaged",
            ),
        ]
        for action, body, ce_type in steps:
            await self.send(
                "recruitment",
                "POST",
                f"/applications/{application_id}/{action}",
                mayor,
                json=body,
                effect=(ce_type, "application_id", application_id),
                wait_for_state=True,  # screening is asynchronous
            )
        mission_id = await self.planned_mission(authority_id, staff)
        for item in CHECKLIST:
            await self.send(
                "missions",
                "POST",
                f"/missions/{mission_id}/checklist",
                centre,
                json={"item": item, "done_on": today.isoformat()},
                repeatable=True,
            )
        await self.send(
            "missions",
            "POST",
            f"/missions/{mission_id}/start",
            centre,
            json={"departed_on": today.isoformat()},
            effect=("missions.MissionStarted", "mission_id", mission_id),
        )
        self.missions_started.setdefault(country, []).append((mission_id, volunteer_id))
        volunteer = self.token("volunteer", sub=volunteer_id)
        await self.send(
            "missions",
            "POST",
            f"/missions/{mission_id}/check-ins",
            volunteer,
            json={"status": "ok", "note": "RAS"},
            effect=("missions.CheckInReceived", "mission_id", mission_id),
        )
        if n % 2 == 0:
            await self.send(
                "missions",
                "POST",
                f"/missions/{mission_id}/end",
                centre,
                json={"ended_on": today.isoformat(), "debrief": "Fin de mission (chaos)."},
                effect=("missions.MissionEnded", "mission_id", mission_id),
            )
            self.missions_started[country].remove((mission_id, volunteer_id))
        self.counts["journeys completed"] += 1

    async def planned_mission(self, authority_id: str, staff: dict[str, str]) -> str:
        """The mission missions planned from the engagement (it learns it from the event)."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            found = await self.read("missions", f"/missions?authority_id={authority_id}", staff)
            items = found.get("items", found) if isinstance(found, dict) else found
            if items:
                return str(items[0]["mission_id"])
            await asyncio.sleep(1.0)
        self.errors["mission never planned"] += 1
        raise Unanswered("mission never planned")

    async def alert(self) -> None:
        """A security alert in a country with started missions; half the volunteers answer; then it closes."""
        countries = [c for c, started in self.missions_started.items() if started]
        if not countries:
            return
        country = self.rng.choice(countries)
        centre = self.token("centre", sub=f"centre-{country.lower()}", country=country)
        alert = await self.send(
            "missions",
            "POST",
            "/security-alerts",
            centre,
            json={
                "country": country,
                "level": "vigilance",
                "message": "Manifestations (chaos)",
                "respond_within_hours": 6,
            },
            effect=("missions.SecurityAlertIssued", "alert_id", None),
        )
        alert_id = alert["alert_id"]
        status = await self.read("missions", f"/security-alerts/{alert_id}", centre)
        volunteers = dict(self.missions_started.get(country, []))
        for entry in status.get("unaccounted", [])[::2]:
            volunteer_id = volunteers.get(entry["mission_id"])
            if volunteer_id is None:
                continue
            await self.send(
                "missions",
                "POST",
                f"/security-alerts/{alert_id}/responses",
                self.token("volunteer", sub=volunteer_id),
                json={"mission_id": entry["mission_id"], "status": "safe"},
            )
        await asyncio.sleep(5)
        await self.send(
            "missions",
            "POST",
            f"/security-alerts/{alert_id}/close",
            centre,
            effect=("missions.SafetyCheckClosed", "alert_id", alert_id),
        )

    async def run(self, stop: asyncio.Event, workers: int, alert_every: float) -> None:
        """``workers`` journeys at a time and an alert every ``alert_every`` seconds, until ``stop``."""

        async def worker() -> None:
            while not stop.is_set():
                try:
                    await self.journey()
                except Unanswered as exc:
                    self.counts["journeys cut short"] += 1
                    self.errors[f"journey cut short: {exc}"] += 1
                    await asyncio.sleep(1)

        async def alerts() -> None:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=alert_every)
                    return
                except TimeoutError:
                    pass
                try:
                    await self.alert()
                except Unanswered as exc:
                    self.errors[f"alert cut short: {exc}"] += 1

        await asyncio.gather(*(worker() for _ in range(workers)), alerts())

    def report(self) -> dict[str, Any]:
        """Load figures for the JSON report."""
        lat = sorted(self.latencies)
        return {
            "commands_sent": dict(sorted(self.counts.items())),
            "http_errors": dict(self.errors.most_common(25)),
            "latency_s": {
                "p50": round(lat[len(lat) // 2], 3) if lat else None,
                "p95": round(lat[int(len(lat) * 0.95)], 3) if lat else None,
                "max": round(lat[-1], 3) if lat else None,
            },
        }


def _shape(path: str) -> str:
    """A path with its ids blanked, for counting (``/partners/par-1/approve`` -> ``/partners/{}/approve``)."""
    route = path.split("?", maxsplit=1)[0]
    parts = ["{}" if any(ch.isdigit() for ch in p) else p for p in route.split("/")]
    return "/".join(parts)
