# The ciam-operator image: one binary, `ciam-operator controller | runtime | crds`.
#
#   docker build -t ghcr.io/ciam-dev/ciam-operator:0.1.0 .
#
# docs/container-image.md describes the image; scripts/check-release-binary.sh checks the
# release binary the way this image runs it (non-root, empty environment, read-only root).

# The builder is Debian 12 (bookworm) like the runtime base below, so the binary links
# against the same glibc (2.36) it will find there. The Rust version is the toolchain the
# project is developed and tested with (Cargo.toml's rust-version, 1.85, is the minimum).
# TODO: pin by digest (rust:1.95.0-bookworm@sha256:…) once a registry is reachable from
# where this file is maintained; nothing here could resolve the digest.
ARG RUST_VERSION=1.95.0

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /build

# Dependencies first, in their own layer: rebuilt only when Cargo.toml or Cargo.lock change.
# Stub targets stand in for the crate (a library plus the binary, as in src/).
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The crate itself. Everything it compiles in (templates, locales, SQL migrations) lives
# under src/. Touch the roots so cargo never takes the stubs' build for the real one.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && cp target/release/ciam-operator /ciam-operator

# glibc, libgcc_s, CA certificates, tzdata, /etc/passwd with `nonroot` (65532); no shell.
# TODO: pin by digest (gcr.io/distroless/cc-debian12:nonroot@sha256:…): no registry was
# reachable where this file was written, so only the tag is pinned.
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="ciam-operator" \
      org.opencontainers.image.description="Customer identity (CIAM) on Kubernetes: an operator for tenants, app registrations, user flows and branding, and the embedded OpenID Connect identity runtime" \
      org.opencontainers.image.source="https://github.com/ciam-dev/ciam-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

# Owned by root, not writable by the user that runs it.
COPY --from=builder /ciam-operator /usr/local/bin/ciam-operator

# distroless `nonroot`; numeric so Kubernetes can enforce runAsNonRoot.
USER 65532:65532

# 8080 runtime public (OIDC, hosted pages); 8081 runtime admin (admin API, /healthz,
# /readyz, /metrics); 8090 controller (/healthz, /readyz, /metrics).
EXPOSE 8080 8081 8090

ENTRYPOINT ["/usr/local/bin/ciam-operator"]
CMD ["--help"]
