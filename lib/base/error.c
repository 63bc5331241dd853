/* lib/base/error.c - per-thread error messages. Thread-local, so no locking. */
#include "lib/base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static __thread char cog_error_text[256];
static __thread int cog_error_code;

int cog_error(int code, const char *fmt, ...) {
    cog_error_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cog_error_text, sizeof cog_error_text, fmt, ap);
    va_end(ap);
    return code;
}

const char *cog_last_error(void) { return cog_error_text; }

int cog_error_last_code(void) { return cog_error_code; }

const char *cog_status_name(int status) {
    switch (status) {
    case COG_OK: return "COG_OK";
    case COG_ENOMEM: return "COG_ENOMEM";
    case COG_EINVAL: return "COG_EINVAL";
    case COG_ESTATE: return "COG_ESTATE";
    case COG_ENOTATTACHED: return "COG_ENOTATTACHED";
    case COG_EBUSY: return "COG_EBUSY";
    case COG_ELIMIT: return "COG_ELIMIT";
    default: return "COG_E(unknown)";
    }
}

void cog_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cog: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}
