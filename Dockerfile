# The kaizen-loadtest image: `docker build .` on a clean checkout builds the static binary from
# source and puts it on Alpine (a small base with a shell, as GitLab runs a job's script with `sh`,
# and CA certificates), run as an unprivileged user.
#
#   docker build -t kaizen-loadtest .
#   docker run --rm -v "$PWD:/work" kaizen-loadtest run smoke --plan loadtest.yaml
#
# GitLab's `image:` overrides the entrypoint with `entrypoint: [""]` (the templates do), as k6's
# users do. The release workflow builds it for linux/amd64 and linux/arm64 on native runners and
# pushes it to ghcr.io (docs/ci.md); scripts/build-image.sh builds it with docker, podman or buildah.
ARG RUST_VERSION=1.95
ARG ALPINE_VERSION=3.22

FROM docker.io/library/rust:${RUST_VERSION}-alpine AS build
# musl-dev: the C runtime ring's C and assembly link against; on Alpine the native target is
# musl, so the binary is static without cross tools. Versions follow the Alpine release above.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY scenarios ./scenarios
COPY tests ./tests
RUN cargo build --release --locked \
    && cp target/release/kaizen-loadtest /kaizen-loadtest \
    && /kaizen-loadtest --version

FROM docker.io/library/alpine:${ALPINE_VERSION}
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kaizen-loadtest" \
      org.opencontainers.image.description="CI-native HTTP load testing: a YAML plan in, a verdict and reports out" \
      org.opencontainers.image.source="https://github.com/kaizen/loadtest-action" \
      org.opencontainers.image.documentation="https://github.com/kaizen/loadtest-action/blob/main/docs/ci.md" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# ca-certificates for a target's certificates beside the compiled-in roots; the user owns /work.
# hadolint ignore=DL3018
RUN apk add --no-cache ca-certificates \
    && addgroup -S -g 10001 kaizen \
    && adduser -S -D -H -u 10001 -G kaizen -s /sbin/nologin kaizen \
    && mkdir /work \
    && chown kaizen:kaizen /work
COPY --from=build /kaizen-loadtest /usr/local/bin/kaizen-loadtest
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["kaizen-loadtest"]
CMD ["--help"]
