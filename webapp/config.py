"""Settings from the environment (a `.env` file in the project folder is read too).

Every variable is listed with its default in the README ("Konfiguration"). Settings that users
edit (globals, prefixes, texts, job settings) live in the database, never here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_PATH = Path(os.environ.get("INSTANCE_PATH", PROJECT_ROOT / "instance"))

load_dotenv(PROJECT_ROOT / ".env")


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def embedded_redis_url(instance_path: Path = INSTANCE_PATH) -> str:
    """The URL of the embedded redis-server that `make run` starts when REDIS_URL is unset."""
    return f"unix://{instance_path / 'redis.sock'}"


@dataclass(frozen=True)
class RunPorts:
    """The ports `make run` listens on at 127.0.0.1: the web server, the websms sandbox, the
    modem simulator and the demo's SMTP sink."""

    web: int = 5000
    websms: int = 8025
    modem: int = 4001
    mail: int = 8026


# Each port of RunPorts and the environment variable that sets it.
RUN_PORT_VARIABLES = {
    "web": "PORT",
    "websms": "WEBSMS_SIM_PORT",
    "modem": "MODEM_SIM_PORT",
    "mail": "MAIL_SINK_PORT",
}


def run_ports() -> RunPorts:
    """The ports of `make run` from the environment (defaults of RunPorts); ValueError with a
    German sentence naming the variable when one is no port number."""
    values: dict[str, int] = {}
    for field_name, variable in RUN_PORT_VARIABLES.items():
        raw = os.environ.get(variable, "").strip()
        if not raw:
            continue
        if not raw.isdigit() or not 1 <= int(raw) <= 65535:
            raise ValueError(f"{variable}={raw} ist keine Portnummer (1–65535).")
        values[field_name] = int(raw)
    ports = RunPorts(**values)
    taken: dict[int, str] = {}
    for field_name, variable in RUN_PORT_VARIABLES.items():
        port = getattr(ports, field_name)
        if port in taken:
            raise ValueError(f"{taken[port]} und {variable} nennen denselben Port {port}.")
        taken[port] = variable
    return ports


def secure_instance(instance_path: Path) -> None:
    """Keep the instance folder private: umask 077 for this process, so what it creates there
    (SQLite database with -wal/-shm, key files, the embedded Redis, the demo's mails) is 0600 /
    0700 for the owner only, and the folder itself made or set to 0700."""
    os.umask(0o077)
    instance_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(PermissionError):  # a folder of another owner: theirs to set
        instance_path.chmod(0o700)


