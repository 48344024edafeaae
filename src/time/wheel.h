/* The per-worker hierarchical timer wheel: 6 levels x 64 slots at 1 ms, intrusive entries.
 *
 * Single-threaded: one wheel belongs to one worker, and only that worker's thread touches it
 * or the entries armed on it. Nothing here allocates; the caller embeds a
 * struct weft__timer_entry in its own object (a sleep future, a connection) and passes it in.
 *
 * Time: int64_t ns on CLOCK_MONOTONIC, deadlines absolute. Entries are filed by the ms their
 * deadline falls in (grid aligned to ns 0); once that ms begins, an entry not yet due waits in
 * a near list of 16.384 us sub-slots, so it fires at the first advance() at or after its
 * deadline - never before, and not on a 1 ms grid.
 *
 * Firing rules:
 *  - advance(now) fires every armed entry whose deadline is <= now: first the due list (below),
 *    then by ms, within one ms in insertion order (seq); equal deadlines always in seq order.
 *  - An entry whose deadline is already <= the wheel's time when it is inserted (0, negative,
 *    in the past) goes on the "due" list and fires at the next advance(), first, in insertion
 *    order. insert() never calls back.
 *  - Deadlines that a monotonic clock can never reach on the ms grid (> INT64_MAX rounded down
 *    to a ms, which includes INT64_MAX = WEFT_NEVER) are kept armed on a "never" list: they
 *    count, can be cancelled, never fire and do not affect next_deadline().
 *  - Finite deadlines beyond the wheel's range (2^36 ms, ~2.2 years) are parked in the top
 *    level and re-cascaded when their slot comes round, until they are due.
 *
 * Ownership: while armed, an entry's links belong to the wheel; the caller must cancel it (or
 * let it fire) before freeing or moving it. A zero-filled entry is a valid idle entry.
 * The wheel holds list heads that point into itself: do not copy or move it after init.
 */
#ifndef WEFT_TIME_WHEEL_H
#define WEFT_TIME_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEFT__WHEEL_LEVELS 6
#define WEFT__WHEEL_SLOTS 64
#define WEFT__WHEEL_TICK_NS 1000000 /* 1 ms */

/* Links of a circular doubly linked list; a list head is a bare link (its own sentinel). */
struct weft__timer_link {
    struct weft__timer_link *next; /* NULL while the entry is idle */
    struct weft__timer_link *prev;
};

/* Values of weft__timer_entry.state. */
enum {
    WEFT__TIMER_IDLE = 0, /* not armed: never armed, fired, or cancelled */
    WEFT__TIMER_WHEEL,    /* in levels[level].slots[slot] */
    WEFT__TIMER_PENDING,  /* due: on the due list, or on advance()'s list about to fire */
    WEFT__TIMER_NEVER,    /* on the never list */
    WEFT__TIMER_NEAR,     /* in near[slot]: due later in the wheel's current ms */
};

/* An intrusive timer, embedded by the caller. 40 bytes on LP64. All fields are written by the
 * wheel only; the caller may read deadline and seq (and state through
 * weft__timer_entry_armed()). */
struct weft__timer_entry {
    struct weft__timer_link link; /* first member: a link pointer is the entry pointer */
    int64_t deadline;             /* ns, as passed to the last insert */
    uint64_t seq;                 /* insertion number from the wheel: FIFO among equals */
    uint8_t state;                /* WEFT__TIMER_* */
    uint8_t level;                /* WHEEL: which level (0..5) */
    uint8_t slot;                 /* WHEEL: which slot (0..63); NEAR: which sub-slot */
};

/* One level: 64 slots of 64^level ms each, and which of them are non-empty. */
struct weft__timer_level {
    uint64_t occupied;                                 /* bit s set <=> slots[s] non-empty */
    struct weft__timer_link slots[WEFT__WHEEL_SLOTS]; /* FIFO lists of entries */
};

