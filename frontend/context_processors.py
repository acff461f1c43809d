from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.capabilities import roles_with
from accounts.models import Membership

# (capability, url name, label): a nav entry shows when the user holds the capability somewhere.
NAV = [
    ("data.view", "datahub:dataset-list", _("Data")),
    ("annotation.work", "annotation:project-list", _("Annotate")),
    ("annotation.manage", "annotation:project-list", _("Annotate")),
    ("training.view", "training:run-list", _("Training")),
    ("study.view_results", "evaluation:study-list", _("Studies")),
    ("study.manage", "evaluation:study-list", _("Studies")),
    ("study.view_results", "general_eval:list", _("General check")),
    ("study.manage", "general_eval:list", _("General check")),
    ("study.vote", "evaluation:vote-home", _("Vote")),
    ("model_endpoints.use", "llm:endpoint-list", _("Endpoints")),
    ("feedback.view", "feedback:dashboard", _("Feedback")),
    ("feedback.pick", "feedback:workbench", _("Best of N")),
    ("release.view", "releases:registry", _("Models")),
    ("release.view", "releases:deployment-list", _("Deployments")),
]


def user_capabilities(user) -> set[str]:
    """Capabilities the user holds in at least one workspace (one query)."""
    if not user.is_authenticated:
        return set()
    if user.is_superuser:
        return {capability for capability, _, _ in NAV}
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    return {capability for capability, _, _ in NAV if roles & roles_with(capability)}


def navigation(request):
    capabilities = user_capabilities(request.user)
    items, seen = [], set()
    for capability, url_name, label in NAV:
        if capability in capabilities and url_name not in seen:
            seen.add(url_name)
            items.append({"url": reverse(url_name), "label": label, "active": False})
    # The entry whose address is the longest prefix of this page's is the active one (/feedback/workbench/ is
    # "Best of N", not "Feedback").
    matching = [item for item in items if request.path.startswith(item["url"])]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["active"] = True
    return {"nav_items": items, "capabilities": capabilities}
