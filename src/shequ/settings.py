"""The one settings module. Every knob is a SHEQU_* environment variable; nothing else is read.

Defaults give the embedded deployment (SQLite in WAL mode under ./var/, in-process task worker,
local-memory cache). Standard parts for scale are chosen by setting URLs (ARCHITECTURE §2).
`SHEQU_PROFILE=prod` turns on the production profile, secure by default.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

SRC_DIR = Path(__file__).resolve().parent


def env(name: str, default: str) -> str:
    # An empty variable counts as unset: `SHEQU_VAR_DIR=` must not put secrets in the working directory.
    return os.environ.get(f"SHEQU_{name}", "").strip() or default


def env_bool(name: str, default: bool) -> bool:
    raw = env(name, "1" if default else "0").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"SHEQU_{name} must be a boolean (1/0, true/false), not {raw!r}")


def env_int(name: str, default: int, *, low: int = 0, high: int = 10**9) -> int:
    raw = env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"SHEQU_{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise ImproperlyConfigured(f"SHEQU_{name} must be between {low} and {high}, not {value}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"SHEQU_{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


PROFILE = env_choice("PROFILE", "dev", ("dev", "prod", "test"))
PROD = PROFILE == "prod"

VAR_DIR = Path(env("VAR_DIR", "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _generated_secret(filename: str, make) -> str:
    """Read a secret from ./var/, creating it on first run (mode 0600) so restarts keep it."""
    path = VAR_DIR / filename
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make())
    return path.read_text().strip()


SECRET_KEY = env("SECRET_KEY", "") or _generated_secret("secret_key", lambda: secrets.token_urlsafe(50))
# Keys for personal data at rest: AES-256-GCM for the value, HMAC-SHA256 for lookups (core.crypto).
# A comma-separated list rotates: the first key encrypts, all of them decrypt.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_KEYS", "") or [
    _generated_secret("field_key", lambda: secrets.token_urlsafe(32))
]
FIELD_HASH_KEY = env("FIELD_HASH_KEY", "") or _generated_secret(
    "field_hash_key", lambda: secrets.token_urlsafe(32)
)

DEBUG = env_bool("DEBUG", PROFILE == "dev")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PROD else "127.0.0.1,localhost,testserver,[::1]")
if PROD and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("SHEQU_ALLOWED_HOSTS must name the host(s) Shequ is served as in production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks_db",
    "shequ.core",
    "shequ.accounts",
    "shequ.grids",
    "shequ.registry",
    "shequ.cases",
    "shequ.analytics",
    "shequ.command",
    "shequ.units",
    "shequ.live",
    "shequ.onemap",
    "shequ.video",
    "shequ.drones",
    "shequ.open311",
    "shequ.web",
    "shequ.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "shequ.core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "shequ.core.middleware.RequestContextMiddleware",
]

ROOT_URLCONF = "shequ.urls"
WSGI_APPLICATION = "shequ.wsgi.application"
ASGI_APPLICATION = "shequ.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shequ.web.context.shequ",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
_db_url = env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'shequ.sqlite3'}")
if urlsplit(_db_url).scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
    raise ImproperlyConfigured("SHEQU_DATABASE_URL must be a sqlite:// or postgres:// URL")
_db = dj_database_url.parse(_db_url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        # WAL lets the web server read while the task worker writes; IMMEDIATE takes the write
        # lock at BEGIN so two writers queue on busy_timeout instead of failing mid-transaction.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    _db["CONN_MAX_AGE"] = 0
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache ----------------------------------------------------------------------------------
_cache_url = env("CACHE_URL", "locmem://")
if _cache_url.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}}
elif _cache_url.startswith("locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured("SHEQU_CACHE_URL must be locmem:// or redis://host:port/db")

# --- background work (django.tasks) ---------------------------------------------------------
# db: django-tasks-db, its worker started by `shequ serve`. celery: a broker (Redis or RabbitMQ) and
# `shequ worker` processes on any number of hosts (shequ/celery.py). immediate: inline, for scripts.
TASKS_BACKEND = env_choice("TASKS_BACKEND", "db", ("db", "celery", "immediate"))
TASKS = {
    "default": {
        "BACKEND": {
            "db": "django_tasks_db.DatabaseBackend",
            "celery": "django_tasks_celery.CeleryBackend",
            "immediate": "django.tasks.backends.immediate.ImmediateBackend",
        }[TASKS_BACKEND],
        "QUEUES": ["default", "imports"],
        "OPTIONS": {"CELERY_APP": "shequ.celery.app"} if TASKS_BACKEND == "celery" else {},
    }
}
CELERY_BROKER_URL = env("BROKER_URL", "redis://127.0.0.1:6379/0")
# Where task results go, so that a TaskResult can be refreshed from any process. A Redis broker keeps
# them too by default; RabbitMQ holds no results, so next to it name a Redis here (unset: tasks run,
# results are not kept).
_redis_broker = CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
CELERY_RESULT_BACKEND = env("RESULT_BACKEND_URL", CELERY_BROKER_URL if _redis_broker else "") or None
if TASKS_BACKEND == "celery":
    if urlsplit(CELERY_BROKER_URL).scheme not in {"redis", "rediss", "amqp", "amqps"}:
        raise ImproperlyConfigured("SHEQU_BROKER_URL must be a redis:// or amqp:// URL")
    if CELERY_RESULT_BACKEND and urlsplit(CELERY_RESULT_BACKEND).scheme not in {"redis", "rediss"}:
        raise ImproperlyConfigured("SHEQU_RESULT_BACKEND_URL must be a redis:// URL (or empty)")
CELERY_RESULT_EXTENDED = True  # results name their task, so get_result() can rebuild a TaskResult
CELERY_TASK_DEFAULT_QUEUE = "default"  # the backend sends Django's "default" queue to Celery's default
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again (tasks are idempotent)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # an import can take minutes: do not hold tasks another could run
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True  # a worker started before its broker waits for it

# --- live feed (channel layer) --------------------------------------------------------------
# Empty or "memory": Channels' in-memory layer, each ASGI process pumps the outbox to its own
# clients. "redis://host:6379/N": channels-redis shared by every web host; one pump in the cluster
# (a lease in Redis) fans the outbox out to all of them (docs/live.md).
_channel_layer = env("CHANNEL_LAYER", "memory")
if _channel_layer == "memory":
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    }
elif _channel_layer.startswith(("redis://", "rediss://")):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py's pool refuses a 101st connection at once (no waiting); group_add and
                # group_discard of many clients connecting together may each take one for a moment.
                "hosts": [{"address": _channel_layer, "max_connections": 1000}],
                "prefix": "shequ",
                "capacity": 1000,
            },
        }
    }
else:
    raise ImproperlyConfigured('SHEQU_CHANNEL_LAYER must be empty, "memory" or a redis:// URL')
LIVE_POLL_SECONDS = env_int("LIVE_POLL_MS", 250, low=20, high=10_000) / 1000
LIVE_GAP_GRACE_SECONDS = env_int("LIVE_GAP_GRACE_MS", 2000, low=0, high=60_000) / 1000
LIVE_HEARTBEAT_SECONDS = 15.0
LIVE_REPLAY_MAX = 500
LIVE_CONNECT_CONCURRENCY = env_int("LIVE_CONNECT_CONCURRENCY", 16, low=1, high=10_000)

# --- accounts and sessions ------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
AUTHENTICATION_BACKENDS = ["shequ.accounts.backends.LockoutModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 10, low=8, high=128)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "shequ.accounts.passwords.CharacterClassValidator"},
]
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5, low=1, high=100)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 30, low=1, high=24 * 60)
# Idle timeout: the session cookie is renewed on each request and expires after this much quiet.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 30, low=1, high=24 * 60) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- security (prod profile is secure by default; each knob may still be turned) ------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", PROD)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SSL_REDIRECT", PROD)
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000 if PROD else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PROD
SECURE_HSTS_PRELOAD = PROD
if env_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_MB", 50, low=1, high=2048) * 1024 * 1024
CASE_PHOTO_MAX_MB = env_int("CASE_PHOTO_MAX_MB", 10, low=1, high=100)

# --- language, time -------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [SRC_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- files ----------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [SRC_DIR / "web" / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PROD
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PROD

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Pages and browsers use the session (CSRF checked on writes); machines send `Authorization: Token
    # <key>` from `shequ api-token` (no cookie, so no CSRF).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "shequ.core.parsers.JSONParser",  # deep nesting is a 400, not a RecursionError
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "shequ.core.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "shequ.core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"anon": "60/min"},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Shequ API",
    "DESCRIPTION": "社区综合治理平台 REST 接口: 登记信息、网格、案件闭环、统计指标。坐标均为 WGS-84 经纬度; "
    "超出数据范围的对象一律返回 404。",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set that several serializers share.
    "ENUM_NAME_OVERRIDES": {
        "CaseStateEnum": "shequ.cases.models.CaseState",
        "CategoryKindEnum": "shequ.cases.models.Category.Kind",
        "EvidenceKindEnum": "shequ.cases.models.Evidence.Kind",
        "OrganizationKindEnum": "shequ.registry.models.Organization.Kind",
    },
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files: no CDN (offline deployments).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- map ------------------------------------------------------------------------------------
# The basemap the pages draw: "offline" is the community's own layers; a tile URL template may
# be given with the coordinate system its tiles use, and coordinates are converted at the edge.
# The one map's tiles: "offline" (the community's own PMTiles basemap), "tianditu:<key>", "amap",
# "tencent" or "osm:<url template>" (docs/configuration.md, "One map"); empty: MAP_TILES_URL's server.
MAP_TILES = env("MAP_TILES", "")
MAP_TILES_URL = env("MAP_TILES_URL", "")
MAP_TILES_CRS = env_choice("MAP_TILES_CRS", "wgs84", ("wgs84", "cgcs2000", "gcj02", "bd09"))

# --- audit ----------------------------------------------------------------------------------
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365, low=180, high=36500)
# Units' position history (personal data): kept this many days, then purged hourly.
UNITS_POSITION_RETENTION_DAYS = env_int("UNITS_POSITION_RETENTION_DAYS", 30, low=1, high=3650)

# --- video ----------------------------------------------------------------------------------
# The vision engine: "embedded" runs the watched cameras in threads of `shequ serve`; "off" leaves
# them to `shequ vision-worker --shard i/n` processes (docs/video.md).
VISION = env_choice("VISION", "embedded", ("embedded", "off"))
# The default detector: "ssd" (SSD-MobileNet-v2 COCO on OpenCV's DNN, CPU) or "onnx:<path>" (a
# YOLO-family model the operator supplies, on ONNX Runtime); a camera's settings may name its own.
VISION_DETECTOR = env("VISION_DETECTOR", "ssd")
VISION_ONNX_PROVIDERS = env_list("VISION_ONNX_PROVIDERS", "CPUExecutionProvider")
# A camera down this long raises an offline alert (the worker retries it with backoff meanwhile).
VISION_OFFLINE_ALERT_MINUTES = env_int("VISION_OFFLINE_ALERT_MINUTES", 10, low=1, high=24 * 60)
# The MQTT broker that camera and NVR events (generic and Frigate) arrive through; empty = none.
MQTT_URL = env("MQTT_URL", "")
MQTT_TOPICS = env_list("MQTT_TOPICS", "shequ/cameras/+/events,frigate/events,frigate/reviews")
# MQTT 5 shared subscriptions ($share/<group>/<topic>) split the messages among consumers; "3.1.1"
# for a broker without MQTT 5 (then every consumer gets every message; an empty group does the same).
MQTT_PROTOCOL = env_choice("MQTT_PROTOCOL", "5", ("5", "3.1.1"))
MQTT_SHARED_GROUP = env("MQTT_SHARED_GROUP", "shequ")
# Alert snapshots and clips (surveillance images: ARCHITECTURE §7) are deleted after this many
# days (the alert row stays; a case made from an alert keeps its own, blurred copy as evidence).
VIDEO_RETENTION_DAYS = env_int("VIDEO_RETENTION_DAYS", 30, low=1, high=3650)

# --- Open311 GeoReport v2 (docs/open311.md) ---------------------------------------------------
# The jurisdiction this server answers for (`jurisdiction_id`, e.g. the community's domain); a
# request naming another is answered 404.
OPEN311_JURISDICTION = env("OPEN311_JURISDICTION", "shequ.local")
# Requests per minute one API key may make (429 past it), and a client address without a key (GET).
OPEN311_RATE_LIMIT = env_int("OPEN311_RATE_LIMIT", 60, low=1, high=1_000_000)
OPEN311_ANON_RATE_LIMIT = env_int("OPEN311_ANON_RATE_LIMIT", 120, low=1, high=1_000_000)
# The sources whose cases anyone may read through GET requests (camera, drone and sensor cases are
# surveillance output: not published unless named here).
OPEN311_PUBLIC_SOURCES = env_list(
    "OPEN311_PUBLIC_SOURCES", "resident,api,hotline,grid_worker,inspection,referral"
)
# What discovery says: whom to contact, and where a client asks for a key.
OPEN311_CONTACT = env("OPEN311_CONTACT", "")
OPEN311_KEY_SERVICE = env("OPEN311_KEY_SERVICE", "")

# --- drones ---------------------------------------------------------------------------------
# (docs/drones.md) Settings of the drone side are added here by the code that reads them.
# MAVLink telemetry over UDP, `udpin:HOST:PORT` (e.g. udpin:0.0.0.0:14550): `shequ serve` receives
# it in a thread when set; empty = none (`shequ drone telemetry --udp ...` runs a receiver alone).
DRONE_MAVLINK_UDP = env("DRONE_MAVLINK_UDP", "")
# MQTT topics of JSON telemetry (on SHEQU_MQTT_URL's broker); the `+` level is the drone's code.
DRONE_MQTT_TOPICS = env_list("DRONE_MQTT_TOPICS", "shequ/drones/+/telemetry")
# Missions above this height (metres above take-off) are refused: 120 m is the usual ceiling for
# light drones in China's airspace rules; raise it only with an airspace approval (max 500).
DRONE_MAX_ALTITUDE_M = env_int("DRONE_MAX_ALTITUDE_M", 120, low=10, high=500)
# Aerial photos (docs/drones.md, "Photos and findings"): a file above this size or pixel count is
# refused (a 45 MP survey camera writes ~25 MB JPEGs); at most this many files per upload.
DRONE_PHOTO_MAX_MB = env_int("DRONE_PHOTO_MAX_MB", 40, low=1, high=500)
DRONE_PHOTO_MAX_PIXELS = env_int("DRONE_PHOTO_MAX_PIXELS", 100_000_000, low=1_000_000, high=400_000_000)
DRONE_UPLOAD_MAX_FILES = env_int("DRONE_UPLOAD_MAX_FILES", 100, low=1, high=1000)
# Django caps the files of one request (100 by default); a photo upload may carry that many.
DATA_UPLOAD_MAX_NUMBER_FILES = max(100, DRONE_UPLOAD_MAX_FILES)
# The detector runs on square tiles of this many pixels (overlapping by a fifth): from 100 m a
# person is a few pixels wide; 0 runs it on the whole photo at once.
DRONE_DETECT_TILE_PX = env_int("DRONE_DETECT_TILE_PX", 640, low=0, high=8192)
# At least this many people, each within this many metres of another, are a crowd (人员聚集).
DRONE_CROWD_MIN_PEOPLE = env_int("DRONE_CROWD_MIN_PEOPLE", 5, low=2, high=1000)
DRONE_CROWD_RADIUS_M = env_int("DRONE_CROWD_RADIUS_M", 10, low=1, high=100)
# A photo is compared with the latest photo of the same place taken at least this long before (an
# earlier patrol, not the next frame of the same pass) whose footprint covers this share of it.
DRONE_CHANGE_MIN_GAP_MINUTES = env_int("DRONE_CHANGE_MIN_GAP_MINUTES", 60, low=1, high=525_600)
DRONE_CHANGE_MIN_OVERLAP = env_int("DRONE_CHANGE_MIN_OVERLAP_PERCENT", 30, low=5, high=100) / 100
# A folder that `shequ serve` watches for photos (empty: none): each file is ingested once, then
# moved to done/ or rejected/ (with a .txt saying why). A file modified in the last
# DRONE_INBOX_SETTLE_SECONDS is taken to be still copying and waits for the next pass.
DRONE_INBOX = env("DRONE_INBOX", "")
DRONE_INBOX_SETTLE_SECONDS = env_int("DRONE_INBOX_SETTLE_SECONDS", 10, low=0, high=3600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Django's own console handler would print every line a second time through the root's.
        "django": {"handlers": [], "propagate": True},
    },
}
