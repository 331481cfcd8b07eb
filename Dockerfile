# sea-mq-worker and the sea-mq CLI on Debian bookworm, run as a non-root user.
#
#   docker build -t sea-mq:0.1.0 .
#   docker run --rm sea-mq:0.1.0 sea-mq-worker --version
#
# No container engine runs where this repository is developed and tested: this file is
# checked statically by ctest deploy.Container.DockerfileAndCompose (tests/deploy/
# check_container.py): the build stage installs with scripts/bootstrap (the same Debian
# packages as a developer machine); the runtime stage installs the library package of
# every shared library the built binaries need (readelf NEEDED -> dpkg -S), and nothing
# else; the user, entrypoint and ports match deploy/k8s and Compose.

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/bootstrap scripts/bootstrap
RUN scripts/bootstrap --apt && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake --preset default \
    && cmake --build build -j"$(nproc)" --target sea-mq sea-mq-worker \
    && install -m 0755 build/bin/sea-mq build/bin/sea-mq-worker /usr/local/bin/

FROM debian:bookworm-slim AS runtime
# The runtime libraries of the -dev packages scripts/bootstrap installs for the build.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates libcpp-httplib0.11 libcurl4 libfmt9 libnats3.4 libpcre2-8-0 libpq5 \
       libspdlog1.10 libssl3 libyaml-cpp0.7 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 seamq \
    && useradd --system --uid 10001 --gid seamq --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin seamq
COPY --from=build /usr/local/bin/sea-mq /usr/local/bin/sea-mq-worker /usr/local/bin/
COPY --from=build /src/config/ /usr/share/sea-mq/examples/
USER 10001:10001
# admin.listen: /metrics, /healthz, /readyz (docs/metrics.md).
EXPOSE 9464
ENTRYPOINT ["sea-mq-worker"]
CMD ["--config", "/etc/sea-mq/worker.yaml"]
