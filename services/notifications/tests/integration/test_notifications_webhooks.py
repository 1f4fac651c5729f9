"""Webhooks: Standard Webhooks signatures checked by an independent verifier, retries, 4xx, SSRF guard, disabling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import pytest

from vies_dev.testing import KafkaProbe, publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import HttpRecorder, Mailpit
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.partners import PartnerApproved
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """An independent Standard Webhooks verifier (spec: www.standardwebhooks.com, "Verifying webhooks")."""
    msg_id, timestamp, signatures = headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for versioned in signatures.split(" "):
        version, _, signature = versioned.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


async def test_webhooks_are_signed_retried_on_500_not_on_400_and_disabled_after_failing_too_long(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    async with HttpRecorder(script={"/flaky": [500, 500, 200], "/bad": [400], "/down": [503]}) as hooks:
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            webhook_allowlist="127.0.0.1",
            delivery_poll_seconds=0.1,
            delivery_retry_initial_seconds=0.2,
            delivery_retry_max_seconds=0.4,
            delivery_max_attempts=40,
            webhook_disable_after_seconds=1.5,
        )
        async with running(create(settings), settings) as svc:
            staff = svc.auth("staff")
            subscribe = {"event_types": ["partners.PartnerApproved"], "secret": secret}
            r = await svc.client.post("/subscriptions", json={**subscribe, "url": f"{hooks.url}/flaky"}, headers=staff)
            assert r.status_code == 201, r.text
            flaky = r.json()
            assert flaky["secret"] == secret and flaky["status"] == "active"
            r = await svc.client.post("/subscriptions", json={**subscribe, "url": f"{hooks.url}/bad"}, headers=staff)
            assert r.status_code == 201, r.text
            r = await svc.client.post(
                "/subscriptions",
                json={**subscribe, "url": f"{hooks.url}/down", "contact_email": f"owner-{test_id}@example.org"},
                headers=staff,
            )
            assert r.status_code == 201, r.text
            down = r.json()
            listing = (await svc.client.get("/subscriptions", headers=staff)).json()
            assert listing["total"] == 3 and all("secret" not in s for s in listing["items"])

            event_id = await publish_event(
                bootstrap, events_topic("partners", topic_prefix), PartnerApproved(partner_id=f"p-{test_id}")
            )

            await wait_until(lambda: len(hooks.on("/flaky")) >= 3, timeout=30, message="flaky endpoint retried")
            first, _, delivered = hooks.on("/flaky")[:3]
            # The same webhook-id on every retry (receivers de-duplicate on it), each attempt signed.
            assert first.headers["webhook-id"] == delivered.headers["webhook-id"]
            for request in hooks.on("/flaky"):
                assert verify_standard_webhook(secret, request.headers, request.body)
            assert not verify_standard_webhook(
                "whsec_" + base64.b64encode(b"x" * 32).decode(), delivered.headers, delivered.body
            )
            tampered = dict(delivered.headers)
            assert not verify_standard_webhook(secret, tampered, delivered.body + b" ")
            cloud_event = delivered.json()
            assert cloud_event["specversion"] == "1.0" and cloud_event["id"] == event_id
            assert cloud_event["type"] == "partners.PartnerApproved"
            assert cloud_event["data"]["partner_id"] == f"p-{test_id}"

            probe = KafkaProbe(bootstrap, [events_topic("notifications", topic_prefix)])

            async def outcomes() -> bool:
                sent = [
                    e
                    for e in await probe.events("notifications.NotificationSent")
                    if e["value"]["channel"] == "webhook"
                ]
                failed = await probe.events("notifications.NotificationFailed")
                return len(sent) == 1 and len(failed) >= 1

            await wait_until(outcomes, timeout=30, message="webhook outcomes on Kafka")
            [bad_failure] = [
                e for e in await probe.events("notifications.NotificationFailed") if "HTTP 400" in e["value"]["error"]
            ]
            assert bad_failure["value"]["channel"] == "webhook"
            assert len(hooks.on("/bad")) == 1  # a 400 is not retried
            assert len(hooks.on("/flaky")) == 3  # delivered once, then never again

            # The endpoint answering 503 for longer than the limit is disabled and its owner told by email.
            async def disabled() -> bool:
                subs = (await svc.client.get("/subscriptions", headers=staff)).json()["items"]
                return any(s["subscription_id"] == down["subscription_id"] and s["status"] == "disabled" for s in subs)

            await wait_until(disabled, timeout=30, message="failing subscription disabled")
            [notice] = await Mailpit(vies_stack.mailpit_url).wait_for(f"to:owner-{test_id}@example.org")
            assert notice["Subject"] == f"Abonnement webhook désactivé : {down['subscription_id']}"
            # Once disabled, nothing more goes to it.
            await svc.runtime.extras["delivery"].run()
            attempts = len(hooks.on("/down"))
            await svc.runtime.extras["delivery"].run()
            assert len(hooks.on("/down")) == attempts


async def test_subscriptions_refuse_ssrf_looking_urls_and_bad_input(vies_settings: Any) -> None:
    settings = vies_settings("notifications", NotificationsSettings, webhook_allowlist="127.0.0.1")
    async with running(create(settings), settings) as svc:
        staff = svc.auth("staff")
        body = {"event_types": ["missions.MissionStarted"], "secret": "whsec_" + base64.b64encode(b"k" * 32).decode()}
        assert (
            await svc.client.post("/subscriptions", json={**body, "url": "https://hooks.example.org/x"})
        ).status_code == 401
        r = await svc.client.post(
            "/subscriptions", json={**body, "url": "http://127.0.0.1:9/x"}, headers=svc.auth("volunteer")
        )
        assert r.status_code == 403
        for url in (
            "http://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
            "http://10.0.0.5/hook",  # private
            "http://192.168.1.10/hook",
            "http://[::1]:8080/hook",  # loopback, not allow-listed (only 127.0.0.1 is)
            "http://0.0.0.0/hook",
            "ftp://hooks.example.org/x",
            "http://user:password@127.0.0.1:9/x",
            "file:///etc/passwd",
        ):
            r = await svc.client.post("/subscriptions", json={**body, "url": url}, headers=staff)
            assert r.status_code == 422, (url, r.text)
            assert r.json()["detail"].startswith("url"), r.json()
        r = await svc.client.post(
            "/subscriptions", json={**body, "url": "http://127.0.0.1:9/x", "event_types": ["nope.Thing"]}, headers=staff
        )
        assert r.status_code == 422
        r = await svc.client.post(
            "/subscriptions",
            json={**body, "url": "http://127.0.0.1:9/x", "secret": "whsec_not base64!!!!!!!!!!!!"},
            headers=staff,
        )
        assert r.status_code == 422
        r = await svc.client.post("/subscriptions", json={"url": "http://127.0.0.1:9/x"}, headers=staff)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "event_types"
        # Without a secret one is generated and shown once.
        r = await svc.client.post(
            "/subscriptions",
            json={"url": "http://127.0.0.1:9/x", "event_types": ["missions.MissionStarted"]},
            headers=staff,
        )
        assert r.status_code == 201 and r.json()["secret"].startswith("whsec_")
        subscription_id = r.json()["subscription_id"]
        branch = svc.auth("branch", sub="branch-bre", region="FR-BRE")
        assert (await svc.client.delete(f"/subscriptions/{subscription_id}", headers=branch)).status_code == 403
        assert (await svc.client.delete(f"/subscriptions/{subscription_id}", headers=staff)).status_code == 200
        assert (await svc.client.delete(f"/subscriptions/{subscription_id}", headers=staff)).status_code == 404
        # A branch may subscribe; it then receives its own region's events only.
        r = await svc.client.post("/subscriptions", json={**body, "url": "http://127.0.0.1:9/x"}, headers=branch)
        assert r.status_code == 201 and r.json()["scope_region"] == "FR-BRE"
        assert (await svc.client.get("/subscriptions", headers=branch)).json()["total"] == 1
        assert (await svc.client.get("/subscriptions", headers=staff)).json()["total"] == 1
