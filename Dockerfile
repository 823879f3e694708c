# Standalone image for source-fastbill, in the shape of Airbyte's python-connector template
# (docker-images/Dockerfile.python-connector): install in a builder stage, copy /usr/local over a
# clean base, run as the non-root `airbyte` user. The monorepo builds Python connectors from
# metadata.yaml's connectorBuildOptions.baseImage instead; this file is for everyone else
# (self-hosted Airbyte with a custom connector, a private registry, `make image-test`).
#
#   docker build -t airbyte/source-fastbill:dev .
#   docker build --build-arg BASE_IMAGE=airbyte/python-connector-base:4.0.2@sha256:... .
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# The build backend is pinned here: constraints.txt locks the runtime, not the build system.
ARG POETRY_CORE_VERSION=2.5.0
WORKDIR /airbyte/integration_code
# Only what the wheel needs: the build context never reaches the image (.dockerignore, too).
COPY pyproject.toml constraints.txt README.md ./
# The dependencies first, from the lock, in their own layer: a change to the connector's code then
# reinstalls only the connector. The empty package stands in for source_fastbill/ until then.
RUN pip install --no-cache-dir "poetry-core==${POETRY_CORE_VERSION}" \
    && mkdir source_fastbill && touch source_fastbill/__init__.py \
    && pip install --no-cache-dir --no-build-isolation -c constraints.txt . \
    && rm -rf source_fastbill
COPY source_fastbill ./source_fastbill
# Non-editable, so the image holds what the wheel holds: a spec.yaml missing from it fails here,
# missing schemas fail `discover` in make image-test. The build backend is not needed at run time.
RUN pip install --no-cache-dir --no-build-isolation --no-deps --force-reinstall . \
    && pip uninstall --yes poetry-core \
    && pip check \
    && source-fastbill spec > /dev/null

FROM ${BASE_IMAGE}
# python:*-slim keeps Python and pip under /usr/local; python-connector-base does too, and on a
# Debian python3 base pip installs there, so this one copy carries the installed connector.
COPY --from=builder /usr/local /usr/local
# python-connector-base ships `airbyte` (uid 1000); plain Python images need it created. A uid
# 1000 under another name would break the platform's file permissions, so that fails the build.
RUN (getent passwd airbyte > /dev/null \
        || useradd --uid 1000 --user-group --no-create-home airbyte) \
    && test "$(id -u airbyte)" = 1000 \
    && mkdir -p /airbyte/integration_code /config /secrets \
    && chown airbyte /airbyte /airbyte/integration_code /config /secrets
# printf, not a heredoc: buildah 1.28 (Debian bookworm) cannot parse heredocs. `exec` hands
# signals (the platform's SIGTERM on cancel) straight to the connector process.
RUN printf '#!/bin/sh\nset -e\nexec source-fastbill "$@"\n' > /entrypoint.sh \
    && chmod 755 /entrypoint.sh
WORKDIR /airbyte/integration_code
LABEL io.airbyte.name=airbyte/source-fastbill io.airbyte.version=1.1.0
ENV AIRBYTE_ENTRYPOINT="/entrypoint.sh"
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 1000
ENTRYPOINT ["/entrypoint.sh"]
