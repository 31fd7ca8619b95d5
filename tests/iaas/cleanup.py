"""Clean-up helpers of the tests that make networks in a cloud: the product never deletes a tenant's network."""


def remove_network(neutron, tenant_id, name):
    """Undo ensure_tenant_network: interfaces, router, then network (subnets go with it); absent is fine."""
    for router in neutron.list_routers(project_id=tenant_id, name=f"{name}-router")["routers"]:
        interfaces = neutron.list_ports(device_id=router["id"], device_owner="network:router_interface")["ports"]
        for ip in (ip for port in interfaces for ip in port["fixed_ips"]):
            neutron.remove_interface_router(router["id"], {"subnet_id": ip["subnet_id"]})
        neutron.delete_router(router["id"])
    for network in neutron.list_networks(project_id=tenant_id, name=name)["networks"]:
        neutron.delete_network(network["id"])
