"""Error pages say what happened in plain words (production settings, DEBUG off)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_too_many_fields_gets_a_readable_400(logged_in, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 50
    data = {f"field-{n}": "x" for n in range(100)}

    response = logged_in.post(reverse("sequence_new"), data)

    assert response.status_code == 400
    assert "Nothing was saved" in response.content.decode()


def test_unknown_page_gets_a_readable_404(logged_in):
    response = logged_in.get("/no/such/page/")

    assert response.status_code == 404
    assert "There is nothing here" in response.content.decode()


# --- DEBUG on (`make run`): the app's own 404, never Django's technical page -------------------


@pytest.mark.parametrize("path", ["/no/such/page/", "/sequences/987654/"])
def test_debug_mode_shows_the_apps_404_not_the_technical_page(logged_in, settings, path):
    settings.DEBUG = True

    response = logged_in.get(path)

    assert response.status_code == 404
    body = response.content.decode()
    assert "There is nothing here" in body
    # The technical page lists the project's URL patterns and says how to turn it off.
    assert "DEBUG = True" not in body
    assert "URLconf" not in body


def test_debug_mode_404_still_redirects_to_the_slashed_address(logged_in, settings):
    settings.DEBUG = True

    response = logged_in.get("/sequences/new")

    assert response.status_code == 301
    assert response["Location"] == "/sequences/new/"


def test_debug_mode_404_for_a_visitor_who_is_not_signed_in(client, settings):
    settings.DEBUG = True

    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert "There is nothing here" in response.content.decode()
