"""A live API server on the development settings (a real SQLite file), for tests that need real concurrency.

Run as ``python -m tests.devserver [--setup]`` with DJANGO_SETTINGS_MODULE=settings.development and
NODECONDUCTOR_VAR_DIR set. With --setup it migrates and creates a staff user, a plain user with no role
("stranger") and a customer owner, each with a token. It binds a free port (port 0), prints one JSON line
{"port": ..., "tokens": {...}} and serves with one thread per request, as runserver does, until killed.
Several of them may serve the same database, like gunicorn's workers.
"""

import json
import sys

import django


def _setup():
    """Migrate, and give each role a user and a token; returns {role: token key}."""
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from nodeconductor.core.models import User
    from nodeconductor.structure.models import Customer, CustomerPermission, Project

    call_command("migrate", verbosity=0, interactive=False)
    staff = User.objects.create_user(username="staff", password="unused-Pa55", is_staff=True)
    stranger = User.objects.create_user(username="stranger", password="unused-Pa55")
    owner = User.objects.create_user(username="owner", password="unused-Pa55")
    customer = Customer.objects.create(name="Acme")
    CustomerPermission.objects.create(customer=customer, user=owner)
    Project.objects.create(customer=customer, name="Web")
    return {u.username: Token.objects.create(user=u).key for u in (staff, stranger, owner)}


def _tokens():
    """The tokens a --setup server made, read back from the shared database."""
    from rest_framework.authtoken.models import Token

    return {t.user.username: t.key for t in Token.objects.select_related("user")}


def main(argv):
    """Set up if asked, then serve the WSGI app on a free port until killed."""
    django.setup()
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    tokens = _setup() if "--setup" in argv else _tokens()
    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler, allow_reuse_address=False)
    server.set_app(get_wsgi_application())
    print(json.dumps({"port": server.server_address[1], "tokens": tokens}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
