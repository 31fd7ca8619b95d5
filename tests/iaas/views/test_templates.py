"""/api/iaas-templates/: everyone reads active templates, staff manage them and their nested mappings."""

import pytest

from nodeconductor.iaas.models import Template
from tests.fixtures.roles import check_matrix
from tests.iaas import factories

FIELDS = {
    "url",
    "uuid",
    "name",
    "description",
    "icon_url",
    "os",
    "os_type",
    "is_active",
    "sla_level",
    "setup_fee",
    "monthly_fee",
    "images",
}
LIST = "/api/iaas-templates/"
READERS = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
NOT_STAFF_WRITE = {"anonymous": 401, "stranger": 403, "manager": 403, "admin": 403, "owner": 403}


@pytest.fixture
def catalogue(roles):
    """An active template with images in a linked cloud, an unlinked cloud and a foreign cloud; an inactive one."""
    template = factories.TemplateFactory(name="CentOS 6", sla_level="99.9")
    factories.TemplateMappingFactory(template=template, backend_image_id="img-1", description="x86_64")
    linked = factories.CloudFactory(customer=roles.customer, name="Linked")
    factories.MembershipFactory(cloud=linked, project=roles.project)
    unlinked = factories.CloudFactory(customer=roles.customer, name="Unlinked")
    foreign = factories.CloudFactory(name="Foreign")
    for cloud in (linked, unlinked, foreign):
        factories.ImageFactory(cloud=cloud, template=template, backend_id="img-1", min_disk=1024, min_ram=256)
    inactive = factories.TemplateFactory(name="Old", is_active=False)
    return template, inactive


def test_list_matrix(roles, catalogue):
    template, inactive = catalogue
    responses = check_matrix(roles, READERS, lambda c, r: c.get(LIST))
    for role in ("stranger", "manager", "admin", "owner"):
        assert [t["name"] for t in responses[role].json()] == ["CentOS 6"], role
    assert [t["name"] for t in responses["staff"].json()] == ["CentOS 6", "Old"]


def test_retrieve_body_shows_images_in_visible_clouds_and_mappings_to_staff(roles, catalogue):
    template, _ = catalogue
    url = roles.url("template", template)
    responses = check_matrix(roles, READERS, lambda c, r: c.get(url))
    clouds = {r: [i["cloud_name"] for i in responses[r].json()["images"]] for r in READERS if r != "anonymous"}
    assert clouds == {
        "stranger": [],
        "manager": ["Linked"],
        "admin": ["Linked"],
        "owner": ["Linked", "Unlinked"],
        "staff": ["Foreign", "Linked", "Unlinked"],
    }
    body = responses["manager"].json()
    assert set(body) == FIELDS  # no mappings for non-staff
    assert body["images"] == [
        {
            "cloud": f"http://testserver/api/clouds/{template.images.get(cloud__name='Linked').cloud.uuid}/",
            "cloud_name": "Linked",
            "min_disk": 1024,
            "min_ram": 256,
        }
    ]
    assert (body["sla_level"], body["setup_fee"]) == ("99.9000", "0.000")
    staff = responses["staff"].json()
    assert set(staff) == FIELDS | {"mappings"}
    assert staff["mappings"] == [{"backend_image_id": "img-1", "description": "x86_64"}]


def test_inactive_template_is_invisible_to_users(roles, catalogue):
    _, inactive = catalogue
    url = roles.url("template", inactive)
    expected = {"anonymous": 401, "stranger": 404, "manager": 404, "admin": 404, "owner": 404, "staff": 200}
    check_matrix(roles, expected, lambda c, r: c.get(url))
    expected["staff"] = 200
    check_matrix(roles, expected, lambda c, r: c.patch(url, {"description": r}, format="json"))


def test_create_matrix_with_nested_mappings(roles):
    def create(client, role):
        data = {
            "name": f"Ubuntu {role}",
            "os": "Ubuntu 24.04",
            "is_active": True,
            "mappings": [{"backend_image_id": "img-a"}, {"backend_image_id": "img-b", "description": "arm"}],
        }
        return client.post(LIST, data, format="json")

    responses = check_matrix(roles, {**NOT_STAFF_WRITE, "staff": 201}, create)
    body = responses["staff"].json()
    assert body["mappings"] == [
        {"backend_image_id": "img-a", "description": ""},
        {"backend_image_id": "img-b", "description": "arm"},
    ]
    assert body["images"] == []
    template = Template.objects.get(name="Ubuntu staff")
    assert sorted(template.mappings.values_list("backend_image_id", flat=True)) == ["img-a", "img-b"]
    assert Template.objects.count() == 1


