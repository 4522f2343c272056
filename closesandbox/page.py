"""Small HTML pages for people: what a published sequence looks like "in Close (sandbox)".

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


def _template_label(template_id, templates):
    template = templates.get(template_id)
    name = template["name"] if template else "(unknown template)"
    return f"{escape(name)}<br><code>{escape(template_id)}</code>"


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
        '</table><p><a href="/_sandbox/">All sequences in the sandbox</a></p>'
    )
    return _page(sequence["name"], body)


def index_page(sequences):
    items = "".join(
        f'<li><a href="/_sandbox/sequence/{escape(quote(s["id"], safe=""))}">'
        f'{escape(s["name"])}</a> <span class="badge">{escape(s["status"])}</span></li>'
        for s in sequences
    )
    body = "<h1>Sequences</h1>" + (f"<ul>{items}</ul>" if items else "<p>None yet.</p>")
    return _page("Sequences", body)


def not_found_page(sequence_id):
    body = (
        f"<h1>Sequence not found</h1><p><code>{escape(sequence_id)}</code> is not in the "
        'sandbox (deleted, or the sandbox was reset).</p><p><a href="/_sandbox/">All sequences</a>'
        "</p>"
    )
    return _page("Not found", body)
