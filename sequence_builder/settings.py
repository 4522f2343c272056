"""Settings for Sequence Builder, read from the environment (and an optional .env file).

Every setting that may differ between a laptop and a server comes from the environment through
django-environ; the README lists them. Production (DEBUG off) refuses to start without the
settings it cannot guess safely.
"""

import ipaddress
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from builder.close import base_url_problem

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file next to manage.py is optional; real environment variables win over it. ENV_FILE
# names another file, or none when empty (the test settings: a developer's .env never reaches
# the tests).
_env_file = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if _env_file:
    environ.Env.read_env(_env_file, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)


def _required_in_production(name, dev_default):
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. Set it in the environment (see README, 'Settings'), "
        "or set DEBUG=true for local development."
    )


SECRET_KEY = _required_in_production("SECRET_KEY", "dev-only-insecure-secret-key-do-not-deploy")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set. Set it to the host names this server answers to "
        "(comma separated), or set DEBUG=true for local development."
    )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Close -----------------------------------------------------------------------------------
# The key lives in the environment only; it is never rendered, logged or stored in the database.
CLOSE_API_KEY = env.str("CLOSE_API_KEY", default="")
CLOSE_API_URL = env.str("CLOSE_API_URL", default="") or "https://api.close.com/api/v1/"
if _close_url_problem := base_url_problem(CLOSE_API_URL):
    # Refused here, not as a 500 on the first page that asks Close.
    raise ImproperlyConfigured(f"{_close_url_problem} (see README, 'Settings').")
CLOSE_TIMEOUT = env.float("CLOSE_TIMEOUT", default=20.0)
# Where a person opens a published sequence. The demo launcher points it at the sandbox's pages.
CLOSE_APP_URL = env.str("CLOSE_APP_URL", default="https://app.close.com/")
# Set by `make run` when it started the local Close sandbox because no CLOSE_API_KEY was given.
CLOSE_DEMO_MODE = env.bool("CLOSE_DEMO_MODE", default=False)
# Longest we let a web request wait when Close rate-limits us before giving the user the message.
CLOSE_MAX_WAIT_IN_REQUEST = env.float("CLOSE_MAX_WAIT_IN_REQUEST", default=5.0)
# Publishing runs in a background thread (builder/jobs.py): how long it may wait for Close's
# rate limit, how long it keeps looking for a sequence after an unclear answer, and after how
# long an unfinished publish (its process died) is checked with Close again.
CLOSE_MAX_WAIT_IN_JOB = env.float("CLOSE_MAX_WAIT_IN_JOB", default=60.0)
PUBLISH_SETTLE_SECONDS = env.float("PUBLISH_SETTLE_SECONDS", default=30.0)
PUBLISH_STALE_SECONDS = env.float("PUBLISH_STALE_SECONDS", default=600.0)
BUILDER_JOB_THREADS = env.int("BUILDER_JOB_THREADS", default=4)
# An audience check (builder/audience.py) of the same revision and Smart View started within
# this many seconds of another is that one, not a second read of Close.
AUDIENCE_REUSE_SECONDS = env.float("AUDIENCE_REUSE_SECONDS", default=300.0)

# --- Application -----------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "builder",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "builder.middleware.SessionTimeoutMiddleware",  # before LoginRequired: it may log out
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "builder.middleware.RefuseNulCharacters",  # after the log-in and CSRF checks
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Times in the browser's timezone (the viewer_tz cookie), named: builder/templatetags/times.py.
    "builder.middleware.ViewerTimezoneMiddleware",
    # Last: its 404 page is rendered inside every other middleware (user, messages, CSP nonce).
    "builder.middleware.AppNotFoundMiddleware",
]

ROOT_URLCONF = "sequence_builder.urls"
WSGI_APPLICATION = "sequence_builder.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "builder.context_processors.close_mode",
                "builder.context_processors.roles",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers and one writer work at once; the busy timeout makes concurrent autosaves
    # wait for the lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
# Keep each worker thread's connection between requests: opening one costs a PostgreSQL backend
# start and authentication (and SQLite's PRAGMAs) on every request otherwise. Health checks
# replace a connection the server closed (a PostgreSQL restart) instead of failing a request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's cache. The app itself keeps nothing here (login throttling counts attempts in its
# own table, builder.LoginAttempt); the database cache is the default so that anything that
# does use it is shared by every worker and app server (`migrate` creates its table).
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://sequence_builder_cache")}

