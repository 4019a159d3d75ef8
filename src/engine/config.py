"""Typed settings read once from the environment and `.env`."""

from __future__ import annotations

import logging
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parents[1]
MIN_JWT_SECRET_BYTES = 32

log = logging.getLogger(__name__)


class SettingsError(ValueError):
    """A setting makes start-up impossible; the message says which and why."""


class LLMBackend(BaseModel):
    """One model server of the fleet (an entry of `LLM_BACKENDS`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    provider: Literal["ollama", "openai", "local"] = "ollama"
    base_url: str = Field(min_length=1)
    model: str = Field(min_length=1)
    capacity: int = Field(ge=1, le=10000)
    """Generations the server runs at once, counted across every engine process."""
    weight: float = Field(1.0, gt=0)
    api_key: SecretStr = SecretStr("not-needed")

    def public(self) -> dict[str, object]:
        return {
            "name": self.name,
            "provider": self.provider,
            "base_url": self.base_url,
            "model": self.model,
            "capacity": self.capacity,
            "weight": self.weight,
        }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_prefix=""
    )

    environment: Literal["dev", "production", "test"] = "dev"
    host: str = "127.0.0.1"
    port: int = 8100
    log_level: str = "INFO"
    logs_dir: Path | None = None
    log_format: Literal["text", "json"] = "text"
    log_file_max_mb: int = Field(20, ge=1)
    log_file_backups: int = Field(10, ge=1)
    forwarded_allow_ips: str = "127.0.0.1"

    database_url: str = ""
    data_dir: Path = Path("data")
    db_pool_min: int = Field(2, ge=1)
    db_pool_max: int = Field(10, ge=1)
    db_command_timeout: float = 30.0
    database_app_role: str = Field("rugpt_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "rugpt-engine"
    jwt_audience: str = "rugpt-api"
    access_token_ttl_seconds: int = Field(900, ge=2)
    refresh_token_ttl_seconds: int = Field(30 * 24 * 3600, ge=60)
    bcrypt_rounds: int = Field(12, ge=4, le=16)

    login_max_failures_per_account: int = Field(5, ge=1)
    login_max_failures_per_ip: int = Field(30, ge=1)
    login_failure_window_seconds: int = Field(900, ge=1)

    # audit_log rows older than this are deleted by `rugpt audit-purge` (0 = keep forever)
    audit_retention_days: int = Field(365, ge=0, le=100 * 365)

    admin_username: str = "admin"
    admin_password: SecretStr | None = None
    admin_email: str = "admin@localhost"

    llm_provider: Literal["ollama", "openai", "local"] = "ollama"
    llm_base_url: str = "http://127.0.0.1:11434"
    llm_model: str = "qwen2.5:7b"
    llm_api_key: SecretStr = SecretStr("not-needed")
    llm_timeout_seconds: float = Field(300.0, gt=0)
    llm_max_concurrency: int = Field(2, ge=1)
    llm_temperature: float = 0.2
    # The Ollama client's HTTP transport for http:// servers: `lean` (llm/transport.py) or
    # `httpx` (httpx's own), the way back should a server or proxy disagree with the lean one.
    llm_http_transport: Literal["lean", "httpx"] = "lean"
    llm_health_timeout_seconds: float = 2.0
    # The fleet; empty = the one backend the LLM_* settings above describe ("default").
    llm_backends: list[LLMBackend] = Field(default_factory=list)
    llm_history_messages: int = Field(20, ge=1)
    llm_history_chars: int = Field(12000, ge=500)

    local_model_path: Path | None = None
    local_context_size: int = Field(4096, ge=256)
    local_threads: int | None = Field(None, ge=1)
    local_max_tokens: int = Field(256, ge=1)
    local_chat_format: str = ""
    local_port: int = Field(0, ge=0, le=65535)
    local_start_timeout_seconds: float = Field(120.0, gt=0)

    agent_max_steps: int = Field(6, ge=1, le=50)
    ai_max_concurrent_jobs: int | None = Field(None, ge=1)
    ai_lease_seconds: float = Field(60.0, gt=0)
    ai_max_attempts: int = Field(3, ge=1)
    # accepted for old .env files; every claim pass recovers (AI_POLL_INTERVAL_SECONDS)
    ai_recovery_interval_seconds: float = Field(30.0, gt=0)
    ai_recovery_enabled: bool = True
    # false on a replica that only serves HTTP: another process (`rugpt worker`) answers
    ai_worker_enabled: bool = True
    ai_poll_interval_seconds: float = Field(1.0, gt=0)
    ai_proactive_aging_seconds: float = Field(120.0, ge=0)
    ai_backend_eject_after: int = Field(3, ge=1)
    ai_backend_backoff_seconds: float = Field(10.0, gt=0)
    ai_backend_backoff_max_seconds: float = Field(300.0, gt=0)
    ai_backend_health_interval_seconds: float = Field(15.0, gt=0)

    events_relay_enabled: bool = True

    scheduler_enabled: bool = True
    scheduler_interval_seconds: float = Field(30.0, gt=0)
    scheduler_batch_size: int = Field(100, ge=1, le=10000)
    scheduler_concurrency: int = Field(4, ge=1)
    scheduler_lease_seconds: float = Field(60.0, gt=0)
    scheduler_missed_grace_seconds: float = Field(300.0, ge=0)
    scheduler_agent_timeout_seconds: float = Field(600.0, gt=0)
    scheduler_max_attempts: int = Field(3, ge=1)
    scheduler_shutdown_grace_seconds: float = Field(10.0, ge=0)

    notification_dispatch_interval_seconds: float = Field(5.0, gt=0)
    notification_batch_size: int = Field(50, ge=1, le=10000)
    notification_concurrency: int = Field(8, ge=1)
    notification_max_attempts: int = Field(5, ge=1)
    notification_backoff_base_seconds: float = Field(30.0, ge=0)
    notification_backoff_max_seconds: float = Field(3600.0, ge=0)
    notification_lease_seconds: float = Field(60.0, gt=0)

    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "rugpt@localhost"
    smtp_security: Literal["none", "starttls", "ssl"] = "starttls"
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    smtp_validate_certs: bool = True

    telegram_bot_token: SecretStr = SecretStr("")
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_webhook_secret: SecretStr = SecretStr("")
    telegram_bot_username: str = ""
    telegram_timeout_seconds: float = Field(15.0, gt=0)
    telegram_max_inline_wait_seconds: float = Field(5.0, ge=0)
    telegram_link_token_ttl_seconds: int = Field(3600, ge=60)
    telegram_default_role: str = "chu"

    web_search_url: str = ""
    web_dist_dir: Path = REPO_DIR / "web" / "dist"

    prompt_dir: Path = PACKAGE_DIR / "prompts"
    max_page_size: int = 200

    # Garbage collection, set once the app has started (bench/README.md, "Engine towards its
    # floor"): the objects made by imports and start-up are moved out of the collector's
    # sight (`gc.freeze()`), so a full collection no longer walks them (~100 ms each);
    # GC_GEN0_THRESHOLD (0: Python's 700) is how many more container objects made than freed
    # start a young collection: at 700 the objects of 16 requests in flight alone start one
    # every few requests, though nearly all of them are freed by reference counting.
    gc_freeze_after_start: bool = True
    gc_gen0_threshold: int = Field(5_000, ge=0)
    # FastAPI's native OpenTelemetry (spans, metrics, logs through the global providers).
    # The engine sets up no provider; on, every request still looks the three up.
    opentelemetry_enabled: bool = False

    @field_validator("local_model_path", "local_threads", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        names = [b.name for b in self.llm_backends]
        if len(set(names)) != len(names):
            raise SettingsError("LLM_BACKENDS: every backend needs a name of its own")
        if any(b.provider == "local" for b in self.llm_backends):
            raise SettingsError(
                "LLM_BACKENDS: the managed local model is LLM_PROVIDER=local, not a fleet entry"
            )
        if self.db_pool_min > self.db_pool_max:
            raise SettingsError("DB_POOL_MIN must not exceed DB_POOL_MAX")
        if self.jwt_secret is None:
            if self.environment == "production":
                raise SettingsError(
                    "JWT_SECRET is required in production: set it to a random string "
                    f"of at least {MIN_JWT_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"
                )
            self.jwt_secret = SecretStr(secrets.token_urlsafe(48))
            log.warning("JWT_SECRET is not set: generated a random one; tokens die on restart")
        if len(self.jwt_secret.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES:
            raise SettingsError(f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes long")
        return self

    @property
    def jwt_key(self) -> str:
        assert self.jwt_secret is not None
        return self.jwt_secret.get_secret_value()

    @property
    def backends(self) -> list[LLMBackend]:
        """The fleet: `LLM_BACKENDS`, or the single server of the LLM_* settings."""
        if self.llm_backends:
            return self.llm_backends
        return [
            LLMBackend(
                name="default",
                provider=self.llm_provider,
                base_url=self.llm_base_url,
                model=self.llm_model,
                capacity=self.llm_max_concurrency,
                api_key=self.llm_api_key,
            )
        ]

    @property
    def ai_job_slots(self) -> int:
        """AI answers this process works on at once; by default the fleet's whole capacity
        (the database's slots are the real limit, across processes)."""
        return self.ai_max_concurrent_jobs or sum(b.capacity for b in self.backends)

    @property
    def uses_embedded_db(self) -> bool:
        return not self.database_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
