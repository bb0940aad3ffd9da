"""Settings, all from environment variables (django-environ).

HYBRIDPREF_ENV picks the mode: ``production`` (the default: SECRET_KEY and ALLOWED_HOSTS must be given),
``dev``/``demo``/``test`` (a random secret key kept in the data directory, localhost only).
Nothing insecure is a default: DEBUG is off unless DEBUG=true.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from annotation.importing.limits import DEFAULT_LIMITS as DEFAULT_IMPORT_LIMITS
from annotation.importing.limits import SETTING_NAMES as IMPORT_LIMIT_SETTINGS

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

HYBRIDPREF_ENV = env.str("HYBRIDPREF_ENV", default="production")
LOCAL_MODES = {"dev", "demo", "test"}
if HYBRIDPREF_ENV not in LOCAL_MODES | {"production"}:
    raise ImproperlyConfigured(f"HYBRIDPREF_ENV={HYBRIDPREF_ENV!r}: expected production, dev, demo or test")
IS_LOCAL = HYBRIDPREF_ENV in LOCAL_MODES

DATA_DIR = Path(env.str("HYBRIDPREF_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    """A random key per data directory, so dev and demo never run on a key that is in the repository."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


if "SECRET_KEY" in env:
    SECRET_KEY = env.str("SECRET_KEY")
elif IS_LOCAL:
    SECRET_KEY = _local_secret_key()
else:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it in the environment, or set HYBRIDPREF_ENV=dev for local use."
    )

DEBUG = env.bool("DEBUG", default=False)
if "ALLOWED_HOSTS" in env:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
elif IS_LOCAL:
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
else:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set. Name the host names this server answers to.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "annotation",
    "annotation.workflow",
    "annotation.judging",
    "annotation.datasets",
    "routing.app",
    "routing.training_runs",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "platform.middleware.ContentSecurityPolicyMiddleware",
    # Last, as django-axes requires: it answers sign-ins of locked-out clients.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "platform.urls"
WSGI_APPLICATION = "platform.wsgi.application"
ASGI_APPLICATION = "platform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# Embedded default: a SQLite file in the data directory. PostgreSQL: DATABASE_URL=postgres://user@host/db
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'hybridpref.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker) share the file: wait for locks instead of failing at once, and use
    # write-ahead logging so readers do not block the writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file, not memory, so that a worker process started by a test sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-hybridpref.sqlite3")}
# Persistent connections (opening one per request cost about half of a next-task request): kept for
# HYBRIDPREF_CONN_MAX_AGE seconds (0: close after each request), checked before reuse so that a database
# restart costs one retry, not an error.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("HYBRIDPREF_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The request hot paths run prepared queries (annotation/api/prepared.py: compiled once per process). Under
# test every run is also compiled afresh and compared, so a prepared query that would differ fails a test.
PREPARED_QUERIES_VERIFY = env.bool("HYBRIDPREF_VERIFY_PREPARED_QUERIES", default=HYBRIDPREF_ENV == "test")

# Cache: live job progress. Redis when REDIS_URL is set, else files in the data directory (shared by
# the web process and the worker, which a per-process memory cache would not be).
if "REDIS_URL" in env:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.str("REDIS_URL"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Brute-force protection (django-axes) for /login/, /admin/login/ and /api/auth/token/: after
# AXES_FAILURE_LIMIT wrong passwords for one username from one address, even the right one is refused until
# AXES_COOLOFF_MINUTES have passed (or an admin runs `manage.py axes_reset`). Keyed on username AND address,
# so nobody can lock another person out from elsewhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_PROXY_COUNT = 1 if env.bool("BEHIND_TLS_PROXY", default=False) else None
# API tokens expire this many seconds after they were issued (a user may revoke theirs earlier).
API_TOKEN_TTL = env.int("API_TOKEN_TTL", default=7 * 24 * 3600)
# Requests to /api/auth/token/ per client address (DRF throttle).
API_TOKEN_RATE = env.str("API_TOKEN_RATE", default="20/minute")
# JSON request bodies nested deeper than this are refused with 400.
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = DATA_DIR / "media"
UPLOAD_DIR = DATA_DIR / "uploads"
EXPORT_DIR = DATA_DIR / "exports"
ARTIFACT_DIR = DATA_DIR / "artifacts"
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Dataset import caps (docs/IMPORTING.md); every refusal names the variable that changes it.
IMPORT_MAX_UPLOAD_BYTES = env.int("HYBRIDPREF_IMPORT_MAX_UPLOAD_BYTES", default=256 * 1024 * 1024)
IMPORT_LIMITS = {
    name: env.int(variable, default=getattr(DEFAULT_IMPORT_LIMITS, name))
    for name, variable in IMPORT_LIMIT_SETTINGS.items()
}
FILE_UPLOAD_HANDLERS = [
    "annotation.importing.uploads.SizeCapUploadHandler",  # stops an upload at IMPORT_MAX_UPLOAD_BYTES
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not IS_LOCAL)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind HTTPS in production: redirect plain HTTP and send HSTS (seconds) when configured.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Only once the domain is to be submitted to the browsers' HSTS preload list.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotation.api.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "annotation.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "annotation.api.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"auth-token": API_TOKEN_RATE},
    # Behind the TLS proxy the client's address is the last one the proxy adds to X-Forwarded-For.
    "NUM_PROXIES": 1 if env.bool("BEHIND_TLS_PROXY", default=False) else None,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HybridPref API",
    "DESCRIPTION": "Preference datasets from a routed mix of human and LM annotation.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's scripts come from this server (the sidecar package), as the CSP requires.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "annotation.models.jobs.Job.Status",
        "AssignmentStatusEnum": "annotation.workflow.models.Assignment.Status",
        "TrainingStatusEnum": "routing.training_runs.models.Status",
    },
}

# The local LM backend (LM endpoints with backend "local"): its model and converted-weights folder come from
# here only, never from a request. Empty = SmolLM2-135M-Instruct in ~/.cache/hybridpref/lm.
LOCAL_LM_MODEL = env.str("LOCAL_LM_MODEL", default="")
LOCAL_LM_CACHE_DIR = env.str("LOCAL_LM_CACHE_DIR", default="")
LOCAL_LM_THREADS = env.int("LOCAL_LM_THREADS", default=0)

# Celery. Embedded default: kombu's filesystem transport in the data directory. It needs no server, yet the
# worker is a real separate process (not eager mode). Production: CELERY_BROKER_URL=redis://host:6379/0.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_DIR = DATA_DIR / "broker"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_QUEUES = ("default", "tags", "judge", "gpu")
# Redis broker: a task taken by a worker stays unacknowledged until it finishes (acks_late); if that worker
# dies, Redis hands the task to another worker once it has been unacknowledged for this many seconds. It
# must exceed the longest task (else a live worker's task is handed out a second time, which the idempotent
# tasks survive but which wastes the work); the worker-kill test sets it to a few seconds.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=6 * 3600)
# How often (seconds) a worker sweeps for such tasks.
CELERY_RESTORE_INTERVAL = env.int("CELERY_RESTORE_INTERVAL", default=60)
# A worker serving the tags queue may load MiniLM and spaCy when it starts instead of in its first task.
CELERY_PRELOAD_TAG_MODELS = env.bool("CELERY_PRELOAD_TAG_MODELS", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
