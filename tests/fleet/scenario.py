"""One scenario of the fleet test: its VMs, the sampler watching them, and the checks every scenario ends with.

Each scenario names its VMs <prefix>-<i>.example.com, so its rows, its servers and its figures are its own; it
starts on a quiet fleet (the previous scenario ended with every operation finished) and ends the same way.
"""

import re
import time

from .hosts import wait_until
from .observe import Db, Sampler, figure_line

TASK_DONE = re.compile(r"Task nodeconductor\.iaas\.(run_instance_operation|poll_tenant)\[[^\]]+\] succeeded")


class Run:
    """A scenario's VMs from the first POST to the last Online, with the figures it prints."""

    def __init__(self, fleet, name, prefix):
        self.fleet, self.name, self.prefix = fleet, name, prefix
        self.db = Db(fleet.pg.url())
        self.hostnames = []
        self.calls_from = len(fleet.sim.call_log)
        self.log_marks = {role: proc.log_size() for role, proc in fleet.workers.items()}
        self.t0 = self.t_done = None
        self.exit_marks = {role: len(proc.exits) for role, proc in fleet.workers.items()}
        self.sampler = Sampler(fleet, prefix)
        fleet.samplers.append(self.sampler)  # stopped by the fleet's teardown should the scenario fail
        for proc in fleet.workers.values():
            assert proc.alive(), f"{proc.name} is not running at the start of {name}\n{proc.tail()}"

    @property
    def logs(self):
        """The processes whose log tails a failure shows."""
        return [*self.fleet.workers.values(), self.fleet.beat, self.fleet.api, self.fleet.pg.proc]

    def launch(self, n, batch=""):
        """POST n more VMs through the API (the first call starts the clock and the sampler)."""
        if self.t0 is None:
            self.t0 = time.monotonic()
            self.sampler.start()
        self.hostnames += self.fleet.create_vms(f"{self.prefix}-{batch}" if batch else self.prefix, n)
        return self

    def states(self):
        """{state: count} of the scenario's VMs."""
        counts = {}
        for row in self.db.rows(self.prefix):
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        return counts

    def mid_run(self, online=5, pending=10, timeout=60):
        """Wait until the work is under way: at least `online` VMs Online and `pending` not yet."""

        def under_way():
            states = self.states()
            done = states.get("online", 0)
            return done >= online and sum(states.values()) - done >= pending

        wait_until(under_way, timeout, f"{self.name}: never {online} Online with {pending} still to go", self.logs)

    def done(self):
        """Whether every VM is Online with no operation recorded, or an instance went Erred (raises)."""
        rows = self.db.rows(self.prefix)
        erred = [r for r in rows if r["state"] == "erred"]
        assert not erred, f"{self.name}: {len(erred)} VMs Erred, e.g. {erred[0]['error_message']}"
        return len(rows) == len(self.hostnames) and all(r["state"] == "online" and not r["token"] for r in rows)

    def wait_done(self, timeout):
        """Wait until every VM is Online and no operation is left; the time of the last Online."""

        def finished():
            try:
                return self.done()
            except AssertionError:
                raise
            except Exception:  # noqa: BLE001 - PostgreSQL restarting: look again
                return False

        wait_until(finished, timeout, lambda: f"{self.name}: not every VM Online ({self.states()})", self.logs)
        self.t_done = time.monotonic()
        return self.t_done

    def steps_per_host(self):
        """Steps and poller ticks each worker host ran during the scenario (its log since the start)."""
        return {role: len(TASK_DONE.findall(proc.log_since(self.log_marks[role])))
                for role, proc in self.fleet.workers.items()}  # fmt: skip

    def new_exits(self):
        """{role: exit codes} of the worker exits the test did not ask for since the scenario started."""
        return {role: [code for _, code in proc.exits[self.exit_marks[role] :]]
                for role, proc in self.fleet.workers.items()}  # fmt: skip

    def worker_log_since_start(self):
        """Every worker's log since the scenario started, as {role: text}."""
        return {role: proc.log_since(self.log_marks[role]) for role, proc in self.fleet.workers.items()}

    def finish(self, record_property, fault_at=None, extra=""):
        """The checks of every scenario, then its figure line: one server create per VM, nothing stuck."""
        if self.t_done is None:
            self.wait_done(90)
        self.sampler.stop()
        n = len(self.hostnames)
        creates = self.fleet.server_creates(self.calls_from)
        per_name = self.fleet.servers_per_name(self.hostnames)
        not_one = {name: count for name, count in per_name.items() if count != 1}
        assert creates == n and not not_one, (
            f"{self.name}: {creates} compute.server_create calls for {n} VMs; hostnames without exactly one "
            f"server: {dict(list(not_one.items())[:5])}"
        )
        running = self.db.running_operations()
        assert not running, f"{self.name}: operations left running: {running}"
        recovered = None if fault_at is None else self.t_done - fault_at
        line = figure_line(self.name, recovered, n, self.t_done - self.t0, creates, self.sampler.longest, extra)
        print(f"\n{line}")
        record_property("fleet", line)
        self.db.close()
        return line
