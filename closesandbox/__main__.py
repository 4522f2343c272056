"""Run the sandbox as a process: prints `CLOSE_SANDBOX_URL=...` once ready, serves until a signal.

python -m closesandbox --host 127.0.0.1 --port 8765 --api-key KEY [--api-key KEY2]
                       [--state-file PATH] [--rate-limit 100/10] [--quiet]
"""

import argparse
import signal
import sys
import threading

from .server import Sandbox


def _rate_limit(text):
    try:
        limit, window = text.split("/")
        return int(limit), float(window) if "." in window else int(window)
    except ValueError:
        raise argparse.ArgumentTypeError("expected REQUESTS/SECONDS, e.g. 100/10") from None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m closesandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--api-key", action="append", required=True, dest="api_keys")
    parser.add_argument("--state-file", help="load/save sequences and templates here (JSON)")
    parser.add_argument("--rate-limit", type=_rate_limit, default=(100, 10), metavar="N/SECONDS")
    parser.add_argument("--quiet", action="store_true", help="no access log on stderr")
    args = parser.parse_args(argv)

    stop = threading.Event()
    # Handlers only set an event, so SIGTERM/SIGINT end the process without a traceback.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    try:
        sandbox = Sandbox(
            api_keys=set(args.api_keys),
            host=args.host,
            port=args.port,
            rate_limit=args.rate_limit,
            state_file=args.state_file,
            log_requests=not args.quiet,
        ).start()
    except (OSError, ValueError) as exc:
        print(f"closesandbox: cannot start: {exc}", file=sys.stderr)
        return 1

    print(f"CLOSE_SANDBOX_URL={sandbox.url}", flush=True)
    try:
        while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
