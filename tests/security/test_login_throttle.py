"""Guessing passwords stops working: after the limit, the token endpoint and the login page answer 429 with Retry-After,
even for the right password, per account and per address."""

import pytest
from accounts.models import ApiToken

from tests.security.conftest import browser_login

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = 10


def token_attempt(http, username, password):
    return http.post("/api/v1/auth/token/", json={"username": username, "password": password})


def test_thirty_wrong_passwords_then_the_right_one_gets_no_token(http, users):
    answers = [token_attempt(http, "ml_engineer", f"guess-{i}").status_code for i in range(30)]
    assert answers[:9] == [400] * 9
    assert set(answers[9:]) == {429}
    right = token_attempt(http, "ml_engineer", "pw-ml_engineer")
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) == 15 * 60
    assert right.json()["code"] == "throttled"
    assert "token" not in right.json()
    assert not ApiToken.objects.filter(user=users["ml_engineer"]).exists()


def test_the_login_page_locks_the_account_too(http, users):
    for i in range(10):
        browser_login(http, "product_manager", f"guess-{i}")
    locked = browser_login(http, "product_manager", "pw-product_manager")
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == str(15 * 60)
    assert "Too many failed sign-ins" in locked.text
    assert "sessionid" not in http.cookies


def test_one_address_guessing_many_accounts_is_stopped(http, users):
    answers = [token_attempt(http, name, "wrong").status_code for name in ["admin", "reviewer", "crowd_annotator"] * 4]
    assert answers[:9] == [400] * 9 and set(answers[9:]) == {429}
    # The address is locked for every account, including one with no failures of its own.
    assert token_attempt(http, "expert_annotator", "pw-expert_annotator").status_code == 429


def test_signing_in_to_ones_own_account_between_guesses_does_not_lift_the_limit(http, users):
    answers = []
    for i in range(12):
        answers.append(token_attempt(http, "reviewer", f"guess-{i}").status_code)
        if i < 9:
            assert token_attempt(http, "outsider", "pw-outsider").status_code == 200
    assert answers == [400] * 9 + [429] * 3
    assert token_attempt(http, "reviewer", "pw-reviewer").status_code == 429
