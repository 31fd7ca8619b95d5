"""Sphinx extension of the NodeConductor docs: the API reference from the OpenAPI schema, and the role table.

Both are generated at build time from the code (the schema from drf-spectacular with settings.test, the table
from role_matrix.py, whose every cell tests/test_docs.py checks against the API), so neither can drift.
"""

import json
import os
import pathlib
import re
import sys

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

ROOT = pathlib.Path(__file__).resolve().parents[2]
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def setup_django():
    """Configure Django with the test settings (no database or broker is touched) so the code can be read."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.test")
    import django

    django.setup()


def openapi_schema():
    """The OpenAPI 3 document the running API serves at /api/schema/, as a plain dict."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema))


# ---------------------------------------------------------------------------------------------- rendering
def _one_line(text):
    """Collapse a description into one table-safe line; an asterisk that would open emphasis (a cron's) is text."""
    return re.sub(r"(?<=[\s'\"(])\*(?=\S)", r"\\*", " ".join((text or "").split()).replace("|", "\\|"))


def _ref_name(ref):
    """Component name of a $ref."""
    return ref.rsplit("/", 1)[-1]


def _type(schema):
    """A short human type of a schema: string, integer, URL, array of X, enum values, component names."""
    if not schema:
        return "any"
    if "$ref" in schema:
        return f":ref:`{_ref_name(schema['$ref'])} <schema-{_ref_name(schema['$ref']).lower()}>`"
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _type(schema["allOf"][0])
    if "oneOf" in schema or "anyOf" in schema:
        return " or ".join(_type(s) for s in schema.get("oneOf") or schema.get("anyOf"))
    if "enum" in schema:
        return "one of " + ", ".join(f"``{v}``" for v in schema["enum"] if v not in ("", None))
    kind = schema.get("type", "object")
    if kind == "array":
        return f"array of {_type(schema.get('items'))}"
    fmt = schema.get("format")
    return f"{kind} ({fmt})" if fmt else kind


def _constraints(schema):
    """Bounds and lengths of a field, as text."""
    parts = []
    for key, label in (("minimum", "min"), ("maximum", "max"), ("maxLength", "max length"), ("pattern", None)):
        if key in schema and label:
            parts.append(f"{label} {schema[key]}")
    if schema.get("nullable"):
        parts.append("may be null")
    return "; ".join(parts)


def _table(header, rows, widths=None):
    """A list-table directive as RST lines."""
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(str(w) for w in widths)}")
    lines.append("")
    for row in [header, *rows]:
        first = True
        for cell in row:
            lines.append(f"   {'* -' if first else '  -'} {cell if cell != '' else ' '}")
            first = False
    lines.append("")
    return lines


def _schema_fields(schema):
    """Rows (name, type, required/read-only, description) of an object schema."""
    required = set(schema.get("required", ()))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        flags = []
        if prop.get("readOnly"):
            flags.append("read-only")
        elif name in required:
            flags.append("required")
        if prop.get("writeOnly"):
            flags.append("write-only")
        notes = _constraints(prop)
        description = _one_line(prop.get("description", ""))
        if notes:
            description = f"{description} ({notes})" if description else notes
        rows.append([f"``{name}``", _type(prop), ", ".join(flags), description])
    return rows


def _operation_lines(path, method, op):
    """RST of one endpoint: summary, description, parameters, request body and responses."""
    title = f"{method.upper()} {path}"
    lines = [f".. _op-{op['operationId'].replace('_', '-')}:", "", title, "~" * len(title), ""]
    if op.get("summary"):
        lines += [f"**{_one_line(op['summary'])}**", ""]
    if op.get("description") and op.get("description") != op.get("summary"):
        lines += [_one_line(op["description"]), ""]
    params = [p for p in op.get("parameters", ()) if p.get("in") in ("query", "path")]
    if params:
        rows = [
            [f"``{p['name']}``", p["in"], _type(p.get("schema")), _one_line(p.get("description", ""))] for p in params
        ]
        lines += _table(["Parameter", "In", "Type", "Description"], rows, [20, 8, 22, 50])
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        lines += [f"Request body (JSON): {_type(body)}", ""]
    rows = []
    for status, response in sorted(op.get("responses", {}).items()):
        content = response.get("content", {}).get("application/json", {}).get("schema")
        headers = ", ".join(f"``{h}``" for h in response.get("headers", {}))
        shape = _type(content) if content else "no body"
        code = (content or {}).get("properties", {}).get("code", {})
        if "$ref" not in (content or {}) and "enum" in code:  # an inline error body (a 400): name its codes
            shape += f" with ``code`` {_type(code)}"
        if headers:
            shape += f"; headers {headers}"
        rows.append([f"``{status}``", shape, _one_line(response.get("description", ""))])
    lines += _table(["Status", "Body", "Meaning"], rows, [8, 32, 60])
    return lines


