"""The delivery worker: claims due notifications, sends them, records the outcome and emits the event.

Several replicas may run it at once: a notification is claimed atomically
(``status`` pending → sending with a claim token and ``claimed_until``), so only
one worker sends it; a claim left by a crashed worker expires and the
notification is picked up again. Outcomes and ``NotificationSent`` /
``NotificationFailed`` are written in one transaction per pass.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import UpdateOne

from vies_notifications import answer_links, channels, metrics, owners, sealing, store
from vies_notifications.domain import routing
from vies_notifications.domain.delivery import (
    FAILED,
    PENDING,
    SAFETY_CATEGORIES,
    SENDING,
    SENT,
    Outcome,
    RetryPolicy,
    deferred,
    notification_id,
    permanent,
    transient,
)
from vies_notifications.domain.privacy import scrub
from vies_notifications.rendering import SUPPORTED_LANGUAGES, Rendered, render
from vies_notifications.settings import NotificationsSettings
from vies_shared.events.notifications import NotificationFailed, NotificationSent
from vies_shared.logging import get_logger
from vies_shared.reference import branch_for_region, centre_for_country, head_office
from vies_shared.service import Runtime
from vies_shared.storage import UnitOfWork, backoff_delay, is_transient

Document = dict[str, Any]
log = get_logger(component="delivery")


@dataclass
class Address:
    """Where and how to reach a recipient right now."""

    name: str = ""
    email: str | None = None
    phone: str | None = None
    language: str | None = None


@dataclass
class Attempt:
    """One claimed notification and what became of it."""

    doc: Document
    outcome: Outcome = field(default_factory=lambda: transient("not attempted"))
    address: str | None = None
    language: str | None = None
    subject: str | None = None


def _settings(runtime: Runtime) -> NotificationsSettings:
    settings = runtime.settings
    assert isinstance(settings, NotificationsSettings)
    return settings


def policy(settings: NotificationsSettings) -> RetryPolicy:
    """The retry schedule from settings."""
    return RetryPolicy(
        settings.delivery_max_attempts,
        settings.delivery_retry_initial_seconds,
        settings.delivery_retry_max_seconds,
        safety_max_seconds=settings.safety_retry_max_seconds,
    )


class DeliveryWorker:
    """Per-process state of the delivery worker (counters for metrics and the benchmark)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = _settings(runtime)
        self.email = channels.EmailSender(self.settings)
        self.policy = policy(self.settings)
        self._known: dict[tuple[str, str], Document | None] = {}
        self._next_stale_check = 0.0
        self.sent = 0  # notifications this process delivered (metrics, benchmark)

    @property
    def collection(self) -> Any:
        """The notifications collection."""
        return self.runtime.db[store.NOTIFICATIONS]

    async def claim(self, limit: int) -> tuple[str, list[Document]]:
        """Atomically take up to ``limit`` due notifications (and stale claims of a crashed worker).

        Each query is a range on one index (``status, next_attempt_at`` or
        ``status, claimed_until``) so its cost follows the queue, not the size of
        the delivery log; the update re-checks the state, so of two replicas
        racing for a notification only one wins it.
        """
        now = datetime.now(UTC)
        pending = {"status": PENDING, "next_attempt_at": {"$lte": now}}
        stale = {"status": SENDING, "claimed_until": {"$lt": now}}
        ids = [doc["_id"] async for doc in self.collection.find(pending, {"_id": 1}).limit(limit)]
        if time.monotonic() >= self._next_stale_check:
            self._next_stale_check = time.monotonic() + max(1.0, self.settings.delivery_claim_seconds / 4)
            ids += [doc["_id"] async for doc in self.collection.find(stale, {"_id": 1}).limit(limit)]
        if not ids:
            return "", []
        token = uuid.uuid4().hex
        claimed = {
            "status": SENDING,
            "claim": token,
            "claimed_until": now + timedelta(seconds=self.settings.delivery_claim_seconds),
        }
        await self.collection.update_many({"_id": {"$in": ids}, **pending}, {"$set": claimed})
        await self.collection.update_many({"_id": {"$in": ids}, **stale}, {"$set": claimed})
        docs = [doc async for doc in self.collection.find({"_id": {"$in": ids}, "claim": token})]
        return token, docs

    async def run(self) -> int:
        """Send everything due, pass after pass; returns how many notifications were handled."""
        handled = 0
        limit = self.settings.delivery_batch_size * self.settings.smtp_connections
        while True:
            token, docs = await self.claim(limit)
            metrics.QUEUE.labels(self.settings.service).set(len(docs))
            if not docs:
                return handled
            try:
                attempts = await self.send(docs)
            except asyncio.CancelledError:
                # Shutting down mid-pass: hand the claimed notifications back at once instead of letting
                # the claim expire (a message already accepted may then go twice: at-least-once, same Message-ID).
                await self.release(token)
                raise
            await self._record_until_it_sticks(token, attempts)
            handled += len(docs)

    async def _record_until_it_sticks(self, token: str, attempts: list[Attempt]) -> None:
        # What was sent must be recorded, or it would go again once the claim expires: keep trying while the
        # database is unreachable, within the claim's lifetime.
        deadline = time.monotonic() + self.settings.delivery_claim_seconds / 2
        attempt = 0
        while True:
            try:
                await self.record(token, attempts)
                return
            except Exception as exc:
                attempt += 1
                if not is_transient(exc) or time.monotonic() > deadline:
                    raise
                log.warning("recording_outcomes_retried", attempt=attempt, error=repr(exc))
                await asyncio.sleep(backoff_delay(attempt, 0.2, 5.0))

    async def release(self, token: str) -> None:
        """Give back the notifications of a claim without counting an attempt."""
        await self.collection.update_many(
            {"claim": token, "status": SENDING},
            {"$set": {"status": PENDING, "claim": None, "claimed_until": None, "next_attempt_at": datetime.now(UTC)}},
        )

    async def _prefetch(self, docs: list[Document]) -> None:
        """Read the recipients' preferences and contact data of a whole pass with one query per collection."""
        ids: dict[str, set[str]] = {
            store.PREFERENCES: set(),
            store.CONTACTS: set(),
            store.AUTHORITIES: set(),
            store.POSITIONS: set(),
            store.PARTNERS: set(),
        }
        for doc in docs:
            context = doc.get("context") or {}
            if context.get("position_id") and not context.get("position_title"):
                ids[store.POSITIONS].add(context["position_id"])
            if context.get("authority_id") and not context.get("authority_name"):
                ids[store.AUTHORITIES].add(context["authority_id"])
            recipient = doc["recipient"]
            ids[store.PREFERENCES].add(recipient["id"])
            if recipient["kind"] == "person":
                ids[store.CONTACTS].add(recipient["id"])
            elif recipient["kind"] == "partner":
                ids[store.PARTNERS].add(recipient["id"])
            elif recipient["kind"] == "authority":
                ids[store.AUTHORITIES].add(recipient["id"])
        known: dict[tuple[str, str], Document | None] = {}
        for collection, keys in ids.items():
            if not keys:
                continue
            for key in keys:
                known[(collection, key)] = None
            async for found in self.runtime.db[collection].find({"_id": {"$in": sorted(keys)}}):
                known[(collection, found["_id"])] = found
        self._known = known

    async def _lookup(self, collection: str, key: str) -> Document | None:
        if (collection, key) in self._known:
            return self._known[(collection, key)]
        found: Document | None = await self.runtime.db[collection].find_one({"_id": key})
        return found

    async def send(self, docs: list[Document]) -> list[Attempt]:
        """Resolve, render and send; email in batches over a few SMTP connections, the rest concurrently."""
        await self._prefetch(docs)
        attempts = [Attempt(doc) for doc in docs]
        emails: list[tuple[Attempt, channels.Email]] = []
        others: list[Attempt] = []
        for attempt in attempts:
            if attempt.doc["channel"] == "email":
                prepared = await self._prepare_email(attempt)
                if prepared is not None:
                    emails.append((attempt, prepared))
            else:
                others.append(attempt)
        size = self.settings.delivery_batch_size
        batches = [emails[i : i + size] for i in range(0, len(emails), size)]
        jobs = [self._send_emails(batch) for batch in batches]
        if others:
            jobs.append(self._send_others(others))
        await asyncio.gather(*jobs)
        return attempts

    async def _send_emails(self, batch: list[tuple[Attempt, channels.Email]]) -> None:
        outcomes = await self.email.send_batch([email for _, email in batch])
        for (attempt, _), outcome in zip(batch, outcomes, strict=True):
            attempt.outcome = outcome

    async def _send_others(self, others: list[Attempt]) -> None:
        limit = asyncio.Semaphore(self.settings.delivery_concurrency)
        async with httpx.AsyncClient() as http:

            async def one(attempt: Attempt) -> None:
                async with limit:
                    if attempt.doc["channel"] == "sms":
                        await self._send_sms(http, attempt)
                    else:
                        await self._send_webhook(http, attempt)

            await asyncio.gather(*(one(a) for a in others))

    async def _address(self, recipient: Document) -> Address | None:
        kind, key = recipient["kind"], recipient["id"]
        s = self.settings
        preference = await self._lookup(store.PREFERENCES, key)
        preferred = preference.get("language") if preference else None
        match kind:
            case "person":
                contact = await self._lookup(store.CONTACTS, key)
                if contact is None:
                    return None
                return Address(
                    contact.get("name", ""),
                    contact.get("email"),
                    contact.get("phone"),
                    preferred or contact.get("language"),
                )
            case "authority":
                authority = await self._lookup(store.AUTHORITIES, key)
                if authority is None:
                    return None
                return Address(authority.get("name", ""), authority.get("email"), None, preferred)
            case "branch":
                branch = branch_for_region(key)
                return Address(branch.name, branch.email, branch.phone, preferred) if branch else None
            case "centre":
                centre = centre_for_country(key)
                return Address(f"Espace Volontariats {centre.city}", centre.email, centre.phone, preferred)
            case "duty_officer":
                return Address(
                    s.duty_officer_name,
                    s.duty_officer_email,
                    s.duty_officer_phone,
                    preferred or s.duty_officer_language,
                )
            case "head_office":
                office = head_office()
                email = s.head_office_safety_email or office.email
                return Address("Siège, cellule sécurité", email, office.phone, preferred or s.duty_officer_language)
            case "partner":
                partner = await self._lookup(store.PARTNERS, key)
                if partner is None:
                    return None  # not known (yet)
                languages = [str(lang).lower()[:2] for lang in partner.get("languages") or []]
                language = preferred or ("fr" if "fr" in languages or not languages else "en")
                return Address(partner.get("name", ""), partner.get("email"), None, language)
            case "subscription_owner":
                return Address(recipient.get("name") or "", recipient.get("address"), None, preferred)
        return None

    async def _render(self, attempt: Attempt) -> tuple[Address, Rendered] | None:
        doc = attempt.doc
        address = await self._address(doc["recipient"])
        if address is None:
            attempt.outcome = self._waiting_for_contact(doc)
            return None
        language = routing.choose_language(address.language, None, self.settings.default_language, SUPPORTED_LANGUAGES)
        context = {**doc.get("context", {}), "recipient_name": address.name}
        if context.get("alert_id"):
            # Minted here for this volunteer, never stored nor put on an event (answer_links).
            recipient = doc["recipient"]
            context["alert_url"] = await answer_links.alert_url(self.runtime.db, self.settings, context, recipient)
        if doc["template"] == routing.RETURN_SEMINAR_TEMPLATE:
            context["seminar_url"] = self.settings.return_seminar_url
        await self._complete(context)
        try:
            content = render(doc["template"], language, context)
        except Exception as exc:  # noqa: BLE001 - a broken template will not fix itself by retrying
            attempt.outcome = permanent(f"template {doc['template']} failed: {exc!r}")
            return None
        attempt.language = language
        attempt.subject = content.subject
        return address, content

    def _waiting_for_contact(self, doc: Document) -> Outcome:
        """Contact data travel on another topic and may arrive after the event: wait without using attempts.

        Past ``contact_wait_max_seconds`` the wait counts as a transient failure (so an ordinary
        message ends failed); a safety message keeps waiting either way.
        """
        error = "recipient's contact data not known (yet)"
        # A delayed message (return seminar) waits from its due date, not from when it was queued.
        created = doc.get("due_at") or doc.get("created_at") or datetime.now(UTC)
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        waited = (datetime.now(UTC) - created).total_seconds()
        if waited < self.settings.contact_wait_max_seconds or doc.get("category") in SAFETY_CATEGORIES:
            return deferred(error, retry_in=self.settings.contact_wait_seconds)
        return transient(error)

    async def _complete(self, context: Document) -> None:
        """Fill names the projection did not have yet when the event was taken in (events of other partitions)."""
        if context.get("position_id") and not context.get("position_title"):
            position = await self._lookup(store.POSITIONS, context["position_id"])
            context["position_title"] = position.get("title") if position else None
        if context.get("authority_id") and not context.get("authority_name"):
            authority = await self._lookup(store.AUTHORITIES, context["authority_id"])
            context["authority_name"] = authority.get("name") if authority else None

    async def _prepare_email(self, attempt: Attempt) -> channels.Email | None:
        rendered = await self._render(attempt)
        if rendered is None:
            return None
        address, content = rendered
        if not address.email:
            attempt.outcome = permanent("recipient has no email address")
            return None
        attempt.address = address.email
        return channels.Email(
            attempt.doc["_id"], attempt.doc["event_id"], address.email, address.name, attempt.language or "fr", content
        )

    async def _send_sms(self, http: httpx.AsyncClient, attempt: Attempt) -> None:
        rendered = await self._render(attempt)
        if rendered is None:
            return
        address, content = rendered
        if not address.phone:
            attempt.outcome = permanent("recipient has no phone number")
            return
        attempt.address = address.phone
        attempt.outcome = await channels.send_sms(http, self.settings, attempt.doc["_id"], address.phone, content.sms)

    async def _send_webhook(self, http: httpx.AsyncClient, attempt: Attempt) -> None:
        subscription = await self.runtime.db[store.SUBSCRIPTIONS].find_one({"_id": attempt.doc["recipient"]["id"]})
        if subscription is None:
            attempt.outcome = permanent("subscription deleted")
            return
        if subscription.get("status") != "active":
            reason = subscription.get("suspended_reason")
            attempt.outcome = permanent(
                f"subscription {subscription.get('status')}" + (f": {reason}" if reason else "")
            )
            return
        if not await self._owner_may_receive(subscription, attempt):
            return
        try:
            secret = self._secret_box().open(subscription)
        except sealing.SecretUnreadable as exc:
            # A key removed before every secret was re-sealed with its successor: put it back.
            attempt.outcome = transient(f"subscription secret unreadable: {exc}")
            return
        attempt.address = subscription["url"]
        attempt.outcome = await channels.send_webhook(
            http, self.settings, subscription, secret, attempt.doc["_id"], attempt.doc["payload"] or "{}"
        )

    def _secret_box(self) -> sealing.SecretBox:
        box = self.runtime.extras.get("secret_box")
        if box is None:
            box = self.runtime.extras["secret_box"] = sealing.box_from_settings(self.settings)
        assert isinstance(box, sealing.SecretBox)
        return box

    async def _owner_may_receive(self, subscription: Document, attempt: Attempt) -> bool:
        """Check the owner's current rights; suspend the subscription when they are gone.

        No directory means development without an identity provider (refused at start-up
        elsewhere). An unreachable provider defers the delivery: never dropped, never unchecked.
        """
        directory: owners.OwnerDirectory | None = self.runtime.extras.get("owner_directory")
        if directory is None:
            return True
        owner = subscription.get("owner")
        if owner:
            try:
                rights = await directory.rights(str(owner))
            except owners.OwnerRightsUnavailable as exc:
                attempt.outcome = deferred(f"owner's rights unknown: {exc}")
                return False
            reason = owners.refusal(subscription, rights)
        else:
            reason = "the subscription has no owner"
        if reason is None:
            return True
        now = datetime.now(UTC)
        suspended = await self.runtime.db[store.SUBSCRIPTIONS].update_one(
            {"_id": subscription["_id"], "status": "active"},
            {"$set": {"status": "suspended", "suspended_at": now, "suspended_reason": reason}},
        )
        if suspended.modified_count:
            metrics.SUBSCRIPTIONS_SUSPENDED.labels(self.settings.service).inc()
            log.warning("webhook_subscription_suspended", subscription_id=subscription["_id"], reason=reason)
        attempt.outcome = permanent(f"subscription suspended: {reason}")
        return False

    async def record(self, token: str, attempts: list[Attempt]) -> None:
        """Write every outcome and its event in one transaction; supervise failing webhook endpoints."""
        now = datetime.now(UTC)

        async def work(uow: UnitOfWork) -> int:
            sent = 0
            updates: list[UpdateOne] = []
            webhook_results: dict[str, tuple[bool, str]] = {}
            # Still ours? An erasure may have cancelled a notification while it was being sent.
            cursor = uow.db[store.NOTIFICATIONS].find(
                {"_id": {"$in": [a.doc["_id"] for a in attempts]}, "claim": token}, {"_id": 1}, session=uow.session
            )
            ours = {found["_id"] async for found in cursor}
            for attempt in attempts:
                doc = attempt.doc
                if doc["_id"] not in ours:
                    continue
                outcome = attempt.outcome
                count = int(doc.get("attempts", 0)) + (0 if outcome.kind == "deferred" else 1)
                changes: Document = {"attempts": count, "updated_at": now, "claim": None, "claimed_until": None}
                if attempt.address is not None:
                    changes["recipient.address"] = attempt.address
                if attempt.language is not None:
                    changes["language"] = attempt.language
                if attempt.subject is not None:
                    changes["subject"] = attempt.subject
                history = {"at": now, "outcome": outcome.kind, "error": outcome.error or None}
                region = doc.get("region")
                if outcome.sent:
                    sent += 1
                    # A delivered webhook body is not kept: the log needs the outcome, not the event again.
                    changes.update({"status": SENT, "sent_at": now, "last_error": None, "payload": None})
                    uow.emit(
                        NotificationSent(
                            notification_id=doc["_id"],
                            event_id=doc["event_id"],
                            channel=doc["channel"],
                            recipient_role=doc["recipient"]["role"],
                        ),
                        region=region,
                    )
                elif outcome.kind == "deferred":
                    wait = outcome.retry_in or self.settings.owner_rights_retry_seconds
                    later = now + timedelta(seconds=wait)
                    changes.update({"status": PENDING, "next_attempt_at": later, "last_error": outcome.error})
                else:
                    category = doc.get("category")
                    retry_at = self.policy.after_failure(count, outcome, now, category=category)
                    changes["last_error"] = outcome.error
                    self._count_failure(doc, outcome, count, retry_at is not None)
                    if retry_at is not None:
                        changes.update({"status": PENDING, "next_attempt_at": retry_at})
                    else:
                        changes.update({"status": FAILED, "failed_at": now, "payload": None})
                        uow.emit(
                            NotificationFailed(
                                notification_id=doc["_id"],
                                event_id=doc["event_id"],
                                channel=doc["channel"],
                                error=outcome.error,
                                category=doc.get("category"),
                                recipient_role=doc["recipient"]["role"],
                            ),
                            region=region,
                        )
                        if doc.get("category") in SAFETY_CATEGORIES:
                            await self._fail_over(uow, doc, outcome, now)
                metrics.DELIVERIES.labels(self.settings.service, doc["channel"], outcome.kind).inc()
                if doc["channel"] == "webhook" and outcome.kind != "deferred":
                    subscription_id = doc["recipient"]["id"]
                    succeeded_before = webhook_results.get(subscription_id, (False, ""))[0]
                    webhook_results[subscription_id] = (succeeded_before or outcome.sent, outcome.error)
                updates.append(
                    UpdateOne(
                        {"_id": doc["_id"], "claim": token},
                        {"$set": changes, "$push": {"history": {"$each": [history], "$slice": -20}}},
                    )
                )
            if updates:
                await uow.db[store.NOTIFICATIONS].bulk_write(updates, ordered=False, session=uow.session)
            for subscription_id, (succeeded, error) in webhook_results.items():
                await self._supervise(uow, subscription_id, succeeded, error, now)
            return sent

        self.sent += await self.runtime.transactions.run(work)
        for attempt in attempts:
            if not attempt.outcome.sent:
                log.info(
                    "delivery_failed",
                    notification_id=attempt.doc["_id"],
                    channel=attempt.doc["channel"],
                    outcome=attempt.outcome.kind,
                    error=attempt.outcome.error,
                )

    async def _fail_over(self, uow: UnitOfWork, doc: Document, outcome: Outcome, now: datetime) -> None:
        """A safety message failed for good: the duty officer hears of it by the other channel (once)."""
        channel = routing.failover_channel(doc["channel"])
        if channel is None or doc.get("event_type") == routing.SAFETY_FAILOVER_TYPE:
            return  # a failed failover is not failed over again: the metric and the log alert the operators
        context = doc.get("context") or {}
        event_id = f"failover:{doc['_id']}"
        key = "duty_officer:duty-officer"
        await uow.db[store.NOTIFICATIONS].update_one(
            {"_id": notification_id(event_id, key, channel)},
            {
                "$setOnInsert": {
                    "event_id": event_id,
                    "event_type": routing.SAFETY_FAILOVER_TYPE,
                    "occurred_at": now,
                    "correlation_id": doc.get("correlation_id") or "",
                    "channel": channel,
                    "template": routing.SAFETY_FAILOVER_TEMPLATE,
                    "category": "safety",
                    "recipient": {"key": key, "kind": "duty_officer", "id": "duty-officer", "role": "duty_officer"},
                    "context": {
                        "failed_template": doc.get("template"),
                        "failed_channel": doc["channel"],
                        "failed_role": doc["recipient"]["role"],
                        "failed_recipient": doc["recipient"]["id"],
                        "error": scrub(outcome.error),
                        **{k: context.get(k) for k in ("alert_id", "incident_id", "mission_id", "country")},
                    },
                    "payload": None,
                    "region": doc.get("region"),
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            },
            upsert=True,
            session=uow.session,
        )

    def _count_failure(self, doc: Document, outcome: Outcome, attempts: int, retrying: bool) -> None:
        """Metrics and logs an operator alerts on: refused credentials, safety messages late or lost."""
        service, channel = self.settings.service, doc["channel"]
        if outcome.configuration:
            metrics.PROVIDER_AUTH_FAILURES.labels(service, channel).inc()
            log.error("provider_refused_credentials", channel=channel, error=outcome.error)
        if doc.get("category") not in SAFETY_CATEGORIES:
            return
        if not retrying:
            metrics.SAFETY_FAILED.labels(service, channel).inc()
            log.error("safety_message_failed", notification_id=doc["_id"], channel=channel, error=outcome.error)
        elif self.policy.beyond_budget(attempts):
            metrics.SAFETY_BEYOND_BUDGET.labels(service, channel).inc()
            log.error(
                "safety_message_still_undelivered",
                notification_id=doc["_id"],
                channel=channel,
                attempts=attempts,
                error=outcome.error,
            )

    async def _supervise(
        self, uow: UnitOfWork, subscription_id: str, succeeded: bool, error: str, now: datetime
    ) -> None:
        """A webhook endpoint failing for ``webhook_disable_after_seconds`` is disabled and its owner told."""
        subscriptions = uow.db[store.SUBSCRIPTIONS]
        if succeeded:
            await subscriptions.update_one(
                {"_id": subscription_id, "failing_since": {"$ne": None}},
                {"$set": {"failing_since": None, "last_error": None}},
                session=uow.session,
            )
            return
        await subscriptions.update_one(
            {"_id": subscription_id, "failing_since": None}, {"$set": {"failing_since": now}}, session=uow.session
        )
        await subscriptions.update_one({"_id": subscription_id}, {"$set": {"last_error": error}}, session=uow.session)
        subscription = await subscriptions.find_one({"_id": subscription_id}, session=uow.session)
        if subscription is None or subscription.get("status") != "active" or subscription.get("failing_since") is None:
            return
        failing_since: datetime = subscription["failing_since"]
        if failing_since.tzinfo is None:
            failing_since = failing_since.replace(tzinfo=UTC)
        if (now - failing_since).total_seconds() < self.settings.webhook_disable_after_seconds:
            return
        await subscriptions.update_one(
            {"_id": subscription_id}, {"$set": {"status": "disabled", "disabled_at": now}}, session=uow.session
        )
        owner = subscription.get("contact_email") or self.settings.ops_email
        event_id = f"webhook-disabled:{subscription_id}"
        key = f"subscription_owner:{subscription_id}"
        await uow.db[store.NOTIFICATIONS].update_one(
            {"_id": notification_id(event_id, key, "email")},
            {
                "$setOnInsert": {
                    "event_id": event_id,
                    "event_type": "notifications.WebhookDisabled",
                    "occurred_at": now,
                    "correlation_id": "",
                    "channel": "email",
                    "template": routing.WEBHOOK_DISABLED_TEMPLATE,
                    "category": "account",
                    "recipient": {
                        "key": key,
                        "kind": "subscription_owner",
                        "id": subscription.get("owner") or subscription_id,
                        "role": "subscription_owner",
                        "address": owner,
                        "name": subscription.get("owner") or "",
                    },
                    "context": {
                        "subscription_id": subscription_id,
                        "url": subscription["url"],
                        "failing_since": failing_since.strftime("%Y-%m-%d %H:%M UTC"),
                        "last_error": error,
                    },
                    "payload": None,
                    "region": subscription.get("scope_region"),
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            },
            upsert=True,
            session=uow.session,
        )
        log.warning("webhook_subscription_disabled", subscription_id=subscription_id, failing_since=str(failing_since))


async def deliver_due(runtime: Runtime) -> None:
    """Periodic job (every replica): send what is due; the claim keeps replicas from sending the same thing."""
    worker = runtime.extras.get("delivery")
    if worker is None:
        worker = runtime.extras["delivery"] = DeliveryWorker(runtime)
    await worker.run()
