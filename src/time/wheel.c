/* Hierarchical timer wheel (Varghese & Lauck; the geometry of Tokio's wheel), one per worker.
 *
 * Ticks are ms counted from base_ms. Level l has 64 slots of 64^l ticks; an entry due at tick
 * `when` lives at the level of the highest 6-bit digit in which `when` differs from `elapsed`
 * (the last processed tick), in the slot named by that digit of `when`. So level 0 holds the
 * rest of the current 64 ms block, level 1 the rest of the current 4096 ms block, and so on;
 * digits above bit 36 are clamped to level 5, which is how far deadlines are parked: their
 * slot comes round early, and they are simply placed again.
 *
 * Invariants (between calls):
 *  - every WHEEL entry has when > elapsed and sits at level_for(elapsed, when), slot digit;
 *  - no occupied slot's start tick is <= elapsed (advance processes each slot as it comes due);
 *  - hence any level-0 slot is due before any level-1 slot, and so on: the lowest occupied
 *    level holds the earliest expiry, found with one rotate + ctz on its bitmap;
 *  - each slot list is in insertion (seq) order. Entries with equal `when` always share a slot
 *    (a later insert goes where the earlier one is, because elapsed lies between them), and a
 *    cascade moves a slot's list in order into lower slots that are empty of those ticks.
 *
 * advance() works in two phases so callbacks cannot disturb the structure while it is being
 * walked: phase 1 moves every due entry (due list, then expiring slots in tick order) onto a
 * local "firing" list and sets elapsed to now; phase 2 pops and fires them one by one. A
 * callback's cancel of a not-yet-fired entry just unlinks it from the firing list. Inserts made
 * by callbacks are relative to the new elapsed, so none of them can fire in the same call.
 */
#include "time/wheel.h"

#include <assert.h>

#define LEVEL_BITS 6
#define SLOT_MASK ((uint64_t)WEFT__WHEEL_SLOTS - 1)
#define LEVELS WEFT__WHEEL_LEVELS
#define MAX_TICKS ((uint64_t)1 << (LEVEL_BITS * LEVELS)) /* wheel range: 2^36 ms */
#define TICK_NS ((int64_t)WEFT__WHEEL_TICK_NS)
#define LAST_MS (INT64_MAX / TICK_NS) /* the last whole ms a clock reading can reach */
#define NEAR_SCAN 64   /* entries of a level-0 slot scanned for the exact next deadline */
#define NEAR_SHIFT 14  /* near sub-slots of 2^14 ns: 62 of them cover a ms */

_Static_assert(sizeof(struct weft__timer_entry) <= 40, "a parked task's timer must stay small");
_Static_assert(WEFT__WHEEL_SLOTS == 64 && LEVELS * LEVEL_BITS < 64, "bitmap geometry");

/* ------------------------------------------------------------------ lists */

static void list_init(struct weft__timer_link *head)
{
    head->next = head;
    head->prev = head;
}

static bool list_empty(const struct weft__timer_link *head)
{
    return head->next == head;
}