/* The wheel. ~6.2 KiB; embed it in the worker. Fields are private to wheel.c. */
struct weft__timer_wheel {
    int64_t now;                /* ns: latest time given to init/advance; never decreases */
    int64_t base_ms;            /* floor(init's now / 1 ms): the ms that is tick 0 */
    uint64_t elapsed;           /* ticks (ms) since base_ms processed: floor(now/1ms)-base_ms */
    uint64_t seq;               /* last seq handed out */
    size_t count;               /* armed entries (wheel + due + never + about to fire) */
    bool advancing;             /* inside advance(): a nested advance() does nothing */
    struct weft__timer_link due;   /* deadline already passed at insert */
    uint64_t near_occupied;        /* bit s set <=> near[s] non-empty */
    /* Entries due later in the current ms, by 16.384 us sub-slot of that ms: an advance looks
     * only at the sub-slot `now` is in, so a dense ms costs no rescans. */
    struct weft__timer_link near[WEFT__WHEEL_SLOTS];
    struct weft__timer_link never; /* deadlines no clock reading can reach */
    struct weft__timer_level levels[WEFT__WHEEL_LEVELS];
};

/* Called by advance() once per fired entry. The entry is already idle (fired) when the
 * callback runs: the callback may free it, insert it again (it fires at a later advance),
 * cancel or insert any other entry on this wheel. It must not call advance() on this wheel
 * (a nested call returns 0 and does nothing). */
typedef void weft__timer_fire_fn(struct weft__timer_entry *entry, void *arg);

/* Make the wheel empty, with its clock at now_ns. Cannot fail. */
void weft__timer_wheel_init(struct weft__timer_wheel *w, int64_t now_ns);

/* Arm entry to fire at deadline_ns (absolute; see the firing rules above). If the entry is
 * already armed on this wheel it is re-armed (cancel + insert, so it gets a new seq). The
 * entry must be idle (zero-filled, or weft__timer_entry_init) or armed on this same wheel.
 * O(1); never allocates, never calls back. */
void weft__timer_wheel_insert(struct weft__timer_wheel *w, struct weft__timer_entry *entry,
                              int64_t deadline_ns);

/* Disarm entry. A no-op if it is idle (never armed, already fired or cancelled), so it is
 * always safe to call from cleanup paths. An entry advance() is about to fire (same batch)
 * and that a callback cancels does not fire. O(1). */
void weft__timer_wheel_cancel(struct weft__timer_wheel *w, struct weft__timer_entry *entry);

/* When the worker should next call advance(), in ns: INT64_MAX if nothing can fire; the
 * wheel's current time if something is due already; else the earliest deadline when it lies
 * in the current ms or in a level-0 slot of at most 64 entries, otherwise the start of the
 * earliest occupied slot - a lower bound, never later than the true earliest deadline
 * (advance there; it cascades, and the next call is closer). */
int64_t weft__timer_wheel_next_deadline(const struct weft__timer_wheel *w);

/* Move the wheel's clock to now_ns (a now_ns below the wheel's time is ignored; the due list
 * still fires) and call fire(entry, arg) for every entry that is due, in order: the due list
 * first, then by ms (see the firing rules), equal deadlines in insertion order. Higher-level slots
 * are cascaded as their start comes due. Entries armed by a callback never fire in the same
 * call. Returns the number of entries fired. Cost: O(fired + occupied slots passed). */
size_t weft__timer_wheel_advance(struct weft__timer_wheel *w, int64_t now_ns,
                                 weft__timer_fire_fn *fire, void *arg);

/* Armed entries, including those on the never list. */
static inline size_t weft__timer_wheel_count(const struct weft__timer_wheel *w)
{
    return w->count;
}

/* An idle entry (equivalent to zero-filling it). */
static inline void weft__timer_entry_init(struct weft__timer_entry *entry)
{
    *entry = (struct weft__timer_entry){0};
}

/* True from insert until the entry fires or is cancelled. */
static inline bool weft__timer_entry_armed(const struct weft__timer_entry *entry)
{
    return entry->state != WEFT__TIMER_IDLE;
}

#endif
