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

_BACKEND_PACKAGE = OpenStackBackend.__module__.rpartition(".")[0]
# The adapter's methods whose first argument is an instance (its spec); the shell and tests call them with a row.
_TAKES_INSTANCE = frozenset({
    "get_server", "get_volume", "inspect_instance", "_attached_volume_ids", "provision_step", "stop_step",
    "start_step", "restart_step", "resize_flavor_step", "resize_disk_step", "delete_step",
})


def _spec(instance, provision):
    """The spec of an instance row; a provision before the server exists also needs its SSH key and image."""
    if isinstance(instance, InstanceSpec):
        return instance
    return instance_spec(instance, provision=provision and not instance.backend_id)


def _spec_of_seen(instance, tenant_id):
    """The spec a fingerprint compares; a spec given is passed on as it is."""
    return instance if isinstance(instance, InstanceSpec) else seen_spec(instance, tenant_id)


class CloudFacade:
    """What `Cloud.get_backend()` returns: the OpenStack adapter of one cloud, with the seed's two flows."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.adapter = OpenStackBackend(cloud_access(cloud))

    def __getattr__(self, name):
        # Everything but the seed's two flows is the adapter's (list_flavors, snapshot_tenant, the tenant-level
        # calls, which take plain ids already); the calls on one instance get its spec instead of the row.
        attr = getattr(self.adapter, name)
        if name in _TAKES_INSTANCE:
            return functools.partial(self._with_spec, attr, name == "provision_step")
        return attr

    @staticmethod
    def _with_spec(method, provision, instance, *args, **kwargs):
        """Call an adapter method on the spec of an instance row (a spec given is passed on as it is)."""
        return method(_spec(instance, provision), *args, **kwargs)

    def run_step(self, step, instance, **kwargs):
        """Run one step on an instance row: a backend step gets the instance's spec, an application step (e.g.
        importable.import_step) the row itself."""
        if step.__module__.startswith(_BACKEND_PACKAGE + "."):
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
