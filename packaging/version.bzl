"""The library version: soname libcog.so.MAJOR, version node COG_MAJOR,
the Version of cog.pc. Bump MAJOR on an incompatible ABI change."""

COG_VERSION = "0.1.0"
