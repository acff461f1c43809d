"""What each role may do. The one table every access_<entity>() consults.

A capability is granted in a workspace by a membership role; superusers hold every capability.
"""

from accounts.models import Role

R = Role
ANNOTATORS = {R.EXPERT_ANNOTATOR, R.STAFF_ANNOTATOR, R.CROWD_ANNOTATOR}

CAPABILITIES: dict[str, set[str]] = {
    # data: sources, datasets, records, versions
    "data.view": {R.ADMIN, R.ML_ENGINEER, R.PRODUCT_MANAGER},
    "data.edit": {R.ADMIN, R.ML_ENGINEER},
    # annotation projects: set up and export / work in the queue
    "annotation.manage": {R.ADMIN, R.ML_ENGINEER},
    "annotation.work": {R.ADMIN, R.REVIEWER} | ANNOTATORS,
    "annotation.review": {R.ADMIN, R.REVIEWER, R.EXPERT_ANNOTATOR},
    "annotation.spot_check": {R.ADMIN, R.EXPERT_ANNOTATOR},
    # training: base models, runs, artifacts
    "training.view": {R.ADMIN, R.ML_ENGINEER, R.PRODUCT_MANAGER},
    "training.launch": {R.ADMIN, R.ML_ENGINEER},
    # evaluation: product managers run studies; raters vote blind and never see arms or results
    "study.manage": {R.ADMIN, R.PRODUCT_MANAGER},
    "study.view_results": {R.ADMIN, R.PRODUCT_MANAGER, R.ML_ENGINEER},
    "study.vote": {R.REVIEWER} | ANNOTATORS,
    # model endpoints (OpenAI-compatible): configure / call from jobs the user starts
    "model_endpoints.manage": {R.ADMIN, R.ML_ENGINEER},
    "model_endpoints.use": {R.ADMIN, R.ML_ENGINEER, R.PRODUCT_MANAGER},
    # production feedback: read the dashboard / set up sources, tokens and turn events into datasets / pick in the
    # best-of-N workbench (agents: staff and expert annotators, reviewers; calls the workspace's endpoints for them)
    "feedback.view": {R.ADMIN, R.ML_ENGINEER, R.PRODUCT_MANAGER},
    "feedback.manage": {R.ADMIN, R.ML_ENGINEER},
    "feedback.pick": {R.ADMIN, R.ML_ENGINEER, R.PRODUCT_MANAGER, R.REVIEWER, R.EXPERT_ANNOTATOR, R.STAFF_ANNOTATOR},
    # releases: read scorecards and slots / compute scorecards, set candidates, promote through the gate, roll back /
    # promote past a failing gate with a written reason
    "release.view": {R.ADMIN, R.ML_ENGINEER, R.PRODUCT_MANAGER},
    "release.manage": {R.ADMIN, R.PRODUCT_MANAGER},
    "release.override": {R.ADMIN},
}


def roles_with(capability: str) -> set[str]:
    return {str(role) for role in CAPABILITIES[capability]}
