"""A sequence file naming a sequence that is already here: said so, and imported as a copy in
one click without choosing the file again (issue 11, item 3)."""

import html
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from builder import importing
from builder.models import Sequence
from tests.builder.test_publishing import EXPECTED_PAYLOAD

pytestmark = pytest.mark.django_db


def upload(data, name="sequence.json"):
    return SimpleUploadedFile(name, json.dumps(data).encode(), content_type="application/json")


def text(response):
    return html.unescape(response.content.decode())


def pending_token(page):
    return re.search(r'name="pending" value="([^"]+)"', page).group(1)


def test_a_taken_name_is_refused_with_the_offer_of_a_copy(logged_in, example_sequence):
    response = logged_in.post(reverse("sequence_import_file"), {"file": upload(EXPECTED_PAYLOAD)})

    assert response.status_code == 409
    page = text(response)
    assert "A sequence named “My Sequence” is already here, so nothing was imported." in page
    assert "Import as “My Sequence (copy 2)”</button>" in page
    assert (
        f'href="{reverse("sequence_edit", args=[example_sequence.pk])}">Open “My Sequence”' in page
    )
    assert Sequence.objects.count() == 1


def test_import_as_a_copy_in_one_click_without_the_file(logged_in, example_sequence):
    refused = logged_in.post(
        reverse("sequence_import_file"), {"file": upload(EXPECTED_PAYLOAD, "mine.json")}
    )

    response = logged_in.post(
        reverse("sequence_import_file"), {"pending": pending_token(text(refused))}
    )

    copy = Sequence.objects.exclude(pk=example_sequence.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sequence_edit", args=[copy.pk])
    assert copy.name == "My Sequence (copy 2)"
    assert importing.export_payload(copy) == {**EXPECTED_PAYLOAD, "name": "My Sequence (copy 2)"}
    assert copy.revisions.get().summary == "Imported from the file mine.json"
    # The waiting file is used once: the same click again imports nothing more.
    again = logged_in.post(
        reverse("sequence_import_file"), {"pending": pending_token(text(refused))}
    )
    assert again.status_code == 409
    assert "no longer waiting" in text(again)
    assert Sequence.objects.count() == 2


def test_the_next_copy_gets_the_next_free_number(logged_in, example_sequence):
    for _ in range(2):
        refused = logged_in.post(
            reverse("sequence_import_file"), {"file": upload(EXPECTED_PAYLOAD)}
        )
        logged_in.post(reverse("sequence_import_file"), {"pending": pending_token(text(refused))})

    assert sorted(Sequence.objects.values_list("name", flat=True)) == [
        "My Sequence",
        "My Sequence (copy 2)",
        "My Sequence (copy 3)",
    ]
    # A file named after a copy is a copy of the original, not "(copy 2) (copy 2)".
    assert importing.copy_name("My Sequence (copy 2)") == "My Sequence (copy 4)"


def test_names_differing_only_in_case_are_the_same_name(logged_in, example_sequence):
    data = {**EXPECTED_PAYLOAD, "name": "MY SEQUENCE"}

    response = logged_in.post(reverse("sequence_import_file"), {"file": upload(data)})

    assert response.status_code == 409
    assert "Import as “MY SEQUENCE (copy 2)”" in text(response)


def test_a_copy_name_stays_within_the_name_limit(db, user):
    Sequence.create_draft(name="x" * 200, timezone_name="UTC", user=user)

    name = importing.copy_name("x" * 200)

    assert len(name) == 200 and name.endswith(" (copy 2)")


def test_a_click_from_an_older_page_never_imports_another_file(logged_in, example_sequence):
    first = logged_in.post(reverse("sequence_import_file"), {"file": upload(EXPECTED_PAYLOAD)})
    other = {**EXPECTED_PAYLOAD, "name": "Other"}
    Sequence.objects.create(name="Other")
    logged_in.post(reverse("sequence_import_file"), {"file": upload(other)})

    response = logged_in.post(
        reverse("sequence_import_file"), {"pending": pending_token(text(first))}
    )

    assert response.status_code == 409
    assert "Choose it again" in text(response)
    assert Sequence.objects.count() == 2


@pytest.mark.parametrize("token", ["", "x" * 5000])
def test_a_made_up_token_is_refused(logged_in, token):
    response = logged_in.post(reverse("sequence_import_file"), {"pending": token})

    assert response.status_code == 409
    assert not Sequence.objects.exists()


def test_import_as_a_copy_needs_the_editor_role(client, viewer):
    client.force_login(viewer)

    response = client.post(reverse("sequence_import_file"), {"pending": "x"})

    assert response.status_code == 403
