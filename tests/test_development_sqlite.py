"""The embedded default holds up under a portal's few concurrent clients: no 500, a busy database is a 503.

Two live servers on the development settings share one SQLite file (like two gunicorn workers, or runserver
and the Celery worker); several client threads create, rename and delete customers on both at the same time,
and race each other deleting the same customer.
"""

import threading
from collections import Counter

import pytest
import requests

from tests.devserver import DevServer

CLIENTS = 8
ROUNDS = 6


@pytest.fixture
def servers(tmp_path):
    """Two servers on one fresh development database; the first migrates and creates the users."""
    var = tmp_path / "var"
    started = [DevServer(var, tmp_path / "server-0.log", setup=True)]
    try:
        started.append(DevServer(var, tmp_path / "server-1.log", setup=False))
        yield started
    finally:
        for server in started:
            server.stop()


def test_concurrent_writes_and_deletes_on_the_development_database(servers):
    staff = {"Authorization": f"Token {servers[0].tokens['staff']}"}
    answers = []  # (method, status, Retry-After, body)
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)
    shared = {}

    def record(method, response):
        with lock:
            answers.append((method, response.status_code, response.headers.get("Retry-After"), response.text[:300]))
        return response

    def client(number):
        session = requests.Session()
        session.headers.update(staff)
        for round_ in range(ROUNDS):
            base = servers[(number + round_) % len(servers)].url
            created = record("POST", session.post(f"{base}/api/customers/", json={"name": f"c{number}-{round_}"}))
            if number == 0:
                shared[round_] = created.json().get("url") if created.status_code == 201 else None
            if created.status_code != 201:
                continue
            url = created.json()["url"]
            record("PATCH", session.patch(url, json={"name": f"c{number}-{round_}-renamed"}))
            barrier.wait(timeout=60)
            # every client deletes its own customer and races the others for client 0's
            record("DELETE", session.delete(url))
            if number != 0 and shared.get(round_):
                record("DELETE", session.delete(shared[round_]))
            record("GET", session.get(f"{base}/api/customers/", params={"page_size": 50}))
            barrier.wait(timeout=60)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a client hung"

    statuses = Counter((method, status) for method, status, _, _ in answers)
    server_errors = [a for a in answers if a[1] >= 500 and not (a[1] == 503 and a[2])]
    assert server_errors == [], f"server errors: {server_errors[:5]} in {dict(statuses)}"
    assert all(status < 500 or retry_after for _, status, retry_after, _ in answers)
    # Every client got through every round (a 503 would have stopped its round: none is expected either).
    assert statuses[("POST", 201)] == CLIENTS * ROUNDS, dict(statuses)
    assert statuses[("PATCH", 200)] == CLIENTS * ROUNDS, dict(statuses)
    # Every delete got a 204 or (a loser of the race for client 0's customer) a 404. A loser that read the
    # customer before the winner's commit also gets a 204 for deleting nothing, so only the sum is exact.
    deletes = CLIENTS * ROUNDS + (CLIENTS - 1) * ROUNDS
    assert statuses[("DELETE", 204)] + statuses[("DELETE", 404)] == deletes, dict(statuses)
    assert statuses[("DELETE", 204)] >= CLIENTS * ROUNDS, dict(statuses)
    assert {status for method, status, _, _ in answers if method == "GET"} == {200}
    remaining = requests.get(f"{servers[1].url}/api/customers/", headers=staff, timeout=30).json()
    assert [c["name"] for c in remaining] == ["Acme"]
