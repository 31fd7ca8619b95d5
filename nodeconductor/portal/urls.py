"""Route of the portal: the page shell at the site root."""

from django.urls import path

from nodeconductor.portal import views

urlpatterns = [
    path("", views.portal, name="portal"),
]
