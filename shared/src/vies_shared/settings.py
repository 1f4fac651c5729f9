"""Settings every service shares, read from ``VIES_*`` environment variables (docs/CONTRACT.md 3)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HTTP_PORTS = {"recruitment": 8001, "partners": 8002, "missions": 8003, "notifications": 8004}
# Published on purpose: it signs development tokens only, and a service outside
# ``VIES_ENV=dev`` refuses to start with it (``vies_shared.tokens.check_token_settings``).
DEV_JWT_SECRET = "vies-dev-secret-change-me-in-production"  # noqa: S105


class ServiceSettings(BaseSettings):
    """Common settings; a service subclasses it and sets ``service``."""

    model_config = SettingsConfigDict(env_prefix="VIES_", extra="ignore")

    service: str = "shared"
    env: Literal["dev", "production"] = "production"
    """``dev`` on a development machine and in tests: HS256 development tokens are accepted."""
    role: Literal["all", "api", "worker"] = "all"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ca_file: str = ""
    topic_prefix: str = ""
    mongodb_uri: str = "mongodb://127.0.0.1:27017"
    mongodb_db: str = ""
    oidc_issuer: str = ""
    """The identity provider's issuer URL (``iss`` of its tokens), e.g. ``https://auth.example.org/realms/vies``."""
    oidc_audience: str = "vies-api"
    oidc_jwks_url: str = ""
    """Where to fetch the issuer's signing keys; default ``<issuer>/protocol/openid-connect/certs``."""
    jwt_secret: str = ""
    """HS256 secret of development tokens (``VIES_ENV=dev`` only); empty means the published dev secret."""
    jwt_public_key: str = ""
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    trusted_request_id_from: str = "127.0.0.1/32,::1/128"
    """Peers (CIDRs) whose ``X-Request-ID`` is kept as the correlation id: the Ingress and the portal."""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    http_host: str = "127.0.0.1"
    http_port: int = 0
    log_level: str = "INFO"
    region: str = ""
    demo_data: bool = False
    # outbox relay
    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_seconds: float = Field(default=5.0, gt=0)
    """Safety-net poll of the outbox relay; a commit wakes it at once (in process, or by a change stream)."""
    relay_lease_seconds: float = Field(default=10.0, gt=0)
    outbox_retention_days: int = Field(default=7, ge=1)
    relay_stuck_failures: int = Field(default=10, ge=1)
    """Failed publications of one outbox record before it is reported stuck (at once when Kafka refuses it)."""
    relay_stale_seconds: float = Field(default=300.0, ge=0)
    """``/readyz`` answers 503 when the oldest pending outbox event is older than this (0: never)."""
    # consumers
    consumer_max_records: int = Field(default=200, ge=1)
    consumer_batch_timeout_ms: int = Field(default=100, ge=1)
    handler_attempts: int = Field(default=3, ge=1)
    consumer_transient_attempts: int = Field(default=10, ge=1)
    """Transient failures of one batch before it is split, and of one record before it counts as failed."""
    consumer_stall_seconds: float = Field(default=300.0, ge=0)
    """``/readyz`` answers 503 when a partition with lag has not moved for this long (0: never)."""
    retry_initial_seconds: float = Field(default=0.2, gt=0)
    retry_max_seconds: float = Field(default=30.0, gt=0)
    drain_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _defaults_from_service(self) -> ServiceSettings:
        if not self.mongodb_db:
            self.mongodb_db = f"vies_{self.service}"
        if not self.http_port:
            self.http_port = DEFAULT_HTTP_PORTS.get(self.service, 8000)
        return self

    @property
    def runs_api(self) -> bool:
        """Whether this process serves the command and query endpoints."""
        return self.role in ("all", "api")

    @property
    def runs_workers(self) -> bool:
        """Whether this process runs consumers, the outbox relay and schedulers."""
        return self.role in ("all", "worker")

    @property
    def consumer_group(self) -> str:
        """The service's consumer group id (``vies.<service>``)."""
        return f"{self.topic_prefix}vies.{self.service}"
