# syntax=docker/dockerfile:1.7
# kagi-agent image: build from the repository root
#   docker build -f deploy/docker/agent.Dockerfile -t kagi-agent:0.1.0 .
#
# The injected containers run `kagi-agent run` and `kagi-agent probe` (found on PATH), and
# the agent decodes VAULT_CONFIG itself, so the image needs no shell, echo or base64:
# distroless, no shell, unprivileged by default (the webhook sets the pod's UID anyway).

ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p kagi-agent --bin kagi-agent \
 && install -D -m 0755 target/release/kagi-agent /out/kagi-agent

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/kagi-agent /usr/local/bin/kagi-agent
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kagi-agent"]
CMD ["run"]
