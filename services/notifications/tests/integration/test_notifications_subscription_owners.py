"""Webhook subscriptions hold only while their owner does; their secrets are stored encrypted and rotate."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from cryptography.fernet import Fernet
from test_notifications_webhooks import verify_standard_webhook

from vies_dev.testing import publish_event, wait_until
from vies_dev.testing.helpers import running
from vies_dev.testing.notifications import FakeOwnerDirectory, HttpRecorder
from vies_notifications.app import create
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.partners import PartnerApproved
from vies_shared.events.topics import events_topic

pytestmark = pytest.mark.integration

EVENT = "partners.PartnerApproved"


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def test_a_subscription_stops_when_its_owner_is_disabled_moved_or_removed_and_waits_out_an_outage(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    partners = events_topic("partners", topic_prefix)
    async with HttpRecorder() as hooks:
        settings = vies_settings(
            "notifications",
            NotificationsSettings,
            webhook_allowlist="127.0.0.1",
            delivery_poll_seconds=0.1,
            delivery_retry_initial_seconds=0.2,
            delivery_retry_max_seconds=0.4,
            delivery_max_attempts=2,
            owner_rights_retry_seconds=0.2,
        )
        async with running(create(settings), settings) as svc:
            directory = FakeOwnerDirectory()
            svc.runtime.extras["owner_directory"] = directory
            owners = {name: f"{name}-{test_id}" for name in ("kept", "disabled", "moved", "removed")}
            subscriptions: dict[str, str] = {}
            for name, sub in owners.items():
                directory.branch(sub, "FR-BRE")
                r = await svc.client.post(
                    "/subscriptions",
                    json={"url": f"{hooks.url}/{name}", "event_types": [EVENT], "secret": _secret()},
                    headers=svc.auth("branch", sub=sub, region="FR-BRE"),
                )
                assert r.status_code == 201, r.text
                subscriptions[name] = r.json()["subscription_id"]

            await publish_event(bootstrap, partners, PartnerApproved(partner_id=f"p1-{test_id}"), region="FR-BRE")
            await wait_until(
                lambda: all(len(hooks.on(f"/{name}")) == 1 for name in owners), timeout=30, message="first deliveries"
            )

            # The owners lose their rights: disabled, moved to another region, deleted.
            directory.disable(owners["disabled"])
            directory.move(owners["moved"], "FR-NOR")
            directory.remove(owners["removed"])
            second = await publish_event(
                bootstrap, partners, PartnerApproved(partner_id=f"p2-{test_id}"), region="FR-BRE"
            )
            await wait_until(lambda: len(hooks.on("/kept")) == 2, timeout=30, message="second delivery to /kept")
            staff = svc.auth("staff")

            async def suspended() -> dict[str, Any]:
                items = (await svc.client.get("/subscriptions", headers=staff)).json()["items"]
                found = {s["subscription_id"]: s for s in items if s["status"] == "suspended"}
                return found if len(found) == 3 else {}

            found = await wait_until(suspended, timeout=30, message="three subscriptions suspended")
            reasons = {
                name: found[subscriptions[name]]["suspended_reason"] for name in ("disabled", "moved", "removed")
            }
            assert "disabled" in reasons["disabled"]
            assert "FR-BRE" in reasons["moved"]
            assert "no longer exists" in reasons["removed"]
            assert all(found[subscriptions[n]]["suspended_at"] for n in reasons)
            for name in ("disabled", "moved", "removed"):
                assert len(hooks.on(f"/{name}")) == 1, name

            # The subscription is suspended first, the notification recorded as failed just after.
            async def recorded() -> dict[str, Any]:
                log = (
                    await svc.client.get(
                        "/notifications", params={"event_id": second, "channel": "webhook"}, headers=staff
                    )
                ).json()["items"]
                entries = {entry["recipient"]["id"]: entry for entry in log}
                ids = [subscriptions[name] for name in ("disabled", "moved", "removed")]
                settled = all(i in entries and entries[i]["status"] == "failed" for i in ids)
                return entries if settled else {}

            outcomes = await wait_until(recorded, timeout=30, message="the suspended deliveries recorded")
            for name in ("disabled", "moved", "removed"):
                entry = outcomes[subscriptions[name]]
                assert entry["status"] == "failed" and "suspended" in entry["last_error"], entry
            mine = svc.auth("branch", sub=owners["moved"], region="FR-BRE")
            [own] = (await svc.client.get("/subscriptions", headers=mine)).json()["items"]
            assert own["status"] == "suspended"

            # The identity provider cannot answer: delivery waits (no attempt used up), then goes out.
            directory.outage = True
            third = await publish_event(
                bootstrap, partners, PartnerApproved(partner_id=f"p3-{test_id}"), region="FR-BRE"
            )

            async def deferred_often() -> bool:
                r = await svc.client.get("/notifications", params={"event_id": third}, headers=staff)
                items = r.json()["items"]
                # Read while pending: a pass under way counts its attempt until it records the deferral.
                return bool(
                    len(items) == 1
                    and items[0]["status"] == "pending"
                    and items[0]["attempts"] == 0
                    and sum(h["outcome"] == "deferred" for h in items[0]["history"]) >= 3
                )

            await wait_until(deferred_often, timeout=30, message="delivery deferred during the outage, no attempt used")
            assert len(hooks.on("/kept")) == 2
            directory.outage = False
            await wait_until(lambda: len(hooks.on("/kept")) == 3, timeout=30, message="delivered after the outage")
            for request in hooks.on("/kept"):
                assert request.json()["type"] == EVENT


async def test_secrets_are_stored_encrypted_rotated_and_still_sign(
    vies_settings: Any, vies_stack: Any, topic_prefix: str, test_id: str
) -> None:
    bootstrap = vies_stack.kafka_bootstrap
    database = f"t{test_id}_notifications_keys"
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    secret, legacy_secret = _secret(), _secret()
    common = {"webhook_allowlist": "127.0.0.1", "delivery_poll_seconds": 0.1, "mongodb_db": database}
    async with HttpRecorder() as hooks:
        first = vies_settings("notifications", NotificationsSettings, webhook_secret_key=old_key, **common)
        async with running(create(first), first) as svc:
            r = await svc.client.post(
                "/subscriptions",
                json={"url": f"{hooks.url}/sealed", "event_types": [EVENT], "secret": secret},
                headers=svc.auth("staff"),
            )
            assert r.status_code == 201 and r.json()["secret"] == secret  # shown once, in clear
            subscriptions = svc.runtime.db["subscriptions"]
            stored = await subscriptions.find_one({"_id": r.json()["subscription_id"]})
            assert "secret" not in stored and secret not in json.dumps(stored, default=str)
            first_key_id = stored["secret_key_id"]
            # A subscription stored by an earlier version, its secret in clear.
            legacy = {**stored, "_id": f"legacy-{test_id}", "url": f"{hooks.url}/legacy", "secret": legacy_secret}
            for name in ("secret_sealed", "secret_key_id"):
                legacy.pop(name)
            await subscriptions.insert_one(legacy)

        # Rotation: the new key first, the old one after it, then a restart.
        second = vies_settings(
            "notifications", NotificationsSettings, webhook_secret_key=f"{new_key},{old_key}", **common
        )
        async with running(create(second), second) as svc:
            docs = await svc.runtime.db["subscriptions"].find().to_list()
            assert len(docs) == 2
            key_ids = {doc["secret_key_id"] for doc in docs}
            assert len(key_ids) == 1 and first_key_id not in key_ids
            for doc in docs:
                assert "secret" not in doc
                text = json.dumps(doc, default=str)
                assert secret not in text and legacy_secret not in text
            event_id = await publish_event(
                bootstrap, events_topic("partners", topic_prefix), PartnerApproved(partner_id=f"p-{test_id}")
            )
            await wait_until(
                lambda: hooks.on("/sealed") and hooks.on("/legacy"), timeout=30, message="both webhooks delivered"
            )
            [sealed], [old] = hooks.on("/sealed"), hooks.on("/legacy")
            assert verify_standard_webhook(secret, sealed.headers, sealed.body)
            assert verify_standard_webhook(legacy_secret, old.headers, old.body)
            assert sealed.json()["id"] == event_id
