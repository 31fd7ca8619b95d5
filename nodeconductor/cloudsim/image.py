"""Glance v2: versions, schemas, image list (marker pagination), show, create, upload and delete."""

import hashlib

from .core import ApiError, isotime
from .http import Response, Service

NULLABLE_STRING = {"type": ["null", "string"]}
IMAGE_SCHEMA = {
    "name": "image",
    "additionalProperties": {"type": "string"},
    "links": [{"href": "{self}", "rel": "self"}, {"href": "{file}", "rel": "enclosure"},
              {"href": "{schema}", "rel": "describedby"}],
    "properties": {
        "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                                            "-([0-9a-fA-F]){12}$"},
        "name": {"type": ["null", "string"], "maxLength": 255},
        "status": {"type": "string", "readOnly": True,
                   "enum": ["queued", "saving", "active", "killed", "deleted", "uploading", "importing",
                            "pending_delete", "deactivated"]},
        "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
        "protected": {"type": "boolean"}, "os_hidden": {"type": "boolean"},
        "checksum": {**NULLABLE_STRING, "readOnly": True}, "os_hash_algo": {**NULLABLE_STRING, "readOnly": True},
        "os_hash_value": {**NULLABLE_STRING, "readOnly": True}, "owner": NULLABLE_STRING,
        "size": {"type": ["null", "integer"], "readOnly": True},
        "virtual_size": {"type": ["null", "integer"], "readOnly": True},
        "container_format": {"type": ["null", "string"],
                             "enum": [None, "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]},
        "disk_format": {"type": ["null", "string"],
                        "enum": [None, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                                 "ploop"]},
        "created_at": {"type": "string", "readOnly": True}, "updated_at": {"type": "string", "readOnly": True},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
        "direct_url": {"type": "string", "readOnly": True}, "min_ram": {"type": "integer"},
        "min_disk": {"type": "integer"}, "self": {"type": "string", "readOnly": True},
        "file": {"type": "string", "readOnly": True}, "stores": {"type": "string", "readOnly": True},
        "schema": {"type": "string", "readOnly": True}, "locations": {"type": "array"},
    },
}


class Image(Service):
    """Glance's image API under /image."""

    name = "image"
    prefix = "/image"

    def __init__(self, state):
        super().__init__(state)
        r = self.route
        r("GET", "/", "image.versions", self.versions, auth=False)
        r("GET", "/versions", "image.versions", self.versions, auth=False)
        r("GET", "/v2/schemas/image", "image.schema", self.schema_image)
        r("GET", "/v2/schemas/images", "image.schema", self.schema_images)
        r("GET", "/v2/images", "image.list", self.image_list)
        r("POST", "/v2/images", "image.create", self.image_create)
        r("GET", "/v2/images/(?P<id>[^/]+)", "image.get", self.image_get)
        r("DELETE", "/v2/images/(?P<id>[^/]+)", "image.delete", self.image_delete)
        r("PUT", "/v2/images/(?P<id>[^/]+)/file", "image.upload", self.image_upload)

    def error(self, status, message):
        """Glance answers errors as webob text, not JSON."""
        titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
                  413: "Request Entity Too Large"}
        return f"{status} {titles.get(status, 'Internal Server Error')}\n\n{message}\n\n   "

    def versions(self, req):
        """GET /image/: Glance's version list (v2.x only)."""
        base = f"{self.state.base_url}/image/v2/"
        values = [{"id": f"v2.{n}", "status": "CURRENT" if n == 16 else "SUPPORTED",
                   "links": [{"rel": "self", "href": base}]} for n in range(16, -1, -1)]
        return Response(300 if req.path == "/" else 200, {"versions": values})

    def schema_image(self, req):
        """GET /v2/schemas/image: glanceclient builds its warlock model from this."""
        return Response(200, IMAGE_SCHEMA)

    def schema_images(self, req):
        """GET /v2/schemas/images."""
        return Response(200, {"name": "images", "properties": {"images": {"type": "array", "items": IMAGE_SCHEMA},
                                                               "schema": {"type": "string"},
                                                               "first": {"type": "string"},
                                                               "next": {"type": "string"}},
                              "links": [{"href": "{first}", "rel": "first"}, {"href": "{next}", "rel": "next"},
                                        {"href": "{schema}", "rel": "describedby"}]})

    def visible(self, req, image):
        """Whether the caller may see an image (public, community, or owned)."""
        return image["visibility"] in ("public", "community") or image["owner"] == req.project_id or req.is_admin

    def view(self, image):
        """Render an image (nulls dropped, as Glance omits unset attributes)."""
        return {k: v for k, v in image.items() if v is not None}

    def image_list(self, req):
        """GET /v2/images with name/status/visibility filters and marker/limit pagination."""
        images = [i for i in self.state.images.values() if self.visible(req, i)]
        for key in ("name", "status", "visibility", "owner"):
            if req.arg(key) is not None:
                images = [i for i in images if i[key] == req.arg(key)]
        images.sort(key=lambda i: (i["created_at"], i["id"]), reverse=True)
        if req.arg("marker"):
            ids = [i["id"] for i in images]
            if req.arg("marker") not in ids:
                raise ApiError(400, f"Invalid marker. Image {req.arg('marker')} could not be found.")
            images = images[ids.index(req.arg("marker")) + 1:]
        limit = int(req.arg("limit") or 25)
        body = {"images": [self.view(i) for i in images[:limit]], "first": "/v2/images",
                "schema": "/v2/schemas/images"}
        if len(images) > limit:
            body["next"] = f"/v2/images?marker={images[limit - 1]['id']}&limit={limit}"
        return Response(200, body)

    def _get(self, req):
        image = self.state.images.get(req.match["id"])
        if image is None or not self.visible(req, image):
            raise ApiError(404, f"No image found with ID {req.match['id']}")
        return image

    def image_get(self, req):
        """GET /v2/images/{id}."""
        return Response(200, self.view(self._get(req)))

    def image_create(self, req):
        """POST /v2/images: a queued image owned by the caller's project."""
        spec = req.body if isinstance(req.body, dict) else {}
        visibility = spec.get("visibility", "shared")
        if visibility == "public" and not req.is_admin:
            raise ApiError(403, 'You are not authorized to complete publicize_image action.')
        image = self.state.add_image(spec.get("name"), min_disk=int(spec.get("min_disk", 0)),
                                     min_ram=int(spec.get("min_ram", 0)), image_id=spec.get("id"),
                                     owner=req.project_id, visibility=visibility, status="queued",
                                     disk_format=spec.get("disk_format"),
                                     container_format=spec.get("container_format"))
        return Response(201, self.view(image))

    def image_upload(self, req):
        """PUT /v2/images/{id}/file: the image becomes active."""
        image = self._get(req)
        if image["owner"] != req.project_id and not req.is_admin:
            raise ApiError(403, "Forbidden to upload image.")
        data = req.raw or b""
        image.update(status="active", size=len(data), virtual_size=len(data), updated_at=isotime(),
                     checksum=hashlib.md5(data).hexdigest(), os_hash_algo="sha512",
                     os_hash_value=hashlib.sha512(data).hexdigest())
        return Response(204)

    def image_delete(self, req):
        """DELETE /v2/images/{id}."""
        image = self._get(req)
        if image["owner"] != req.project_id and not req.is_admin:
            raise ApiError(403, "Forbidden to delete image.")
        del self.state.images[image["id"]]
        return Response(204)
