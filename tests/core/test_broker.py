"""The development broker never hands a worker a message that is still being written (celery/kombu#1551)."""

import queue

import pytest
from kombu import Connection

import nodeconductor.celery  # noqa: F401 - maps filesystem:// to our transport
from nodeconductor.core import broker
from tests.iaas.brokers import filesystem_options


@pytest.fixture
def folder(tmp_path):
    for sub in ("queue", "processed", "control"):
        (tmp_path / sub).mkdir()
    return tmp_path


def read_while_writing(folder, monkeypatch, module):
    """Publish one message; halfway through writing it, let another connection try to take a message."""
    options = filesystem_options(folder)
    seen = {}
    original = module.str_to_bytes

    def halfway(data):
        with Connection("filesystem://", transport_options=options) as reader:
            try:
                # What a worker's poll does: take the next message file of the queue and decode it.
                seen["taken"] = reader.default_channel._get("q")
            except queue.Empty:
                seen["taken"] = None
            except Exception as exc:  # noqa: BLE001 - what the worker dies of
                seen["taken"] = exc
        return original(data)

    monkeypatch.setattr(module, "str_to_bytes", halfway)
    with Connection("filesystem://", transport_options=options) as writer:
        writer.SimpleQueue("q").put({"whole": True})
    monkeypatch.setattr(module, "str_to_bytes", original)
    with Connection("filesystem://", transport_options=options) as reader:
        after = reader.SimpleQueue("q").get(timeout=1)
        return seen["taken"], after.payload


def test_filesystem_urls_use_the_atomic_transport():
    with Connection("filesystem://") as connection:
        assert type(connection.transport) is broker.Transport


def test_a_message_being_written_is_not_taken(folder, monkeypatch):
    taken, after = read_while_writing(folder, monkeypatch, broker)
    assert taken is None  # nothing to take yet: the half-written file has a name no reader takes
    assert after == {"whole": True}