def reference_lines(schema):
    """The whole API reference as RST: endpoints grouped by collection, then every schema's fields."""
    groups = {}
    for path, operations in schema["paths"].items():
        for method in HTTP_METHODS:
            if method in operations:
                tag = (operations[method].get("tags") or ["other"])[0]
                groups.setdefault(tag, []).append((path, method, operations[method]))
    lines = []
    for tag in sorted(groups):
        heading = f"``{tag}``"
        lines += [heading, "-" * len(heading), ""]
        for path, method, op in groups[tag]:
            lines += _operation_lines(path, method, op)
    lines += ["Schemas", "-" * 7, "", "Fields of every request and response body. Sizes are MiB.", ""]
    for name, component in sorted(schema["components"].get("schemas", {}).items()):
        lines += [f".. _schema-{name.lower()}:", "", name, "~" * len(name), ""]
        if component.get("description"):
            lines += [_one_line(component["description"]), ""]
        if component.get("enum"):
            lines += ["Values: " + ", ".join(f"``{v}``" for v in component["enum"]), ""]
        rows = _schema_fields(component)
        if rows:
            lines += _table(["Field", "Type", "", "Description"], rows, [20, 25, 12, 43])
        elif component.get("type") == "object":
            lines += ["An object whose keys are field names (see the description).", ""]
    return lines


class OpenApiReference(SphinxDirective):
    """``.. nc-openapi::``: every endpoint, status code and schema of the API, from drf-spectacular."""

    def run(self):
        """Parse the generated RST in place, sections included."""
        node = nodes.section()
        node.document = self.state.document
        lines = reference_lines(self.env.app.nc_schema)
        nested_parse_with_titles(self.state, StringList(lines, source="<openapi>"), node)
        return node.children


class RoleMatrix(SphinxDirective):
    """``.. nc-role-matrix::``: the table of role x action -> answer, from role_matrix.py."""

    def run(self):
        """Render one list-table of every row of role_matrix.ROWS."""
        import role_matrix

        header = ["What", "Request", *role_matrix.ROLE_TITLES.values()]
        rows = []
        for row in role_matrix.ROWS:
            cells = [role_matrix.cell(row.expected[role]) for role in role_matrix.ROLE_TITLES]
            rows.append([row.what, f"``{row.method} {row.path}``", *cells])
        lines = _table(header, rows, [22, 30, 8, 8, 8, 8, 8, 8])
        node = nodes.container()
        self.state.nested_parse(StringList(lines, source="<role_matrix>"), self.content_offset, node)
        return [node]


def _builder_inited(app):
    """Set Django up and generate the schema once per build."""
    setup_django()
    app.nc_schema = openapi_schema()


def _build_finished(app, exception):
    """Publish the schema beside the HTML as openapi.json."""
    if exception is None and app.builder.format == "html":
        path = pathlib.Path(app.outdir) / "openapi.json"
        path.write_text(json.dumps(app.nc_schema, indent=2, sort_keys=True) + "\n")


def setup(app):
    """Register the directives and the build hooks."""
    app.add_directive("nc-openapi", OpenApiReference)
    app.add_directive("nc-role-matrix", RoleMatrix)
    app.connect("builder-inited", _builder_inited)
    app.connect("build-finished", _build_finished)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
