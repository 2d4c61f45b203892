"""Production settings, read in a fresh process with the environment a deploy sets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "h4Jk9!wQz2Lr7Vp0Xm5Tb8Ny3Cs6Fd1Gq4Hw7Ek0Ru3Ia6Oz9Pl2Ym5Nt8Bv1Cx",
    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "inbox.example.com",
    "PUBLIC_URL": "https://inbox.example.com",
    "SWITCHBOARD_SCHEDULER": "0",
}
READ_SETTINGS = """
import json
from django.conf import settings
policy = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
print(json.dumps({
    "script_src": [str(v) for v in policy.get("script-src", policy.get("default-src", []))],
    "default_src": [str(v) for v in policy.get("default-src", [])],
    "rate_limits": settings.ACCOUNT_RATE_LIMITS,
    "session_secure": settings.SESSION_COOKIE_SECURE,
    "session_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "csrf_secure": settings.CSRF_COOKIE_SECURE,
    "csrf_httponly": settings.CSRF_COOKIE_HTTPONLY,
    "debug": settings.DEBUG,
}))
"""


def manage(tmp_path, *args):
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))}
    for name in ("SECRET_KEY", "REDIS_URL", "CHANNEL_LAYER_PREFIX", "PUBLIC_URL"):
        keep.pop(name, None)
    env = {**keep, **DEPLOY_ENV, "SWITCHBOARD_LOCAL_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    result = manage(tmp_path_factory.mktemp("prod"), "shell", "-c", READ_SETTINGS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_passes_the_deploy_checks_without_a_single_warning(tmp_path):
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr


def test_the_content_security_policy_allows_no_inline_script_nor_eval(production):
    for directive in (production["script_src"], production["default_src"]):
        assert "'unsafe-inline'" not in directive
        assert "'unsafe-eval'" not in directive
    assert production["script_src"] == ["'self'"]


def test_failed_sign_ins_are_rate_limited(production):
    assert production["rate_limits"].get("login_failed")
    assert production["rate_limits"] is not False


def test_session_and_csrf_cookies_are_secure_and_http_only_in_production(production):
    assert production["session_secure"]
    assert production["session_httponly"]
    assert production["csrf_secure"]
    assert production["csrf_httponly"]
    assert production["debug"] is False


def test_websockets_check_the_origin(monkeypatch):
    from channels.security.websocket import OriginValidator

    monkeypatch.setenv("SWITCHBOARD_SCHEDULER", "0")
    from inbox.asgi import application

    websocket = application.application_mapping["websocket"]
    assert isinstance(websocket, OriginValidator)
