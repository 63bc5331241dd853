/* lib/str_internal.h - str layout shared by str.c and intern.c (internal). */
#ifndef COG_LIB_STR_INTERNAL_H
#define COG_LIB_STR_INTERNAL_H

#include <stdatomic.h>

#include "cog/str.h"
#include "lib/rcu.h"

enum {
    STR_PLAIN = 0,     /* not interned */
    STR_FRESH = 1,     /* interned type, not (or no longer) in the table */
    STR_IN_TABLE = 2,  /* mortal canonical string, linked in the table */
    STR_IMMORTAL = 3,  /* immortal canonical string, linked in the table */
};

typedef struct cog_str {
    cog_varobject ob;           /* ob_size = length in bytes */
    _Atomic uint64_t hash;      /* 0 until computed */
    atomic_uint state;          /* STR_* */
    char data[];                /* ob_size bytes + NUL; interned: + node */
} cog_str;

/* The intern table's node, stored after an interned string's bytes. */
typedef struct intern_node {
    struct cds_lfht_node node;
    cog_str *str;
} intern_node;

extern const cog_type cog__str_interned_type;

static inline intern_node *cog__str_node(cog_str *s) {
    uintptr_t p = (uintptr_t)(s->data + s->ob.ob_size + 1);
    return (intern_node *)((p + 7) & ~(uintptr_t)7);
}

/* Allocate an uninitialised-bytes string of the given type and length. */
cog_str *cog__str_alloc(const cog_type *type, size_t len);
int cog__utf8_valid(const unsigned char *s, size_t len);
/* Interned dealloc: unlink from the table (intern.c). */
void cog__intern_unlink(cog_str *s);
#endif
