"""Switchboard settings.

Every setting comes from the environment (see the README's table). With nothing set,
Switchboard runs in its embedded mode: a SQLite file, the in-memory channel layer, Celery
tasks run eagerly in the server process and periodic tasks on a scheduler thread.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import httpx
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("SWITCHBOARD_LOCAL_DIR", BASE_DIR / ".local"))

DJANGO_ENV = os.environ.get("DJANGO_ENV", "development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("DJANGO_ENV must be 'development' or 'production'.")
PRODUCTION = DJANGO_ENV == "production"
DEBUG = not PRODUCTION and os.environ.get("DJANGO_DEBUG", "1") == "1"


def _local_secret(name, generate):
    """Read a generated secret from the git-ignored local folder, creating it once."""
    path = LOCAL_DIR / name
    if not path.exists():
        LOCAL_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(generate())
        path.chmod(0o600)
    return path.read_text().strip()


def _required_in_production(name, generate):
    value = os.environ.get(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production.")
    return _local_secret(name.lower(), generate)


def _new_fernet_key():
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


SECRET_KEY = _required_in_production("SECRET_KEY", lambda: secrets.token_urlsafe(50))
FIELD_ENCRYPTION_KEY = _required_in_production("FIELD_ENCRYPTION_KEY", _new_fernet_key)

PORT = int(os.environ.get("PORT", "8000"))
PUBLIC_URL = os.environ.get("PUBLIC_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
_public = urlsplit(PUBLIC_URL)
PUBLIC_ORIGIN = f"{_public.scheme}://{_public.netloc}"

_default_hosts = "" if PRODUCTION else "127.0.0.1,localhost,[::1]"
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", _default_hosts).split(",") if h.strip()
]
if _public.hostname and _public.hostname not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_public.hostname)
CSRF_TRUSTED_ORIGINS = [PUBLIC_ORIGIN]

INBOUND_EMAIL_DOMAIN = os.environ.get("INBOUND_EMAIL_DOMAIN", "inbound.switchboard.localhost")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "channels",
    "inbox",
    "contacts",
    "conversations",
    "channels_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last: it is synchronous, and under ASGI every middleware inside a synchronous one
    # runs synchronously too, in the one thread the request is handed to. Placed higher,
    # the middlewares below it ran asynchronously, each hook a hop to a thread and back.
    "inbox.middleware.UserPreferencesMiddleware",
]

ROOT_URLCONF = "inbox.urls"
ASGI_APPLICATION = "inbox.asgi.application"
# Threads a server process runs requests' synchronous work in, reused from request to
# request (inbox/asgi_handler.py); more requests at once wait for one. Fewer than the
# database pool's connections.
ASGI_REQUEST_THREADS = int(os.environ.get("ASGI_REQUEST_THREADS", "8"))
WSGI_APPLICATION = "inbox.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Health checks: a pooled connection is checked as it is handed out, so one broken by
    # a database restart is replaced instead of failing the request or task that gets it.
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
    if _db["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI every request may run on a different thread: persistent connections
        # would leak, so connections come from psycopg's pool instead.
        _db["OPTIONS"] = {
            "pool": {
                "min_size": int(os.environ.get("DATABASE_POOL_MIN", "2")),
                "max_size": int(os.environ.get("DATABASE_POOL_MAX", "20")),
                "timeout": 10,
            }
        }
else:
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
        "OPTIONS": {
            # Concurrent writers (the server threads and the scheduler) would otherwise
            # hit "database is locked".
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
_db["TEST"] = {
    "NAME": os.environ.get(
        "DATABASE_TEST_NAME",
        "test_switchboard" if DATABASE_URL else str(LOCAL_DIR / "test-db.sqlite3"),
    )
}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery ----------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED = not REDIS_URL

CHANNEL_LAYER_READ_TIMEOUT = 15  # seconds; more than channels-redis's 5 s blocking pop

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_app.layer.BatchReceiveChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # redis-py caps an async pool at 100 connections; with many sockets
                        # group_discard would fail and leave stale group members.
                        "max_connections": 1000,
                        # A socket's receive blocks in BZPOPMIN for up to 5 s, and redis-py's
                        # default read timeout is also 5 s: under load the client gave up
                        # first, the consumer died and its websocket closed. Reads wait
                        # longer than the pop; connecting still fails fast.
                        "socket_timeout": CHANNEL_LAYER_READ_TIMEOUT,
                        "socket_connect_timeout": 5,
                    }
                ],
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "switchboard"),
                # Per server process, not per socket: every socket of a process shares
                # one Redis queue, and a group message counts once however many of the
                # process's sockets it is for. Beyond this (a process that fell behind)
                # messages are dropped and clients catch up from the table.
                "capacity": 10000,
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The default cache holds only what may be lost: send-rate counters and sign-in rate
# limits. It is shared by every process through Redis when there is one.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Rendered list rows and thread messages, in each process's own memory (at most 20,000,
    # a few KiB each). A key is everything its rendering shows (conversations.fragments), so
    # an entry is never stale and nothing has to be shared or cleared: a change is a new key.
    "fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "fragments",
        "TIMEOUT": 3600,
        "OPTIONS": {"MAX_ENTRIES": 20_000},
    },
}
if REDIS_URL:
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CHANNEL_LAYER_PREFIX", "switchboard"),
    }

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
if os.environ.get("WORKER_CONCURRENCY"):
    CELERY_WORKER_CONCURRENCY = int(os.environ["WORKER_CONCURRENCY"])
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django support closes a worker process's whole connection pool before and after
# every task unless told to reuse it: each task then opened new PostgreSQL connections.
# A worker process keeps its pool (reopened after this many tasks); between tasks its
# connection goes back to the pool (inbox/celery.py).
CELERY_DB_REUSE_MAX = 10_000
# A webhook enqueues its processing after storing the delivery. When Redis is down the
# stored event waits for the sweeper, so publishing must give up quickly, not block.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "switchboard")
# The longest delay a retry may be scheduled with. The Redis broker redelivers any
# unacknowledged task after its visibility timeout, so that must be longer still.
TASK_MAX_RETRY_DELAY = int(os.environ.get("TASK_MAX_RETRY_DELAY", "900"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(
        os.environ.get("CELERY_VISIBILITY_TIMEOUT", str(TASK_MAX_RETRY_DELAY + 2700))
    ),
}
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-sockets": {
        "task": "channels_app.tasks.sweep_stale_sockets",
        "schedule": timedelta(minutes=1),
    },
    "wake-snoozed-conversations": {
        "task": "conversations.tasks.wake_snoozed_conversations",
        "schedule": timedelta(minutes=1),
    },
    "sweep-inbound-events": {
        "task": "inbox.tasks.sweep_inbound_events",
        "schedule": timedelta(seconds=30),
    },
    "sweep-outbound-messages": {
        "task": "inbox.tasks.sweep_outbound_messages",
        "schedule": timedelta(minutes=1),
    },
    "poll-mailboxes": {
        "task": "inbox.tasks.poll_mailboxes",
        "schedule": timedelta(seconds=int(os.environ.get("IMAP_POLL_SECONDS", "60"))),
    },
    "poll-telegram-updates": {
        "task": "inbox.tasks.poll_telegram_updates",
        "schedule": timedelta(seconds=5),
    },
    "sync-message-templates": {
        "task": "inbox.tasks.sync_message_templates",
        "schedule": timedelta(hours=1),
    },
    "prune-live-events": {
        "task": "channels_app.tasks.prune_live_events",
        "schedule": timedelta(minutes=10),
    },
}

# --- Messaging providers ----------------------------------------------------------------------
# Base URLs are settings so tests and the demo point them at the provider sandbox.
WHATSAPP_GRAPH_URL = os.environ.get("WHATSAPP_GRAPH_URL", "https://graph.facebook.com").rstrip("/")
MESSENGER_GRAPH_URL = os.environ.get("MESSENGER_GRAPH_URL", "https://graph.facebook.com").rstrip(
    "/"
)
META_GRAPH_VERSION = os.environ.get("META_GRAPH_VERSION", "v21.0")
TELEGRAM_API_URL = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
TWILIO_API_URL = os.environ.get("TWILIO_API_URL", "https://api.twilio.com").rstrip("/")
# The provider sandbox (`manage.py sandbox`, started by `make run` on SANDBOX_PORT), where
# `manage.py simulate` hosts its media.
SANDBOX_URL = os.environ.get(
    "SANDBOX_URL", f"http://127.0.0.1:{os.environ.get('SANDBOX_PORT', '8025')}"
).rstrip("/")
# Every provider call has explicit timeouts (seconds).
PROVIDER_CONNECT_TIMEOUT = float(os.environ.get("PROVIDER_CONNECT_TIMEOUT", "5"))
PROVIDER_READ_TIMEOUT = float(os.environ.get("PROVIDER_READ_TIMEOUT", "20"))
PROVIDER_HTTP_TIMEOUT = httpx.Timeout(
    connect=PROVIDER_CONNECT_TIMEOUT,
    read=PROVIDER_READ_TIMEOUT,
    write=PROVIDER_READ_TIMEOUT,
    pool=PROVIDER_CONNECT_TIMEOUT,
)
# Webhook bodies up to this size are accepted (Meta sends up to 3 MB); larger get 413.
WEBHOOK_MAX_BODY_BYTES = 4 * 1024 * 1024
# Inbound media larger than this is not downloaded (the message says so).
# Deliveries a worker applies in one transaction when they queue up (see inbox/inbound.py).
INBOUND_BATCH_SIZE = int(os.environ.get("INBOUND_BATCH_SIZE", "20"))
INBOUND_MEDIA_MAX_BYTES = int(os.environ.get("INBOUND_MEDIA_MAX_BYTES", str(25 * 1024 * 1024)))
# Sending attempts for a message the provider did not take (429, 5xx, refused connection).
OUTBOUND_MAX_ATTEMPTS = int(os.environ.get("OUTBOUND_MAX_ATTEMPTS", "6"))
OUTBOUND_RETRY_BASE_DELAY = float(os.environ.get("OUTBOUND_RETRY_BASE_DELAY", "2"))

# --- Live events ------------------------------------------------------------------------------
LIVE_EVENT_RETENTION = timedelta(days=int(os.environ.get("LIVE_EVENT_RETENTION_DAYS", "2")))
# Event ids are handed out before commit, so an event can become visible after a later
# one. On catch-up the server re-reads events this much older than the client's last one.
LIVE_EVENT_CATCHUP_WINDOW = timedelta(seconds=10)
LIVE_EVENT_CATCHUP_LIMIT = 500

# A customer message within this time after a conversation was resolved reopens it;
# later ones start a new conversation.
CONVERSATION_REOPEN_WINDOW = timedelta(
    hours=int(os.environ.get("CONVERSATION_REOPEN_WINDOW_HOURS", "24"))
)

# --- Auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "inbox.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "conversations:inbox"
ACCOUNT_ADAPTER = "inbox.adapters.NoSignupAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,5/m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Switchboard"

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish")), ("it", _("Italian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ----------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Attachments, agents' and visitors' alike (conversations/attachments.py checks them).
ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_BYTES", str(10 * 1024 * 1024)))
ATTACHMENT_MAX_FILES = 10
# How long a signed link to an attachment (for providers fetching our media) works, in s.
ATTACHMENT_URL_MAX_AGE = int(os.environ.get("ATTACHMENT_URL_MAX_AGE", "3600"))
# Uploads bigger than this are streamed to a temporary file instead of held in memory.
# DATA_UPLOAD_MAX_MEMORY_SIZE counts only the non-file fields of a multipart request, so
# its default does not limit attachments. More files than ATTACHMENT_MAX_FILES must reach
# the view, which answers with a clear error instead of Django's bare 400.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# A request body (other than files) may be as large as a provider's webhook delivery.
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_MAX_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FILES = max(100, ATTACHMENT_MAX_FILES * 2)

# --- E-mail -----------------------------------------------------------------------------------
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "1") == "1"
    EMAIL_TIMEOUT = 15
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Switchboard <no-reply@localhost>")

# --- Widget -----------------------------------------------------------------------------------
WIDGET_MESSAGE_MAX_LENGTH = 4000
REPLY_MAX_LENGTH = 4000

# --- Security ---------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "1") == "1"
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF],
        # 'self' covers ws:// and wss:// to this host in CSP level 3 browsers.
        "connect-src": [SELF],
        "frame-src": [SELF, PUBLIC_ORIGIN],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
