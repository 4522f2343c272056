"""A throw-away PostgreSQL server for tests and benchmarks: Debian's postgresql, initdb into a
temporary folder, trust auth on 127.0.0.1, a free port. Stopped and deleted at the end, even
when the command fails or is interrupted.

    python scripts/temp_postgres.py [--fast] -- COMMAND ARGS...

runs COMMAND with DATABASE_URL pointing at a fresh database "app" and exits with its status.
--fast turns off fsync (fine for tests, whose data is thrown away; benchmarks leave it on).
From Python: `with temp_postgres(fast=True) as url: ...`.
"""

import argparse
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

INSTALL_HINT = "PostgreSQL is not installed. On Debian: apt-get install -y postgresql"


def pg_bin():
    """The newest installed server's bin folder (/usr/lib/postgresql/<version>/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if not found:
        raise SystemExit(INSTALL_HINT)
    return Path(found[-1]).parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(command):
    # initdb and the server refuse to run as root; as another user they run as that user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


# initdb, pg_ctl (-w waits at most 60 s itself) and createdb take seconds; a stuck one fails
# the run instead of holding CI forever.
STEP_TIMEOUT = 180


def _run(command, **kwargs):
    return subprocess.run(command, check=True, timeout=STEP_TIMEOUT, **kwargs)  # noqa: S603


@contextlib.contextmanager
def temp_postgres(*, fast=False, database="app"):
    binaries = pg_bin()
    folder = Path(tempfile.mkdtemp(prefix="sequence-builder-pg-"))
    data = folder / "data"
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    started = False
    try:
        _run(
            _as_postgres(
                [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
                + ["-E", "UTF8", "--locale=C.UTF-8"]
            ),
            stdout=subprocess.DEVNULL,
        )
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c max_connections=200"
        if fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        _run(
            _as_postgres(
                [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log")]
                + ["-w", "-o", options, "start"]
            ),
            stdout=subprocess.DEVNULL,
        )
        started = True
        _run(
            [str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port)]
            + ["-U", "postgres", database]
        )
        yield f"postgres://postgres@127.0.0.1:{port}/{database}"
    finally:
        if started:
            subprocess.run(  # noqa: S603
                _as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                stdout=subprocess.DEVNULL,
                check=False,
                timeout=STEP_TIMEOUT,
            )
        shutil.rmtree(folder, ignore_errors=True)


def server_version():
    result = subprocess.run(  # noqa: S603
        [str(pg_bin() / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=STEP_TIMEOUT,
    )
    return result.stdout.strip()


def _interrupt(signum, frame):
    # A SIGTERM (a CI timeout) unwinds like Ctrl-C, so the server is still stopped.
    raise KeyboardInterrupt


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="fsync off (tests)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command to run, e.g. -- .venv/bin/pytest")
    signal.signal(signal.SIGTERM, _interrupt)
    with temp_postgres(fast=args.fast) as url:
        print(f"Temporary PostgreSQL at {url} ({server_version()})", flush=True)
        result = subprocess.run(command, env=os.environ | {"DATABASE_URL": url}, check=False)  # noqa: S603
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
