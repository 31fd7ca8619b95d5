"""The one router: every app registers its viewsets here."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from nodeconductor.core import apidocs
from nodeconductor.core import urls as core_urls
from nodeconductor.iaas import urls as iaas_urls
from nodeconductor.structure import urls as structure_urls

router = DefaultRouter()
core_urls.register_in(router)
structure_urls.register_in(router)
iaas_urls.register_in(router)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/schema/swagger/", apidocs.SwaggerView.as_view(url_name="schema"), name="schema-swagger"),
    path("api/schema/redoc/", apidocs.RedocView.as_view(url_name="schema"), name="schema-redoc"),
    path("api/", include(router.urls)),
    path("api-auth/", include(core_urls.auth_urlpatterns)),
    path("", include("nodeconductor.portal.urls")),
]

handler400 = "nodeconductor.core.views.bad_request"
handler404 = "nodeconductor.core.views.not_found"
handler500 = "nodeconductor.core.views.server_error"
