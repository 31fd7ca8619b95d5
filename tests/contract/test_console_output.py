"""Contract: a server's console log (os-getConsoleOutput) as the broker reads it, whole and by its last lines."""

import pytest
from novaclient import exceptions as nova_exc

# What Nova's fake driver keeps for every server (mini-openstack runs it; the simulator says the same).
FAKE = ["FAKE CONSOLE OUTPUT", "ANOTHER", "LAST LINE"]


def test_the_console_log_whole_and_its_last_lines(fresh):
    c = fresh
    root = c.create_volume(1, image=c.image().id, suffix="root")
    c.wait_volume(root.id, "available")
    srv = c.boot(c.flavor("m1.tiny").id, [root.id])
    c.wait_server(srv.id, "ACTIVE")
    assert c.nova.servers.get_console_output(srv.id).split("\n") == FAKE
    assert c.nova.servers.get_console_output(srv.id, length=2).split("\n") == FAKE[-2:]
    # Nova cuts lines[-length:], so the -1 its schema allows drops the first line (seen on mini-openstack).
    assert c.nova.servers.get_console_output(srv.id, length=-1).split("\n") == FAKE[1:]
    with pytest.raises(nova_exc.BadRequest) as err:
        c.nova.servers.get_console_output(srv.id, length=-2)
    assert "-2 is less than the minimum of -1" in str(err.value)
