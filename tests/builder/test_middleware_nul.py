"""NUL characters are refused before any view runs (builder/middleware.py, RefuseNulCharacters).

PostgreSQL cannot store NUL in text, so each of these used to answer 500 there; they now get
400 (a plain request: the page says why) or 422 (htmx: a message htmx swaps in), and nothing
is stored. CI runs this file on PostgreSQL too, where the 500s were."""

import html
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from builder.models import Comment, Sequence
from tests.builder.test_publishing import EXPECTED_PAYLOAD

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
MESSAGE = "contains a NUL character"


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser(
        username="root", password="root-password-1", email="root@example.com"
    )


@pytest.fixture
def in_review(example_sequence, root):
    example_sequence.change_status(Sequence.Status.IN_REVIEW, user=root, note="Please review")
    return example_sequence


def text(response):
    return html.unescape(response.content.decode())


def sequence_file(**changes):
    data = {**EXPECTED_PAYLOAD, **changes}
    return SimpleUploadedFile("nul.json", json.dumps(data).encode(), "application/json")


def requests_with_nul(sequence):
    email_step = next(step for step in sequence.ordered_steps() if step.step_type == "email")
    steps = json.loads(json.dumps(EXPECTED_PAYLOAD["steps"]))
    steps[1]["email_template_id"] = "tmpl_\x00"
    return {
        "comment": ("post", reverse("sequence_comment_add", args=[sequence.pk]), {"body": "a\x00"}),
        "request changes": (
            "post",
            reverse("sequence_request_changes", args=[sequence.pk]),
            {"comment": "Fix\x00 it"},
        ),
        "file name": (
            "post",
            reverse("sequence_import_file"),
            {"file": lambda: sequence_file(name="Imported\x00")},
        ),
        "file template id": (
            "post",
            reverse("sequence_import_file"),
            {"file": lambda: sequence_file(steps=steps)},
        ),
        "list search": ("get", reverse("sequence_list"), {"q": "My\x00"}),
        "template search": (
            "get",
            reverse("step_templates", args=[sequence.pk, email_step.pk]),
            {"q": "\x00"},
        ),
    }


def send(client, method, url, data, **extra):
    data = {key: value() if callable(value) else value for key, value in data.items()}
    return getattr(client, method)(url, data, **extra)


CASES = ["comment", "request changes", "file name", "file template id", "list search"]


@pytest.mark.parametrize("case", [*CASES, "template search"])
def test_nul_in_an_htmx_request_is_refused_with_422_and_a_message(client, root, in_review, case):
    client.force_login(root)
    method, url, data = requests_with_nul(in_review)[case]
    before = Sequence.objects.count(), Comment.objects.count(), in_review.status

    response = send(client, method, url, data, **HTMX)

    assert response.status_code == 422
    assert MESSAGE in text(response)
    assert response["HX-Retarget"] and response["HX-Reswap"]
    in_review.refresh_from_db()
    assert (Sequence.objects.count(), Comment.objects.count(), in_review.status) == before


@pytest.mark.parametrize("case", [*CASES, "template search"])
def test_nul_in_a_plain_request_is_refused_with_400_and_the_reason(client, root, in_review, case):
    client.force_login(root)
    method, url, data = requests_with_nul(in_review)[case]
    before = Sequence.objects.count(), Comment.objects.count(), in_review.status

    response = send(client, method, url, data)

    assert response.status_code == 400
    assert MESSAGE in text(response)
    assert "Nothing was saved" in text(response)
    in_review.refresh_from_db()
    assert (Sequence.objects.count(), Comment.objects.count(), in_review.status) == before


def test_a_raw_nul_byte_in_an_uploaded_file_is_refused(logged_in):
    raw = json.dumps(EXPECTED_PAYLOAD).encode().replace(b"My Sequence", b"My\x00Sequence", 1)
    upload = SimpleUploadedFile("raw.json", raw, "application/json")

    response = logged_in.post(reverse("sequence_import_file"), {"file": upload})

    assert response.status_code == 400
    assert f"The file {MESSAGE}" in text(response)
    assert not Sequence.objects.exists()


def test_an_escaped_backslash_before_u0000_is_ordinary_text(logged_in):
    # JSON "\\u0000" is a backslash followed by "u0000": six characters, no NUL.
    response = logged_in.post(
        reverse("sequence_import_file"), {"file": sequence_file(name="Back\\u0000slash")}
    )

    assert response.status_code == 302
    assert Sequence.objects.get().name == "Back\\u0000slash"


def test_nul_in_a_field_name_is_refused_too(logged_in):
    response = logged_in.post(reverse("sequence_new"), {"name": "Fine", "x\x00": "1"})

    assert response.status_code == 400
    assert not Sequence.objects.exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_a_form_the_csrf_check_already_read_is_refused_before_the_view(root, in_review, htmx):
    """As in production: the CSRF check parses the form before any view runs."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(root)
    client.get(reverse("sequence_review", args=[in_review.pk]))  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    extra = HTMX if htmx else {}

    response = client.post(
        reverse("sequence_comment_add", args=[in_review.pk]),
        {"body": "a\x00", "csrfmiddlewaretoken": token},
        **extra,
    )

    assert response.status_code == (422 if htmx else 400)
    assert MESSAGE in text(response)
    assert not Comment.objects.exists()
