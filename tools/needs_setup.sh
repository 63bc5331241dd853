# Sourced by tools/test.sh, tools/demo.sh and tools/soak.sh: make sure every
# package of tools/setup.sh is installed. setup.sh asks dpkg first and only
# runs apt-get for what is missing, so this costs a fraction of a second on
# a machine that has everything; checking only a minimum here would let a
# package added later (a test's tool) go missing on an older machine.
cog_ensure_setup() {
    local root=$1
    bash "$root/tools/setup.sh"
}
