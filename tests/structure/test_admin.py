import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nodeconductor.core.models import User
from nodeconductor.structure.models import (
    Customer,
    CustomerPermission,
    Project,
    ProjectGroup,
    ProjectGroupPermission,
    ProjectPermission,
)

pytestmark = pytest.mark.django_db

MODELS = {
    "customer": Customer,
    "project": Project,
    "projectgroup": ProjectGroup,
    "customerpermission": CustomerPermission,
    "projectpermission": ProjectPermission,
    "projectgrouppermission": ProjectGroupPermission,
}


def management(prefix, total=0, initial=0):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def populate(suffix=""):
    user = User.objects.create_user(f"member{suffix}")
    customer = Customer.objects.create(name=f"Customer{suffix}", abbreviation="C")
    project = Project.objects.create(customer=customer, name=f"Project{suffix}")
    group = ProjectGroup.objects.create(customer=customer, name=f"Group{suffix}")
    group.projects.add(project)
    CustomerPermission.objects.create(customer=customer, user=user, role="owner")
    ProjectPermission.objects.create(project=project, user=user, role="admin")
    ProjectGroupPermission.objects.create(project_group=group, user=user, role="manager")
    return {"user": user, "customer": customer, "project": project, "projectgroup": group}


@pytest.fixture
def admin(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "Admin-Pass-123", is_staff=True))
    return client


@pytest.fixture
def data():
    return populate()


@pytest.mark.parametrize("model", MODELS)
def test_changelist_add_and_change_pages(admin, data, model):
    obj = MODELS[model].objects.first()
    assert admin.get(reverse(f"admin:structure_{model}_changelist")).status_code == 200
    assert admin.get(reverse(f"admin:structure_{model}_changelist"), {"q": "member"}).status_code == 200
    assert admin.get(reverse(f"admin:structure_{model}_add")).status_code == 200
    assert admin.get(reverse(f"admin:structure_{model}_change", args=[obj.pk])).status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_changelist_queries_do_not_grow_with_rows(admin, data, model):
    url = reverse(f"admin:structure_{model}_changelist")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert admin.get(url).status_code == 200
        return len(ctx)

    before = count()
    for i in range(4):
        populate(str(i))
    assert count() == before


def test_customer_list_counts_projects(admin, data):
    Project.objects.create(customer=data["customer"], name="Second")
    response = admin.get(reverse("admin:structure_customer_changelist"))
    assert response.context["cl"].result_list[0]._project_count == 2


def test_create_customer_with_owner_inline(admin, data):
    form = {
        "name": "Acme",
        "native_name": "Acme Oü",
        "abbreviation": "ACME",
        "contact_details": "Tallinn",
        **management("permissions", total=1),
        "permissions-0-user": data["user"].pk,
        "permissions-0-role": "owner",
    }
    response = admin.post(reverse("admin:structure_customer_add"), form)
    assert response.status_code == 302
    acme = Customer.objects.get(name="Acme")
    assert acme.has_owner(data["user"])


def test_create_project_with_member_inline(admin, data):
    form = {
        "customer": data["customer"].pk,
        "name": "Web",
        "description": "",
        **management("permissions", total=1),
        "permissions-0-user": data["user"].pk,
        "permissions-0-role": "manager",
    }
    response = admin.post(reverse("admin:structure_project_add"), form)
    assert response.status_code == 302
    project = Project.objects.get(name="Web")
    assert project.customer == data["customer"]
    assert project.permissions.get().role == "manager"


def test_create_project_group_with_projects(admin, data):
    form = {
        "customer": data["customer"].pk,
        "name": "All",
        "projects": [data["project"].pk],
        **management("permissions", total=1),
        "permissions-0-user": data["user"].pk,
        "permissions-0-role": "manager",
    }
    response = admin.post(reverse("admin:structure_projectgroup_add"), form)
    assert response.status_code == 302
    group = ProjectGroup.objects.get(name="All")
    assert list(group.projects.all()) == [data["project"]]
    assert group.permissions.count() == 1


def test_project_group_refuses_another_customers_project(admin, data):
    other = populate("-other")
    form = {
        "customer": data["customer"].pk,
        "name": "Mixed",
        "projects": [data["project"].pk, other["project"].pk],
        **management("permissions"),
    }
    response = admin.post(reverse("admin:structure_projectgroup_add"), form)
    assert response.status_code == 200
    assert "Not projects of" in str(response.context["adminform"].form.errors["projects"])
    assert not ProjectGroup.objects.filter(name="Mixed").exists()


@pytest.mark.parametrize(
    "model, target, role",
    [
        ("customerpermission", "customer", "owner"),
        ("projectpermission", "project", "admin"),
        ("projectgrouppermission", "project_group", "manager"),
    ],
)
def test_create_permission_through_admin(admin, data, model, target, role):
    newcomer = User.objects.create_user("newcomer")
    obj = data["projectgroup" if target == "project_group" else target]
    response = admin.post(reverse(f"admin:structure_{model}_add"), {target: obj.pk, "user": newcomer.pk, "role": role})
    assert response.status_code == 302
    assert MODELS[model].objects.filter(user=newcomer, role=role, **{target: obj}).exists()


def test_duplicate_permission_is_a_form_error(admin, data):
    response = admin.post(
        reverse("admin:structure_customerpermission_add"),
        {"customer": data["customer"].pk, "user": data["user"].pk, "role": "owner"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert CustomerPermission.objects.count() == 1


def test_autocomplete_of_projects(admin, data):
    response = admin.get(
        reverse("admin:autocomplete"),
        {"app_label": "structure", "model_name": "projectgroup", "field_name": "projects", "term": "Proj"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == [str(data["project"])]


def test_a_project_stays_with_its_customer_in_the_admin(admin, data):
    # Moved to another customer, a project would take its tenants along (security review, finding 1).
    other = Customer.objects.create(name="Other", abbreviation="O")
    project = data["project"]
    form = {"customer": other.pk, "name": "Renamed", "description": "", **management("permissions")}
    response = admin.post(reverse("admin:structure_project_change", args=[project.pk]), form)
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.customer) == ("Renamed", data["customer"])