def test_update_replaces_mappings_only_when_given(roles, catalogue):
    template, _ = catalogue
    url = roles.url("template", template)
    check_matrix(roles, {**NOT_STAFF_WRITE, "staff": 200}, lambda c, r: c.patch(url, {"os": r}, format="json"))
    client = roles.client_as("staff")
    assert client.get(url).json()["mappings"] == [{"backend_image_id": "img-1", "description": "x86_64"}]
    mappings = [{"backend_image_id": "img-1", "description": "changed"}, {"backend_image_id": "img-2"}]
    response = client.patch(url, {"mappings": mappings}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["mappings"] == [
        {"backend_image_id": "img-1", "description": "changed"},
        {"backend_image_id": "img-2", "description": ""},
    ]
    response = client.patch(url, {"mappings": [{"backend_image_id": "img-2"}]}, format="json")
    assert [m["backend_image_id"] for m in response.json()["mappings"]] == ["img-2"]
    response = client.patch(url, {"mappings": []}, format="json")
    assert response.json()["mappings"] == [] and not template.mappings.exists()


def test_create_validates_input(roles):
    client = roles.client_as("staff")
    response = client.post(
        LIST,
        {"name": "Dup", "mappings": [{"backend_image_id": "x"}, {"backend_image_id": "x"}], "setup_fee": "-1"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"mappings", "setup_fee", "code"} and response.json()["code"] == "invalid"
    factories.TemplateFactory(name="Taken")
    assert client.post(LIST, {"name": "Taken"}, format="json").status_code == 400
    assert client.post(LIST, {"name": "M", "mappings": [{}]}, format="json").json() == {
        "mappings": {"0": {"backend_image_id": ["This field is required."]}},
        "code": "invalid",
    }


def test_delete_matrix_and_409_with_instances(roles, catalogue):
    template, _ = catalogue
    url = roles.url("template", template)
    check_matrix(roles, NOT_STAFF_WRITE, lambda c, r: c.delete(url))
    factories.InstanceFactory(template=template)
    response = roles.client_as("staff").delete(url)
    assert response.status_code == 409
    assert "deactivate" in response.json()["detail"]
    unused = factories.TemplateFactory()
    assert roles.client_as("staff").delete(roles.url("template", unused)).status_code == 204


def test_filters(roles, catalogue):
    template, _ = catalogue
    factories.TemplateFactory(name="Windows", os="Windows 2012", os_type="Windows")
    client = roles.client_as("owner")
    assert [t["name"] for t in client.get(LIST, {"os_type": "Windows"}).json()] == ["Windows"]
    linked = template.images.get(cloud__name="Linked").cloud
    assert [t["name"] for t in client.get(LIST, {"cloud": linked.uuid.hex}).json()] == ["CentOS 6"]
    assert [t["name"] for t in client.get(LIST, {"name": "win"}).json()] == ["Windows"]


@pytest.mark.parametrize(("role", "queries"), [("staff", 4), ("owner", 3), ("manager", 3)])
def test_list_query_count_is_constant(roles, role, queries):
    cloud = factories.CloudFactory(customer=roles.customer)
    factories.MembershipFactory(cloud=cloud, project=roles.project)
    for _ in range(3):
        template = factories.TemplateFactory()
        factories.TemplateMappingFactory.create_batch(2, template=template)
        factories.ImageFactory(cloud=cloud, template=template)
    small, large = factories.list_query_counts(roles.client_as(role), LIST)
    # COUNT, the page, images in visible clouds with their cloud, and (staff) mappings
    assert small == large == queries


@pytest.mark.parametrize("item", [{"description": ""}, {}, {"description": "arm"}])
def test_partial_update_still_requires_each_mapping_key(roles, catalogue, item):
    """Schemathesis found PATCH {"mappings": [{"description": ""}]} answered 500 KeyError: 'backend_image_id'."""
    template, _ = catalogue
    client = roles.client_as("staff")
    url = roles.url("template", template)
    response = client.patch(url, {"mappings": [{"backend_image_id": "img-9"}, item]}, format="json")
    assert response.status_code == 400, response.content
    assert response.json() == {"mappings": {"1": {"backend_image_id": ["This field is required."]}}, "code": "invalid"}
    assert list(template.mappings.values_list("backend_image_id", flat=True)) == ["img-1"]
