/* weft - an asynchronous runtime for C. This umbrella header includes the public headers and
 * nothing else. */
#ifndef WEFT_H
#define WEFT_H

#include "weft/alloc.h"
#include "weft/async.h"
#include "weft/base.h"
#include "weft/rt.h"
#include "weft/sync.h"
#include "weft/task.h"
#include "weft/time.h"

#endif
