"""`/healthz`: public, checks the database, answers 503 when it cannot reach it."""

from django.db import OperationalError, connection


def test_healthz_is_public_and_checks_the_database(client, db, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_head_and_refuses_writes(client, db):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_healthz_reports_an_unreachable_database_with_503(client, db, caplog):
    def database_down(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    with connection.execute_wrapper(database_down):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable"}
    assert "database unavailable: OperationalError" in caplog.text


def test_healthz_is_not_redirected_to_https_but_pages_are(client, db, settings):
    # Production redirects plain HTTP to HTTPS; load balancers probe over plain HTTP.
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    login = client.get("/login/")
    assert login.status_code == 301
    assert login["Location"].startswith("https://")
