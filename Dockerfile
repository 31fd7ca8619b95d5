# NodeConductor: one image for the API (gunicorn), the Celery worker and Celery beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=settings.production \
    NODECONDUCTOR_VAR_DIR=/app/var

# A fixed uid lets operators give mounted secrets and volumes to this user (chown 1000).
RUN groupadd --system --gid 1000 nodeconductor \
    && useradd --system --uid 1000 --gid nodeconductor --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin nodeconductor

WORKDIR /app

# Requirements first, so code changes reuse the cached dependency layer.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Production settings refuse to load without these; the values below exist only in this build step,
# which needs settings just to collect static files. Nothing real is baked into the image.
RUN SECRET_KEY=collectstatic-build-only DATABASE_URL=sqlite:////tmp/build.sqlite3 CELERY_BROKER_URL=memory:// \
        python manage.py collectstatic --noinput --verbosity 0 \
    && rm -f /tmp/build.sqlite3 \
    && mkdir -p /app/var/beat \
    && chown -R nodeconductor:nodeconductor /app/var \
    && chmod 0755 scripts/docker-entrypoint.sh

USER nodeconductor

# Health checks differ per role (web, worker, beat), so docker-compose.yml declares them per service.
EXPOSE 8000
ENTRYPOINT ["scripts/docker-entrypoint.sh"]
CMD ["gunicorn", "nodeconductor.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-"]
