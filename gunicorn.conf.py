"""gunicorn settings for `make serve` (gunicorn reads this file from the working directory).

Every value can be changed through the environment; the README's "Deploying" section lists them.
"""

import os

# Where to listen. Behind a reverse proxy on the same host keep the loopback default; set
# BIND=0.0.0.0:8000 when the proxy or load balancer is on another machine.
bind = os.environ.get("BIND", "127.0.0.1:8000")

# Threaded workers: a request mostly waits on the database or on Close, so a few threads per
# process serve more people per MB than more processes. WEB_CONCURRENCY (processes) and
# GUNICORN_THREADS set the mix; 2 processes x 4 threads met the 20-editor load target on a
# 2-core machine (BENCHMARKS.md).
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# A request may wait for Close: CLOSE_TIMEOUT (20 s) plus a bounded rate-limit wait.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# On restart, let publishes running on a worker's background threads finish (builder/jobs.py).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "90"))
keepalive = 5

# X-Forwarded-Proto is trusted from these addresses only (the proxy in front of us). The app
# reads the same variable, with the same default, to believe X-Forwarded-For for log-in
# throttling (sequence_builder/settings.py): one list of proxies for both.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs go to stderr for the process manager (systemd, Docker) to collect. The access log never
# carries the Close key: it is not in URLs, and request headers are not logged.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# gunicorn's control socket (for gunicornc) defaults to one path per OS user, which a second
# server on the machine (a benchmark, a second app) would take over. Off unless a path is given.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True
