"""List pagination as the portal expects it: a bare JSON array, with Link and X-Result-Count headers."""

from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

# The highest page number the schema admits (a 32-bit integer, as clients and proxies commonly parse it); a page
# past the last one is a 404 "Invalid page." whatever its number.
MAX_PAGE = 2_147_483_647


class LinkHeaderPagination(PageNumberPagination):
    """Page-number pagination that moves navigation into headers so the body stays a plain array."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_schema_operation_parameters(self, view):
        """DRF's page and page_size parameters, with their bounds."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
                parameter["description"] = "Page number, from 1; a page past the last is a 404."
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
                parameter["description"] = (
                    f"Objects per page (default {self.page_size}); at most {self.max_page_size}, a larger value is "
                    f"taken as {self.max_page_size}."
                )
        return parameters

    def _page_link(self, number):
        """URL of page `number` of the current request."""
        url = self.request.build_absolute_uri()
        if number == 1:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, number)

    def get_paginated_response(self, data):
        """Return the page as a list with RFC 8288 links to first/prev/next/last and the total count."""
        page = self.page
        links = {"first": 1, "last": page.paginator.num_pages}
        if page.has_previous():
            links["prev"] = page.previous_page_number()
        if page.has_next():
            links["next"] = page.next_page_number()
        header = ", ".join(f'<{self._page_link(n)}>; rel="{rel}"' for rel, n in links.items())
        return Response(data, headers={"Link": header, "X-Result-Count": str(page.paginator.count)})

    def get_paginated_response_schema(self, schema):
        """Describe the body as the bare array it is."""
        return schema
