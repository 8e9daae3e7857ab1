# syntax=docker/dockerfile:1.7
# kagi-agent image for users with Docker: build from the repository root
#   docker build -f deploy/docker/agent.Dockerfile -t kagi-agent:0.1.0 .
#
# The same contents as `make images` (target/images/kagi-agent, built without Docker): one
# statically linked binary (glibc linked in with +crt-static, name resolution without NSS
# libraries), /etc/passwd and /etc/group with the non-root user 65532 (deploy/docker/passwd and
# group, the files kagi-image writes; tests/tests/images.rs checks they match), nothing else:
# no shell, no package manager, no libc. Docker adds its own timestamps, so its digest differs.

ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    # The link flags are the Makefile's AGENT_LINK_FLAGS (size = memory for the agent, issue 11).
    RUSTFLAGS="-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,--icf=all" \
    cargo build --profile agent --locked \
      --target x86_64-unknown-linux-gnu -p kagi-agent --bin kagi-agent \
 && install -D -m 0755 target/x86_64-unknown-linux-gnu/agent/kagi-agent /out/kagi-agent

FROM scratch
COPY --from=build /out/kagi-agent /usr/local/bin/kagi-agent
COPY deploy/docker/passwd /etc/passwd
COPY deploy/docker/group /etc/group
ENV PATH=/usr/local/bin:/usr/bin
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kagi-agent"]
CMD ["run"]
