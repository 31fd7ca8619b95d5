"""/api/stats/: role matrices with the bodies each role gets, another customer's numbers never counted, the -1 rule
of summed limits, the range rules of instances-created, and a query count that does not grow with the rows."""

import datetime
from types import SimpleNamespace

import pytest
from django.utils import timezone

from nodeconductor.iaas.models import Backup, BackupState, Instance, InstanceState
from nodeconductor.iaas.serializers.stats import DATE_FORMAT_MESSAGE
from tests import factories as base
from tests.fixtures.roles import check_matrix
from tests.iaas import factories

S = InstanceState
QUOTAS = "/api/stats/quotas/"
BY_STATE = "/api/stats/instances-by-state/"
CREATED = "/api/stats/instances-created/"
EVERYONE = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
NO_TOKEN = {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}
QUOTA_KEYS = ("vcpu", "ram", "storage", "max_instances", "snapshots", "snapshot_storage")


def link(kind, obj):
    return f"http://testserver/api/{kind}/{obj.uuid}/"


def at(day, hour=12):
    """An aware datetime on `day` (a date) in the server's time zone."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def quotas(**pairs):
    """{key: {"limit": l, "usage": u}} from key=(l, u) for every quota key."""
    assert set(pairs) == set(QUOTA_KEYS)
    return {key: {"limit": limit, "usage": usage} for key, (limit, usage) in pairs.items()}


def instance(membership, state=S.ONLINE, created=None, **fields):
    made = factories.InstanceFactory(cloud_project_membership=membership, **fields)
    Instance.objects.filter(pk=made.pk).update(state=state, **({"created": created} if created else {}))
    return made


def backup(membership, size, state=BackupState.READY):
    made = Backup.objects.create(membership=membership, size=size)
    Backup.objects.filter(pk=made.pk).update(state=state)
    return made


DAY = datetime.date(2025, 3, 1)


@pytest.fixture
def world(roles):
    """The roles' customer with two projects over two clouds, and a foreign customer with big numbers.

    roles.project (admin, manager) is in cloud A (m1) and cloud B (m3); `other` (only the owner sees it) is in
    cloud A (m2). The foreign customer's numbers must never appear in anyone's rows but staff's.
    """
    other = base.ProjectFactory(customer=roles.customer, name="Other")
    cloud_a = factories.CloudFactory(customer=roles.customer, name="A")
    cloud_b = factories.CloudFactory(customer=roles.customer, name="B")
    m1 = factories.MembershipFactory(cloud=cloud_a, project=roles.project, quota_vcpu=10, quota_ram=20480,
                                     quota_storage=512000, quota_max_instances=5, quota_snapshot_count=10,
                                     quota_snapshot_storage=102400)  # fmt: skip
    m2 = factories.MembershipFactory(cloud=cloud_a, project=other, quota_vcpu=4, quota_ram=-1,
                                     quota_storage=102400, quota_max_instances=2, quota_snapshot_count=4,
                                     quota_snapshot_storage=-1)  # fmt: skip
    m3 = factories.MembershipFactory(cloud=cloud_b, project=roles.project, quota_vcpu=6, quota_ram=4096,
                                     quota_storage=-1, quota_max_instances=3, quota_snapshot_count=2,
                                     quota_snapshot_storage=1000)  # fmt: skip
    # m1: one Online, one resize scheduled to 4 cores (counted at its target), one Erred that left nothing (no quota).
    instance(m1, created=at(DAY, 1))
    instance(m1, S.RESIZING_SCHEDULED, created=at(DAY, 23), pending_cores=4)
    instance(m1, S.ERRED, created=at(DAY + datetime.timedelta(days=2)), backend_id="")
    instance(m2, S.OFFLINE, created=at(DAY + datetime.timedelta(days=1)), cores=1, ram=512,
             system_volume_size=1024, data_volume_size=1024)  # fmt: skip
    instance(m3, S.PROVISIONING_SCHEDULED, created=at(DAY + datetime.timedelta(days=9)), cores=4, ram=2048,
             system_volume_size=2048, data_volume_size=2048, backend_id="")  # fmt: skip
    backup(m1, 30720)
    backup(m1, 999, BackupState.ERRED)  # its snapshots were cleaned up: holds nothing
    foreign = base.CustomerFactory(name="Foreign")
    f_cloud = factories.CloudFactory(customer=foreign, name="F")
    fm = factories.MembershipFactory(cloud=f_cloud, project=base.ProjectFactory(customer=foreign, name="F project"),
                                     quota_vcpu=1000, quota_ram=1000, quota_storage=1000, quota_max_instances=1000,
                                     quota_snapshot_count=1000, quota_snapshot_storage=1000)  # fmt: skip
    for _ in range(3):
        instance(fm, created=at(DAY + datetime.timedelta(days=1)))
    backup(fm, 100)
    return SimpleNamespace(customer=roles.customer, project=roles.project, other=other, cloud_a=cloud_a,
                           cloud_b=cloud_b, foreign=foreign, f_cloud=f_cloud, f_project=fm.project)  # fmt: skip


# What roles.project holds: m1 + m3. Storage: m3 is unlimited, so the sum is. Usage: the Erred row holds nothing,
# the scheduled resize counts at 4 cores.
PROJECT_TOTALS = quotas(vcpu=(16, 2 + 4 + 4), ram=(24576, 1024 + 1024 + 2048), storage=(-1, 2 * 30720 + 4096),
                        max_instances=(8, 3), snapshots=(12, 2), snapshot_storage=(103400, 30720))  # fmt: skip
OTHER_TOTALS = quotas(vcpu=(4, 1), ram=(-1, 512), storage=(102400, 2048), max_instances=(2, 1), snapshots=(4, 0),
                      snapshot_storage=(-1, 0))  # fmt: skip
CUSTOMER_TOTALS = quotas(vcpu=(20, 11), ram=(-1, 4608), storage=(-1, 67584), max_instances=(10, 4),
                         snapshots=(16, 2), snapshot_storage=(-1, 30720))  # fmt: skip
FOREIGN_TOTALS = quotas(vcpu=(1000, 6), ram=(1000, 3072), storage=(1000, 92160), max_instances=(1000, 3),
                        snapshots=(1000, 2), snapshot_storage=(1000, 100))  # fmt: skip


def customer_row(customer, totals):
    return {"customer": link("customers", customer), "customer_name": customer.name, "project": None,
            "project_name": None, "quotas": totals}  # fmt: skip


def project_row(project, totals):
    return {"customer": link("customers", project.customer), "customer_name": project.customer.name,
            "project": link("projects", project), "project_name": project.name, "quotas": totals}  # fmt: skip


# ----------------------------------------------------------------------------------------------- quotas
def test_quotas_per_customer_matrix_each_role_sums_what_it_sees(roles, world):
    responses = check_matrix(roles, EVERYONE, lambda c, r: c.get(QUOTAS))
    assert responses["anonymous"].json() == NO_TOKEN
    assert responses["stranger"].json() == []
    # A project's members see the customer, summed over their project alone: `other` is not theirs.
    assert responses["manager"].json() == [customer_row(world.customer, PROJECT_TOTALS)]
    assert responses["admin"].json() == [customer_row(world.customer, PROJECT_TOTALS)]
    assert responses["owner"].json() == [customer_row(world.customer, CUSTOMER_TOTALS)]
    assert responses["staff"].json() == [customer_row(world.customer, CUSTOMER_TOTALS),
                                         customer_row(world.foreign, FOREIGN_TOTALS)]  # fmt: skip


def test_quotas_per_project_matrix_each_role_sees_its_projects(roles, world):
    responses = check_matrix(roles, EVERYONE, lambda c, r: c.get(QUOTAS, {"aggregate": "project"}))
    assert responses["anonymous"].json() == NO_TOKEN
    assert responses["stranger"].json() == []
    assert responses["manager"].json() == [project_row(world.project, PROJECT_TOTALS)]
    assert responses["admin"].json() == [project_row(world.project, PROJECT_TOTALS)]
    owner = [project_row(world.other, OTHER_TOTALS), project_row(world.project, PROJECT_TOTALS)]
    assert responses["owner"].json() == owner
    assert responses["staff"].json() == [*owner, project_row(world.f_project, FOREIGN_TOTALS)]


def test_another_customers_numbers_never_appear_even_where_a_user_holds_roles_in_both(roles, world):
    """An owner of the foreign customer who administers roles.project sees the foreign customer whole, and of
    roles' customer only that project; neither sum borrows from the other."""
    both = base.UserFactory()
    base.CustomerPermissionFactory(customer=world.foreign, user=both)
    base.ProjectPermissionFactory(project=world.project, user=both, role="admin")
    client = roles.client_as("staff")
    client.force_authenticate(both)
    response = client.get(QUOTAS)
    assert response.status_code == 200
    assert response.json() == [customer_row(world.customer, PROJECT_TOTALS),
                               customer_row(world.foreign, FOREIGN_TOTALS)]  # fmt: skip


