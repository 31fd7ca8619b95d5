"""The seed's way into a cloud, `cloud.get_backend()`: the backend adapter, plus the two calls of the seed that
run our application's flow rather than one cloud call.

`backend.pull_cloud_account(cloud)` writes the catalogue (pull/catalogue.py) and `backend.provision_instance(instance,
flavor.backend_id)` runs the provision operation in place (operations.py). They live here, in the application
layer, so that nodeconductor/iaas/backend/ stays a leaf that imports nothing above it. The façade also turns the
rows its callers hand it into the backend's plain specs (backend_specs.py), so the backend never reads the
database; every other attribute is the adapter's own.
"""

import functools

from .backend import OpenStackBackend
from .backend.instances import InstanceOperationsMixin
from .backend.specs import InstanceSpec
from .backend_specs import cloud_access, instance_spec, seen_spec, tenant_ids
from .engine.operations import PROVISION, run_blocking
from .pull.catalogue import apply_cloud_account


def _spec(instance, provision):
    """The spec of an instance row; a provision before the server exists also needs its SSH key and image."""
    if isinstance(instance, InstanceSpec):
        return instance
    return instance_spec(instance, provision=provision and not instance.backend_id)


def _spec_of_seen(instance, tenant_id):
    """The spec a fingerprint compares; a spec given is passed on as it is."""
    return instance if isinstance(instance, InstanceSpec) else seen_spec(instance, tenant_id)


class _OnSpec:
    """An adapter method that takes an instance, on the façade: it gets the instance row's spec instead of the row.

    The shell and tests call these with a row (`backend.get_server(instance)`); a spec given is passed on as it is.
    """

    def __init__(self, function):
        self.function = function
        # A boot reads the SSH key, the image and the user data: the provision's spec, and its retry's.
        self.provision = function in (InstanceOperationsMixin.provision_step, OpenStackBackend.rebuild_step)

    def __get__(self, facade, owner=None):
        if facade is None:
            return self
        return functools.partial(self.call, facade.adapter)

    def call(self, adapter, instance, *args, **kwargs):
        """Call the adapter's method on the instance's spec."""
        return self.function(adapter, _spec(instance, self.provision), *args, **kwargs)


class CloudFacade:
    """What `Cloud.get_backend()` returns: the OpenStack adapter of one cloud, with the seed's two flows."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.adapter = OpenStackBackend(cloud_access(cloud))

    def __getattr__(self, name):
        # Everything else is the adapter's own: list_flavors, snapshot_tenant, the tenant-level calls, which take
        # plain ids already.
        return getattr(self.adapter, name)

    # The adapter's calls on one instance, which the shell and tests make with a row.
    get_server = _OnSpec(OpenStackBackend.get_server)
    get_volume = _OnSpec(OpenStackBackend.get_volume)
    inspect_instance = _OnSpec(OpenStackBackend.inspect_instance)
    _attached_volume_ids = _OnSpec(OpenStackBackend._attached_volume_ids)
    provision_step = _OnSpec(OpenStackBackend.provision_step)
    stop_step = _OnSpec(OpenStackBackend.stop_step)
    start_step = _OnSpec(OpenStackBackend.start_step)
    restart_step = _OnSpec(OpenStackBackend.restart_step)
    resize_flavor_step = _OnSpec(OpenStackBackend.resize_flavor_step)
    resize_disk_step = _OnSpec(OpenStackBackend.resize_disk_step)
    delete_step = _OnSpec(OpenStackBackend.delete_step)
    recover_step = _OnSpec(OpenStackBackend.recover_step)
    security_groups_step = _OnSpec(OpenStackBackend.security_groups_step)
    give_floating_ip = _OnSpec(OpenStackBackend.give_floating_ip)
    assign_floating_ip_step = _OnSpec(OpenStackBackend.assign_floating_ip_step)
    unassign_floating_ip_step = _OnSpec(OpenStackBackend.unassign_floating_ip_step)
    rebuild_step = _OnSpec(OpenStackBackend.rebuild_step)
    console_output = _OnSpec(OpenStackBackend.console_output)

    def run_step(self, step, instance, **kwargs):
        """Run one step on an instance row: a step of the adapter gets the instance's spec, an application step
        (e.g. importable.import_step) the row itself."""
        if getattr(OpenStackBackend, step.__name__, None) is step:
            instance = _spec(instance, step is InstanceOperationsMixin.provision_step)
        return self.adapter.run_step(step, instance, **kwargs)

    def fingerprint(self, snapshot, instance):
        """What a tenant snapshot shows of an instance row (the poller skips a look when it did not change)."""
        return self.adapter.fingerprint(snapshot, _spec_of_seen(instance, snapshot.tenant_id))

    def pull_cloud_account(self, cloud=None, dry_run=False):
        """Pull flavors, images and quotas and apply them as a minimal diff; returns what changed."""
        cloud = cloud or self.cloud
        return apply_cloud_account(cloud, self.adapter.fetch_cloud_account(tenant_ids(cloud)), dry_run=dry_run)

    def provision_instance(self, instance, backend_flavor_id):
        """Provision synchronously, as the seed's shell example does: the worker's steps, waiting in place."""
        run_blocking(PROVISION, instance.uuid, {"backend_flavor_id": backend_flavor_id})
        instance.refresh_from_db()
        return instance
