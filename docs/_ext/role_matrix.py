"""Who may do what: one row per endpoint or action, the HTTP status each role gets.

The docs' role table is rendered from ROWS, and tests/test_docs.py::test_role_matrix sends every row's
request as every role (one customer with a project, a user per role, as tests/fixtures/roles.py builds
them) and fails on any status that differs, so the table is what the code does.

Placeholders in ``path`` and ``body`` name objects the test provides: ``{customer}``, ``{project}``,
``{project_group}``, ``{cloud}``, ``{membership}``, ``{instance}``, ``{customer_permission}``,
``{project_permission}``, ``{backup}`` (a uuid in a path, a URL in a body), ``{user}`` (a fresh user to grant a
role to), ``{flavor}``, ``{template}``, ``{auth_url}`` and ``{n}`` (a number unique per request). ``fresh`` names the
object each role gets a new one of (deletions, and actions that change its state).
"""

from dataclasses import dataclass

ROLE_TITLES = {
    "anonymous": "no token",
    "stranger": "no role",
    "manager": "project manager",
    "admin": "project admin",
    "owner": "customer owner",
    "staff": "staff",
}


@dataclass(frozen=True)
class Row:
    """One request and the status each role gets."""

    what: str
    method: str
    path: str
    expected: dict
    body: dict = None
    fresh: str = ""


def _statuses(stranger, manager, admin, owner, staff):
    """Expected statuses per role; anonymous requests are always 401."""
    return dict(anonymous=401, stranger=stranger, manager=manager, admin=admin, owner=owner, staff=staff)


READ_ALL = _statuses(200, 200, 200, 200, 200)
SEE_ALL_BUT_STRANGER = _statuses(404, 200, 200, 200, 200)
OWNER_STAFF_CREATE = _statuses(400, 403, 403, 201, 201)
OWNER_STAFF_CHANGE = _statuses(404, 403, 403, 200, 200)
OWNER_STAFF_DELETE = _statuses(404, 403, 403, 204, 204)
OWNER_STAFF_ACTION = _statuses(404, 403, 403, 202, 202)
ADMIN_STAFF_ACTION = _statuses(404, 403, 202, 403, 202)

