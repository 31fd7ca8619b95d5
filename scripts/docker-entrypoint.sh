#!/bin/sh
# Entry point of the image. The web service sets NODECONDUCTOR_MIGRATE=1 so that exactly one service applies
# migrations (and refreshes the static volume) before serving; the worker and beat wait for it to be healthy.
set -eu

if [ "${NODECONDUCTOR_MIGRATE:-0}" = 1 ]; then
    python manage.py migrate --noinput
    # The static volume outlives image upgrades; refresh it from the files this image carries.
    python manage.py collectstatic --noinput --verbosity 0
fi

exec "$@"
