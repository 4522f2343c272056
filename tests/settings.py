"""Test settings: the production settings module, fed a test environment.

Values already in the environment win (CI sets DATABASE_URL to run the suite on PostgreSQL).
"""

import os

# The developer's .env (beside manage.py) is for `make run`; tests read none, whatever it says.
os.environ["ENV_FILE"] = ""
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
# Never Close itself: tests that publish point the client at the local sandbox.
os.environ["CLOSE_API_KEY"] = "sandbox-test-key"
os.environ["CLOSE_API_URL"] = "http://127.0.0.1:9/api/v1/"

from sequence_builder.settings import *  # noqa: E402, F403

# Plain HTTP in tests (the live server and Django's test client).
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Static files come from the finders in tests; there is no collectstatic output to serve.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT = None
