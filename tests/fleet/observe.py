"""What the test sees of the fleet: the operation records in PostgreSQL, sampled while a scenario runs, and its figures.

The test reads the database with psycopg, as any other client on the bridge would; it never loads the product's
Django settings (the test process runs settings.test).
"""

import contextlib
import threading
import time
from collections import Counter

ROWS = """
SELECT uuid::text, state, operation_token, operation_seq, operation_holder, operation_lease_until,
       operation_slot_handed IS NOT NULL, COALESCE(operation_params->>'waiting_for', ''), operation_phase, modified,
       backend_id, system_volume_id, data_volume_id, error_message
FROM iaas_instance WHERE hostname LIKE %s ORDER BY hostname
"""
# Every table that records an operation (instances, clouds, memberships, security groups, backups, ...).
RECORD_TABLES = """
SELECT table_name FROM information_schema.columns WHERE column_name = 'operation_token' AND table_schema = 'public'
"""


class Db:
    """A connection to the product's database that reconnects after PostgreSQL went away."""

    def __init__(self, url):
        self.url = url
        self.conn = None

    def query(self, sql, params=None):
        """Rows of one statement; raises psycopg.OperationalError while the server is down."""
        import psycopg

        for attempt in (1, 2):
            fresh = self.conn is None or self.conn.closed
            if fresh:
                self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
            try:
                cursor = self.conn.execute(sql, params)
                return cursor.fetchall() if cursor.description is not None else []
            except psycopg.Error as exc:
                with contextlib.suppress(Exception):
                    self.conn.close()
                self.conn = None
                # A connection from before a restart fails once; a new one tells whether the server is back.
                if fresh or attempt == 2 or not isinstance(exc, psycopg.OperationalError):
                    raise

    def rows(self, prefix):
        """The instance rows of a scenario (hostnames start with its prefix) as dicts."""
        keys = ("uuid", "state", "token", "seq", "holder", "lease_until", "slot_handed", "waiting_for", "phase",
                "modified", "backend_id", "system_volume_id", "data_volume_id", "error_message")  # fmt: skip
        return [dict(zip(keys, row, strict=True)) for row in self.query(ROWS, (f"{prefix}-%",))]

    def running_operations(self):
        """{table: rows still recording an operation}, over every table that records one."""
        out = {}
        for (table,) in self.query(RECORD_TABLES):
            count = self.query(f"SELECT count(*) FROM \"{table}\" WHERE operation_token <> ''")[0][0]
            if count:
                out[table] = count
        return out

    def close(self):
        """Close the connection."""
        with contextlib.suppress(Exception):
            if self.conn is not None:
                self.conn.close()


def host_of(holder):
    """The host part of an operation's holder ("host:pid")."""
    return holder.rpartition(":")[0]


class Sampler(threading.Thread):
    """Samples a scenario's rows every 0.1 s: who holds steps, how many build, and how long each step sat still.

    A step "sits still" while its operation stays at one (token, seq): a step's run, or its wait for the cloud,
    or a stall (a lost message, a dead or cut-off holder). Time queued for a build slot of the cloud (not yet
    handed one) is a turn in the queue, not a stall, and is not counted.
    """

    def __init__(self, fleet, prefix):
        super().__init__(daemon=True, name=f"fleet-sampler-{prefix}")
        from nodeconductor.cloudsim.servers import server_status

        self.fleet, self.prefix, self.status = fleet, prefix, server_status
        self.db = Db(fleet.pg.url())
        self.holders = Counter()  # host -> samples in which it held a step
        self.peak_provisioning = self.peak_building = 0
        self.longest, self.longest_what = 0.0, ""
        self.current = {}  # uuid -> ((token, seq), since, queued)
        self.latest = []
        self.samples = self.failed_samples = 0
        self._halt = threading.Event()

    def run(self):
        """Sample until stopped."""
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(0.1)

    def sample(self):
        """One look at the simulator's builds and at the rows."""
        st = self.fleet.sim.state
        with st.lock:
            building = sum(1 for s in st.servers.values() if self.status(s) == "BUILD")
        self.peak_building = max(self.peak_building, building)
        try:
            rows = self.db.rows(self.prefix)
        except Exception:  # noqa: BLE001 - PostgreSQL is down (scenario 3): the stall goes on being measured
            self.failed_samples += 1
            return
        now = time.monotonic()
        self.samples += 1
        self.latest = rows
        self.peak_provisioning = max(self.peak_provisioning, sum(1 for r in rows if r["state"] == "provisioning"))
        for row in rows:
            if row["lease_until"] is not None and row["holder"]:
                self.holders[host_of(row["holder"])] += 1
            key = (row["token"], row["seq"]) if row["token"] else None
            queued = row["waiting_for"].startswith("a build slot") and not row["slot_handed"]
            previous = self.current.get(row["uuid"])
            if previous is not None and (previous[0] != key or previous[2] != queued):
                self._close(row["uuid"], previous, now)
                previous = None
            if previous is None and key is not None:
                self.current[row["uuid"]] = (key, now, queued)
            elif key is None:
                self.current.pop(row["uuid"], None)

    def _close(self, uuid, entry, now):
        key, since, queued = entry
        if not queued and now - since > self.longest:
            self.longest, self.longest_what = now - since, f"instance {uuid} at step {key[1]}"

    def halt(self):
        """Stop sampling without waiting (the fleet's teardown)."""
        self._halt.set()

    def stop(self):
        """Stop sampling; the steps still open count up to now."""
        self._halt.set()
        self.join()
        now = time.monotonic()
        for uuid, entry in list(self.current.items()):
            self._close(uuid, entry, now)
        self.db.close()
        return self


def figure_line(name, recovered, n, wall, creates, stall, extra=""):
    """The one line a scenario prints: time to recover, VMs per minute, server creates per VM, longest stall."""
    recover = "no fault" if recovered is None else f"{recovered:5.1f} s"
    return (
        f"fleet {name:<16} recovered in {recover:>8} | {60 * n / wall:6.1f} VMs/min ({n} VMs in {wall:5.1f} s) "
        f"| {creates / n:.2f} server creates per VM | longest stall {stall:4.1f} s" + (f" | {extra}" if extra else "")
    )
