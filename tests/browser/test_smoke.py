import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_shows_the_role_tiles(page, live_server, login, users):
    login(page, "ml_engineer", "pw-ml_engineer")
    assert page.locator("h1").inner_text() == "Welcome, ml_engineer"
    tiles = page.locator(".tile h2").all_inner_texts()
    assert tiles == ["Data", "Annotate", "Training", "Studies", "Models", "Deployments", "Endpoints", "Graders",
                     "Feedback", "Best of N", "API tokens"]
