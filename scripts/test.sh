#!/usr/bin/env bash
# The whole test suite: lint, then pytest. Creates .venv and installs requirements-test.txt when needed.
# Runs on SQLite by default; set DATABASE_URL=postgres://... to run on PostgreSQL (CI does).
# With OS_AUTH_URL and the usual OS_* admin variables set, the real-cloud tests run against that OpenStack too.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "Installing python3-venv (Debian) ..."
      rm -rf .venv
      DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$PYTHON" -m venv .venv
    else
      echo "Cannot create a virtualenv: install python3-venv (apt-get install python3-venv) and retry." >&2
      exit 1
    fi
  fi
fi
mkdir -p var
stamp=var/.requirements-test.sha
want=$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing test requirements into .venv ..."
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-test.txt
  echo "$want" > "$stamp"
fi

# The portal's browser tests drive Debian's headless Chromium through its chromium-driver (no browser download).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing chromium and chromium-driver (Debian) for the portal's browser tests ..."
    DEBIAN_FRONTEND=noninteractive apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "No /usr/bin/chromium: the portal's browser tests will be skipped (apt-get install chromium chromium-driver)." >&2
  fi
fi

echo "== ruff"
.venv/bin/ruff check .
echo "== import-linter: the layers of pyproject.toml, imports inside functions included"
PYTHONPATH=. .venv/bin/lint-imports --no-cache
echo "== migrations are up to date"
env -u DATABASE_URL DJANGO_SETTINGS_MODULE=settings.test .venv/bin/python manage.py makemigrations --check --dry-run >/dev/null \
  || { echo "Model changes without a migration: run manage.py makemigrations" >&2; exit 1; }
db=SQLite; [ -n "${DATABASE_URL:-}" ] && db=PostgreSQL
# The simulator's half runs on every core (one pytest worker per core by default, each with its own test database;
# tests that share a resource run on one worker: tests/fixtures/parallel.py). The real cloud's tests run beside it,
# in one more pytest process, one test at a time: they mostly wait for the cloud, and on this small OpenStack
# more than one build at a time answers with Neutron's transient 500s. NODECONDUCTOR_TEST_WORKERS=0 runs the first
# half in this one process.
workers=${NODECONDUCTOR_TEST_WORKERS:-auto}
echo "== pytest (database: $db; real cloud: ${OS_AUTH_URL:-none}; workers: $workers)"
if [ -z "${OS_AUTH_URL:-}" ]; then
  exec .venv/bin/pytest -n "$workers" --dist loadgroup --durations=20 "$@"
fi
rc=0
mkdir -p var
real_log=var/test-realcloud.log
real_rc=var/test-realcloud.rc
rm -f "$real_rc"
# CI (.ci/run) brings the real cloud up beside the tests and names a file that says "up" once it answers.
(
  if [ -n "${NODECONDUCTOR_REALCLOUD_READY:-}" ]; then
    for _ in $(seq "${NODECONDUCTOR_REALCLOUD_WAIT:-900}"); do [ -s "$NODECONDUCTOR_REALCLOUD_READY" ] && break; sleep 1; done
    if [ "$(cat "$NODECONDUCTOR_REALCLOUD_READY" 2>/dev/null)" != up ]; then echo skipped >"$real_rc"; exit 0; fi
  fi
  code=0
  .venv/bin/pytest --durations=20 -m realcloud "$@" || code=$?
  echo "$code" >"$real_rc"
) >"$real_log" 2>&1 </dev/null &
real_pid=$!
.venv/bin/pytest -n "$workers" --dist loadgroup --durations=20 -m "not realcloud" "$@" || rc=$?
echo "== pytest, the real cloud's tests, run one at a time beside the first half ($OS_AUTH_URL)"
wait "$real_pid"
cat "$real_log"
real=$(cat "$real_rc" 2>/dev/null || echo 1)
if [ "$real" = skipped ]; then
  echo "WARNING: the real cloud did not come up ($NODECONDUCTOR_REALCLOUD_READY); its tests are skipped" >&2
  real=0
fi
[ "$real" = 5 ] && real=0  # the arguments chose no real-cloud test
[ "$rc" = 5 ] && rc=0  # the arguments chose only real-cloud tests
[ "$rc" = 0 ] && rc=$real
exit "$rc"
