/* Must not build: see BUILD. */
int cog_layering_probe_outsider(void) { return 0; }
