/* cog/str.h - immutable UTF-8 strings.
 *
 * A str holds a byte length and the bytes (valid UTF-8, NUL-terminated for
 * convenience; embedded NULs are allowed). Its hash is computed on first
 * use and cached (a benign idempotent race: every thread computes the same
 * value and the cache is an atomic word). Strings never change after
 * creation, so every accessor is thread-safe without locks for any thread
 * holding a reference. Interning: see cog/intern.h.
 */
#ifndef COG_STR_H
#define COG_STR_H

#include <stddef.h>
#include <stdint.h>

#include "cog/object.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Type of ordinary strings; interned strings have an internal type of the
 * same name, so test with cog_str_check, not by comparing types. */
extern const cog_type cog_str_type;

/* New string from len bytes of UTF-8 (copied). NULL + COG_EINVAL if the
 * bytes are not valid UTF-8 (overlong forms, surrogates and code points
 * above U+10FFFF are rejected), COG_ENOMEM / COG_ENOTATTACHED otherwise. */
cog_object *cog_str_new(const char *utf8, size_t len);
/* cog_str_new(s, strlen(s)). */
cog_object *cog_str_from_cstr(const char *s);

/* 1 if o is a str (interned or not). */
int cog_str_check(const cog_object *o);
/* The bytes, NUL-terminated; valid while the caller holds o. */
const char *cog_str_data(const cog_object *o);
/* Length in bytes. */
size_t cog_str_len(const cog_object *o);
/* Cached 64-bit hash of the bytes (never 0). */
uint64_t cog_str_hash(cog_object *o);
/* 1 if both are strs with the same bytes (identity is a fast path). */
int cog_str_equal(cog_object *a, cog_object *b);
/* 1 if o's bytes equal the len bytes at s. */
int cog_str_equal_bytes(cog_object *o, const char *s, size_t len);
/* 1 if o is an interned string (the canonical instance of its value). */
int cog_str_is_interned(const cog_object *o);

/* The hash function used by str and bytes (exposed for tables keyed by
 * raw bytes that must agree with cog_str_hash); never returns 0. wyhash
 * (v4, fixed seed): all 64 bits are well mixed, so tables may use any of
 * them. Values are not stable across cog versions: do not persist them. */
uint64_t cog_hash_bytes(const void *p, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* COG_STR_H */
