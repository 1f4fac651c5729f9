"""A caller's X-Request-ID becomes the correlation id of events only when it comes from a trusted peer."""

from __future__ import annotations

from typing import Any

import pytest

from vies_dev.testing import KafkaProbe
from vies_dev.testing.helpers import running
from vies_partners.app import create
from vies_partners.settings import PartnersSettings
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


def _authority(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "department",
        "region": "FR-BRE",
        "contact": {"name": "Anne Le Gall", "email": "international@finistere.example.fr"},
    }


async def _correlation_of(probe: KafkaProbe, authority_id: str) -> str:
    [event] = await probe.wait_for(
        "partners.AuthorityRegistered", where=lambda e: e["value"]["authority_id"] == authority_id
    )
    return str(event["headers"]["ce_correlationid"])


@pytest.mark.parametrize(("trusted_from", "kept"), [("127.0.0.0/8", True), ("10.0.0.0/8", False)])
async def test_request_id_is_kept_only_from_trusted_peers(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, trusted_from: str, kept: bool
) -> None:
    settings = vies_settings("partners", PartnersSettings, trusted_request_id_from=trusted_from)
    probe = KafkaProbe(vies_stack.kafka_bootstrap, [events_topic("partners", topic_prefix)])
    async with running(create(settings), settings) as svc:
        sent = "portal-req-0001"
        r = await svc.client.post(
            "/authorities", json=_authority("Finistère"), headers={**svc.auth("staff"), "X-Request-ID": sent}
        )
        assert r.status_code == 201, r.text
        answered = r.headers["X-Request-ID"]
        assert (answered == sent) is kept
        assert await _correlation_of(probe, r.json()["authority_id"]) == answered
        # Even from a trusted peer, a value that is not a plain short id is replaced.
        r = await svc.client.post(
            "/authorities",
            json=_authority("Morbihan"),
            headers={**svc.auth("staff"), "X-Request-ID": "x" * 300},
        )
        assert r.status_code == 201, r.text
        assert r.headers["X-Request-ID"] != "x" * 300
