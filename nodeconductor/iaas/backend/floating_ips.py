"""Floating IPs of a tenant on Neutron: list, assign (reuse or allocate), unassign, and release an instance's.

Which IPs are ours and whose: an IP we allocate carries two tags, ``nodeconductor`` and the instance's
(``nc-instance-<uuid hex>``), set in one call right after it is made. A free IP of ours that an assign reuses is
tagged for its new holder. Deleting an instance releases the IPs tagged for it that are on its port or free;
IPs the tenant made (untagged) are only disassociated when the port goes, never released.
Every method takes and returns plain data and raises CloudBackendError only.
"""

from .errors import CloudBackendError
from .networking import TAG


def instance_tag(instance_uuid):
    """The tag naming the instance that holds an IP we made (Neutron tags are at most 60 characters)."""
    return f"nc-instance-{instance_uuid.replace('-', '')}"


def allocated_for(tags):
    """The uuid (hex) of the instance an IP was allocated for by us, from its tags; "" when it is not ours."""
    if TAG not in (tags or ()):
        return ""
    return next((t.removeprefix("nc-instance-") for t in tags if t.startswith("nc-instance-")), "")


def fip_data(fip):
    """A Neutron floating IP as the rest of the code sees it."""
    return {"id": fip["id"], "address": fip["floating_ip_address"], "status": fip.get("status") or "DOWN",
            "port_id": fip.get("port_id") or "", "allocated_for": allocated_for(fip.get("tags", ()))}


class FloatingIPsMixin:
    """Floating IP calls of one tenant (mixed into OpenStackBackend next to NetworkingMixin)."""

    def list_floating_ips(self, tenant_id):
        """Every floating IP of the tenant as fip_data dicts (one call)."""
        return [fip_data(f) for f in self._list(tenant_id, "floatingips")]

    def _tag_for(self, tenant_id, fip_id, instance_uuid):
        """Mark an IP as ours and its holder's, in one call (PUT .../tags replaces the set)."""
        with self._neutron_call(f"tag floating IP {fip_id}"):
            self.neutron(tenant_id).replace_tag("floatingips", fip_id, {"tags": [TAG, instance_tag(instance_uuid)]})

    def assign_floating_ip(self, tenant_id, port_id, external_network_id, instance_uuid, floating_ip_id=""):
        """Give the port a floating IP and return its fip_data: found before anything is made.

        The port's IP when it has one (a redelivered request makes no second); else `floating_ip_id` when given;
        else a free IP of ours; else a new one, allocated on the port in one call (Neutron refuses it whole, so a
        refusal allocates nothing). A new IP whose tagging fails is released again: nothing is left untracked.
        """
        if not external_network_id:
            raise CloudBackendError("The tenant has no external network, so no floating IP can reach it.")
        neutron = self.neutron(tenant_id)
        fips = self._list(tenant_id, "floatingips", floating_network_id=external_network_id)
        mine = next((f for f in fips if f.get("port_id") == port_id), None)
        if mine is not None:
            return fip_data(mine)
        if floating_ip_id:
            chosen = next((f for f in fips if f["id"] == floating_ip_id), None)
            if chosen is None:
                raise CloudBackendError(f"Floating IP {floating_ip_id} is not in the tenant any more.")
            if chosen.get("port_id"):
                raise CloudBackendError(f"Floating IP {chosen['floating_ip_address']} is in use by port "
                                        f"{chosen['port_id']} already.")
        else:
            chosen = next((f for f in fips if not f.get("port_id") and TAG in f.get("tags", ())), None)
        if chosen is not None:
            with self._neutron_call(f"associate floating IP {chosen['floating_ip_address']} with port {port_id}"):
                fip = neutron.update_floatingip(chosen["id"], {"floatingip": {"port_id": port_id}})["floatingip"]
            if TAG in chosen.get("tags", ()):
                self._tag_for(tenant_id, fip["id"], instance_uuid)
                fip["tags"] = [TAG, instance_tag(instance_uuid)]
            else:
                fip["tags"] = chosen.get("tags", [])
            return fip_data(fip)
        body = {"floatingip": {"floating_network_id": external_network_id, "port_id": port_id}}
        with self._neutron_call(f"allocate a floating IP for port {port_id}"):
            fip = neutron.create_floatingip(body)["floatingip"]
        try:
            self._tag_for(tenant_id, fip["id"], instance_uuid)
        except CloudBackendError:
            self._delete(f"release floating IP {fip['floating_ip_address']}", neutron.delete_floatingip, fip["id"])
            raise
        return fip_data({**fip, "tags": [TAG, instance_tag(instance_uuid)]})

    def unassign_floating_ips(self, tenant_id, port_id, floating_ip_id=""):
        """Disassociate the port's IPs (or only `floating_ip_id`); they stay the tenant's. Returns their fip_data."""
        neutron = self.neutron(tenant_id)
        done = []
        for fip in self._list(tenant_id, "floatingips", port_id=port_id):
            if floating_ip_id and fip["id"] != floating_ip_id:
                continue
            with self._neutron_call(f"disassociate floating IP {fip['floating_ip_address']}"):
                fip = neutron.update_floatingip(fip["id"], {"floatingip": {"port_id": None}})["floatingip"]
            done.append(fip_data(fip))
        return done

    def release_instance_floating_ips(self, tenant_id, port_id, instance_uuid):
        """Release the IPs we allocated for the instance that are on its port or free; returns their addresses.

        An IP the tenant made, or one of ours now held by another instance, is left alone.
        """
        neutron = self.neutron(tenant_id)
        released = []
        for fip in self._list(tenant_id, "floatingips", tags=instance_tag(instance_uuid)):
            if TAG not in fip.get("tags", ()) or fip.get("port_id") not in (None, "", port_id):
                continue
            self._delete(f"release floating IP {fip['floating_ip_address']}", neutron.delete_floatingip, fip["id"])
            released.append(fip["floating_ip_address"])
        return released
