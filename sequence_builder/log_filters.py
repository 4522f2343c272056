"""Keep the Close API key out of log lines and error reports.

The code never logs the key on purpose (close.py scrubs what it shows); these are the last line
of defence for what we do not control: a library's exception message, a traceback's local
variables, a URL someone pasted into a log call.
"""

import logging

from django.conf import settings
from django.views.debug import ExceptionReporter

from builder.redact import key_forms, redact


def close_key_forms():
    """The key as it could appear in text (builder/redact.py knows every form)."""
    return key_forms(getattr(settings, "CLOSE_API_KEY", "") or "")


def hide_close_key(text):
    return redact(text)


class HideCloseKey(logging.Filter):
    """Rewrites a record in place so no handler after this one prints the key."""

    def filter(self, record):
        forms = close_key_forms()
        if not forms:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log call: the handler reports it as usual
            return True
        if any(form in message for form in forms):
            record.msg, record.args = hide_close_key(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = hide_close_key(record.exc_text)
        if record.stack_info:
            record.stack_info = hide_close_key(record.stack_info)
        return True


class CloseKeyHidingExceptionReporter(ExceptionReporter):
    """Django's error report (the DEBUG page, mails to ADMINS) with the key blanked out.

    Django already hides settings named like *KEY*, but not a local variable or an exception
    message that holds the value, so the finished report is scrubbed as a whole.
    """

    def get_traceback_html(self):
        return hide_close_key(super().get_traceback_html())

    def get_traceback_text(self):
        return hide_close_key(super().get_traceback_text())
