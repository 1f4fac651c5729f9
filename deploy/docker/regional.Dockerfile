# syntax=docker/dockerfile:1
# Image of a VIES regional consumer (`vies regional run --region <REGION>`) and
# of the operators' tools (`vies dlq list|replay`): the shared package only.
#
# Build context: the repository root:
#   docker build -f deploy/docker/regional.Dockerfile -t vies/regional:$VERSION .
# Run:
#   docker run -e VIES_REGION=FR-ARA ... vies/regional:$VERSION regional run --region FR-ARA
# In Kubernetes the region comes from the overlay (components/regional).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv --without-pip /opt/venv
WORKDIR /src
COPY constraints.txt ./
COPY shared/ shared/
RUN python -m pip --python /opt/venv/bin/python install -c constraints.txt ./shared

FROM python:3.11-slim AS runtime
ARG VERSION=dev
LABEL org.opencontainers.image.title="vies-regional" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.description="VIES regional consumer and operator tools"
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
 && groupadd --system --gid 10001 vies \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin vies
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    VIES_HTTP_HOST=0.0.0.0 \
    VIES_HTTP_PORT=8080
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["vies"]
CMD ["regional", "run"]
