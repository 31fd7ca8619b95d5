"""Client construction with pinned microversions; the only place client classes are instantiated."""

from cinderclient import client as cinder_client
from glanceclient import Client as GlanceClient
from keystoneclient.v3 import client as keystone_v3
from novaclient import client as nova_client

# 2.37 is the lowest Nova microversion that accepts networks="none"/"auto" at boot; below 2.47 server.flavor
# still carries the flavor id, which the instance pull uses to match our Flavor rows.
NOVA_MICROVERSION = "2.37"
# From 2.85 a PUT of a volume attachment naming the same volume changes its delete_on_termination, on a server in
# any state (a provision's retry keeps the volumes of the server it deletes); below it, that PUT is the admin's swap.
NOVA_ATTACHMENT_MICROVERSION = "2.85"
# Plain Cinder v3: every call we make exists there, and below 3.42 an in-use extend is refused outright,
# which is the behaviour our detach/extend/attach flow relies on.
CINDER_MICROVERSION = "3.0"


def nova(session):
    """A Nova client on this session."""
    return nova_client.Client(NOVA_MICROVERSION, session=session)


def nova_attachments(session):
    """A Nova client at 2.85, only for changing a volume attachment's delete_on_termination."""
    return nova_client.Client(NOVA_ATTACHMENT_MICROVERSION, session=session)


def cinder(session):
    """A Cinder v3 client on this session."""
    return cinder_client.Client(CINDER_MICROVERSION, session=session)


def glance(session):
    """A Glance v2 client on this session."""
    return GlanceClient("2", session=session)


def neutron(session):
    """A Neutron v2.0 client on this session (its constructor logs a deprecation warning; it still works)."""
    # Imported on first use: neutronclient takes 0.18 s to import, which every process start would pay.
    from neutronclient.v2_0 import client as neutron_client

    return neutron_client.Client(session=session)


def keystone(session):
    """A Keystone v3 client on this session (identity management needs v3)."""
    return keystone_v3.Client(session=session)