def _secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept under instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _sms_secret_key(instance_path: Path) -> str:
    """SMS_SECRET_KEY (Fernet key of stored credentials) from the environment, else one
    generated once and kept under instance/ (see webapp/jobs/secrets.py)."""
    if os.environ.get("SMS_SECRET_KEY"):
        return os.environ["SMS_SECRET_KEY"]
    from webapp.jobs.secrets import instance_key

    return instance_key(instance_path)


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment plus `overrides` (tests)."""
    overrides = overrides or {}
    instance_path = Path(overrides.get("INSTANCE_PATH", INSTANCE_PATH))
    secure_instance(instance_path)  # before anything under it is made
    production = os.environ.get("APP_ENV", "development") == "production"
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'sms.sqlite'}"
    redis_url = os.environ.get("REDIS_URL") or embedded_redis_url(instance_path)
    config: dict[str, Any] = {
        "APP_ENV": "production" if production else "development",
        "INSTANCE_PATH": str(instance_path),
        "SECRET_KEY": overrides.get("SECRET_KEY") or _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "TIMEZONE": os.environ.get("TIMEZONE", "Europe/Vienna"),
        "DEFAULT_PHONE_REGION": os.environ.get("DEFAULT_PHONE_REGION", "AT"),
        # The most SMS a run of Service SMS claims at once (it claims about 2 s of sending at
        # its pace); the lock of a run in seconds (renewed every quarter of it; a run on another
        # host that died keeps the job from starting this long); the seconds a run may claim
        # for before it leaves the rest to the next run (RQ's timeout is 5 minutes more).
        "SMS_DISPATCH_BATCH": int(os.environ.get("SMS_DISPATCH_BATCH", "200")),
        # Passing errors in a row of one SMS on one channel after which it goes to another
        # channel (when another may send it; README "Kanäle").
        "SMS_CHANNEL_TRANSIENTS": int(os.environ.get("SMS_CHANNEL_TRANSIENTS", "3")),
        "JOB_LOCK_SECONDS": int(os.environ.get("JOB_LOCK_SECONDS", "60")),
        "SMS_RUN_BUDGET_SECONDS": int(os.environ.get("SMS_RUN_BUDGET_SECONDS", "600")),
        # Longest SMS accepted, in segments (each 153 GSM-7 / 67 Unicode characters).
        "SMS_MAX_SEGMENTS": int(os.environ.get("SMS_MAX_SEGMENTS", "10")),
        "SMS_SECRET_KEY": overrides.get("SMS_SECRET_KEY") or _sms_secret_key(instance_path),
        "SMTP_HOST": os.environ.get("SMTP_HOST", "localhost"),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "25")),
        "SMTP_USER": os.environ.get("SMTP_USER", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _flag("SMTP_STARTTLS", False),
        "SMTP_FROM": os.environ.get("SMTP_FROM", "sms-modul@localhost"),
        # The address users open the app at (links in forwarded SMS e-mails), e.g. https://sms.hv.at
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", ""),
        # Session cookie: never readable by scripts, not sent on cross-site requests.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", production),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "BABEL_DEFAULT_LOCALE": "de",
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("TIMEZONE", "Europe/Vienna"),
        "LANGUAGES": ["de", "en"],
        # Failed logins allowed per user name and per client address.
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "5 per 15 minutes"),
        # A session ends after this many minutes without a request of its user.
        "SESSION_IDLE_MINUTES": int(os.environ.get("SESSION_IDLE_MINUTES", "480")),
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are believed
        # (0: none, the app is reached directly; 1: one nginx/Apache in front, …).
        "TRUSTED_PROXIES": int(os.environ.get("TRUSTED_PROXIES", "0")),
        # GET /metrics (Prometheus): the bearer token a scraper must send, and/or the client
        # addresses it must come from (comma-separated addresses or CIDR networks). Neither
        # set: /metrics answers 404.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        "METRICS_ALLOWED_ADDRESSES": os.environ.get("METRICS_ALLOWED_ADDRESSES", ""),
        # Per API token: requests per minute and SMS per calendar day (a batch of 50 counts
        # 50); 0 switches a limit off. Counted in RATELIMIT_STORAGE_URI.
        "API_REQUESTS_PER_MINUTE": int(os.environ.get("API_REQUESTS_PER_MINUTE", "300")),
        "API_SMS_PER_DAY": int(os.environ.get("API_SMS_PER_DAY", "20000")),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI")
        or _limiter_storage_uri(redis_url),
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_HEADERS_ENABLED": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Housekeeping (webapp/jobs/housekeeping.py, once a day by "Service SMS" and
        # `flask prune`): days kept of job runs, Errorlog entries and websms notificationIds;
        # API_IDEMPOTENCY_DAYS is both how long the API promises a retry with the same
        # Idempotency-Key gets the first answer and when the key is deleted. 0: for ever.
        "JOB_RUN_KEEP_DAYS": int(os.environ.get("JOB_RUN_KEEP_DAYS", "90")),
        "ERRORLOG_KEEP_DAYS": int(os.environ.get("ERRORLOG_KEEP_DAYS", "90")),
        "API_IDEMPOTENCY_DAYS": int(os.environ.get("API_IDEMPOTENCY_DAYS", "7")),
        "WEBHOOK_NOTIFICATION_KEEP_DAYS": int(
            os.environ.get("WEBHOOK_NOTIFICATION_KEEP_DAYS", "30")
        ),
        # The largest request body in bytes (also chunked ones, read up to this and refused):
        # the API's biggest batch (1,000 SMS of 1,530 characters) fits; anything larger is 413.
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_CONTENT_LENGTH", str(4 * 1024 * 1024))),
    }
    config.update(overrides)
    return config


def _limiter_storage_uri(redis_url: str) -> str:
    """Translate a redis-py URL into the `limits` library's storage URI."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url
