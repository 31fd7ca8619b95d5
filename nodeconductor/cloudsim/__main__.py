"""Command line: ``python -m nodeconductor.cloudsim --port N`` serves the simulated cloud until interrupted."""

import argparse
import sys

from .sim import CloudSim


def main(argv=None):
    """Parse the options, start the simulator and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="nodeconductor-cloudsim", description=__doc__)
    parser.add_argument("--port", type=int, default=5000, help="port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--admin-password", default="admin")
    parser.add_argument("--demo-password", default="demo")
    parser.add_argument("--delays", choices=("fast", "realistic"), default="realistic")
    args = parser.parse_args(argv)
    sim = CloudSim(host=args.host, port=args.port, admin_password=args.admin_password,
                   demo_password=args.demo_password, delays=args.delays).start()
    print(f"cloudsim serving; OS_AUTH_URL={sim.auth_url} (control API: {sim.base_url}/_sim/)", flush=True)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
