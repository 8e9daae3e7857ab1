# syntax=docker/dockerfile:1.7
# kagi-webhook image: build from the repository root
#   docker build -f deploy/docker/webhook.Dockerfile -t kagi-webhook:0.1.0 .
#
# Stage 1 compiles a release binary; stage 2 is distroless: glibc and CA certificates, no
# shell, no package manager, running as the unprivileged "nonroot" user (65532).

ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target directory between builds; the binary is copied
# out of the cached target directory because cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p kagi-webhook --bin kagi-webhook \
 && install -D -m 0755 target/release/kagi-webhook /out/kagi-webhook

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/kagi-webhook /usr/local/bin/kagi-webhook
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kagi-webhook"]
CMD ["serve"]
