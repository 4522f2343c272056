"""Log-in throttling: N failures for one username from one address within the window → 429."""

import threading
import time

import pytest
from django.contrib.auth import forms as auth_forms
from django.db import connection
from django.test import Client

from builder.models import LoginAttempt
from builder.views import auth

pytestmark = pytest.mark.django_db

LIMIT = 5
WRONG = {"username": "alice", "password": "not-her-password"}
RIGHT = {"username": "alice", "password": "alice-password-1"}


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_FAILURE_LIMIT = LIMIT
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 50
    settings.LOGIN_FAILURE_WINDOW = 900
    settings.NUM_PROXIES = 0


def fail(client, times, **extra):
    return [client.post("/login/", WRONG, **extra).status_code for _ in range(times)]


def test_failures_below_the_limit_get_the_usual_message(client, user):
    response = client.post("/login/", WRONG)

    assert response.status_code == 200
    assert "didn't match" in response.text


def test_the_limit_th_failure_and_later_attempts_get_429_with_a_clear_message(
    client, user, monkeypatch
):
    now = auth.time.time()
    monkeypatch.setattr(auth.time, "time", lambda: now)  # the pause is exactly the window
    assert fail(client, LIMIT - 1) == [200] * (LIMIT - 1)

    response = client.post("/login/", WRONG)

    assert response.status_code == 429
    assert "Too many failed log-in attempts" in response.text
    assert "try again in 15 minutes" in response.text
    assert response["Retry-After"] == "900"
    # The form is still there, with its labels, for when the pause is over.
    assert '<label for="id_username">Username</label>' in response.text
    assert '<button type="submit" class="primary">Log in</button>' in response.text
    assert client.post("/login/", WRONG).status_code == 429


def test_while_paused_even_the_right_password_does_not_log_in(client, user):
    fail(client, LIMIT)

    response = client.post("/login/", RIGHT)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_other_usernames_and_other_addresses_are_not_paused(client, user, other_user):
    fail(client, LIMIT)

    bob = client.post("/login/", {"username": "bob", "password": "bob-password-1"})
    assert bob.status_code == 302
    client.logout()
    from_elsewhere = client.post("/login/", RIGHT, REMOTE_ADDR="203.0.113.9")
    assert from_elsewhere.status_code == 302


def test_username_case_and_spaces_do_not_dodge_the_count(client, user):
    for username in ["alice", "ALICE", " Alice", "alice ", "aLiCe"]:
        client.post("/login/", {"username": username, "password": "wrong"})

    assert client.post("/login/", RIGHT).status_code == 429


def test_log_in_works_again_after_the_window(client, user, monkeypatch):
    fail(client, LIMIT)
    later = auth.time.time() + 901
    monkeypatch.setattr(auth.time, "time", lambda: later)

    assert client.post("/login/", RIGHT).status_code == 302


def test_a_successful_log_in_clears_the_count(client, user):
    fail(client, LIMIT - 1)
    assert client.post("/login/", RIGHT).status_code == 302
    client.logout()

    assert fail(client, LIMIT - 1) == [200] * (LIMIT - 1)


