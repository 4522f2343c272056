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
