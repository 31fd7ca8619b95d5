"""The seed's way into a cloud, `cloud.get_backend()`: the backend adapter, plus the two calls of the seed that
run our application's flow rather than one cloud call.

`backend.pull_cloud_account(cloud)` writes the catalogue (pull/catalogue.py) and `backend.provision_instance(instance,
flavor.backend_id)` runs the provision operation in place (operations.py). They live here, in the application
layer, so that nodeconductor/iaas/backend/ stays a leaf that imports nothing above it; every other attribute
is the adapter's own.
"""

from .backend import OpenStackBackend


class CloudFacade:
    """What `Cloud.get_backend()` returns: the OpenStack adapter of one cloud, with the seed's two flows."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.adapter = OpenStackBackend(cloud)

    def __getattr__(self, name):
        # Everything but the seed's two flows is the adapter's (list_flavors, run_step, snapshot_tenant, ...).
        return getattr(self.adapter, name)

    def pull_cloud_account(self, cloud=None, dry_run=False):
        """Pull flavors, images and quotas and apply them as a minimal diff; returns what changed."""
        from .pull.catalogue import apply_cloud_account

        cloud = cloud or self.cloud
        return apply_cloud_account(cloud, self.adapter.fetch_cloud_account(cloud), dry_run=dry_run)

    def provision_instance(self, instance, backend_flavor_id):
        """Provision synchronously, as the seed's shell example does: the worker's steps, waiting in place."""
        from .operations import PROVISION, run_blocking

        run_blocking(PROVISION, instance.uuid, {"backend_flavor_id": backend_flavor_id})
        instance.refresh_from_db()
        return instance
