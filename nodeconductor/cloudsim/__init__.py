"""A simulated OpenStack (Keystone v3, Nova 2.1-2.93, Cinder v3 3.0-3.70, Glance v2, Neutron v2.0) on one port.

No Django and nothing from the rest of nodeconductor is imported here: run it standalone with
``python -m nodeconductor.cloudsim --port 5000`` or embed it::

    sim = CloudSim(port=0, delays="fast").start()
    sim.auth_url                          # http://127.0.0.1:<port>/v3

Layout (catalog region RegionOne, interfaces public/internal/admin all alike):
identity ``/v3`` (also ``/`` discovery and legacy ``/v2.0/tokens``), compute ``/compute/v2.1``,
volumev3 and block-storage ``/volume/v3/<project_id>``, image ``/image``, network ``/network`` (Neutron v2.0 as
ML2/OVN answers on mini-openstack); test knobs under ``/_sim/``.
Initial state is mini-openstack's: domain Default, projects admin/service/demo, users admin (admin on admin) and
demo (member+reader on demo), flavors m1.tiny/m1.small/m1.medium (ids 1/2/3), public image tiny-qcow2
(id ``d15dc2c4-25d6-4150-93fe-a412499298d8``, min_disk 1); the demo project's id is
``593af1f7b67b4d63b691fcabd2dad126``: both are the seed guide's, so its example runs here unchanged but for
the auth_url. Neutron starts with the admin's external network ``public`` (flat on physnet1, router:external, not
shared; subnet 203.0.113.0/24, gateway .1, pool .10-.250, hidden from tenants) and nothing else: a project's
``default`` security group appears on its first Neutron use. Ports stay ``DOWN`` forever; Nova boots on
``networks=[{"port": id}]`` or ``[{"uuid": net}]`` and shows fixed addresses, and floating ones once the
floating IP's status has followed (delay ``floatingip_status``).

Operation names (for ``fail_next`` and ``call_counts``):

* identity: ``identity.versions``, ``identity.version``, ``identity.auth`` (v3 and v2.0 token issue),
  ``identity.token_validate``, ``identity.token_revoke``, ``identity.catalog``, ``identity.auth_projects``,
  ``identity.domain_list``, ``identity.domain_get``, ``identity.project_list``, ``identity.project_get``,
  ``identity.project_create``, ``identity.project_update``, ``identity.project_delete``, ``identity.user_list``,
  ``identity.user_get``, ``identity.user_create``, ``identity.user_delete``, ``identity.user_projects``,
  ``identity.role_list``, ``identity.role_assignment_list``, ``identity.role_grant``, ``identity.role_check``,
  ``identity.role_revoke``
* compute: ``compute.versions``, ``compute.version``, ``compute.flavor_list``, ``compute.flavor_get``,
  ``compute.keypair_list``, ``compute.keypair_create``, ``compute.keypair_get``, ``compute.keypair_delete``,
  ``compute.limits``, ``compute.quota_get``, ``compute.quota_defaults``, ``compute.quota_update``,
  ``compute.server_list``, ``compute.server_get``, ``compute.server_create``, ``compute.server_delete``,
  ``compute.server_stop``, ``compute.server_start``, ``compute.server_reboot``, ``compute.server_resize``,
  ``compute.server_confirm_resize``, ``compute.server_revert_resize``, ``compute.server_reset_state`` (admin
  os-resetState), ``compute.volume_attachment_list``, ``compute.volume_attachment_get``, ``compute.volume_attach``,
  ``compute.volume_attachment_update`` (from 2.85 an attachment's delete_on_termination, on a server in any state;
  below 2.85 Nova's swap, admin only: its refusals, no swap), ``compute.volume_detach``
* volume: ``volume.versions``, ``volume.version``, ``volume.list``, ``volume.get``, ``volume.create``,
  ``volume.update``, ``volume.delete``, ``volume.extend``, ``volume.reset_status``, ``volume.set_bootable``,
  ``volume.limits``, ``volume.quota_get``, ``volume.quota_defaults``, ``volume.quota_update``, and the volume
  snapshots' ``snapshot.create``, ``snapshot.list``, ``snapshot.get``, ``snapshot.update``, ``snapshot.delete``
* image: ``image.versions``, ``image.schema``, ``image.list``, ``image.get``, ``image.create``, ``image.upload``,
  ``image.delete``
* network: ``network.versions``, ``network.<kind>_list``, ``_create``, ``_get``, ``_update``, ``_delete`` for kinds
  ``network``, ``subnet``, ``port``, ``router``, ``floatingip``, ``sg`` (security groups) and ``sg_rule`` (no update),
  ``network.router_add_interface``, ``network.router_remove_interface``, ``network.quota_get``,
  ``network.quota_details``, ``network.quota_defaults``, ``network.quota_update``, ``network.quota_delete``

Fault modes: ``http`` (default; answer ``status`` with ``message`` in the service's error shape, nothing happens),
``hang`` (sleep ``seconds`` before handling, outside the lock, then handle normally: the client has timed out
but the operation still takes place, as on a real cloud), ``error_state`` (accepted, but the resource ends in
ERROR / ``error`` / ``error_extending`` / ``error_deleting`` / ``error_detaching`` / ``error_attaching``
instead of its target state; only for operations with an asynchronous outcome: compute.server_create and the
server actions, compute.server_delete, compute.volume_attach/detach, volume.create/extend/delete,
snapshot.create/delete), ``retries_exhausted`` (compute.server_create only: the build fails as Nova's does on
mini-openstack when Neutron's transient 500 hits the port binding: BUILD/scheduling again, then ERROR with the fault
"Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance <id>.",
code 500; the ports are freed and the volumes available, still in the server's mappings; ``times=2`` fails two
builds in a row). A server deleted goes with the volumes whose attachment says delete_on_termination.

Delays (``set_delay``): server_build, server_stop, server_start, server_reboot, server_resize,
server_confirm_resize, server_revert_resize, server_delete, volume_create, volume_download, volume_attach,
volume_detach, volume_extend, volume_delete, snapshot_create, snapshot_delete, floatingip_status. Multi-step
transitions (build, attach, resize, volume from image) pass through their intermediate states within these delays.
"""

from .sim import CloudSim

__all__ = ["CloudSim"]
