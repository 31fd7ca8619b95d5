"""The fleet's network: one Linux bridge in the root namespace and one network namespace per host, joined by veths.

Every name carries a tag: the owning pytest process id (6 hex digits) and 2 random hex digits, so two runs never
collide, and a later run can tell the leftovers of a killed run (owner gone) from those of a live one.
"""

import contextlib
import ipaddress
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

PREFIX = "ncf"
# Interface names hold 15 characters: "ncf" + 8 hex digits of tag + a role of up to 3 + "p" for the peer.
_TAGGED = re.compile(rf"^{PREFIX}-?([0-9a-f]{{8}})")


def run(*argv, check=True):
    """Run a network command; its output, or the failure with what it printed."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def netns_available():
    """Why the fleet cannot be built here, or "" when it can (root, `ip netns`, unshare)."""
    if os.geteuid() != 0:
        return "the fleet test builds network namespaces: it must run as root"
    for tool in ("ip", "unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"the fleet test needs `{tool}`"
    try:
        run("ip", "netns", "list")
    except (RuntimeError, OSError) as exc:
        return f"`ip netns` is unavailable: {exc}"
    return ""


def new_tag():
    """A tag naming this run's objects: the owner's pid and a random byte."""
    return f"{os.getpid() & 0xFFFFFF:06x}{random.randrange(256):02x}"


def _owner_alive(tag):
    """Whether the pytest process that made objects of this tag still runs (then they are not leftovers)."""
    pid = int(tag[:6], 16)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"pytest" in cmdline


def sweep_leftovers():
    """Remove what killed runs left: their processes, namespaces, veths, bridges and data folders."""
    removed = []
    for line in run("ip", "netns", "list", check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        match = _TAGGED.match(name)
        if match and not _owner_alive(match.group(1)):
            kill_namespace(name)
            removed.append(name)
    for line in run("ip", "-o", "link", "show", check=False).splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        match = _TAGGED.match(name)
        if match and not _owner_alive(match.group(1)):
            run("ip", "link", "del", name, check=False)
            removed.append(name)
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}-*"):
        match = _TAGGED.match(folder.name)
        if match and not _owner_alive(match.group(1)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


def kill_namespace(name):
    """SIGKILL every process in a namespace, then delete it."""
    for pid in run("ip", "netns", "pids", name, check=False).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    run("ip", "netns", "del", name, check=False)


def _free_subnet():
    """A /24 of 10.231.0.0/16 that no route of this machine overlaps."""
    routes = run("ip", "-4", "route", "show", "table", "all", check=False)
    used = {ipaddress.ip_network(m, strict=False) for m in re.findall(r"\b(\d+\.\d+\.\d+\.\d+/\d+)", routes)}
    candidates = list(range(256))
    random.shuffle(candidates)
    for third in candidates:
        net = ipaddress.ip_network(f"10.231.{third}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free /24 in 10.231.0.0/16 for the fleet's bridge")


class Network:
    """The bridge and the hosts on it; cut() and mend() take a host's link down and up."""

    def __init__(self, tag):
        self.tag = tag
        self.subnet = _free_subnet()
        self.bridge = f"{PREFIX}{tag}br"
        self.gateway = str(self.subnet.network_address + 1)
        self.hosts = {}  # role -> (namespace, host-side veth, address)

    def up(self):
        """Make the bridge, with the root namespace's address on it (the simulator and the test listen there)."""
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        return self

    def add_host(self, role):
        """A namespace with its own address on the bridge; returns the address."""
        assert len(role) <= 3 and role not in self.hosts, role
        namespace = f"{PREFIX}-{self.tag}-{role}"
        veth, peer = f"{PREFIX}{self.tag}{role}", f"{PREFIX}{self.tag}{role}p"
        address = str(self.subnet.network_address + 10 + len(self.hosts))
        run("ip", "netns", "add", namespace)
        self.hosts[role] = (namespace, veth, address)
        run("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
        run("ip", "link", "set", peer, "netns", namespace)
        run("ip", "-n", namespace, "link", "set", peer, "name", "eth0")
        run("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        run("ip", "-n", namespace, "link", "set", "eth0", "up")
        run("ip", "-n", namespace, "link", "set", "lo", "up")
        run("ip", "link", "set", veth, "master", self.bridge)
        run("ip", "link", "set", veth, "up")
        return address

    def namespace(self, role):
        """The namespace of a host."""
        return self.hosts[role][0]

    def address(self, role):
        """The address of a host on the bridge."""
        return self.hosts[role][2]

    def hostname(self, role):
        """The host name a host's processes see (their own UTS namespace): it names the holder of a step."""
        return f"{PREFIX}-{self.tag}-{role}"

    def cut(self, role):
        """Take the host's link down at the bridge: its packets are dropped, its connections hang (a partition)."""
        run("ip", "link", "set", self.hosts[role][1], "down")

    def mend(self, role):
        """Bring the host's link back up."""
        run("ip", "link", "set", self.hosts[role][1], "up")

    def exec_argv(self, role, argv):
        """argv run on a host: in its namespace, with its own host name (a UTS namespace of its own)."""
        return ["ip", "netns", "exec", self.namespace(role), "unshare", "--uts", "sh", "-c",
                'hostname "$0" && exec "$@"', self.hostname(role), *argv]  # fmt: skip

    def down(self):
        """Kill what still runs in the hosts, delete their namespaces and veths, then the bridge."""
        for namespace, veth, _ in self.hosts.values():
            kill_namespace(namespace)
            run("ip", "link", "del", veth, check=False)
        run("ip", "link", "del", self.bridge, check=False)
