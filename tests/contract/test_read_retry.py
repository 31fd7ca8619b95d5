"""The contract scenarios' Neutron client asks a GET again after a 500, and never a write (against the simulator)."""

import pytest
from neutronclient.common import exceptions as neutron_exc

from .cloud import Credentials, ReadRetryingNeutron


@pytest.fixture
def neutron(cloudsim_server):
    cloudsim_server.reset()
    return ReadRetryingNeutron(session=Credentials(cloudsim_server.auth_url, "demo", "demo", "demo").session())


def test_a_read_that_meets_one_500_is_asked_again(neutron, cloudsim_server):
    cloudsim_server.fail_next("network.network_list", times=1, status=500, message="transient")
    assert isinstance(neutron.list_networks()["networks"], list)
    lists = [c["status"] for c in cloudsim_server.call_log if c["operation"] == "network.network_list"]
    assert lists == [500, 200]


def test_a_lasting_500_on_a_read_still_fails_after_the_attempts(neutron, cloudsim_server):
    cloudsim_server.fail_next("network.network_list", times=ReadRetryingNeutron.read_attempts, status=500,
                              message="lasting")
    with pytest.raises(neutron_exc.InternalServerError, match="lasting"):
        neutron.list_networks()


def test_a_write_that_meets_a_500_is_not_asked_again(neutron, cloudsim_server):
    cloudsim_server.fail_next("network.network_create", times=1, status=500, message="create failed")
    with pytest.raises(neutron_exc.InternalServerError, match="create failed"):
        neutron.create_network({"network": {"name": "once"}})
    creates = [c["status"] for c in cloudsim_server.call_log if c["operation"] == "network.network_create"]
    assert creates == [500]
