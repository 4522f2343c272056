"""Hypothesis throws random and hostile input at every route of the URL conf (forms, htmx
endpoints, query strings, JSON bodies) as an editor, a reviewer and a publisher.

Whatever arrives, the answer is never a 500, and a second sequence that no request addresses
keeps its revision count, version and contents. Routes added later are fuzzed automatically.
"""

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_user
from tests.urlwalk import XSS, build_world, fingerprint, plausible_data, routes, sample_kwargs

pytestmark = pytest.mark.django_db

EXAMPLES_PER_ROUTE = 25
# Logging out would end the fuzzing session; admin is Django's own, tested upstream.
FUZZED = [route for route in routes() if not route.is_admin and route.name != "logout"]

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1e309",
        "NaN",
        "9" * 40,
        str(2**63),
        "-" + str(2**31),
        "true",
        "null",
        "[]",
        "{}",
        '{"steps": [{"step_type": "email"}]}',
        "\x00",
        "a\x00b",
        "\ud7ff\ue000\U0010ffff",
        "é" * 300,
        "x" * 5000,
        "../../etc/passwd",
        "' OR 1=1 --",
        "%s%s%n",
        "{{ settings.SECRET_KEY }}",
        "{% debug %}",
        XSS,
        "javascript:alert(1)",
        "25:61",
        "23:59",
        "2024-02-30",
        "America/Nowhere",
        "email",
        "call",
        "sms",
        "old_thread",
        "new_thread",
        "active",
        "paused",
        "approved",
        "on",
    ]
)
TEXT = st.one_of(HOSTILE_TEXT, st.text(max_size=60), st.integers().map(str))


def field_names(world_sequence):
    return sorted(plausible_data(world_sequence))


@st.composite
def form_data(draw, known_fields):
    """Start from a well-formed submission and break parts of it, so the input gets past the
    first checks and reaches the deeper code paths."""
    data = dict(known_fields) if draw(st.booleans()) else {}
    names = st.one_of(st.sampled_from(sorted(known_fields)), st.text(min_size=1, max_size=20))
    for name in draw(st.lists(names, max_size=8)):
        if draw(st.integers(0, 9)) == 0:
            data[name] = draw(st.lists(TEXT, min_size=2, max_size=3))  # repeated field
        else:
            data[name] = draw(TEXT)
    for name in draw(st.lists(st.sampled_from(sorted(known_fields)), max_size=3)):
        data.pop(name, None)
    return data


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture
def fuzz_world(django_user_model, synced):
    world = build_world(django_user_model)
    clients = {}
    for name, role in [("ed", "Editor"), ("rev", "Reviewer"), ("pub", "Publisher")]:
        client = Client()
        client.force_login(make_user(django_user_model, name, role))
        clients[role] = client
    return world, clients


@pytest.mark.parametrize("route", FUZZED, ids=[route.name for route in FUZZED])
def test_hostile_input_never_causes_a_500_or_touches_other_data(route, fuzz_world):
    world, clients = fuzz_world
    untouched = fingerprint(world.b)
    known = plausible_data(world.a)
    missing_id = world.a.pk + world.b.pk + 10_000

    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,  # each run explores afresh; failures print their example
    )
    @given(
        role=st.sampled_from(sorted(clients)),
        method=st.sampled_from(["get", "post", "post", "post"]),
        htmx=st.booleans(),
        body=st.one_of(form_data(known), form_data(known), JSON_VALUES),
        sequence_id=st.sampled_from([world.a.pk, world.a.pk, missing_id, 2**62]),
        query=st.dictionaries(st.sampled_from(["q", "page", "kind", "from", "to", "step"]), TEXT),
    )
    def run(role, method, htmx, body, sequence_id, query):
        kwargs = sample_kwargs(route, world.a)
        assert kwargs is not None, f"no object to address {route.pattern}"
        if route.takes_sequence:
            kwargs["sequence_id"] = sequence_id
        url = route.url(kwargs)
        client = clients[role]
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        if method == "get":
            response = client.get(url, query, **headers)
        elif isinstance(body, dict) and all(
            isinstance(value, str | list)
            and (isinstance(value, str) or all(isinstance(item, str) for item in value))
            for value in body.values()
        ):
            response = client.post(url, body, **headers)
        else:
            response = client.post(
                url, json.dumps(body), content_type="application/json", **headers
            )
        assert response.status_code < 500, f"{role} {method.upper()} {url}: {body!r}"
        assert fingerprint(world.b) == untouched, f"{role} {method.upper()} {url} changed B"

    run()
