"""kombu's filesystem transport, made safe for a worker that reads while the web process writes.

kombu creates a message file and writes it afterwards; a worker listing the folder in between takes an empty
or half-written file, fails to decode it and dies ("Unrecoverable error: JSONDecodeError", celery/kombu#1551).
Here a message is written under a name no consumer takes (``.part``) and renamed into place when complete,
which is atomic on one filesystem.
"""

import os
import uuid

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    """The filesystem channel whose messages appear in the folder only once they are whole."""

    def _put(self, queue, payload, **kwargs):
        """Write the message beside its final name, then rename it: readers never see it half-written."""
        name = f"{int(round(filesystem.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # `_get` takes only names whose part after the first dot is "<queue>.msg": a ".part" file is skipped.
        partial = final + ".part"
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    """The filesystem transport with atomic message files; the development settings use it."""

    Channel = Channel
