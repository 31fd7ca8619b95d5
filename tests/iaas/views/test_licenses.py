"""/api/template-licenses/: staff only for every method (403 for other users, 401 anonymous)."""

import pytest

from nodeconductor.iaas.models import TemplateLicense
from tests.fixtures.roles import check_matrix
from tests.iaas import factories

NOT_STAFF = {"anonymous": 401, "stranger": 403, "manager": 403, "admin": 403, "owner": 403}
FIELDS = {"url", "uuid", "name", "license_type", "service_type", "templates", "setup_fee", "monthly_fee"}


@pytest.fixture
def licence():
    licence = factories.TemplateLicenseFactory(name="Windows Server", license_type="OS", setup_fee="10.5")
    licence.templates.add(factories.TemplateFactory(name="Windows 2012"))
    return licence


def test_list_and_retrieve_matrix(roles, licence):
    responses = check_matrix(roles, {**NOT_STAFF, "staff": 200}, lambda c, r: c.get("/api/template-licenses/"))
    assert len(responses["staff"].json()) == 1
    url = roles.url("templatelicense", licence)
    body = check_matrix(roles, {**NOT_STAFF, "staff": 200}, lambda c, r: c.get(url))["staff"].json()
    assert set(body) == FIELDS
    template = licence.templates.get()
    assert body["templates"] == [f"http://testserver/api/iaas-templates/{template.uuid}/"]
    assert (body["service_type"], body["setup_fee"], body["monthly_fee"]) == ("IaaS", "10.500", "0.000")
    assert responses["stranger"].json() == {
        "detail": "You do not have permission to perform this action.",
        "code": "permission_denied",
    }


def test_create_matrix(roles):
    template = factories.TemplateFactory()
    data = {
        "name": "RHEL",
        "license_type": "OS",
        "service_type": "IaaS",
        "templates": [f"http://testserver/api/iaas-templates/{template.uuid}/"],
        "monthly_fee": "5.25",
    }
    post = lambda c, r: c.post("/api/template-licenses/", data, format="json")  # noqa: E731
    check_matrix(roles, {**NOT_STAFF, "staff": 201}, post)
    licence = TemplateLicense.objects.get()
    assert list(licence.templates.all()) == [template]
    response = roles.client_as("staff").post("/api/template-licenses/", {"service_type": "XaaS"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"name", "license_type", "service_type", "code"}
    assert response.json()["code"] == "invalid"


def test_update_and_delete_matrix(roles, licence):
    url = roles.url("templatelicense", licence)
    check_matrix(roles, {**NOT_STAFF, "staff": 200}, lambda c, r: c.patch(url, {"monthly_fee": "3"}, format="json"))
    licence.refresh_from_db()
    assert str(licence.monthly_fee) == "3.000"
    check_matrix(roles, {**NOT_STAFF, "staff": 204}, lambda c, r: c.delete(url))
    assert not TemplateLicense.objects.exists()


def test_list_query_count_is_constant(roles):
    templates = factories.TemplateFactory.create_batch(3)
    for _ in range(3):
        factories.TemplateLicenseFactory().templates.set(templates)
    small, large = factories.list_query_counts(roles.client_as("staff"), "/api/template-licenses/")
    # COUNT, the page, the templates
    assert small == large == 3
