/* cog/cog.h - everything: include this one header. */
#ifndef COG_COG_H
#define COG_COG_H
#include "cog/error.h"
#include "cog/object.h"
#include "cog/gc.h"
#include "cog/runtime.h"
#endif
