"""project_progress: the full counts (project pages, API) and the workbench's cheaper ones (leases=False)."""

from annotation.selectors import project_progress
from annotation.services import assignment_claim_next
from annotation.tests.fixtures import submit_as


def test_the_workbench_counts_match_the_full_ones_where_it_shows_them(
    users, annotation_project_factory, django_assert_num_queries
):
    project = annotation_project_factory(n=4, overlap=2)
    staff, crowd = users["staff_annotator"], users["crowd_annotator"]
    for _ in range(2):
        submit_as(staff, assignment_claim_next(project=project, annotator=staff), "billing/refund")
    submit_as(crowd, assignment_claim_next(project=project, annotator=crowd), "billing/refund")
    assignment_claim_next(project=project, annotator=crowd)  # a live lease, counted only by the full counts

    full = project_progress(project=project, annotator=crowd)
    with django_assert_num_queries(2):
        workbench = project_progress(project=project, annotator=crowd, leases=False)
    assert (full.tasks_total, full.tasks_done, full.mine_submitted, full.annotations, full.active_leases) == (
        4, 1, 1, 3, 1)
    assert (workbench.tasks_total, workbench.tasks_done, workbench.mine_submitted) == (4, 1, 1)
    assert (workbench.annotations, workbench.active_leases) == (0, 0)
    assert project_progress(project=project, annotator=staff, leases=False).mine_submitted == 2