def test_a_customer_or_project_without_memberships_has_limits_of_zero(roles):
    response = roles.client_as("owner").get(QUOTAS, {"aggregate": "project"})
    assert response.status_code == 200
    assert response.json() == [project_row(roles.project, quotas(**{key: (0, 0) for key in QUOTA_KEYS}))]


def test_quotas_answer_a_page_with_the_lists_headers(roles, world):
    response = roles.client_as("owner").get(QUOTAS, {"aggregate": "project", "page_size": 1, "page": 2})
    assert response.status_code == 200
    assert response.json() == [project_row(world.project, PROJECT_TOTALS)]
    assert response["X-Result-Count"] == "2"
    assert 'rel="prev"' in response["Link"]


def test_an_unknown_aggregate_is_a_400_naming_the_choices(roles):
    response = roles.client_as("owner").get(QUOTAS, {"aggregate": "cloud"})
    assert response.status_code == 400
    assert response.json() == {"aggregate": ['Give "customer" or "project", not "cloud".'], "code": "invalid"}


# ----------------------------------------------------------------------------------------------- by state
def states(**counts):
    """Every state's display string with 0, but those given (by value)."""
    return {label: counts.get(value, 0) for value, label in S.choices}


def cloud_row(cloud, **counts):
    return {"cloud": link("clouds", cloud), "cloud_name": cloud.name,
            "customer": link("customers", cloud.customer), "customer_name": cloud.customer.name,
            "total": sum(counts.values()), "states": states(**counts)}  # fmt: skip


