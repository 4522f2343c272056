"""A local stand-in for Close's REST API (the parts Sequence Builder uses), stdlib only.

    from closesandbox import Sandbox
    sb = Sandbox(api_keys={"sandbox-key"}).start()   # port 0: a free port
    requests.get(sb.url + "me/", auth=("sandbox-key", ""))
    sb.inject("error", method="POST", status=503)     # next POST /sequence/ fails once
    sb.stop()

Or out of process: `python -m closesandbox --port 8765 --api-key KEY`.
"""

from .server import Fault, RecordedRequest, Sandbox

__all__ = ["Fault", "RecordedRequest", "Sandbox"]