def test_one_address_trying_many_usernames_is_paused_too(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 3
    for name in ["a1", "a2", "a3"]:
        client.post("/login/", {"username": name, "password": "x"})

    assert client.post("/login/", RIGHT).status_code == 429


def test_behind_a_proxy_the_forwarded_client_address_counts(client, user, settings):
    settings.NUM_PROXIES = 1
    fail(client, LIMIT, HTTP_X_FORWARDED_FOR="198.51.100.7")

    paused = client.post("/login/", RIGHT, HTTP_X_FORWARDED_FOR="198.51.100.7")
    other = client.post("/login/", RIGHT, HTTP_X_FORWARDED_FOR="198.51.100.8")

    assert paused.status_code == 429
    assert other.status_code == 302


def test_a_forged_forwarded_header_is_ignored_without_a_proxy(client, user):
    fail(client, LIMIT, HTTP_X_FORWARDED_FOR="198.51.100.7")

    assert client.post("/login/", RIGHT, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 429


def test_huge_or_odd_usernames_are_handled(client, user):
    for username in ["x" * 100_000, "名前\x00\n", ""]:
        response = client.post("/login/", {"username": username, "password": "x"})
        assert response.status_code in (200, 429)


def test_counts_live_in_the_database_so_every_worker_shares_them(client, user):
    # Several gunicorn workers (and app servers on one PostgreSQL) must see one count: a
    # failure is a row, and a client with a fresh session (another worker) is paused by them.
    fail(client, LIMIT)
    assert LoginAttempt.objects.count() == 2 * LIMIT  # per pair and per address

    assert Client().post("/login/", RIGHT).status_code == 429


def test_a_refused_attempt_does_not_extend_the_pause(client, user, monkeypatch):
    fail(client, LIMIT)
    start = auth.time.time()
    for minutes in (5, 10, 14):  # someone keeps trying while paused
        monkeypatch.setattr(auth.time, "time", lambda m=minutes: start + m * 60)
        assert client.post("/login/", WRONG).status_code == 429

    monkeypatch.setattr(auth.time, "time", lambda: start + 901)
    assert client.post("/login/", RIGHT).status_code == 302


def test_old_attempts_are_deleted_as_they_age_out(client, user, monkeypatch):
    fail(client, 2)
    later = auth.time.time() + 901
    monkeypatch.setattr(auth.time, "time", lambda: later)

    client.post("/login/", WRONG)

    assert LoginAttempt.objects.filter(at__lt=later - 900).count() == 0
    assert LoginAttempt.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_parallel_guesses_gets_exactly_the_limit_of_password_checks(user, monkeypatch):
    """Twelve guesses in flight at once, in the worst order for a throttle: each reaches the
    password check (and is held there, not yet failed) before the next arrives. Counted before
    the check, exactly LIMIT are checked; a counter read before the check and written after it
    would let all twelve through."""
    real_authenticate = auth_forms.authenticate
    release = threading.Event()
    checking = []

    def held_authenticate(request, **credentials):
        checking.append(threading.current_thread().name)
        assert release.wait(60), "the test never released the password checks"
        return real_authenticate(request, **credentials)

    monkeypatch.setattr(auth_forms, "authenticate", held_authenticate)
    statuses = {}

    def guess():
        try:
            statuses[threading.current_thread().name] = Client().post("/login/", WRONG).status_code
        finally:
            connection.close()  # each thread has its own; PostgreSQL's test database must drop

    threads = []
    for number in range(12):
        thread = threading.Thread(target=guess, name=f"guess-{number}")
        threads.append(thread)
        thread.start()
        # On to the next guess once this one is held in its check or was refused without one.
        deadline = time.monotonic() + 60
        while thread.is_alive() and thread.name not in checking:
            assert time.monotonic() < deadline, f"{thread.name} neither checked nor answered"
            time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a log-in never answered"

    first_five = [f"guess-{number}" for number in range(LIMIT)]
    assert checking == first_five
    # The rest were refused without a check; the checked ones, failing with LIMIT failures
    # counted, are told about the pause at once.
    assert statuses == {f"guess-{number}": 429 for number in range(12)}
    assert LoginAttempt.objects.count() == 2 * LIMIT  # per pair and per address


def test_the_admin_log_in_goes_through_the_throttled_form(client, user):
    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/admin/"


# Full-width and other compatibility forms that Django's username field folds (NFKC) into
# "alice" before authenticating: each names the same account, so each must count against it.
LOOK_ALIKES = ["ａlice", "alｉce", "ＡＬＩＣＥ", "ａｌｉｃｅ", "alic\uff45", "\u24d0lice"]


def test_unicode_look_alikes_of_a_paused_username_are_paused_too(client, user):
    fail(client, LIMIT)

    statuses = [
        client.post("/login/", {"username": name, "password": RIGHT["password"]}).status_code
        for name in LOOK_ALIKES
    ]

    assert statuses == [429] * len(LOOK_ALIKES)
    assert "_auth_user_id" not in client.session


def test_failures_under_look_alike_usernames_add_up_to_one_count(client, user):
    for name in LOOK_ALIKES[: LIMIT - 1]:
        client.post("/login/", {"username": name, "password": "wrong"})
    client.post("/login/", WRONG)

    assert client.post("/login/", RIGHT).status_code == 429


# --- Who can be locked out: the per-user count, the per-address cap, trusted browsers ---------
def trusted_client(username="alice"):
    """A browser that logged in as `username` before (it keeps the trust cookie when it logs
    out; the test client's logout() would drop every cookie, a browser does not)."""
    browser = Client()
    response = browser.post("/login/", {"username": username, "password": f"{username}-password-1"})
    assert response.status_code == 302
    assert browser.post("/logout/").status_code == 302
    return browser


def test_unknown_usernames_from_one_address_do_not_lock_out_a_trusted_browser(client, user):
    alice = trusted_client()
    for number in range(50):  # a password spray from the office's (or the proxy's) address
        client.post("/login/", {"username": f"nobody{number}", "password": "x"})

    assert client.post("/login/", RIGHT).status_code == 429  # a browser never seen: paused
    assert alice.post("/login/", RIGHT).status_code == 302


def test_people_mistyping_behind_one_address_do_not_lock_the_address(client, django_user_model):
    from tests.conftest import make_user

    for number in range(15):  # 60 failures from one address, none for an unknown name
        make_user(django_user_model, f"user{number}", "Editor")
        fail_as = {"username": f"user{number}", "password": "typo"}
        assert [client.post("/login/", fail_as).status_code for _ in range(4)] == [200] * 4
    make_user(django_user_model, "newcomer", "Editor")

    response = Client().post("/login/", {"username": "newcomer", "password": "newcomer-password-1"})

    assert response.status_code == 302


def test_someone_guessing_a_password_does_not_lock_out_its_owners_trusted_browser(client, user):
    alice = trusted_client()
    fail(client, LIMIT)  # from the same address (one proxy in front of everyone)

    assert client.post("/login/", RIGHT).status_code == 429
    assert alice.post("/login/", RIGHT).status_code == 302


def test_a_trusted_browser_has_its_own_failure_limit(client, user):
    alice = trusted_client()

    assert fail(alice, LIMIT) == [200] * (LIMIT - 1) + [429]
    assert alice.post("/login/", RIGHT).status_code == 429


def test_guessing_one_account_from_many_addresses_is_paused_for_browsers_it_does_not_know(
    client, user, settings
):
    settings.LOGIN_FAILURE_LIMIT_PER_USER = 20
    alice = trusted_client()
    statuses = []
    for number in range(5):  # 4 each: no address reaches the per-address-and-user limit
        statuses += fail(client, LIMIT - 1, REMOTE_ADDR=f"198.51.100.{number + 1}")

    assert statuses == [200] * 19 + [429]  # the 20th failure for alice reached the limit

    assert client.post("/login/", RIGHT, REMOTE_ADDR="198.51.100.99").status_code == 429
    assert alice.post("/login/", RIGHT).status_code == 302


@pytest.mark.parametrize("cookie", ["forged", "bob"])
def test_a_forged_or_another_users_trust_cookie_trusts_nothing(client, user, other_user, cookie):
    browser = trusted_client("bob") if cookie == "bob" else Client()
    if cookie == "forged":
        browser.cookies[auth.TRUST_COOKIE] = "eyJuIjoiYWxpY2UifQ:forged:signature"
    fail(client, LIMIT)

    assert browser.post("/login/", RIGHT).status_code == 429


def test_forwarded_for_is_believed_only_from_forwarded_allow_ips(client, user, settings):
    settings.NUM_PROXIES = 1
    settings.FORWARDED_ALLOW_IPS = ["10.0.0.5"]
    direct = {"REMOTE_ADDR": "203.0.113.50"}  # a client that reached the app directly

    statuses = [
        client.post("/login/", WRONG, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}", **direct).status_code
        for n in range(LIMIT + 1)
    ]
    via_proxy = client.post(
        "/login/", RIGHT, HTTP_X_FORWARDED_FOR="192.0.2.200", REMOTE_ADDR="10.0.0.5"
    )

    assert statuses == [200] * (LIMIT - 1) + [429, 429]
    assert via_proxy.status_code == 302  # the proxy's word is taken: another client


def test_forwarded_allow_ips_takes_networks_and_a_star(rf, settings):
    settings.NUM_PROXIES = 1
    request = rf.post("/login/", HTTP_X_FORWARDED_FOR="192.0.2.7", REMOTE_ADDR="10.1.2.3")

    settings.FORWARDED_ALLOW_IPS = ["10.0.0.0/8"]
    assert auth.client_address(request) == "192.0.2.7"
    settings.FORWARDED_ALLOW_IPS = ["*"]
    assert auth.client_address(request) == "192.0.2.7"
    settings.FORWARDED_ALLOW_IPS = ["127.0.0.1", "::1"]
    assert auth.client_address(request) == "10.1.2.3"


def test_the_defaults_fit_the_deployment_the_readme_describes():
    """One TLS proxy in front, on the same machine: NUM_PROXIES=1, and gunicorn and the app
    believe forwarded headers from the same addresses (FORWARDED_ALLOW_IPS)."""
    import os
    import runpy
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    names = ("NUM_PROXIES", "FORWARDED_ALLOW_IPS", "LOGIN_FAILURE_LIMIT_PER_USER")
    env = {k: v for k, v in os.environ.items() if k not in names}
    env |= {"DJANGO_SETTINGS_MODULE": "sequence_builder.settings", "DEBUG": "true"}
    code = (
        "from django.conf import settings as s; "
        "print(s.NUM_PROXIES, ','.join(s.FORWARDED_ALLOW_IPS), s.LOGIN_FAILURE_LIMIT_PER_USER)"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    gunicorn = runpy.run_path(str(root / "gunicorn.conf.py"))

    proxies, allowed, per_user = result.stdout.split()
    assert (proxies, allowed, per_user) == ("1", "127.0.0.1,::1", "20"), result.stderr
    if "FORWARDED_ALLOW_IPS" not in os.environ:
        assert gunicorn["forwarded_allow_ips"] == allowed


def test_a_forwarded_allow_ips_that_is_not_an_address_stops_the_start_with_a_message():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "sequence_builder.settings",
        "DEBUG": "true",
        "FORWARDED_ALLOW_IPS": "127.0.0.1,proxy.internal",
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "from django.conf import settings; settings.NUM_PROXIES"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "FORWARDED_ALLOW_IPS has 'proxy.internal'" in result.stderr
