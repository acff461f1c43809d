import pytest
from django.http import Http404

from accounts.access import access_workspace, user_can
from accounts.capabilities import CAPABILITIES
from accounts.models import Role

# The permission matrix: which roles hold each capability. Changing a role's powers means changing this table.
EXPECTED = {
    "data.view": {"admin", "ml_engineer", "product_manager"},
    "data.edit": {"admin", "ml_engineer"},
    "annotation.manage": {"admin", "ml_engineer"},
    "annotation.work": {"admin", "reviewer", "expert_annotator", "staff_annotator", "crowd_annotator"},
    "annotation.review": {"admin", "reviewer", "expert_annotator"},
    "annotation.spot_check": {"admin", "expert_annotator"},
    "training.view": {"admin", "ml_engineer", "product_manager"},
    "training.launch": {"admin", "ml_engineer"},
    "study.manage": {"admin", "product_manager"},
    "study.view_results": {"admin", "product_manager", "ml_engineer"},
    "study.vote": {"reviewer", "expert_annotator", "staff_annotator", "crowd_annotator"},
    "model_endpoints.manage": {"admin", "ml_engineer"},
    "model_endpoints.use": {"admin", "ml_engineer", "product_manager"},
    "feedback.view": {"admin", "ml_engineer", "product_manager"},
    "feedback.manage": {"admin", "ml_engineer"},
    "feedback.pick": {"admin", "ml_engineer", "product_manager", "reviewer", "expert_annotator", "staff_annotator"},
    "release.view": {"admin", "ml_engineer", "product_manager"},
    "release.manage": {"admin", "product_manager"},
    "release.override": {"admin"},
}


def test_capability_table_matches_the_matrix():
    assert {cap: {str(r) for r in roles} for cap, roles in CAPABILITIES.items()} == EXPECTED


@pytest.mark.parametrize("capability", sorted(EXPECTED))
@pytest.mark.parametrize("role", Role.values)
def test_access_workspace_per_role(users, workspace, role, capability):
    user = users[role]
    if role in EXPECTED[capability]:
        assert access_workspace(user, workspace.pk, capability=capability) == workspace
        assert user_can(user, capability, workspace)
    else:
        with pytest.raises(Http404):
            access_workspace(user, workspace.pk, capability=capability)
        assert not user_can(user, capability, workspace)


def test_outsider_sees_nothing_of_another_workspace(users, workspace):
    for capability in EXPECTED:
        with pytest.raises(Http404):
            access_workspace(users["outsider"], workspace.pk, capability=capability)


def test_missing_and_forbidden_look_the_same(users, workspace):
    with pytest.raises(Http404):
        access_workspace(users["crowd_annotator"], workspace.pk, capability="data.view")
    with pytest.raises(Http404):
        access_workspace(users["crowd_annotator"], 999_999, capability="data.view")
