"""A server's console log, as Nova keeps it (os-getConsoleOutput): a read, so a worker answers a waiting request."""


class ConsoleMixin:
    """The console read of OpenStackBackend; `instance` is an InstanceSpec."""

    def console_output(self, instance, length):
        """The last `length` lines of the server's console, as Nova returns them (one string)."""
        nova = self.nova(self._tenant(instance))
        with self._call(f"get the console log of server {instance.backend_id}"):
            return nova.servers.get_console_output(instance.backend_id, length=length) or ""
