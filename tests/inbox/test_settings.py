"""Settings: production passes Django's deploy checks; security headers and sign-in rules."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from inbox.models import Role

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

ROOT = Path(__file__).resolve().parents[2]
# Ours, and the test run's, which must not leak into a production check.
OUR_VARIABLES = (
    "DJANGO_ENV",
    "DJANGO_DEBUG",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEY",
    "ALLOWED_HOSTS",
    "PUBLIC_URL",
    "DATABASE_URL",
    "DATABASE_TEST_NAME",
    "REDIS_URL",
    "CHANNEL_LAYER_PREFIX",
    "SWITCHBOARD_LOCAL_DIR",
    "DJANGO_SETTINGS_MODULE",
)


def manage(args, tmp_path, **environment):
    env = {key: value for key, value in os.environ.items() if key not in OUR_VARIABLES}
    env.update(SWITCHBOARD_LOCAL_DIR=str(tmp_path / "local"), **environment)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production(**overrides):
    return {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "q7Vw2x!Lp9zR4tY8uK1mN6bC3vB0nM5aS2dF7gH9jK4lP8oI3uY6tR1eW5qA0zX",
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "switchboard.example.com",
        "PUBLIC_URL": "https://switchboard.example.com",
        **overrides,
    }


def test_production_settings_pass_the_deploy_checks(tmp_path):
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], tmp_path, **production())

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY"])
def test_production_without_a_secret_refuses_to_start(tmp_path, missing):
    environment = production()
    del environment[missing]

    result = manage(["check"], tmp_path, **environment)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{missing} must be set when DJANGO_ENV=production." in result.stderr
    assert not (tmp_path / "local" / missing.lower()).exists()


def test_an_unknown_environment_name_is_refused(tmp_path):
    result = manage(["check"], tmp_path, DJANGO_ENV="staging")

    assert result.returncode != 0
    assert "DJANGO_ENV must be 'development' or 'production'." in result.stderr


def directives(policy):
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_the_workspace_csp_allows_no_inline_or_eval_script(client, agent):
    client.force_login(agent)

    response = client.get(reverse("conversations:inbox"))

    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    for directive in ("script-src", "default-src"):
        assert "'unsafe-inline'" not in policy[directive]
        assert "'unsafe-eval'" not in policy[directive]


def test_the_workspace_sends_the_usual_security_headers(client, agent):
    client.force_login(agent)

    response = client.get(reverse("conversations:inbox"))

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_session_and_csrf_cookies_are_http_only(client, make_user):
    user = make_user(Role.AGENT)

    login_page = client.get(reverse("account_login"))
    signed_in = client.post(
        reverse("account_login"), {"login": user.email, "password": "correct horse battery"}
    )

    assert login_page.cookies[settings.CSRF_COOKIE_NAME]["httponly"] is True
    assert signed_in.status_code == 302
    assert signed_in.cookies[settings.SESSION_COOKIE_NAME]["httponly"] is True


def test_login_attempts_are_rate_limited(client, make_user):
    cache.clear()
    user = make_user(Role.AGENT)
    assert {"login", "login_failed"} <= set(settings.ACCOUNT_RATE_LIMITS)

    for _attempt in range(5):
        wrong = client.post(reverse("account_login"), {"login": user.email, "password": "nope"})
        assert wrong.status_code == 200
    blocked = client.post(
        reverse("account_login"), {"login": user.email, "password": "correct horse battery"}
    )

    assert blocked.status_code == 200
    assert "Too many failed login attempts" in blocked.content.decode()
    assert "_auth_user_id" not in client.session
    cache.clear()


def test_public_sign_up_is_closed(client, db):
    response = client.get("/accounts/signup/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "Sign Up Closed" in content
    assert 'name="password1"' not in content


def test_nobody_can_sign_up_by_posting_the_form(client, db):
    from inbox.models import User

    client.post(
        "/accounts/signup/",
        {"email": "intruder@example.test", "password1": "a long passphrase 123"},
    )

    assert not User.objects.filter(email="intruder@example.test").exists()


def test_the_favicon_redirects_to_the_static_icon(client, db):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response.url == f"{settings.STATIC_URL}img/favicon.svg"