ROWS = [
    Row("List customers (each sees his own)", "GET", "/api/customers/", READ_ALL),
    Row("Show a customer", "GET", "/api/customers/{customer}/", SEE_ALL_BUT_STRANGER),
    Row("Create a customer", "POST", "/api/customers/", _statuses(403, 403, 403, 403, 201), {"name": "C{n}"}),
    Row("Change a customer", "PATCH", "/api/customers/{customer}/", OWNER_STAFF_CHANGE, {"contact_details": "x"}),
    Row("Show a project", "GET", "/api/projects/{project}/", SEE_ALL_BUT_STRANGER),
    Row("Create a project", "POST", "/api/projects/", OWNER_STAFF_CREATE, {"name": "P{n}", "customer": "{customer}"}),
    Row("Change a project", "PATCH", "/api/projects/{project}/", OWNER_STAFF_CHANGE, {"description": "x"}),
    Row("Delete a project", "DELETE", "/api/projects/{project}/", OWNER_STAFF_DELETE, fresh="project"),
    Row("Show a project group", "GET", "/api/project-groups/{project_group}/", _statuses(404, 404, 404, 200, 200)),
    Row(
        "Create a project group",
        "POST",
        "/api/project-groups/",
        OWNER_STAFF_CREATE,
        {"name": "G{n}", "customer": "{customer}"},
    ),
    Row(
        "Make a user customer owner",
        "POST",
        "/api/customer-permissions/",
        OWNER_STAFF_CREATE,
        {"customer": "{customer}", "user": "{user}", "role": "owner"},
    ),
    Row(
        "Revoke a customer role",
        "DELETE",
        "/api/customer-permissions/{customer_permission}/",
        OWNER_STAFF_DELETE,
        fresh="customer_permission",
    ),
    Row(
        "Give a user a project role",
        "POST",
        "/api/project-permissions/",
        OWNER_STAFF_CREATE,
        {"project": "{project}", "user": "{user}", "role": "admin"},
    ),
    Row(
        "Revoke a project role",
        "DELETE",
        "/api/project-permissions/{project_permission}/",
        OWNER_STAFF_DELETE,
        fresh="project_permission",
    ),
    Row("Show a cloud linked to the project", "GET", "/api/clouds/{cloud}/", SEE_ALL_BUT_STRANGER),
    Row(
        "Register a cloud",
        "POST",
        "/api/clouds/",
        OWNER_STAFF_CREATE,
        {"name": "Cloud {n}", "customer": "{customer}", "auth_url": "{auth_url}"},
    ),
    Row("Pull a cloud's catalogue now", "POST", "/api/clouds/{cloud}/sync/", OWNER_STAFF_ACTION, fresh="cloud"),
    Row(
        "Bind a project to a cloud",
        "POST",
        "/api/project-cloud-memberships/",
        OWNER_STAFF_CREATE,
        {"project": "{project}", "cloud": "{cloud}"},
        fresh="project",
    ),
    Row(
        "Re-sync a membership",
        "POST",
        "/api/project-cloud-memberships/{membership}/sync/",
        OWNER_STAFF_ACTION,
        fresh="membership",
    ),
    Row(
        "Set a membership's quotas",
        "POST",
        "/api/project-cloud-memberships/{membership}/set_quotas/",
        _statuses(404, 403, 403, 403, 202),
        {"vcpu": 10},
        fresh="membership",
    ),
    Row(
        "Unbind a project from a cloud",
        "DELETE",
        "/api/project-cloud-memberships/{membership}/",
        OWNER_STAFF_DELETE,
        fresh="membership",
    ),
    Row("List flavors", "GET", "/api/flavors/", READ_ALL),
    Row("List templates", "GET", "/api/iaas-templates/", READ_ALL),
    Row("Create a template", "POST", "/api/iaas-templates/", _statuses(403, 403, 403, 403, 201), {"name": "T{n}"}),
    Row("Show an instance", "GET", "/api/instances/{instance}/", SEE_ALL_BUT_STRANGER),
    Row(
        "Create an instance",
        "POST",
        "/api/instances/",
        _statuses(400, 403, 201, 403, 201),
        {"hostname": "vm-{n}", "project": "{project}", "template": "{template}", "flavor": "{flavor}"},
    ),
    Row("Stop an instance", "POST", "/api/instances/{instance}/stop/", ADMIN_STAFF_ACTION, fresh="instance:online"),
    Row("Start an instance", "POST", "/api/instances/{instance}/start/", ADMIN_STAFF_ACTION, fresh="instance:offline"),
    Row(
        "Restart an instance", "POST", "/api/instances/{instance}/restart/", ADMIN_STAFF_ACTION, fresh="instance:online"
    ),
    Row(
        "Resize an instance",
        "POST",
        "/api/instances/{instance}/resize/",
        ADMIN_STAFF_ACTION,
        {"disk_size": 4096},
        fresh="instance:offline",
    ),
    Row("Delete an instance", "DELETE", "/api/instances/{instance}/", ADMIN_STAFF_ACTION, fresh="instance:offline"),
    Row("Read an instance's console log", "GET", "/api/instances/{instance}/console_log/",
        _statuses(404, 403, 200, 403, 200), fresh="instance:built"),
    Row("Back up an instance", "POST", "/api/backups/", _statuses(400, 403, 202, 403, 202),
        {"backup_source": "{instance}"}, fresh="instance:offline"),
    Row("Show a backup", "GET", "/api/backups/{backup}/", SEE_ALL_BUT_STRANGER),
    Row("Restore a backup into a new instance", "POST", "/api/backups/{backup}/restore/", ADMIN_STAFF_ACTION,
        {"flavor": "{flavor}"}, fresh="backup"),
    Row("Delete a backup", "DELETE", "/api/backups/{backup}/", ADMIN_STAFF_ACTION, fresh="backup"),
    Row("Schedule backups of an instance", "POST", "/api/backup-schedules/", _statuses(400, 403, 201, 403, 201),
        {"backup_source": "{instance}", "schedule": "0 2 * * *"}),
    Row("Read the event log", "GET", "/api/events/", READ_ALL),
    Row("Read quota totals per customer or project", "GET", "/api/stats/quotas/", READ_ALL),
    Row("Read instances by state per cloud", "GET", "/api/stats/instances-by-state/", READ_ALL),
    Row("Read instances created per day", "GET", "/api/stats/instances-created/", READ_ALL),
]

MEANING = {
    200: "yes",
    201: "yes",
    202: "yes",
    204: "yes",
    400: "no (400)",
    401: "no (401)",
    403: "no (403)",
    404: "no (404)",
}


def cell(status):
    """The table text of a status: yes, or no with the status code that says why."""
    return MEANING.get(status, str(status))
