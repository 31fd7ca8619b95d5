"""Every list endpoint runs a constant number of queries whatever the page size (no N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories

# Queries per list request with force_authenticate (token auth adds two: the token with its user, and the user's
# tokens, among which knox deletes expired ones):
# COUNT for X-Result-Count, the page, then one per prefetch.
EXPECTED = {
    "users": 2,
    "keys": 2,
    "customers": 5,  # + owners, visible projects, visible groups
    "projects": 4,  # + members with users, visible groups
    "project-groups": 3,  # + projects
    "customer-permissions": 2,
    "project-permissions": 2,
    "project-group-permissions": 2,
}


@pytest.fixture
def populated(roles):
    """Several of everything, all in the roles' customer so the owner sees them too."""
    for _ in range(5):
        user = factories.UserFactory()
        factories.SshPublicKeyFactory(user=roles.users["owner"])
        factories.SshPublicKeyFactory(user=user)
        customer = factories.CustomerFactory()
        factories.CustomerPermissionFactory(customer=customer, user=roles.users["owner"])
        factories.CustomerPermissionFactory(customer=customer, user=user)
        project = factories.ProjectFactory(customer=customer)
        factories.ProjectPermissionFactory(project=project, user=user, role="admin")
        factories.ProjectPermissionFactory(project=project, user=roles.users["admin"], role="manager")
        group = factories.ProjectGroupFactory(customer=customer, projects=[project])
        factories.ProjectGroupPermissionFactory(project_group=group, user=user)
    return roles


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx), len(response.json())


@pytest.mark.parametrize("endpoint", EXPECTED)
@pytest.mark.parametrize("role", ["staff", "owner"])
def test_list_query_count_is_constant(populated, endpoint, role):
    client = populated.client_as(role)
    small, small_len = count_queries(client, f"/api/{endpoint}/?page_size=1")
    large, large_len = count_queries(client, f"/api/{endpoint}/?page_size=100")
    assert small_len <= 1 and large_len >= 1
    if endpoint != "users" or role == "staff":
        assert large_len > 1, "need several objects to detect N+1"
    assert small == large == EXPECTED[endpoint], (small, large)
