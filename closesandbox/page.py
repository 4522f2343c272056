"""Small HTML pages for people: what a published sequence looks like "in Close (sandbox)", and
each template with a form to edit its copy the way someone would in Close's own template editor
(how the app's drift detection is demonstrated and tested).

Every value that comes from data goes through html.escape (sequence names and template names are
user input, and the seed deliberately contains hostile HTML).
"""

from html import escape
from urllib.parse import quote

WEEKDAYS = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1f2933;
padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.25rem}.muted{color:#67727e}.badge{display:inline-block;
padding:.05rem .5rem;border-radius:1rem;background:#e4e7eb;font-size:.85rem}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{text-align:left;padding:.4rem .6rem;
border-bottom:1px solid #e4e7eb;vertical-align:top}code{font-size:.85rem}
label{display:block;font-weight:600;margin-top:1rem}input[type=text],textarea{width:100%;
font:inherit;padding:.4rem;box-sizing:border-box}textarea{min-height:12rem;font-family:monospace}
button{margin-top:1rem;font:inherit;padding:.4rem 1rem}.notice{padding:.5rem 1rem;
border-radius:.25rem;background:#e3f9e5}.problem{padding:.5rem 1rem;border-radius:.25rem;
background:#ffe3e3}
"""


def _page(title, body):
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · Close sandbox</title><style>{_STYLE}</style></head>"
        f'<body><p class="muted">Close API sandbox (local, not the real Close)</p>{body}'
        "</body></html>"
    )


def human_delay(seconds):
    if not seconds:
        return "immediately"
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return "after " + " ".join(parts)


def _template_href(template_id):
    return f"/_sandbox/template/{escape(quote(template_id, safe=''))}"


def _template_label(template_id, templates):
    template = templates.get(template_id)
    if template is None:
        name = "(unknown template)"
    else:
        name = f'<a href="{_template_href(template_id)}">{escape(template["name"])}</a>'
    return f"{name}<br><code>{escape(template_id)}</code>"


def sequence_page(sequence, counts, email_templates, sms_templates):
    schedule = sequence.get("schedule")
    if schedule and schedule["ranges"]:
        rows = "".join(
            f"<li>{escape(WEEKDAYS.get(r['weekday'], str(r['weekday'])))} "
            f"{escape(r['start'][:5])}–{escape(r['end'][:5])}</li>"
            for r in schedule["ranges"]
        )
        schedule_html = f"<ul>{rows}</ul>"
    else:
        schedule_html = '<p class="muted">No sending window (steps may run at any time).</p>'

    step_rows = []
    for number, step in enumerate(sequence["steps"], start=1):
        if step.get("email_template_id"):
            template = _template_label(step["email_template_id"], email_templates)
        elif step.get("sms_template_id"):
            template = _template_label(step["sms_template_id"], sms_templates)
        else:
            template = '<span class="muted">—</span>'
        step_rows.append(
            f"<tr><td>{number}</td><td>{escape(str(step['step_type']))}</td>"
            f"<td>{escape(human_delay(step['delay']))}</td><td>{template}</td>"
            f"<td>{escape(str(step.get('threading') or '—'))}</td>"
            f"<td>{'yes' if step.get('required') else 'no'}</td></tr>"
        )
    count_text = ", ".join(f"{escape(k)}: {int(v)}" for k, v in counts.items())
    body = (
        f"<h1>{escape(sequence['name'])}</h1>"
        f'<p><span class="badge">{escape(sequence["status"])}</span> '
        f"<code>{escape(sequence['id'])}</code></p>"
        f"<p>Timezone: <strong>{escape(sequence['timezone'])}</strong><br>"
        f"Created {escape(sequence['date_created'])} UTC, updated "
        f"{escape(sequence['date_updated'])} UTC<br>Enrollments: {count_text}</p>"
        f"<h2>Schedule</h2>{schedule_html}"
        "<h2>Steps</h2><table><thead><tr><th>#</th><th>Type</th><th>Wait</th><th>Template</th>"
        f"<th>Threading</th><th>Required</th></tr></thead><tbody>{''.join(step_rows)}</tbody>"
        '</table><p><a href="/_sandbox/">All sequences in the sandbox</a> · '
        '<a href="/_sandbox/templates">All templates</a></p>'
    )
    return _page(sequence["name"], body)


def index_page(sequences):
    items = "".join(
        f'<li><a href="/_sandbox/sequence/{escape(quote(s["id"], safe=""))}">'
        f'{escape(s["name"])}</a> <span class="badge">{escape(s["status"])}</span></li>'
        for s in sequences
    )
    body = "<h1>Sequences</h1>" + (f"<ul>{items}</ul>" if items else "<p>None yet.</p>")
    body += '<p><a href="/_sandbox/templates">All templates</a></p>'
    return _page("Sequences", body)


def not_found_page(sequence_id):
    body = (
        f"<h1>Sequence not found</h1><p><code>{escape(sequence_id)}</code> is not in the "
        'sandbox (deleted, or the sandbox was reset).</p><p><a href="/_sandbox/">All sequences</a>'
        "</p>"
    )
    return _page("Not found", body)


def _template_status(template):
    archived = template.get("is_archived") or template.get("status") == "archived"
    words = ["shared" if template["is_shared"] else "not shared"]
    if archived:
        words.append("archived")
    return " ".join(f'<span class="badge">{w}</span>' for w in words)


def templates_page(email_templates, sms_templates):
    def items(templates):
        rows = "".join(
            f'<li><a href="{_template_href(t["id"])}">{escape(t["name"])}</a> '
            f"{_template_status(t)}</li>"
            for t in templates
        )
        return f"<ul>{rows}</ul>" if rows else "<p>None.</p>"

    body = (
        f"<h1>Templates</h1><h2>Email templates</h2>{items(email_templates)}"
        f"<h2>SMS templates</h2>{items(sms_templates)}"
        '<p><a href="/_sandbox/">All sequences</a></p>'
    )
    return _page("Templates", body)


def template_page(template, used_by, *, saved=False, problem="", attempted=None):
    """One template and a form that edits its copy as a person in Close would."""
    values = {**template, **(attempted or {})}
    is_email = "subject" in template
    kind = "Email template" if is_email else "SMS template"

    def text_field(key, label):
        return (
            f'<label for="tf-{key}">{label}</label><input type="text" id="tf-{key}" '
            f'name="{key}" value="{escape(str(values.get(key) or ""))}">'
        )

    def area(key, label):
        return (
            f'<label for="tf-{key}">{label}</label><textarea id="tf-{key}" name="{key}">'
            f"{escape(str(values.get(key) or ''))}</textarea>"
        )

    if is_email:
        fields = (
            text_field("name", "Name") + text_field("subject", "Subject") + area("body", "Body")
        )
    else:
        fields = text_field("name", "Name") + area("text", "Text")
    used = "".join(
        f'<li><a href="/_sandbox/sequence/{escape(quote(s["id"], safe=""))}">'
        f"{escape(s['name'])}</a></li>"
        for s in used_by
    )
    notice = ""
    if saved:
        notice = '<p class="notice" role="status">Saved. Close now has these changes.</p>'
    if problem:
        notice = f'<p class="problem" role="alert">Not saved: {escape(problem)}</p>'
    href = _template_href(template["id"])
    body = (
        f"<h1>{escape(template['name'])}</h1>"
        f"<p>{kind} {_template_status(template)} <code>{escape(template['id'])}</code></p>"
        f"<p>Created {escape(template['date_created'])}, updated "
        f"{escape(template['date_updated'])} by <code>{escape(template['updated_by'])}</code></p>"
        f"{notice}"
        '<h2>Edit in Close</h2><p class="muted">Saving here is someone changing the template in '
        "Close: every sequence using it sends the new copy.</p>"
        f'<form method="post" action="{href}">{fields}'
        '<button type="submit">Save in Close</button></form>'
        "<h2>Used by sequences</h2>"
        + (f"<ul>{used}</ul>" if used else '<p class="muted">No sequence uses it.</p>')
        + '<p><a href="/_sandbox/templates">All templates</a></p>'
    )
    return _page(template["name"], body)


def template_not_found_page(template_id):
    body = (
        f"<h1>Template not found</h1><p><code>{escape(template_id)}</code> is not in the "
        'sandbox.</p><p><a href="/_sandbox/templates">All templates</a></p>'
    )
    return _page("Not found", body)
