"""Settings of the portal (``VIES_*`` environment variables, like every service)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from vies_shared.keycloak import PORTAL_CLIENT


class PortalSettings(BaseSettings):
    """Where the portal listens, its session store, the provider and the four APIs."""

    model_config = SettingsConfigDict(env_prefix="VIES_", extra="ignore")

    env: Literal["dev", "production"] = "production"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    """The address people type; the provider sends them back to ``<public_url>/auth/callback``."""
    log_level: str = "INFO"
    mongodb_uri: str = "mongodb://127.0.0.1:27017"
    portal_mongodb_db: str = "vies_portal"
    oidc_issuer: str = "http://127.0.0.1:8080/realms/vies"
    portal_client_id: str = PORTAL_CLIENT
    portal_client_secret: str = ""
    """The confidential client's secret (a Kubernetes Secret in production)."""
    recruitment_url: str = "http://127.0.0.1:8001"
    partners_url: str = "http://127.0.0.1:8002"
    missions_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"
    api_timeout_seconds: float = Field(default=5.0, gt=0)
    session_idle_minutes: int = Field(default=60, ge=1, le=24 * 60)
    """A session not used for this long is gone: the person signs in again."""
    drain_seconds: float = Field(default=10.0, gt=0)

    @property
    def secure_cookies(self) -> bool:
        """``Secure`` cookies everywhere but plain-HTTP local development."""
        return self.public_url.startswith("https://")

    @property
    def redirect_uri(self) -> str:
        """Where the provider sends the authorization code."""
        return f"{self.public_url.rstrip('/')}/auth/callback"

    def api_url(self, service: str) -> str:
        """Base URL of one of the four services' APIs."""
        urls = {
            "recruitment": self.recruitment_url,
            "partners": self.partners_url,
            "missions": self.missions_url,
            "notifications": self.notifications_url,
        }
        return urls[service].rstrip("/")
