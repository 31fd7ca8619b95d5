"""What the floating IP code relies on in Neutron, on both clouds: allocating on a port in one call, tagging an IP
with PUT .../tags, listing by tag, disassociating with port_id null, and a port delete freeing its IP."""

INSTANCE_TAG = "nc-instance-0123456789abcdef0123456789abcdef"


def test_allocate_on_a_port_tag_list_by_tag_and_free_by_port_delete(netfresh):
    c = netfresh
    pub = c.public_network()
    net, sub = c.make_network("fipc", cidr="10.27.0.0/24")
    c.make_router("fipc", sub["id"])
    port = c.make_port(net["id"], name=f"{c.prefix}-fip-port")
    fixed = port["fixed_ips"][0]["ip_address"]
    # One call allocates and associates: the answer names the port at once; the status is still DOWN.
    fip = c.make_floatingip(pub["id"], port_id=port["id"])
    assert (fip["port_id"], fip["fixed_ip_address"], fip["status"]) == (port["id"], fixed, "DOWN")
    assert fip["tags"] == []
    # PUT .../tags sets both tags in one call (the answer is the new set); the list filter finds it by one tag.
    assert c.neutron.replace_tag("floatingips", fip["id"], {"tags": ["nodeconductor", INSTANCE_TAG]})["tags"] == [
        "nodeconductor", INSTANCE_TAG]  # fmt: skip
    listed = c.neutron.list_floatingips(project_id=c.project_id, tags=INSTANCE_TAG)["floatingips"]
    assert [f["id"] for f in listed] == [fip["id"]] and sorted(listed[0]["tags"]) == sorted(
        ["nodeconductor", INSTANCE_TAG])  # fmt: skip
    assert c.neutron.list_floatingips(project_id=c.project_id, tags="nc-instance-other")["floatingips"] == []
    # Disassociating keeps the IP (and its tags) in the tenant.
    freed = c.neutron.update_floatingip(fip["id"], {"floatingip": {"port_id": None}})["floatingip"]
    assert (freed["port_id"], freed["fixed_ip_address"]) == (None, None)
    again = c.neutron.update_floatingip(fip["id"], {"floatingip": {"port_id": port["id"]}})["floatingip"]
    assert again["port_id"] == port["id"]
    # Deleting the port frees the IP: it stays allocated, on no port.
    c.neutron.delete_port(port["id"])
    c.forget("port", port["id"])
    left = c.neutron.show_floatingip(fip["id"])["floatingip"]
    assert (left["port_id"], left["fixed_ip_address"]) == (None, None) and "nodeconductor" in left["tags"]