# --- Auth ------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sequence_list"
LOGOUT_REDIRECT_URL = "login"
# Log-in throttling (builder/views/auth.py; README, "Deploying"), over a sliding window of
# LOGIN_FAILURE_WINDOW seconds: LOGIN_FAILURE_LIMIT failures for one username from one client
# pause that pair; LOGIN_FAILURE_LIMIT_PER_USER failures for one username from anywhere, and
# LOGIN_FAILURE_LIMIT_PER_ADDRESS failures for names of no account from one address, pause the
# browsers that have not logged in as that user before. A browser that has is never paused by
# what others do, so neither a shared proxy address nor an attacker can lock its user out.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_LIMIT_PER_USER = env.int("LOGIN_FAILURE_LIMIT_PER_USER", default=20)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env.int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", default=50)
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW", default=15 * 60)
# The README's deployment has one TLS proxy in front, on this machine. The client address is
# then X-Forwarded-For's NUM_PROXIES-th entry from the right, believed only when the request
# comes from FORWARDED_ALLOW_IPS (addresses or networks, or *), which gunicorn.conf.py reads
# for X-Forwarded-Proto too; 0 proxies, or a request from elsewhere, uses REMOTE_ADDR.
NUM_PROXIES = env.int("NUM_PROXIES", default=1)
FORWARDED_ALLOW_IPS = env.list("FORWARDED_ALLOW_IPS", default=["127.0.0.1", "::1"])
for _entry in FORWARDED_ALLOW_IPS:
    try:
        if _entry != "*":
            ipaddress.ip_network(_entry, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"FORWARDED_ALLOW_IPS has {_entry!r}, which is not an IP address or network. "
            "List your proxies' addresses, comma separated (e.g. 127.0.0.1,::1 or 10.0.0.0/8)."
        ) from None
# A session ends after SESSION_IDLE_TIMEOUT seconds without a request (sliding: activity renews
# it) and SESSION_MAX_AGE seconds after log-in however busy (builder/middleware.py). The cookie
# and the stored session expire with the idle timeout, so an unused one is gone from both.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=2 * 3600)
SESSION_MAX_AGE = env.int("SESSION_MAX_AGE", default=12 * 3600)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT

# --- Email (review notifications) --------------------------------------------------------------
# EMAIL_URL is django-environ's email URL: the console backend (prints mails) by default, SMTP in
# production, e.g. smtp+tls://user:password@smtp.example.com:587. Django 6.1 configures mail
# through MAILERS (the EMAIL_HOST-style settings are deprecated).
# Without EMAIL_URL mails are printed in development; in production they go to the local mail
# server (Django's own default), since `check --deploy` rightly refuses the console backend there.
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
_EMAIL_OPTIONS = {
    "EMAIL_HOST": "host",
    "EMAIL_PORT": "port",
    "EMAIL_HOST_USER": "username",
    "EMAIL_HOST_PASSWORD": "password",
    "EMAIL_USE_TLS": "use_tls",
    "EMAIL_USE_SSL": "use_ssl",
    "EMAIL_FILE_PATH": "file_path",
}
_email_options = {
    option: _email[key]
    for key, option in _EMAIL_OPTIONS.items()
    if _email.get(key) not in (None, "")
}
if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend"):
    # A mail server that does not answer must not hold a reviewer's click for long.
    _email_options["timeout"] = env.float("EMAIL_TIMEOUT", default=10.0)
MAILERS = {"default": {"BACKEND": _email["EMAIL_BACKEND"], "OPTIONS": _email_options}}
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="Sequence Builder <sequence-builder@localhost>"
)
# The address people open the app at, for links in emails (no request to take it from).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- I18N ------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ----------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Pinned in package-lock.json, installed by `npm ci` (the Makefile does it): the step editor's
    # drag-and-drop.
    ("vendor/sortablejs", BASE_DIR / "node_modules" / "sortablejs"),
    # The email body's rich-text editor (its built files only, not its sources).
    ("vendor/trix", BASE_DIR / "node_modules" / "trix" / "dist"),
]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security --------------------------------------------------------------------------------
# Nonce-based CSP: no inline script or style runs unless the server put the nonce on it.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
X_FRAME_OPTIONS = "DENY"
# Request size limits. The whole editor form of a 200-step sequence is about 2,600 fields and
# well under 200 KB; far beyond that is not a person editing a sequence (Django answers 400).
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=5000)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = 5
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe over plain HTTP on the internal address.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Error pages and error reports (the DEBUG page, mails to ADMINS) never show the Close key,
# whatever local variable or exception message it sits in.
DEFAULT_EXCEPTION_REPORTER = "sequence_builder.log_filters.CloseKeyHidingExceptionReporter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every handler prints through this filter: a log line never shows the Close key, even
    # when a message or a traceback from a library contains it.
    "filters": {"hide_close_key": {"()": "sequence_builder.log_filters.HideCloseKey"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["hide_close_key"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Replaces Django's default handlers for its own loggers (an unfiltered console handler
        # with DEBUG on), so request errors print once, through the filter above.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}
