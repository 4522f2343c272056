"""The sequence list's empty state tells the truth when a filter and a search are both on."""

import pytest
from django.urls import reverse

from builder.models import Sequence

pytestmark = pytest.mark.django_db


def test_a_search_empty_in_a_filter_says_how_many_match_outside_it(logged_in, user):
    for name in ("Sales intro", "Sales follow-up", "Webinar"):
        Sequence.objects.create(name=name, created_by=user, updated_by=user)

    filtered = logged_in.get(
        reverse("sequence_list"), {"q": "sales", "inbox": "approved-not-published"}
    )
    one = logged_in.get(
        reverse("sequence_list"), {"q": "webinar", "inbox": "approved-not-published"}
    )
    none = logged_in.get(reverse("sequence_list"), {"q": "zzz", "inbox": "approved-not-published"})

    html = filtered.content.decode()
    assert "No sequence name contains" not in html
    assert (
        "No sequence in “Approved, not published” has a name containing “sales”. "
        '2 sequences outside this filter match: <a href="?q=sales">show all matches</a>.'
    ) in html
    assert "1 sequence outside this filter matches:" in one.content.decode()
    assert (
        "No sequence in “Approved, not published” has a name containing “zzz”.</p>"
        in none.content.decode()
    )
