"""The one settings module, driven by the environment.

Every knob is an environment variable with a safe development default; with
DEBUG off the portal refuses to start without a SECRET_KEY or an OCPP_PASSWORD_KEY.
"""

import hashlib
import hmac
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from config.csp import CSP_POLICY
from config.env import envbool, envfloat, envint, envlist

BASE_DIR = Path(__file__).resolve().parent.parent


DEBUG = envbool("DEBUG", "1")

SECRET_KEY = os.getenv("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # django.contrib.admin with PortalAdminSite (config/admin_site.py): superusers only, audited.
    "config.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_htmx",
    "ninja",
    "config",
    "tenancy",
    "chargers",
    "restarts",
    "ocpp_gateway",
    "api",
]

MIDDLEWARE = [
    # First: forwarding headers count only from TRUSTED_PROXIES; request.client_address.
    "tenancy.middleware.TrustedProxyMiddleware",
    # First: request latency by view for /metrics (config/metrics.py), all of it counted.
    "config.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A Redis/kombu connection error nobody handled: a translated 503, not a 500.
    "tenancy.middleware.ServiceUnavailableMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# Database: DATABASE_URL, else an SQLite file so the demo runs with no server.
DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and the gateway read while one writes;
    # IMMEDIATE transactions plus a busy timeout make writers queue, not fail.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that cannot be reached fails a connection attempt in seconds instead
    # of hanging the thread for the operating system's TCP timeout (minutes).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", envint("DB_CONNECT_TIMEOUT", 5)
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # django-axes counts failed logins and refuses a (username, address) pair after
    # AXES_FAILURE_LIMIT failures until the cool-off has passed.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = envint("LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The client behind our proxy, not the proxy (which would lock everyone out at once).
AXES_CLIENT_IP_CALLABLE = "tenancy.audit.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "tenancy.views.login_locked_out"
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chargers:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "da"
LANGUAGES = [("da", _("Danish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Copenhagen"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# Security. In production TLS is terminated by a reverse proxy that sets
# X-Forwarded-Proto; cookies are secure and HSTS is on. The header is believed only from
# TRUSTED_PROXIES: TrustedProxyMiddleware drops it from anyone else.
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", "0" if DEBUG else "1")
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", "0" if DEBUG else "1")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if envbool("BEHIND_TLS_PROXY", "0" if DEBUG else "1"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "0" if DEBUG else "1")
# Health checks come from the proxy/orchestrator over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "0" if DEBUG else "1")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "0" if DEBUG else "1")

# Content-Security-Policy: config/csp.py.
SECURE_CSP = CSP_POLICY

# Reverse proxies (IP addresses or networks) whose X-Forwarded-For names the client, for
# the web (lockouts, API limits, audit) and the gateway alike; see tenancy/proxies.py.
# OCPP_TRUSTED_PROXIES is the old, gateway-only name: still read when TRUSTED_PROXIES is unset.
TRUSTED_PROXIES = envlist("TRUSTED_PROXIES", os.getenv("OCPP_TRUSTED_PROXIES", "127.0.0.1,::1"))
OCPP_TRUSTED_PROXIES = TRUSTED_PROXIES  # deprecated alias, for one release

# Redis: the Celery broker and the gateway's command channel.
REDIS_URL = os.getenv("REDIS_URL", "redis://127.0.0.1:6379/0")

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Unacknowledged tasks are redelivered after this long; it must exceed the
# longest task's hard time limit (see restarts/tasks.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 300)}
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", "0")
# Celery's Django fixup closes the database connection before and after every task unless
# this is set: a new PostgreSQL connection per task was a third of the worker's time in a
# bulk restart (make bench). Reused for this many tasks; between tasks Django's own checks
# (CONN_MAX_AGE, health check, unusable after an error) apply, see config/celery.py.
CELERY_DB_REUSE_MAX = envint("CELERY_DB_REUSE_MAX", 100)

# Remote restarts (restarts/). Times in seconds.
# How many chargers of one group may be resetting at once; the rest wait as queued.
RESTART_WAVE_SIZE = envint("RESTART_WAVE_SIZE", 10)
# How long a Reset waits for the charger's answer. A lost answer is no verdict: the job
# waits for the charger's boot until RESTART_BOOT_DEADLINE before it is "no answer".
RESTART_CALL_TIMEOUT = envfloat("RESTART_CALL_TIMEOUT", 30)
# Accepted (or its answer lost) but no BootNotification within this after the Reset was
# written: "did not come back" ("no answer" when the answer was lost).
RESTART_BOOT_DEADLINE = envint("RESTART_BOOT_DEADLINE", 600)
# A charger not connected when its turn comes (a reconnect storm) is waited for this
# long before its job is "skipped".
RESTART_RECONNECT_WAIT = envint("RESTART_RECONNECT_WAIT", 120)
# Reconnected without a BootNotification for this long: ask for one (TriggerMessage).
RESTART_BOOT_GRACE = envint("RESTART_BOOT_GRACE", 30)
# A restart that waits for a charging session to end gives up after this.
RESTART_SCHEDULED_DEADLINE = envint("RESTART_SCHEDULED_DEADLINE", 12 * 3600)
# A released job whose task never ran (a lost message) is sent again after this.
RESTART_RELEASE_STALE = envint("RESTART_RELEASE_STALE", 300)
# How often the beat enforces the deadlines above.
RESTART_ENFORCE_INTERVAL = envfloat("RESTART_ENFORCE_INTERVAL", 10)
# How often the beat looks for ended requests to e-mail a summary of (seconds).
RESTART_SUMMARY_INTERVAL = envfloat("RESTART_SUMMARY_INTERVAL", 30)
# Job ids per send task: one task claims, resets and records a chunk of a wave at once.
RESTART_SEND_BATCH = envint("RESTART_SEND_BATCH", 100)
# A pending wave release serves every job that finishes meanwhile; its mark lasts this long.
RESTART_RELEASE_DEBOUNCE = envint("RESTART_RELEASE_DEBOUNCE", 30)
# That release runs this long after the first finish, so finishes in a burst share it.
RESTART_RELEASE_DELAY = envfloat("RESTART_RELEASE_DELAY", 0.5)

# Self-healing (restarts/healing/): how often the beat looks for stuck chargers (seconds),
HEALING_INTERVAL = envfloat("HEALING_INTERVAL", 30)
# how often each connected charger of a group with self-healing on is probed (seconds),
HEALING_PROBE_EVERY = envint("HEALING_PROBE_EVERY", 300)
# how long a probe (TriggerMessage) waits for its answer, how many are sent per sweep,
HEALING_PROBE_TIMEOUT = envfloat("HEALING_PROBE_TIMEOUT", 10)
HEALING_PROBE_BATCH = envint("HEALING_PROBE_BATCH", 500)
# how long after a step the charger's health is judged,
HEALING_SETTLE = envint("HEALING_SETTLE", 60)
# and how long an unfinished firmware update holds restarts back at most.
HEALING_FIRMWARE_STALE = envint("HEALING_FIRMWARE_STALE", 7200)
# A case still waiting (charger away, a session or update that never ends) after this
# long is given up, and its admins told.
HEALING_CASE_MAX_AGE = envint("HEALING_CASE_MAX_AGE", 24 * 3600)

# "Genstart" on everything matching a filter posts one field per charger.
DATA_UPLOAD_MAX_NUMBER_FIELDS = envint("DATA_UPLOAD_MAX_NUMBER_FIELDS", 10_000)

CELERY_TASK_ROUTES = {"restarts.*": {"queue": "restarts"}}
# A worker started without -Q consumes every queue listed here, so the plain
# `celery -A config worker` of ARCHITECTURE.md serves restarts too; a deployment
# may still give restarts workers of their own with `-Q restarts`.
CELERY_TASK_QUEUES = [Queue("celery"), Queue("restarts")]
# A charger's connection history (chargers.ChargerEvent) is kept this many days.
CHARGER_HISTORY_DAYS = envint("CHARGER_HISTORY_DAYS", 30)

CELERY_BEAT_SCHEDULE = {
    "restarts-enforce-deadlines": {
        "task": "restarts.enforce_deadlines",
        "schedule": RESTART_ENFORCE_INTERVAL,
        "options": {"expires": RESTART_ENFORCE_INTERVAL},
    },
    "restarts-self-healing": {
        "task": "restarts.self_healing",
        "schedule": HEALING_INTERVAL,
        "options": {"expires": HEALING_INTERVAL},
    },
    # Planned restarts whose time has come join the queue (restarts/plans.py).
    "restarts-release-planned": {
        "task": "restarts.release_planned",
        "schedule": RESTART_ENFORCE_INTERVAL,
        "options": {"expires": RESTART_ENFORCE_INTERVAL},
    },
    # Requests that ended: claimed once, their requester e-mailed if any job failed.
    "restarts-send-summaries": {
        "task": "restarts.send_summaries",
        "schedule": RESTART_SUMMARY_INTERVAL,
        "options": {"expires": RESTART_SUMMARY_INTERVAL},
    },
    "chargers-prune-history": {
        "task": "chargers.prune_history",
        "schedule": 24 * 60 * 60,
        "options": {"expires": 60 * 60},
    },
    # Used and expired API refresh tokens (api/tasks.py).
    "api-prune-refresh-tokens": {
        "task": "api.prune_refresh_tokens",
        "schedule": 24 * 60 * 60,
        "options": {"expires": 60 * 60},
    },
}

# The OCPP gateway.
OCPP_HEARTBEAT_INTERVAL = envint("OCPP_HEARTBEAT_INTERVAL", 60)
# A charger that sends nothing for this long is shown disconnected.
OCPP_PRESENCE_TIMEOUT = envint("OCPP_PRESENCE_TIMEOUT", 180)
OCPP_CALL_TIMEOUT = envfloat("OCPP_CALL_TIMEOUT", 30)
OCPP_MAX_FRAME_BYTES = envint("OCPP_MAX_FRAME_BYTES", 64 * 1024)
# The gateway writes last-seen times and statuses in one batch this often (seconds).
OCPP_FLUSH_INTERVAL = envfloat("OCPP_FLUSH_INTERVAL", 1.0)
# Websocket pings reveal half-open sockets; a pong later than the timeout closes the socket.
OCPP_PING_INTERVAL = envfloat("OCPP_PING_INTERVAL", 20)
OCPP_PING_TIMEOUT = envfloat("OCPP_PING_TIMEOUT", 20)
# A websocket handshake (TCP accepted to upgrade answered) must finish within this.
OCPP_OPEN_TIMEOUT = envfloat("OCPP_OPEN_TIMEOUT", 10)
# Sockets one client address (IPv6: one /64) may hold (0: no limit). Behind a trusted proxy
# (TRUSTED_PROXIES) the address is the one it forwards; a trusted proxy's own connections
# without X-Forwarded-For (local tools, simulators) are not limited. High on purpose: a
# carrier-grade NAT or an M2M APN puts a whole fleet behind one address, and each socket
# after the handshake is one authenticated charger (a second socket for the same id
# replaces the first), so the cap is a memory backstop (README: "Connections per address").
OCPP_MAX_CONNECTIONS_PER_IP = envint("OCPP_MAX_CONNECTIONS_PER_IP", 10_000)
# The security profile (1 password, 2 TLS + password, 3 TLS + client certificate) the
# portal's add-charger form suggests; each charger keeps its own.
OCPP_DEFAULT_SECURITY_PROFILE = envint("OCPP_DEFAULT_SECURITY_PROFILE", 1)
# TLS in the gateway (wss://, security profiles 2 and 3; ocpp_gateway/tls.py). Certificate
# chains and keys pair by position (an ECDSA and an RSA chain serve every OCPP suite).
OCPP_TLS_CERT = envlist("OCPP_TLS_CERT", "")
OCPP_TLS_KEY = envlist("OCPP_TLS_KEY", "")
# CA bundle of charger certificates (profile 3); empty: no certificate is asked for.
OCPP_TLS_CLIENT_CA = os.getenv("OCPP_TLS_CLIENT_CA", "")
# PEM CRL(s) of that CA; when set, every charger certificate's issuer needs a current CRL.
OCPP_TLS_CLIENT_CRL = os.getenv("OCPP_TLS_CLIENT_CRL", "")
# When set, a charger certificate's O (organisation) must be this: the operator (CPO).
OCPP_TLS_CLIENT_ORGANIZATION = os.getenv("OCPP_TLS_CLIENT_ORGANIZATION", "")
OCPP_TLS_CIPHERS = os.getenv("OCPP_TLS_CIPHERS", "")  # empty: ocpp_gateway.tls.DEFAULT_CIPHERS
# OpenSSL's strict X.509 checks of charger certificates; 0 for chargers with sloppy ones.
OCPP_TLS_CLIENT_STRICT = envbool("OCPP_TLS_CLIENT_STRICT", "1")
# Seconds between looks at the TLS files: a new CRL or certificate is used without a restart.
OCPP_TLS_RELOAD_INTERVAL = envfloat("OCPP_TLS_RELOAD_INTERVAL", 60)
# With TLS on, also serve plain ws:// on this port (profile 1 chargers, local tools).
OCPP_PLAIN_PORT = envint("OCPP_PLAIN_PORT", 0) or None
# Behind a proxy that terminates TLS: believe its X-Forwarded-Proto and X-Client-Cert (the
# charger certificate it verified) from TRUSTED_PROXIES, and from nobody else.
OCPP_PROXY_TERMINATES_TLS = envbool("OCPP_PROXY_TERMINATES_TLS", "0")
# The server key of charger passwords (chargers/credentials.py: HMAC-SHA-256, checked in
# microseconds). A secret of its own, not SECRET_KEY: rotating SECRET_KEY must not lock
# every charger out. Keep it with the database backups: losing it means new passwords
# for every charger. Rotate by moving the old key to OCPP_PASSWORD_KEY_FALLBACKS; each
# charger moves to the new key on its next connect.
OCPP_PASSWORD_KEY = os.getenv("OCPP_PASSWORD_KEY", "")
if not OCPP_PASSWORD_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("OCPP_PASSWORD_KEY must be set when DEBUG is off.")
    OCPP_PASSWORD_KEY = hmac.new(
        SECRET_KEY.encode(), b"ocpp-password-key", hashlib.sha256
    ).hexdigest()
OCPP_PASSWORD_KEY_FALLBACKS = envlist("OCPP_PASSWORD_KEY_FALLBACKS", "")
# Old (PBKDF2) charger password checks waiting for the gateway's one slow-hash thread
# at most; more are answered 503 with Retry-After.
OCPP_LEGACY_HASH_QUEUE = envint("OCPP_LEGACY_HASH_QUEUE", 200)
# Liveness: a gateway's own thread refreshes its key every OCPP_ALIVE_REFRESH seconds
# with a TTL of OCPP_GATEWAY_GONE_AFTER; workers call a gateway late (commands wait and
# are retried) once its key is older than OCPP_ALIVE_GRACE, and gone (its routes are
# dropped) once the key expired. A gateway whose event loop has not ticked for
# OCPP_LOOP_STALL_LIMIT seconds gives up its liveness and exits (code 70).
OCPP_ALIVE_REFRESH = envfloat("OCPP_ALIVE_REFRESH", 1.0)
OCPP_ALIVE_GRACE = envfloat("OCPP_ALIVE_GRACE", 5)
OCPP_GATEWAY_GONE_AFTER = envint("OCPP_GATEWAY_GONE_AFTER", 60)
OCPP_LOOP_STALL_LIMIT = envfloat("OCPP_LOOP_STALL_LIMIT", 60)
# Storm pacing (ocpp_gateway/pacing.py): a gateway accepts at most OCPP_BOOT_RATE
# BootNotifications a second, and none while its loop is OCPP_PACING_LAG seconds behind;
# the others are answered Pending with a jittered interval of 1 to
# OCPP_PENDING_MAX_INTERVAL seconds and accepted when they ask again (README: Storms).
OCPP_BOOT_RATE = envint("OCPP_BOOT_RATE", 1000)
# 2 s: a loop that far behind is a fifth of the way to a handshake's OCPP_OPEN_TIMEOUT;
# at 0.5 s every full-scale storm on 2 busy cores tripped it (a burst of handshakes is
# one long loop iteration) and all 1,000 chargers waited a second or more to boot.
OCPP_PACING_LAG = envfloat("OCPP_PACING_LAG", 2.0)
OCPP_PENDING_MAX_INTERVAL = envint("OCPP_PENDING_MAX_INTERVAL", 30)
# A worker whose requests a live gateway has taken waits this much longer than the
# call's deadline for the gateway's reply; requests not yet taken are withdrawn.
OCPP_REPLY_WAIT_MAX = envfloat("OCPP_REPLY_WAIT_MAX", 20)
# Failed charger logins (unknown id, no or wrong password) counted over this many seconds,
# per client address and per charge point id; past a limit a handshake is refused 429
# before any check, unless that (id, address) pair once connected with the right
# password (remembered OCPP_AUTH_GOOD_PAIR_TTL seconds). 0 turns a limit off.
OCPP_AUTH_FAILURE_WINDOW = envint("OCPP_AUTH_FAILURE_WINDOW", 300)
OCPP_AUTH_FAILURES_PER_ADDRESS = envint("OCPP_AUTH_FAILURES_PER_ADDRESS", 30)
OCPP_AUTH_FAILURES_PER_CHARGER = envint("OCPP_AUTH_FAILURES_PER_CHARGER", 10)
OCPP_AUTH_GOOD_PAIR_TTL = envint("OCPP_AUTH_GOOD_PAIR_TTL", 7 * 24 * 3600)

# The API (api/): token lifetimes in seconds, rate limits in calls per minute (0 = off).
API_TOKEN_TTL = envint("API_TOKEN_TTL", 15 * 60)
API_REFRESH_TOKEN_TTL = envint("API_REFRESH_TOKEN_TTL", 24 * 60 * 60)
# A sign-in's refresh tokens rotate; none reaches past this long after the sign-in.
API_REFRESH_FAMILY_TTL = envint("API_REFRESH_FAMILY_TTL", 30 * 24 * 60 * 60)
API_RATE_LIMIT_PER_USER = envint("API_RATE_LIMIT_PER_USER", 120)
API_RATE_LIMIT_PER_ADDRESS = envint("API_RATE_LIMIT_PER_ADDRESS", 600)
API_RATE_LIMIT_SIGNIN_PER_ADDRESS = envint("API_RATE_LIMIT_SIGNIN_PER_ADDRESS", 20)

# Invitations and password resets: SMTP in production (EMAIL_* variables), the
# console in development so an invitation link shows in the terminal.
EMAIL_BACKEND_PATH = os.getenv(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
MAILERS = {"default": {"BACKEND": EMAIL_BACKEND_PATH}}
if EMAIL_BACKEND_PATH.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": os.getenv("EMAIL_HOST", "localhost"),
        "port": envint("EMAIL_PORT", 587),
        "username": os.getenv("EMAIL_HOST_USER", ""),
        "password": os.getenv("EMAIL_HOST_PASSWORD", ""),
        "use_tls": envbool("EMAIL_USE_TLS", "1"),
        "timeout": 10,
    }
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "portal@localhost")
# The portal's address as its users reach it: links in e-mails sent with no page
# request behind them (the restart summary).
SITE_ROOT = os.getenv("SITE_ROOT", "http://127.0.0.1:8000/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Every OCPP frame in and out; OCPP_FRAME_LOG_LEVEL=INFO to see them.
        "ocpp_gateway.frames": {"level": os.getenv("OCPP_FRAME_LOG_LEVEL", "WARNING")},
        # websockets logs each handshake at INFO ("connection open", "HTTP response
        # sent"), beside our own line per socket: two lines per charger in a storm.
        # LOG_LEVEL=DEBUG shows them (and its debug lines) again.
        "websockets": {
            "level": os.getenv(
                "WEBSOCKETS_LOG_LEVEL",
                "DEBUG" if os.getenv("LOG_LEVEL", "INFO").upper() == "DEBUG" else "WARNING",
            )
        },
    },
}

# /metrics (Prometheus) on the web and on each gateway: only these addresses/networks may
# read it, the socket peer and every X-Forwarded-For entry alike; empty switches it off.
METRICS_ALLOWED_IPS = envlist("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
