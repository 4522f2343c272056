"""A monotonic clock a test moves by hand, so rate-limit windows and pauses are exact numbers
instead of whatever a loaded machine's scheduler made of them."""

import time
import types


class FakeClock:
    def __init__(self, now):
        self.now = float(now)

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        """A sleep that passes exactly `seconds` on this clock, at once."""
        self.now += seconds

    def install(self, monkeypatch, *modules):
        """Make `modules` (which `import time`) read this clock for time.monotonic(); their
        time.sleep and time.time stay real."""
        fake = types.SimpleNamespace(monotonic=self.monotonic, sleep=time.sleep, time=time.time)
        for module in modules:
            monkeypatch.setattr(module, "time", fake)
        return self
