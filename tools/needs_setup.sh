# Sourced by tools/test.sh and tools/demo.sh: run tools/setup.sh when the
# minimum to build and test (Bazel, liburcu, cmocka, and the Prometheus
# parsers tests/control_test runs) is missing.
cog_ensure_setup() {
    local root=$1 p
    for p in bazel-bootstrap liburcu-dev libcmocka-dev python3-prometheus-client prometheus; do
        if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]] \
            || ! command -v bazel >/dev/null; then
            bash "$root/tools/setup.sh"
            return
        fi
    done
}
