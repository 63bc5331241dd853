/* cog/error.h - error codes and the per-thread error message.
 *
 * Every cog function that can fail returns either a negative cog_status
 * (functions returning int) or NULL (functions returning a pointer), and
 * sets a human-readable message that the same thread can read with
 * cog_last_error(). Successful calls do not clear the message.
 */
#ifndef COG_ERROR_H
#define COG_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cog_status {
    COG_OK = 0,
    COG_ENOMEM = -1,       /* memory could not be obtained from the OS */
    COG_EINVAL = -2,       /* an argument is out of range or malformed */
    COG_ESTATE = -3,       /* runtime not initialised / already initialised */
    COG_ENOTATTACHED = -4, /* the calling thread is not attached */
    COG_EBUSY = -5,        /* other threads still attached (e.g. at shutdown) */
    COG_ELIMIT = -6        /* a fixed limit was reached (e.g. thread slots) */
} cog_status;

/* Text of the last error set on the calling thread ("" if none). The
 * pointer stays valid until the next failing cog call on this thread. Safe to
 * call from any thread, attached or not. */
const char *cog_last_error(void);

/* Short symbolic name of a status code, e.g. "COG_ENOMEM". */
const char *cog_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif /* COG_ERROR_H */
