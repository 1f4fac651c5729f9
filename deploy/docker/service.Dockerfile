# syntax=docker/dockerfile:1
# Image of a VIES service (recruitment, partners, missions, notifications) or of the web portal:
# the runtime kit (shared/) and that one service, nothing of the development package (dev/).
#
# Build context: the repository root (the image needs constraints.txt and shared/), after
# `make missions-assets portal-assets` has vendored the certificate's DejaVu fonts and the
# portal's htmx into their packages. deploy/docker/docker-bake.json names every image with its
# build arguments; `docker buildx bake -f deploy/docker/docker-bake.json` builds them all, or one:
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=missions --build-arg PORT=8003 \
#     -t vies/missions:$VERSION .
#
# One image, two workloads for a service: VIES_ROLE=api serves the HTTP API, VIES_ROLE=worker
# runs the Kafka consumers, the outbox relay and the schedulers (and still answers /healthz,
# /readyz and /metrics). No HEALTHCHECK: Kubernetes probes do that job.

FROM python:3.11-slim AS build
# The package under services/ and its console script vies-<SERVICE>.
ARG SERVICE
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# A virtualenv without pip: the runtime stage copies it as it is.
RUN python -m venv --without-pip /opt/venv
WORKDIR /src
COPY constraints.txt ./
COPY shared/ shared/
COPY services/${SERVICE}/ services/${SERVICE}/
# ENTRYPOINT takes no build argument: a fixed name points at the service's console script.
RUN python -m pip --python /opt/venv/bin/python install -c constraints.txt ./shared ./services/${SERVICE} \
 && ln -s vies-${SERVICE} /opt/venv/bin/vies-service

FROM python:3.11-slim AS runtime
ARG SERVICE
# The HTTP port of the contract and of the Deployments (8001-8004, the portal 8000).
ARG PORT
ARG VERSION=dev
ARG DESCRIPTION="VIES ${SERVICE} service (HTTP API and event consumers)"
LABEL org.opencontainers.image.title="vies-${SERVICE}" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.description="$DESCRIPTION"
# Nothing to build or install at run time: drop pip and setuptools from the base image.
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
 && groupadd --system --gid 10001 vies \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin vies
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    VIES_HTTP_HOST=0.0.0.0 \
    VIES_HTTP_PORT=${PORT} \
    VIES_ROLE=all
WORKDIR /tmp
USER 10001:10001
EXPOSE ${PORT}
ENTRYPOINT ["vies-service"]