def test_instances_by_state_matrix_counts_only_the_instances_each_role_sees(roles, world):
    responses = check_matrix(roles, EVERYONE, lambda c, r: c.get(BY_STATE))
    assert responses["anonymous"].json() == NO_TOKEN
    assert responses["stranger"].json() == []
    members = [cloud_row(world.cloud_a, online=1, resizing_scheduled=1, erred=1),
               cloud_row(world.cloud_b, provisioning_scheduled=1)]  # fmt: skip
    assert responses["manager"].json() == members
    assert responses["admin"].json() == members
    owner = [cloud_row(world.cloud_a, online=1, resizing_scheduled=1, erred=1, offline=1), members[1]]
    assert responses["owner"].json() == owner
    assert responses["staff"].json() == [*owner, cloud_row(world.f_cloud, online=3)]
    assert list(responses["staff"].json()[0]["states"])[:3] == ["Provisioning Scheduled", "Provisioning", "Online"]


# ----------------------------------------------------------------------------------------------- created per day
def days(first, counts, n):
    return [{"date": str(first + datetime.timedelta(days=i)), "count": counts.get(i, 0)} for i in range(n)]


def test_instances_created_matrix_every_day_of_the_range_even_empty_ones(roles, world):
    query = {"from": "2025-03-01", "to": "2025-03-05"}
    responses = check_matrix(roles, EVERYONE, lambda c, r: c.get(CREATED, query))
    assert responses["anonymous"].json() == NO_TOKEN
    assert responses["stranger"].json() == {"from": "2025-03-01", "to": "2025-03-05", "total": 0,
                                            "days": days(DAY, {}, 5)}  # fmt: skip
    # Both of the first day (01:00 and 23:00) count on it; m3's instance (day 10) is out of the range.
    members = {"from": "2025-03-01", "to": "2025-03-05", "total": 3, "days": days(DAY, {0: 2, 2: 1}, 5)}
    assert responses["manager"].json() == members
    assert responses["admin"].json() == members
    owner = {**members, "total": 4, "days": days(DAY, {0: 2, 1: 1, 2: 1}, 5)}
    assert responses["owner"].json() == owner
    assert responses["staff"].json() == {**owner, "total": 7, "days": days(DAY, {0: 2, 1: 4, 2: 1}, 5)}


def test_instances_created_defaults_to_the_last_30_days_up_to_today(roles, world):
    today = timezone.localdate()
    instance(factories.MembershipFactory(cloud=world.cloud_a, project=base.ProjectFactory(customer=roles.customer)))
    response = roles.client_as("owner").get(CREATED)
    assert response.status_code == 200
    first = today - datetime.timedelta(days=29)
    assert response.json() == {"from": str(first), "to": str(today), "total": 1, "days": days(first, {29: 1}, 30)}
    only_to = roles.client_as("owner").get(CREATED, {"to": "2025-03-10"}).json()
    assert (only_to["from"], only_to["to"], only_to["total"]) == ("2025-02-09", "2025-03-10", 5)
    assert len(only_to["days"]) == 30


