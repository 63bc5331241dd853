/* cog/cog.h - everything: include this one header. */
#ifndef COG_COG_H
#define COG_COG_H
#include "cog/error.h"
#include "cog/object.h"
#include "cog/gc.h"
#include "cog/runtime.h"
#include "cog/int.h"
#include "cog/str.h"
#include "cog/bytes.h"
#include "cog/tuple.h"
#include "cog/list.h"
#include "cog/dict.h"
#include "cog/intern.h"
#include "cog/weakref.h"
#include "cog/mem.h"
#include "cog/heap_profile.h"
#include "cog/tryincref.h"
#include "cog/control.h"
#include "cog/metrics.h"
#endif
