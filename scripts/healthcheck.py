"""Container health checks that need nothing but the standard library (the slim image has no curl or procps).

Usage: python scripts/healthcheck.py web [URL]
       python scripts/healthcheck.py beat [SCHEDULE_FILE] [MAX_AGE_SECONDS]
Exit status 0 means healthy; the reason for anything else is printed, and Docker keeps it in the health log.
"""

import glob
import os
import sys
import time
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/api/"
DEFAULT_SCHEDULE = "/app/var/beat/celerybeat-schedule"
# beat rewrites its schedule at least every 3 minutes once its loop ticks (at most every --max-interval).
DEFAULT_MAX_AGE = 600


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Keeps a redirect as the answer: production sends plain HTTP to https://, which this probe cannot follow."""

    def redirect_request(self, *args, **kwargs):
        """Follow nothing."""
        return None


def _proxy_headers():
    """The headers the TLS-terminating proxy adds, so the probe is served like a proxied HTTPS request."""
    headers = {"X-Forwarded-Proto": "https"}
    configured = os.environ.get("NODECONDUCTOR_SECURE_PROXY_SSL_HEADER", "").strip().upper().replace("-", "_")
    if configured:
        name = configured[5:] if configured.startswith("HTTP_") else configured
        headers[name.replace("_", "-").title()] = "https"
    return headers


def check_web(url=DEFAULT_URL):
    """Healthy when Django answers below 500: a 401 from the API root proves the app loaded and routes work."""
    # Host is one ALLOWED_HOSTS accepts by default; a DisallowedHost 400 still proves the process serves. A redirect
    # to https (no proxy header configured) also proves Django answered.
    headers = {"Host": "localhost", "Accept": "application/json", **_proxy_headers()}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        return f"{url} does not answer: {error}"
    return None if status < 500 else f"{url} answered {status}"


def check_beat(schedule=DEFAULT_SCHEDULE, max_age=DEFAULT_MAX_AGE):
    """Healthy when beat's schedule file (dbm may add a suffix) changed recently, i.e. its loop still runs."""
    files = glob.glob(glob.escape(schedule) + "*")
    if not files:
        return f"no schedule file {schedule}* yet"
    age = time.time() - max(os.path.getmtime(f) for f in files)
    return None if age <= max_age else f"schedule file {schedule} not written for {age:.0f} s (limit {max_age} s)"


def main(argv):
    """Run the check named by the first argument and turn its verdict into an exit status."""
    if len(argv) < 2 or argv[1] not in ("web", "beat"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if argv[1] == "web":
        problem = check_web(*argv[2:3])
    else:
        problem = check_beat(*argv[2:3], *(int(a) for a in argv[3:4]))
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
