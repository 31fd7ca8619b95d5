"""Security groups pushed to Neutron as a diff: rules are added and removed one by one, the group is never remade.

NodeConductor's old push deleted a group and created it again, which dropped it from every port using it and
gave every rule a new id. Here a group is found by its id (or, when that is gone or unknown, adopted by name
inside the tenant, ours first), its ingress rules by address prefix are compared with the wanted ones by
rule_key, and only the difference is sent. Egress rules and rules naming a remote group are left alone: they
are Neutron's defaults or the tenant's own.
"""

import ipaddress
import logging

from .errors import CloudBackendError, CloudResourceNotFound
from .networking import RULE_KEYS, TAG, rule_key

logger = logging.getLogger(__name__)
ICMP_NAMES = {"icmp", "icmpv6", "ipv6-icmp", "1", "58"}


def diff_key(rule):
    """rule_key, with the spellings Neutron may store for the same rule made equal.

    Neutron may keep "any address" as no prefix and an IPv6 ICMP rule as ipv6-icmp; both mean what we asked.
    """
    rule = dict(rule)
    if not rule.get("remote_ip_prefix"):
        rule["remote_ip_prefix"] = "::/0" if rule.get("ethertype") == "IPv6" else "0.0.0.0/0"
    else:
        rule["ethertype"] = f"IPv{ipaddress.ip_network(rule['remote_ip_prefix'], strict=False).version}"
    if str(rule.get("protocol") or "").lower() in ICMP_NAMES:
        rule["protocol"] = "icmp"
    return rule_key(rule)


def _managed(rule):
    """Ingress rules by prefix are ours to manage; egress and remote-group rules are not."""
    return rule.get("direction") == "ingress" and not rule.get("remote_group_id")


def _group_data(group):
    """A Neutron group as plain data: {id, name, description, rules: [{id, key, ...Neutron keys}]}."""
    rules = [
        {"id": r["id"], "key": diff_key(r), **{k: r.get(k) for k in RULE_KEYS}}
        for r in group.get("security_group_rules", ())
        if _managed(r)
    ]
    return {
        "id": group["id"],
        "name": group.get("name", ""),
        "description": group.get("description", ""),
        "rules": rules,
    }


class SecurityGroupsMixin:
    """Neutron security groups of a tenant as our API objects: push the diff, delete, list, attach to servers."""

    def _find_security_group(self, tenant_id, backend_id, name, ours_only=False):
        """The group by id, else the tenant's group by that name (ours first; with ours_only, only ours), else None."""
        neutron = self.neutron(tenant_id)
        if backend_id:
            try:
                group = self._read(f"get security group {backend_id}", neutron.show_security_group,
                                   backend_id)["security_group"]  # fmt: skip
            except CloudResourceNotFound:
                group = None
            if group is not None and group.get("project_id", group.get("tenant_id")) == tenant_id:
                return group
        groups = self._list(tenant_id, "security_groups", name=name)
        if ours_only:
            groups = [g for g in groups if TAG in g.get("tags", ())]
        return groups[0] if groups else None

    def push_security_group(self, tenant_id, backend_id, name, description, rules):
        """Make the tenant's group have exactly these ingress rules, changing only what differs.

        `rules` are dicts with Neutron's keys. Returns {id, added, removed, rule_ids} where rule_ids maps each
        wanted rule's diff_key to its Neutron id (kept for the rules that were there already).
        """
        wanted = {}
        for rule in rules:
            try:
                wanted[diff_key(rule)] = rule
            except (TypeError, ValueError) as exc:
                raise CloudBackendError(f"Rule {rule} is not valid: {exc}.") from None
        neutron = self.neutron(tenant_id)
        group = self._find_security_group(tenant_id, backend_id, name)
        if group is None:
            with self._neutron_call(f"create security group {name} in tenant {tenant_id}"):
                body = {"security_group": {"name": name, "description": description}}
                group = neutron.create_security_group(body)["security_group"]
        elif group.get("name") != name or (group.get("description") or "") != description:
            with self._neutron_call(f"rename security group {group['id']}"):
                body = {"security_group": {"name": name, "description": description}}
                group = {**group, **neutron.update_security_group(group["id"], body)["security_group"]}
        self._tag(tenant_id, "security_groups", group)
        present, added, removed = {}, 0, 0
        for rule in group.get("security_group_rules", ()):
            if _managed(rule):
                key = diff_key(rule)
                if key in present:  # a duplicate made behind our back: one of them is surplus
                    self._delete(f"delete duplicate rule {rule['id']} of security group {group['id']}",
                                 neutron.delete_security_group_rule, rule["id"])  # fmt: skip
                    removed += 1
                    continue
                present[key] = rule["id"]
        for key in sorted(set(present) - set(wanted), key=str):
            rule_id = present.pop(key)
            self._delete(
                f"delete rule {rule_id} of security group {group['id']}", neutron.delete_security_group_rule, rule_id
            )
            removed += 1
        for key in sorted(set(wanted) - set(present), key=str):
            body = {"security_group_id": group["id"], **dict(zip(RULE_KEYS, key, strict=True))}
            with self._neutron_call(f"add a rule to security group {group['id']}"):
                made = neutron.create_security_group_rule({"security_group_rule": body})["security_group_rule"]
            present[key] = made["id"]
            added += 1
        logger.info("Security group %s of tenant %s: %d rules added, %d removed", group["id"], tenant_id, added,
                    removed)  # fmt: skip
        return {"id": group["id"], "added": added, "removed": removed, "rule_ids": present}

    def delete_security_group(self, tenant_id, backend_id, name):
        """Delete the group (by id, else our tagged group of that name); False when it was not there.

        Neutron refuses while a port uses the group; that refusal is a CloudBackendError with its message.
        """
        # By name only a group we tagged: a deletion must never take one of the tenant's own groups.
        group = self._find_security_group(tenant_id, backend_id, name, ours_only=True)
        if group is None:
            return False
        return self._delete(f"delete security group {group['id']}", self.neutron(tenant_id).delete_security_group,
                            group["id"])  # fmt: skip

    def list_security_groups(self, tenant_id):
        """Every group of the tenant with its managed rules, for the pull: [{id, name, description, rules}]."""
        return [_group_data(g) for g in self._list(tenant_id, "security_groups")]

    def list_server_security_groups(self, tenant_id):
        """{server id: sorted group ids} over the tenant's VM ports, for the pull to compare with ours."""
        found = {}
        for port in self._list(tenant_id, "ports"):
            if str(port.get("device_owner", "")).startswith("compute:") and port.get("device_id"):
                found.setdefault(port["device_id"], set()).update(port.get("security_groups", ()))
        return {server: sorted(groups) for server, groups in found.items()}

    def set_server_security_groups(self, tenant_id, server_id, group_ids):
        """Give every port of the server exactly these groups; returns how many ports had to change."""
        neutron = self.neutron(tenant_id)
        wanted = sorted(set(group_ids))
        changed = 0
        for port in self._list(tenant_id, "ports", device_id=server_id):
            if sorted(port.get("security_groups", ())) != wanted:
                with self._neutron_call(f"set the security groups of port {port['id']} of server {server_id}"):
                    neutron.update_port(port["id"], {"port": {"security_groups": wanted}})
                changed += 1
        return changed