@pytest.mark.parametrize("query,field,message", [
    ({"from": "2025-02-30"}, "from", DATE_FORMAT_MESSAGE),
    ({"to": "yesterday"}, "to", DATE_FORMAT_MESSAGE),
    ({"from": "2025-13-01", "to": "2025-12-31"}, "from", DATE_FORMAT_MESSAGE),
    ({"from": "2025-03-02", "to": "2025-03-01"}, "from",
     "2025-03-02 is after to (2025-03-01): give from on or before to."),
    ({"from": "2024-01-01", "to": "2025-01-01"}, "from",
     "The range is at most 366 days, both ends included; 2024-01-01 to 2025-01-01 is 367 days. Give a later from or "
     "an earlier to."),
])  # fmt: skip
def test_instances_created_refuses_bad_dates_and_ranges_with_a_message_for_a_person(roles, query, field, message):
    response = roles.client_as("owner").get(CREATED, query)
    assert response.status_code == 400
    assert response.json() == {field: [message], "code": "invalid"}


def test_an_empty_end_is_left_out_as_an_empty_date_box_of_a_form_would_be(roles):
    response = roles.client_as("owner").get(CREATED, {"from": "", "to": "2025-03-10"})
    assert response.status_code == 200
    assert response.json() == {"from": "2025-02-09", "to": "2025-03-10", "total": 0,
                               "days": days(datetime.date(2025, 2, 9), {}, 30)}  # fmt: skip


def test_instances_created_answers_the_longest_range_and_the_ends_of_the_calendar(roles):
    client = roles.client_as("owner")
    longest = client.get(CREATED, {"from": "2024-01-01", "to": "2024-12-31"})
    assert longest.status_code == 200 and len(longest.json()["days"]) == 366
    first = client.get(CREATED, {"to": "0001-01-03"})
    assert first.status_code == 200
    assert first.json() == {"from": "0001-01-01", "to": "0001-01-03", "total": 0,
                            "days": days(datetime.date(1, 1, 1), {}, 3)}  # fmt: skip
    last = client.get(CREATED, {"from": "9999-12-30", "to": "9999-12-31"})
    assert last.status_code == 200
    assert last.json() == {"from": "9999-12-30", "to": "9999-12-31", "total": 0,
                           "days": days(datetime.date(9999, 12, 30), {}, 2)}  # fmt: skip


# ----------------------------------------------------------------------------------------------- query counts
def grow(roles, n):
    """n rounds of more rows for every role: a new customer with a project in two clouds (staff), a new project of
    roles.customer in a new cloud (its owner), and roles.project in a new cloud (its admin); each membership with
    two instances created now and a backup."""
    for _ in range(n):
        foreign = base.CustomerFactory()
        foreign_project = base.ProjectFactory(customer=foreign)
        bindings = [(foreign, foreign_project), (foreign, foreign_project),
                    (roles.customer, base.ProjectFactory(customer=roles.customer)), (roles.customer, roles.project)]
        for customer, project in bindings:
            membership = factories.MembershipFactory(cloud=factories.CloudFactory(customer=customer), project=project,
                                                     quota_vcpu=3)  # fmt: skip
            instance(membership)
            instance(membership, S.OFFLINE)
            backup(membership, 10)


# Quotas: COUNT, the page of customers or projects, then one grouped query each for the memberships' limits, the
# instances' usage and the backups' usage. By state: COUNT, the page of clouds, one grouped count. Created: one.
COUNTS = [(QUOTAS, {}, 5), (QUOTAS, {"aggregate": "project"}, 5), (BY_STATE, {}, 3), (CREATED, {}, 1)]
# Where the rows themselves grow with grow(): not the customers of an owner or an admin, nor an admin's projects.
FIXED_ROWS = {("owner", QUOTAS, ""), ("admin", QUOTAS, ""), ("admin", QUOTAS, "project")}


@pytest.mark.parametrize("path,query,queries", COUNTS)
@pytest.mark.parametrize("role", ["staff", "owner", "admin"])
def test_query_count_is_the_same_for_one_row_and_for_many(roles, django_assert_num_queries, path, query, queries,
                                                          role):  # fmt: skip
    grow(roles, 1)
    client = roles.client_as(role)
    with django_assert_num_queries(queries):
        few = client.get(path, {**query, "page_size": 200})
    grow(roles, 6)
    with django_assert_num_queries(queries):
        many = client.get(path, {**query, "page_size": 200})
    assert few.status_code == many.status_code == 200
    if path == CREATED:
        assert many.json()["total"] > few.json()["total"] > 0
    elif (role, path, query.get("aggregate", "")) in FIXED_ROWS:
        assert len(many.json()) == len(few.json()) == 1
        assert many.json()[0]["quotas"]["vcpu"]["limit"] > few.json()[0]["quotas"]["vcpu"]["limit"]
    else:
        assert len(many.json()) > len(few.json()) >= 1
