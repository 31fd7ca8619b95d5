"""A live API server on the development settings (a real SQLite file), for tests that need real concurrency.

Run as ``python -m tests.devserver [--setup] [--no-debug]`` with DJANGO_SETTINGS_MODULE=settings.development and
NODECONDUCTOR_VAR_DIR set. With --setup it migrates and creates a staff user, a plain user with no role
("stranger") and a customer owner, each with a token (without --setup, each gets a new token); the owner's
customer "Acme" with a project "Web" in a group "Team"; and an active template "CentOS" with one image mapping.
It binds a free port (port 0), prints one JSON line {"port": ..., "tokens": {...}, "objects": {...}} and
serves with one thread per request, as runserver does, until killed. Several of them may serve the same
database, like gunicorn's workers; --no-debug gives production's error pages.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent


def _setup():
    """Migrate, and give each role a user and a token; returns {role: token}."""
    from django.core.management import call_command
    from knox.models import AuthToken

    from nodeconductor.core.models import User
    from nodeconductor.iaas.models import Template, TemplateMapping
    from nodeconductor.structure.models import Customer, CustomerPermission, Project, ProjectGroup

    call_command("migrate", verbosity=0, interactive=False)
    staff = User.objects.create_user(username="staff", password="unused-Pa55", is_staff=True)
    stranger = User.objects.create_user(username="stranger", password="unused-Pa55")
    owner = User.objects.create_user(username="owner", password="unused-Pa55")
    customer = Customer.objects.create(name="Acme")
    CustomerPermission.objects.create(customer=customer, user=owner)
    project = Project.objects.create(customer=customer, name="Web")
    ProjectGroup.objects.create(customer=customer, name="Team").projects.add(project)
    template = Template.objects.create(name="CentOS", os="CentOS 7", is_active=True)
    TemplateMapping.objects.create(template=template, backend_image_id="img-1", description="x86_64")
    return {u.username: AuthToken.objects.create(user=u)[1] for u in (staff, stranger, owner)}


def _tokens():
    """New tokens of the users a --setup server made: the database keeps digests only, so none can be read back."""
    from knox.models import AuthToken

    from nodeconductor.core.models import User

    users = User.objects.filter(username__in=("staff", "stranger", "owner"))
    return {u.username: AuthToken.objects.create(user=u)[1] for u in users}


def _objects():
    """Collection -> uuid of the objects --setup made, for clients that need existing ones to work on."""
    from nodeconductor.iaas.models import Template
    from nodeconductor.structure.models import Customer, Project, ProjectGroup

    return {
        "customers": str(Customer.objects.get(name="Acme").uuid),
        "projects": str(Project.objects.get(name="Web").uuid),
        "project-groups": str(ProjectGroup.objects.get(name="Team").uuid),
        "iaas-templates": str(Template.objects.get(name="CentOS").uuid),
    }


def main(argv):
    """Set up if asked, then serve the WSGI app on a free port until killed."""
    django.setup()
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    if "--no-debug" in argv:
        from django.conf import settings

        # Error pages as in production (JSON 404s from core.views, no debug page), so a fuzzer checks those.
        settings.DEBUG = False
    tokens = _setup() if "--setup" in argv else _tokens()
    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler, allow_reuse_address=False)
    server.set_app(get_wsgi_application())
    ready = {"port": server.server_address[1], "tokens": tokens, "objects": _objects()}
    print(json.dumps(ready), flush=True)
    server.serve_forever()


class DevServer:
    """A `python -m tests.devserver` process a test starts; it logs to a file so a full pipe never blocks it."""

    def __init__(self, var, log, setup=True, debug=True):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.development", "NODECONDUCTOR_VAR_DIR": str(var)}
        env.pop("DATABASE_URL", None)
        args = [*(["--setup"] if setup else []), *([] if debug else ["--no-debug"])]
        with open(log, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.devserver", *args],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            raise RuntimeError(f"the development server did not start: {Path(log).read_text()[-2000:]}")
        ready = json.loads(line)
        self.url = f"http://127.0.0.1:{ready['port']}"
        self.tokens = ready["tokens"]
        self.objects = ready["objects"]

    def stop(self):
        """Terminate the process this test started, and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


if __name__ == "__main__":
    main(sys.argv[1:])
