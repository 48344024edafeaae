/* weft - an asynchronous runtime for C. This umbrella header includes the public headers and
 * nothing else. */
#ifndef WEFT_H
#define WEFT_H

#include "weft/alloc.h"
#include "weft/async.h"
#include "weft/base.h"
#include "weft/blocking.h"
#include "weft/fiber.h"
#include "weft/fs.h"
#include "weft/io.h"
#include "weft/metrics.h"
#include "weft/net.h"
#include "weft/rt.h"
#include "weft/signal.h"
#include "weft/sync.h"
#include "weft/task.h"
#include "weft/time.h"

#endif
