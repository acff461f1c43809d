"""The assist preset of a slot stays blind: an app (or agent) that sees the four replies of a draft, their order and
their ids cannot tell which two the production model wrote. Forty drafts over the API against the project's own model
server; for each, the test (which reads the database; the observer does not) notes the side of the first reply and of
the reply with the smallest id; each observer strategy is then scored with a binomial test against a fair coin."""

import pytest
from scipy.stats import binomtest

from feedback.models import WorkbenchDraft
from releases.tests.test_assist import assist_slot  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# As tests/security/test_blind_sides.py: a fair implementation fails one run in 100 000 per strategy, while a fixed
# order (production first every time) scores 40 of 40 (p < 1e-11).
ALPHA = 1e-5
DRAFTS = 40


def test_an_observer_cannot_tell_the_sides_from_order_or_ids(assist_slot, users, api_for):  # noqa: F811
    """Forty drafts over the API; for each, the test (reading the database) notes the side of the first reply and of
    the reply with the smallest id; each observer strategy is a binomial test against a fair coin."""
    agent = api_for(users["staff_annotator"])
    first_is_production, smallest_id_is_production, orders = [], [], set()
    for _ in range(DRAFTS):
        body = agent.post(f"/api/v1/deployments/{assist_slot.pk}/assist/",
                          {"message": "Where is my parcel?", "max_tokens": 4}, format="json").json()
        sides = {c["reply_id"]: c["side"] for c in WorkbenchDraft.objects.get(pk=body["draft"]).candidates}
        ids = [reply["id"] for reply in body["replies"]]
        first_is_production.append(sides[ids[0]] == "production")
        smallest_id_is_production.append(sides[min(ids)] == "production")
        orders.add(tuple(sides[i] for i in ids))
    for strategy in (first_is_production, smallest_id_is_production):
        assert binomtest(sum(strategy), DRAFTS, 0.5).pvalue > ALPHA, strategy
    assert len(orders) > 1  # the 6 orders of two and two: one order forty times is not shuffling
