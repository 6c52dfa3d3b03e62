# The kaizen-loadtest image, for GitLab's `image:` and Kubernetes Jobs: the static musl binary on
# a small base that has a shell (GitLab runs a job's script with `sh`, so FROM scratch would not
# do) and CA certificates.
#
# No Docker engine runs where this project is developed and tested, so this file is kept trivial
# and no test builds it. The release workflow's archives hold the binaries; to build by hand:
#
#   cargo build --release --target x86_64-unknown-linux-musl
#   mkdir -p bin/amd64 && cp target/x86_64-unknown-linux-musl/release/kaizen-loadtest bin/amd64/
#   docker build -t kaizen-loadtest .
FROM alpine:3.20
ARG TARGETARCH=amd64
RUN apk add --no-cache ca-certificates
COPY bin/${TARGETARCH}/kaizen-loadtest /usr/local/bin/kaizen-loadtest
CMD ["kaizen-loadtest", "--help"]
