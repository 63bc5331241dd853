/* lib/base/error.h - setting the per-thread error message (internal). */
#ifndef COG_LIB_ERROR_H
#define COG_LIB_ERROR_H

#include "cog/error.h"

/* Record a message for cog_last_error() and return code, so call sites can
 * write `return cog_error(COG_EINVAL, "bad generation %d", g);`. */
int cog_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The code of the calling thread's last cog_error (for callers that pass
 * on a failure reported only by a NULL return). */
int cog_error_last_code(void);

/* Print "cog: fatal: <message>" to stderr and abort. For broken invariants
 * and, in debug builds, API misuse that would otherwise corrupt memory. */
_Noreturn void cog_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif /* COG_LIB_ERROR_H */
