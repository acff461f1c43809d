"""The settings the README's "Running in production" section gives pass Django's deployment checks, warnings
included."""

import os
import secrets
import subprocess
import sys

from django.conf import settings

PRODUCTION = {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "whetstone.example.com",
              "WHETSTONE_HTTPS": "1", "WHETSTONE_PROXY_COUNT": "1"}


def deploy_check(**environment) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment never would.
    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}, **environment}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_production_settings_pass_the_deployment_checks():
    result = deploy_check(**PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_https_settings_the_checks_fail():
    result = deploy_check(**{**PRODUCTION, "WHETSTONE_HTTPS": "0"})
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr + result.stdout
