"""Contract: the product's boot-from-volume life cycle, step by step, as the broker drives it."""


def test_boot_from_volume_stop_resize_extend_start_delete(fresh):
    c = fresh
    image, tiny, small = c.image(), c.flavor("m1.tiny"), c.flavor("m1.small")

    root = c.create_volume(1, image=image.id, suffix="root")
    data = c.create_volume(1, suffix="data")
    root, root_states = c.wait_volume(root.id, "available")
    data, _ = c.wait_volume(data.id, "available")
    assert root.bootable == "true" and data.bootable == "false"
    assert root.metadata == {"contract": "1"} and root.name == f"{c.prefix}-root"
    assert root.volume_image_metadata["image_id"] == image.id
    # Below 3.31: from there on Cinder only accepts filters listed in resource_filters.json (none on mini-openstack).
    assert c.cinder30.volumes.list(search_opts={"name": f"{c.prefix}-data"})[0].id == data.id

    srv = c.boot(tiny.id, [root.id, data.id])
    srv, _ = c.wait_server(srv.id, "ACTIVE")
    assert srv.image == ""
    assert srv.flavor["original_name"] == "m1.tiny" and "id" not in srv.flavor
    assert {a["id"] for a in getattr(srv, "os-extended-volumes:volumes_attached")} == {root.id, data.id}
    assert c.attached_ids(srv.id) == {root.id, data.id}
    assert {c.cinder.volumes.get(v).status for v in (root.id, data.id)} == {"in-use"}
    assert c.cinder.volumes.get(data.id).attachments[0]["server_id"] == srv.id

    c.nova.servers.stop(srv.id)
    c.wait_server(srv.id, "SHUTOFF")

    c.nova.servers.resize(srv.id, small.id)
    srv, _ = c.wait_server(srv.id, "VERIFY_RESIZE")
    assert srv.flavor["original_name"] == "m1.small"
    c.nova.servers.confirm_resize(srv.id)
    srv, _ = c.wait_for(lambda: c.nova.servers.get(srv.id),
                        lambda s: s.status in ("SHUTOFF", "ACTIVE") and getattr(s, "OS-EXT-STS:task_state") is None,
                        lambda s: s.status == "ERROR")
    assert srv.status == "SHUTOFF", "confirming a resize keeps the power state"
    assert srv.flavor["original_name"] == "m1.small"

    c.nova.volumes.delete_server_volume(srv.id, data.id)
    c.wait_volume(data.id, "available")
    c.wait_for(lambda: c.attached_ids(srv.id), lambda ids: data.id not in ids, describe=sorted)
    assert c.attached_ids(srv.id) == {root.id}

    c.cinder.volumes.extend(data.id, 2)
    data, _ = c.wait_for(lambda: c.cinder.volumes.get(data.id), lambda v: v.status == "available" and v.size == 2,
                         lambda v: v.status.startswith("error"))

    attachment = c.nova.volumes.create_server_volume(srv.id, data.id)
    assert attachment.volumeId == data.id
    c.wait_volume(data.id, "in-use")
    c.wait_for(lambda: c.attached_ids(srv.id), lambda ids: data.id in ids, describe=sorted)

    c.nova.servers.start(srv.id)
    srv, _ = c.wait_server(srv.id, "ACTIVE")
    assert {a["id"] for a in getattr(srv, "os-extended-volumes:volumes_attached")} == {root.id, data.id}
    assert srv.flavor["original_name"] == "m1.small"

    c.nova.servers.delete(srv.id)
    assert c.wait_gone(lambda: c.nova.servers.get(srv.id))[-1] == "GONE"
    c.servers.remove(srv.id)
    for vid in (root.id, data.id):
        vol, _ = c.wait_volume(vid, "available")
        assert not vol.attachments, "volumes without delete_on_termination stay behind, available"
    for vid in (root.id, data.id):
        c.cinder.volumes.delete(vid)
    for vid in (root.id, data.id):
        assert c.wait_gone(lambda vid=vid: c.cinder.volumes.get(vid))[-1] == "GONE"
        c.volumes.remove(vid)
    assert not c.nova.servers.list(search_opts={"name": c.prefix})
    assert not [v for v in c.cinder.volumes.list() if (v.name or "").startswith(c.prefix)]