static void list_push_tail(struct weft__timer_link *head, struct weft__timer_link *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static void list_unlink(struct weft__timer_link *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->next = NULL;
    node->prev = NULL;
}

/* Append all of src to dst's tail, in order; src becomes empty. */
static void list_splice_tail(struct weft__timer_link *dst, struct weft__timer_link *src)
{
    if (list_empty(src))
        return;
    struct weft__timer_link *first = src->next, *last = src->prev;
    first->prev = dst->prev;
    dst->prev->next = first;
    last->next = dst;
    dst->prev = last;
    list_init(src);
}

static struct weft__timer_entry *entry_of(struct weft__timer_link *link)
{
    return (struct weft__timer_entry *)link; /* link is the first member */
}

/* ------------------------------------------------------------------ time */

/* Rounded up (the ms a deadline of the never list is judged by). C division truncates
 * toward zero, which is already "up" for negative values. */
static int64_t ms_ceil(int64_t ns)
{
    return ns / TICK_NS + (ns % TICK_NS > 0);
}

static int64_t ms_floor(int64_t ns)
{
    return ns / TICK_NS - (ns % TICK_NS < 0);
}

static int64_t tick_to_ns(const struct weft__timer_wheel *w, uint64_t tick)
{
    int64_t ms = w->base_ms + (int64_t)tick; /* |ms| < 2^44: no overflow */
    return ms > LAST_MS ? INT64_MAX : ms * TICK_NS;
}

/* ------------------------------------------------------------------ placement */

static unsigned level_for(uint64_t elapsed, uint64_t when)
{
    uint64_t masked = (elapsed ^ when) | SLOT_MASK;
    if (masked >= MAX_TICKS)
        masked = MAX_TICKS - 1; /* beyond the range: park in the top level */
    unsigned msb = 63u - (unsigned)__builtin_clzll(masked);
    return msb / LEVEL_BITS;
}

/* Put entry, due at tick `when` > elapsed, into its slot. */
static void place(struct weft__timer_wheel *w, struct weft__timer_entry *e, uint64_t when)
{
    unsigned level = level_for(w->elapsed, when);
    unsigned slot = (unsigned)((when >> (level * LEVEL_BITS)) & SLOT_MASK);
    struct weft__timer_level *lv = &w->levels[level];

    assert(when > w->elapsed);
    e->state = WEFT__TIMER_WHEEL;
    e->level = (uint8_t)level;
    e->slot = (uint8_t)slot;
    list_push_tail(&lv->slots[slot], &e->link);
    lv->occupied |= (uint64_t)1 << slot;
}

/* The start tick of the earliest occupied slot (UINT64_MAX if none), and which slot it is. */
static uint64_t next_expiration(const struct weft__timer_wheel *w, unsigned *level_out,
                                unsigned *slot_out)
{
    for (unsigned level = 0; level < LEVELS; level++) {
        uint64_t occupied = w->levels[level].occupied;
        if (occupied == 0)
            continue;
        unsigned shift = level * LEVEL_BITS;
        /* Search from the slot after elapsed's own: rotate it to bit 0, then ctz is the
         * distance. elapsed's own slot comes last: below the top level it is always empty (its
         * entries would sit lower), and at the top level it can only hold parked entries
         * for a later turn of the wheel - treating it as first would skip earlier slots. */
        unsigned from = (unsigned)(((w->elapsed >> shift) + 1) & SLOT_MASK);
        uint64_t rotated = from ? (occupied >> from) | (occupied << (64 - from)) : occupied;
        unsigned slot = (from + (unsigned)__builtin_ctzll(rotated)) & (unsigned)SLOT_MASK;
        uint64_t level_range = (uint64_t)1 << (shift + LEVEL_BITS);
        uint64_t start = (w->elapsed & ~(level_range - 1)) + ((uint64_t)slot << shift);
        if (start <= w->elapsed) {
            /* Only the top level wraps: the slot belongs to the next turn of the wheel
             * (or holds parked entries, which will be placed again). */
            assert(level == LEVELS - 1);
            start += level_range;
        }
        *level_out = level;
        *slot_out = slot;
        return start;
    }
    return UINT64_MAX;
}

/* The near sub-slot of an entry due in the current ms (tick `elapsed`). */
static unsigned near_sub(const struct weft__timer_wheel *w, int64_t deadline)
{
    int64_t into = deadline - tick_to_ns(w, w->elapsed); /* 0 .. 999999 */
    return (unsigned)(into >> NEAR_SHIFT) & (unsigned)SLOT_MASK;
}

static void near_push(struct weft__timer_wheel *w, struct weft__timer_entry *e)
{
    unsigned sub = near_sub(w, e->deadline);
    e->state = WEFT__TIMER_NEAR;
    e->slot = (uint8_t)sub;
    list_push_tail(&w->near[sub], &e->link);
    w->near_occupied |= (uint64_t)1 << sub;
}

/* The slot's start has come due (elapsed == its start): fire what is due, cascade the rest
 * into lower levels (or, for parked entries, back into the top level). */
static void expire_slot(struct weft__timer_wheel *w, unsigned level, unsigned slot,
                        struct weft__timer_link *firing, int64_t now_ns)
{
    struct weft__timer_level *lv = &w->levels[level];
    struct weft__timer_link taken;

    list_init(&taken);
    list_splice_tail(&taken, &lv->slots[slot]);
    lv->occupied &= ~((uint64_t)1 << slot);
    while (!list_empty(&taken)) {
        struct weft__timer_entry *e = entry_of(taken.next);
        uint64_t when = (uint64_t)(ms_floor(e->deadline) - w->base_ms);

        list_unlink(&e->link);
        if (when <= w->elapsed) {
            assert(when == w->elapsed);
            if (e->deadline <= now_ns) {
                e->state = WEFT__TIMER_PENDING;
                list_push_tail(firing, &e->link);
            } else { /* due later in this very ms: wait for it exactly */
                near_push(w, e);
            }
        } else {
            assert(level > 0);
            place(w, e, when);
        }
    }
}

/* The earliest deadline in a list (INT64_MAX if empty); past `cap` entries, give up and
 * return `floor`, a lower bound of them all (cap 0: no limit). */
static int64_t list_min_deadline(const struct weft__timer_link *head, int cap, int64_t floor)
{
    int64_t m = INT64_MAX;
    for (const struct weft__timer_link *l = head->next; l != head; l = l->next) {
        if (cap && cap-- == 1 && l->next != head)
            return floor;
        int64_t d = ((const struct weft__timer_entry *)l)->deadline;
        if (d < m)
            m = d;
    }
    return m;
}

/* Move what the near sub-slots hold and is due by now_ns onto `firing`, in sub-slot order:
 * every sub-slot before now's whole, now's own entry by entry (the rest stays). */
static void near_collect(struct weft__timer_wheel *w, int64_t now_ns,
                         struct weft__timer_link *firing)
{
    int64_t into = now_ns - tick_to_ns(w, w->elapsed);
    unsigned last = into >= TICK_NS ? (unsigned)SLOT_MASK : (unsigned)(into >> NEAR_SHIFT);
    while (w->near_occupied) {
        unsigned sub = (unsigned)__builtin_ctzll(w->near_occupied);
        if (sub > last)
            break;
        struct weft__timer_link *head = &w->near[sub];
        for (struct weft__timer_link *l = head->next, *next; l != head; l = next) {
            next = l->next;
            if (entry_of(l)->deadline <= now_ns) {
                list_unlink(l);
                entry_of(l)->state = WEFT__TIMER_PENDING;
                list_push_tail(firing, l);
            }
        }
        if (!list_empty(head))
            break; /* now's own sub-slot, partly due */
        w->near_occupied &= ~((uint64_t)1 << sub);
    }
}

/* ------------------------------------------------------------------ API */

void weft__timer_wheel_init(struct weft__timer_wheel *w, int64_t now_ns)
{
    w->now = now_ns;
    w->base_ms = ms_floor(now_ns);
    w->elapsed = 0;
    w->seq = 0;
    w->count = 0;
    w->advancing = false;
    list_init(&w->due);
    list_init(&w->never);
    w->near_occupied = 0;
    for (unsigned s = 0; s < WEFT__WHEEL_SLOTS; s++)
        list_init(&w->near[s]);
    for (unsigned l = 0; l < LEVELS; l++) {
        w->levels[l].occupied = 0;
        for (unsigned s = 0; s < WEFT__WHEEL_SLOTS; s++)
            list_init(&w->levels[l].slots[s]);
    }
}

void weft__timer_wheel_insert(struct weft__timer_wheel *w, struct weft__timer_entry *entry,
                              int64_t deadline_ns)
{
    int64_t ms = ms_floor(deadline_ns); /* the ms window the deadline falls in */

    if (entry->state != WEFT__TIMER_IDLE)
        weft__timer_wheel_cancel(w, entry);
    entry->deadline = deadline_ns;
    entry->seq = ++w->seq;
    w->count++;
    if (deadline_ns == INT64_MAX || ms_ceil(deadline_ns) > LAST_MS) {
        entry->state = WEFT__TIMER_NEVER;
        list_push_tail(&w->never, &entry->link);
    } else if (deadline_ns <= w->now) {
        entry->state = WEFT__TIMER_PENDING; /* fires at the next advance, not here */
        list_push_tail(&w->due, &entry->link);
    } else if (ms - w->base_ms <= (int64_t)w->elapsed) {
        near_push(w, entry); /* later in the current ms */
    } else {
        place(w, entry, (uint64_t)(ms - w->base_ms));
    }
}

void weft__timer_wheel_cancel(struct weft__timer_wheel *w, struct weft__timer_entry *entry)
{
    if (entry->state == WEFT__TIMER_IDLE)
        return;
    list_unlink(&entry->link);
    if (entry->state == WEFT__TIMER_WHEEL) {
        struct weft__timer_level *lv = &w->levels[entry->level];
        if (list_empty(&lv->slots[entry->slot]))
            lv->occupied &= ~((uint64_t)1 << entry->slot);
    } else if (entry->state == WEFT__TIMER_NEAR) {
        if (list_empty(&w->near[entry->slot]))
            w->near_occupied &= ~((uint64_t)1 << entry->slot);
    }
    entry->state = WEFT__TIMER_IDLE;
    w->count--;
}

int64_t weft__timer_wheel_next_deadline(const struct weft__timer_wheel *w)
{
    unsigned level, slot;
    uint64_t start;

    if (!list_empty(&w->due))
        return w->now;
    if (w->near_occupied) /* the earliest sub-slot of the current ms, scanned whole */
        return list_min_deadline(&w->near[__builtin_ctzll(w->near_occupied)], 0, 0);
    start = next_expiration(w, &level, &slot);
    if (start == UINT64_MAX)
        return INT64_MAX;
    if (level == 0) /* one ms: its earliest exact deadline, or the ms's start if crowded */
        return list_min_deadline(&w->levels[0].slots[slot], NEAR_SCAN, tick_to_ns(w, start));
    return tick_to_ns(w, start);
}

size_t weft__timer_wheel_advance(struct weft__timer_wheel *w, int64_t now_ns,
                                 weft__timer_fire_fn *fire, void *arg)
{
    struct weft__timer_link firing;
    size_t fired = 0;

    if (w->advancing)
        return 0;
    w->advancing = true;
    list_init(&firing);

    /* Phase 1: collect, in firing order. */
    list_splice_tail(&firing, &w->due);
    if (now_ns > w->now) {
        uint64_t now_tick = (uint64_t)(ms_floor(now_ns) - w->base_ms);
        /* The near sub-slots (entries of the wheel's current ms) come before any slot. */
        if (w->near_occupied)
            near_collect(w, now_ns, &firing);
        for (;;) {
            unsigned level, slot;
            uint64_t start = next_expiration(w, &level, &slot);
            if (start > now_tick)
                break;
            w->elapsed = start;
            expire_slot(w, level, slot, &firing, now_ns);
        }
        w->elapsed = now_tick;
        w->now = now_ns;
    }

    /* Phase 2: fire. Callbacks may cancel entries still on `firing`. */
    while (!list_empty(&firing)) {
        struct weft__timer_entry *e = entry_of(firing.next);
        list_unlink(&e->link);
        e->state = WEFT__TIMER_IDLE;
        w->count--;
        fired++;
        fire(e, arg);
    }
    w->advancing = false;
    return fired;
}
