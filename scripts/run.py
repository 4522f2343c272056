"""`make run`: migrate, seed demo data, and serve the app on http://127.0.0.1:8000 (or RUN_ADDRESS).

With no CLOSE_API_KEY in the environment this starts the local Close sandbox first and points the
app at it ("demo mode"); with a key the app talks to CLOSE_API_URL (Close itself by default).
"""

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# RUN_VAR_DIR lets several copies run side by side (each with its own sandbox state and key).
VAR = Path(os.environ.get("RUN_VAR_DIR", ROOT / "var"))
PYTHON = sys.executable
SANDBOX_KEY = "demo-sandbox-key"  # accepted only by the local sandbox; not a Close key
DEFAULT_ADDRESS = "127.0.0.1:8000"
ADDRESS = os.environ.get("RUN_ADDRESS", DEFAULT_ADDRESS)
# Listening on every interface: links still have to name one address; this machine's is the one
# that surely answers (set SITE_URL for the name others use).
_WILDCARD_HOSTS = {"0.0.0.0", "0", "::", "[::]"}  # noqa: S104 - compared, never bound


def app_environment(environ):
    """The app's environment under `make run`: DEBUG on, and SITE_URL (the links in review
    emails) pointing where runserver listens, unless the environment says otherwise."""
    env = dict(environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("SITE_URL", site_url(env.get("RUN_ADDRESS", DEFAULT_ADDRESS)))
    return env


def site_url(address):
    """http://host:port for a runserver address ("8001", "0.0.0.0:8001", "[::1]:8001")."""
    host, _, port = address.rpartition(":")
    if not host or host in _WILDCARD_HOSTS:
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def main():
    VAR.mkdir(exist_ok=True)
    env = app_environment(os.environ)
    env.setdefault("SECRET_KEY", _dev_secret_key())
    sandbox = None
    if not env.get("CLOSE_API_KEY"):
        sandbox, url = _start_sandbox()
        base = url.removesuffix("api/v1/")
        env.update(
            CLOSE_API_KEY=SANDBOX_KEY,
            CLOSE_API_URL=url,
            CLOSE_APP_URL=f"{base}_sandbox/",
            CLOSE_DEMO_MODE="true",
        )
        print(f"Demo mode: no CLOSE_API_KEY set, using the local Close sandbox at {url}")
    else:
        url = env.get("CLOSE_API_URL") or "https://api.close.com/api/v1/"
        _refuse_bad_close_url(url)
        print(f"Using Close at {url}")
    try:
        _manage(env, "migrate", "--noinput", "--verbosity", "0")
        _manage(env, "seed_demo")
        print(f"Serving Sequence Builder at http://{ADDRESS}/  (Ctrl-C to stop)", flush=True)
        _manage(env, "runserver", ADDRESS, "--noreload")
    except KeyboardInterrupt:
        pass
    finally:
        if sandbox is not None:
            sandbox.send_signal(signal.SIGTERM)
            sandbox.wait(timeout=10)


def _refuse_bad_close_url(url):
    """The settings refuse such a URL too, but from inside manage.py, behind a traceback: say
    it plainly and stop before starting anything."""
    sys.path.insert(0, str(ROOT))
    from builder.close import base_url_problem

    problem = base_url_problem(url)
    if problem:
        raise SystemExit(f"Cannot start: {problem}. Fix CLOSE_API_URL (see README, 'Settings').")


def _dev_secret_key():
    """A random key kept in var/ so logins survive a restart; production sets SECRET_KEY."""
    path = VAR / "dev_secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


def _start_sandbox():
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [PYTHON, "-m", "closesandbox", "--quiet", "--host", "127.0.0.1", "--port", "0"]
        + ["--api-key", SANDBOX_KEY, "--state-file", str(VAR / "sandbox-state.json")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if line.startswith("CLOSE_SANDBOX_URL="):
            return process, line.split("=", 1)[1].strip()
    raise SystemExit("The local Close sandbox did not start; see the messages above.")


def _manage(env, *args):
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


if __name__ == "__main__":
    main()
