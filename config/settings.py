"""Whetstone settings: one module, driven by environment variables.

DATABASE_URL     database (default: SQLite file under var/ for the quick start)
DATABASE_CONN_MAX_AGE  seconds a worker keeps its database connection (default 600, 0 under DEBUG)
SECRET_KEY       Django secret key (a fixed development key when DEBUG is on)
DEBUG            "1" / "0" (default 1, the quick start)
ALLOWED_HOSTS    comma-separated host names
WHETSTONE_STORAGE  artifact store root: uploads, exports, models, run outputs (default var/storage)
WHETSTONE_MODEL_ROOTS  directories users may register models from, besides their workspace's storage
WHETSTONE_TRAINING_DEVICE_MEMORY_GB  memory of the training device, for the pre-launch estimate
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("WHETSTONE_VAR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY") or ("whetstone-development-only-key" if DEBUG else None)
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h.strip()
]

# Running behind HTTPS (README, "Running in production"): WHETSTONE_HTTPS=1 makes cookies Secure-only, redirects plain
# HTTP and sends HSTS; WHETSTONE_PROXY_COUNT=N trusts the last N proxies' X-Forwarded-For / X-Forwarded-Proto.
HTTPS = env_bool("WHETSTONE_HTTPS", False)
PROXY_COUNT = int(os.environ.get("WHETSTONE_PROXY_COUNT", "0"))
SECURE_SSL_REDIRECT = HTTPS and env_bool("WHETSTONE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("WHETSTONE_HSTS_SECONDS", "31536000" if HTTPS else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("WHETSTONE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("WHETSTONE_HSTS_PRELOAD", HTTPS)
if PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = [origin.strip() for origin in os.environ.get("WHETSTONE_CSRF_TRUSTED_ORIGINS", "").split(",")
                        if origin.strip()] or [f"{'https' if HTTPS else 'http'}://{h}{'' if HTTPS else ':8000'}"
                                               for h in ALLOWED_HOSTS if "*" not in h]

STORAGE_ROOT = Path(os.environ.get("WHETSTONE_STORAGE", VAR_DIR / "storage"))
# Directories under which users may register model directories (base models, embedding and translation models), besides
# their workspace's own storage; separated by the platform's path separator (":" on Linux). See common/paths.py.
MODEL_ROOTS = [Path(root) for root in os.environ.get("WHETSTONE_MODEL_ROOTS", "").split(os.pathsep) if root.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "common",
    "accounts",
    "datahub",
    "dedupe",
    "augmentation",
    "annotation",
    "feedback",
    "training",
    "evaluation",
    "releases",
    "monitoring",
    "llm",
    "finetuning",
    "frontend",
    "demo",
    "graders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "frontend.middleware.InUseMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "django.template.context_processors.i18n",
                "frontend.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'whetstone.sqlite3'}",
        # Persistent connections (README, "Running in production"): a new PostgreSQL connection per request costs
        # more than the annotation queue's own statements. Off under DEBUG: runserver's thread per request would
        # leave one connection behind per thread.
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0" if DEBUG else "600")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL and a busy timeout let the web server and the worker share the embedded database.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# django-axes counts failed sign-ins (browser login, POST /api/v1/auth/token/) per account and, separately, per
# address; past the limit both answer 429 with Retry-After (accounts/lockout.py) until the cool-off has passed.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("WHETSTONE_LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("WHETSTONE_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success does not clear failures: axes would clear the address's failures against every account with them, so signing
# in to one's own account between guesses would lift the limit on someone else's. Failures lapse after the cool-off.
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_address"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Front-end libraries arrive through Python packages, never as copied files: plotly ships plotly.js.
STATICFILES_DIRS = [("vendor/plotly", Path(__import__("plotly").__file__).parent / "package_data")]
# WhiteNoise serves the static files in every mode, straight from the apps and packages (no collectstatic step).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "accounts.authentication.ApiTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["common.api.JSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_PAGINATION_CLASS": "common.api.Pagination",
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "common.schema.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Whetstone API",
    "DESCRIPTION": "Data, annotation, training and evaluation for fine-tuning language models.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI and Redoc from the drf-spectacular-sidecar package, not a CDN: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets that share a field name ("format") get names of their own.
    "ENUM_NAME_OVERRIDES": {"ModelExportFormatEnum": "training.models.ModelExport.Format",
                            "ImportFormatEnum": "datahub.models.ImportJob.Format"},
}

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "gpu"],
    }
}

TRAINING_DEVICE_MEMORY_GB = float(os.environ.get("WHETSTONE_TRAINING_DEVICE_MEMORY_GB", "16"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- Outbound calls and model endpoint keys (llm/outbound.py, llm/keys.py; README "Outbound calls") -------------------
# WHETSTONE_ENDPOINT_KEY_ENV_ALLOWED comma-separated name patterns (* is a wildcard) of the environment variables a
# model
#     endpoint may take its API key from. The server's own settings are refused whatever the patterns say.
# WHETSTONE_OUTBOUND_HOSTS comma-separated host patterns model endpoints may reach, e.g. "api.openai.com,*.example.com";
#     "*" (the default) is any host whose addresses are all public.
# WHETSTONE_OUTBOUND_PRIVATE_ALLOWED  comma-separated destinations allowed although they are not public (loopback,
#     private, link-local, ...): host[:port], [IPv6 address]:port or a CIDR range, e.g. "127.0.0.1:8000,10.0.0.0/8".
#     Empty by default; `make demo` allows the built-in model server at 127.0.0.1:8000.
ENDPOINT_KEY_ENV_ALLOWED = [p.strip() for p in os.environ.get("WHETSTONE_ENDPOINT_KEY_ENV_ALLOWED",
                                                              "*_API_KEY,WHETSTONE_KEY_*").split(",") if p.strip()]
OUTBOUND_HOSTS = [p.strip() for p in os.environ.get("WHETSTONE_OUTBOUND_HOSTS", "*").split(",") if p.strip()]
OUTBOUND_PRIVATE_ALLOWED = [
    p.strip() for p in os.environ.get("WHETSTONE_OUTBOUND_PRIVATE_ALLOWED", "").split(",") if p.strip()
]
