"""Settings of the notifications service (``VIES_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from vies_notifications.domain import routing
from vies_shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    """Channels, retry schedule, webhook guard, digest time and the duty officer's contact."""

    service: str = "notifications"

    # email (SMTP host and port come from the shared VIES_SMTP_HOST / VIES_SMTP_PORT)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    smtp_ca_file: str = ""  # CA bundle to verify the SMTP server's certificate (system CAs when empty)
    smtp_timeout_seconds: float = Field(default=15.0, gt=0)
    smtp_connections: int = Field(default=2, ge=1, le=16)
    # An SMTP connection left idle is reused for this long (0: a new connection per batch).
    smtp_keepalive_seconds: float = Field(default=30.0, ge=0)
    mail_from: str = "VIES <notifications@vies.example.org>"
    message_id_domain: str = "notifications.vies.example.org"

    # SMS provider adapter (HTTP, JSON body, bearer token)
    sms_provider_url: str = ""
    sms_provider_token: str = ""
    sms_sender: str = "VIES"
    sms_timeout_seconds: float = Field(default=10.0, gt=0)

    # webhooks (Standard Webhooks); the allow-list holds hosts, IP addresses or CIDR ranges, comma-separated
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)  # the whole call, name resolution included
    # Calls in flight to one subscription at a time (per process); a pass takes at most four times as many.
    webhook_subscription_concurrency: int = Field(default=2, ge=1, le=64)
    webhook_allowlist: str = ""
    webhook_disable_after_seconds: float = Field(default=24 * 3600.0, gt=0)
    # Subscriptions' signing secrets are stored encrypted (Fernet) with the first of these keys,
    # comma-separated; the others still decrypt (key rotation). Required outside VIES_ENV=dev.
    webhook_secret_key: str = ""

    # The subscription owners' current rights, from the identity provider's admin REST API, asked
    # with a confidential client's service account (client credentials) holding realm-management
    # view-users. The realm URL defaults to VIES_OIDC_ISSUER; worker pods, which get no token
    # settings, set it here. Required outside VIES_ENV=dev on processes that deliver (workers).
    owner_directory_realm_url: str = ""  # e.g. https://auth.example.org/realms/vies
    owner_directory_client_id: str = "vies-notifications"
    owner_directory_client_secret: str = ""
    owner_directory_admin_url: str = ""  # Keycloak's base URL for the admin API; default: from the realm URL
    owner_rights_cache_seconds: float = Field(default=60.0, ge=0)
    owner_rights_retry_seconds: float = Field(default=30.0, gt=0)

    # delivery worker and retry schedule. The worker is woken by the commit that queues a message and at
    # the retries it schedules itself; delivery_poll_seconds is only the safety net that finds what other
    # processes queued or scheduled (another replica's retries, a re-drive, a crashed worker's claims).
    delivery_poll_seconds: float = Field(default=5.0, gt=0)
    delivery_batch_size: int = Field(default=100, ge=1, le=1000)
    delivery_concurrency: int = Field(default=16, ge=1)
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_retry_initial_seconds: float = Field(default=30.0, gt=0)
    delivery_retry_max_seconds: float = Field(default=3600.0, gt=0)
    # A claim is renewed every third of this while its pass runs; a crashed worker's claims are taken
    # over once it has passed.
    delivery_claim_seconds: float = Field(default=30.0, gt=0)
    # At shutdown, how long messages being sent may take to finish before the rest is handed back.
    delivery_drain_seconds: float = Field(default=5.0, ge=0)
    # Safety and security messages never give up on a transient failure; their backoff is capped lower.
    safety_retry_max_seconds: float = Field(default=600.0, gt=0)
    # A person's contact data travel on another topic and may arrive after the event: the message
    # waits for them (no attempt used) and is released the moment they are stored; it looks again
    # every contact_wait_seconds only in case that wake-up was lost (a crash right after the commit),
    # at most contact_wait_max_seconds (then it fails like any transient failure; safety messages keep waiting).
    contact_wait_seconds: float = Field(default=600.0, gt=0)
    contact_wait_max_seconds: float = Field(default=7 * 86400.0, gt=0)
    # The return-seminar invitation goes this long after a mission ends (one month; tests use seconds),
    # with a link to the seminar's page.
    return_seminar_delay_seconds: float = Field(default=30 * 86400.0, ge=0)
    return_seminar_url: str = "https://vies.example.org/volunteer/return-seminar"

    # people and places the routing table names
    default_language: str = "fr"
    duty_officer_name: str = "Permanence sécurité"
    duty_officer_email: str = "astreinte@vies.example.org"
    duty_officer_phone: str = "+33100000999"
    duty_officer_language: str = "fr"
    ops_email: str = "exploitation@vies.example.org"
    # The head office's safety mailbox (escalated incidents, unaccounted volunteers after the delay);
    # empty: the head office's address in the reference data.
    head_office_safety_email: str = ""
    # The volunteer's personal one-tap answer link in alert and reminder messages, the portal's short
    # page ({token} is replaced; the SMS carries the alert's message shortened, with this link). The
    # token is minted at rendering with VIES_SAFETY_LINK_KEYS (comma-separated, the first signs), the
    # keys the missions service checks it with. Where no personal link can be made: the signed-in page.
    safety_check_url: str = "https://vies.example.org/s/{token}"
    safety_check_signed_in_url: str = "https://vies.example.org/volunteer/safety-checks/{alert_id}"
    safety_link_keys: str = ""

    # regional digest: hour of the day (in digest_timezone) after which yesterday's digest goes out
    digest_hour: int = Field(default=7, ge=0, le=23)
    digest_timezone: str = "Europe/Paris"
    digest_check_seconds: float = Field(default=300.0, gt=0)
    digest_skip_empty: bool = True

    @property
    def webhook_allowed(self) -> list[str]:
        """The allow-list entries, parsed."""
        return [entry.strip() for entry in self.webhook_allowlist.split(",") if entry.strip()]

    @property
    def delays(self) -> dict[str, float]:
        """The delays of the routing table's delayed rows, by name."""
        return {routing.RETURN_SEMINAR: self.return_seminar_delay_seconds}
