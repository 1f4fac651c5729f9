"""Settings of a regional consumer, read from ``VIES_*`` environment variables (docs/CONTRACT.md 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator

from vies_shared.reference import is_region, regions
from vies_shared.settings import ServiceSettings

DEFAULT_HTTP_PORT = 8080  # what deploy/k8s/components/regional probes


def region_slug(region: str) -> str:
    """``FR-ARA`` → ``fr_ara`` (database names); ``fr-ara`` is the Kubernetes slug."""
    return region.lower().replace("-", "_")


class RegionalSettings(ServiceSettings):
    """A branch's consumer: its region, its own MongoDB database, optional JSON Lines file and webhook."""

    service: str = "regional"
    region: str
    http_port: int = DEFAULT_HTTP_PORT
    # Appends every kept event (CloudEvents JSON, one per line) to this file when set.
    regional_jsonl_path: Path | None = None
    # POSTs every kept event (CloudEvents JSON) to this URL when set; a persisted queue survives outages.
    regional_webhook_url: str | None = None
    # Sent as ``Authorization: Bearer <token>`` to the webhook when set.
    regional_webhook_token: str = ""
    # At most 6 s: a run of the webhook job (3 s plus one request) must end within its 10 s lease.
    regional_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=6.0)
    regional_webhook_retry_initial_seconds: float = Field(default=1.0, gt=0)
    regional_webhook_retry_max_seconds: float = Field(default=300.0, gt=0)
    # How often the webhook and file writers look for queued events.
    regional_forward_poll_seconds: float = Field(default=1.0, gt=0)
    regional_forward_batch: int = Field(default=100, ge=1)
    # Appended to the consumer group: a second, independent reader for the same region
    # (e.g. ``.audit``) stays inside the Kafka ACL's ``vies.regional.<REGION>`` prefix.
    regional_group_suffix: str = ""

    @field_validator("region", mode="before")
    @classmethod
    def _known_region(cls, value: Any) -> str:
        code = str(value or "").strip().upper()
        if not is_region(code):
            raise ValueError(f"unknown region {value!r}; one of {', '.join(sorted(regions()))}")
        return code

    @field_validator("regional_jsonl_path", "regional_webhook_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        # The Kubernetes overlays set VIES_REGIONAL_WEBHOOK_URL= (empty) for "no webhook".
        return None if value is None or str(value).strip() == "" else value

    @field_validator("regional_webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            url = urlparse(value)
            if url.scheme not in ("http", "https") or not url.netloc:
                raise ValueError("the webhook URL must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _defaults_from_service(self) -> RegionalSettings:
        # Replaces ServiceSettings' validator of the same name: the database is the region's.
        if not self.mongodb_db:
            self.mongodb_db = f"vies_regional_{region_slug(self.region)}"
        if not self.http_port:
            self.http_port = DEFAULT_HTTP_PORT
        return self

    @property
    def consumer_group(self) -> str:
        """``vies.regional.<REGION>`` (after the topic prefix), the group the branch's Kafka user may use."""
        return f"{self.topic_prefix}vies.regional.{self.region}{self.regional_group_suffix}"
