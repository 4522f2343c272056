"""The sandbox's control endpoints (/_sandbox/...) refuse what a web page could send them.

Any page open in the demo user's browser can post to 127.0.0.1: a `text/plain` form post needs
no CORS preflight, and DNS rebinding makes a foreign page same-origin with the sandbox. So
control answers only to a loopback Host, refuses foreign Origins and cross-site fetches, and
reads state-changing bodies only as JSON. Tests and scripts (requests, the Python API) are
unaffected."""

import pytest
import requests

from closesandbox import Sandbox

TIMEOUT = 10


@pytest.fixture(scope="module")
def server():
    sandbox = Sandbox(api_keys={"control-test-key"}).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sb(server):
    server.reset()
    return server


def post(sb, path, **kwargs):
    return requests.post(f"{sb.base_url}/_sandbox/{path}", timeout=TIMEOUT, **kwargs)


FAULT = '{"kind": "error", "status": 502}'


def test_a_cross_site_text_plain_post_injects_nothing(sb):
    response = post(
        sb,
        "faults",
        data=FAULT,
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert "Origin" in response.json()["error"]
    assert sb.faults == []


def test_a_text_plain_body_is_refused_even_without_an_origin(sb):
    response = post(sb, "faults", data=FAULT, headers={"Content-Type": "text/plain"})

    assert response.status_code == 415
    assert "application/json" in response.json()["error"]
    assert sb.faults == []


@pytest.mark.parametrize("path", ["faults", "reset", "subscriptions"])
def test_json_from_a_foreign_origin_is_refused(sb, path):
    sb.inject("drop")

    response = post(sb, path, json={"kind": "slow"}, headers={"Origin": "http://localhost:1"})

    assert response.status_code == 403
    assert [fault.kind for fault in sb.faults] == ["drop"]  # reset did not run either


def test_a_cross_site_fetch_is_refused_by_its_fetch_metadata(sb):
    response = post(sb, "reset", headers={"Sec-Fetch-Site": "cross-site"})

    assert response.status_code == 403


def test_a_rebound_host_name_gets_no_control_and_no_state(sb):
    # DNS rebinding: evil.example now resolves to 127.0.0.1, and its page is "same-origin".
    host = {"Host": f"evil.example:{sb.port}", "Origin": f"http://evil.example:{sb.port}"}

    posted = post(sb, "faults", json={"kind": "drop"}, headers=host)
    state = requests.get(f"{sb.base_url}/_sandbox/state", headers=host, timeout=TIMEOUT)

    assert posted.status_code == 403 and state.status_code == 403
    assert sb.faults == []


def test_scripts_tests_and_the_sandbox_pages_still_work(sb):
    same_origin = {"Origin": sb.base_url}
    assert post(sb, "faults", json={"kind": "drop"}).status_code == 200
    assert post(sb, "faults", json={"kind": "slow"}, headers=same_origin).status_code == 200
    assert post(sb, "reset").json() == {"ok": True}  # no body, no type: nothing to misread
    assert requests.delete(f"{sb.base_url}/_sandbox/faults", timeout=TIMEOUT).ok
    # The app's "View in Close" link: a navigation from the app's port, so "same-site".
    page = requests.get(
        f"{sb.base_url}/_sandbox/", headers={"Sec-Fetch-Site": "same-site"}, timeout=TIMEOUT
    )
    assert page.status_code == 200
    localhost = requests.get(
        f"{sb.base_url}/_sandbox/state",
        headers={"Host": f"localhost:{sb.port}"},
        timeout=TIMEOUT,
    )
    assert localhost.status_code == 200
