/* src/fiber/tools.h - telling ASan and TSan about stack switches (Valgrind is told in
 * stack.c, where stacks are mapped). Selected at compile time by the sanitizer macros that
 * cmake/Sanitizers.cmake defines; in a plain build every hook is an empty inline.
 *
 * The protocol, per switch (compiler-rt common_interface_defs.h, tsan_interface.h):
 *   poller -> fiber   tool_resume_begin(f, &save)   switch   tool_resume_end(save)
 *   fiber  -> poller  tool_suspend_begin(f)         switch   tool_suspend_end(f)
 *   fiber exits       tool_exit(f)                  switch   (never comes back)
 *   first instruction of a new fiber: tool_entry(f)
 * ASan learns the destination stack's bounds before each switch and the source's after it;
 * the poller's stack is a different thread's after a migration, so the fiber re-learns it
 * (caller_lo/caller_size) every time it regains control. TSan gets one fiber context per
 * fiber; switches synchronise (flag 0), because the fiber's memory really does pass from
 * thread to thread with each migration - through the task state word, which TSan also sees.
 */
#ifndef WEFT_FIBER_TOOLS_H
#define WEFT_FIBER_TOOLS_H

#include <stddef.h>

#if defined(WEFT_SANITIZE_ADDRESS)
#include <sanitizer/common_interface_defs.h>
#define WEFT_FIBER_ASAN 1
#else
#define WEFT_FIBER_ASAN 0
#endif
#if defined(WEFT_SANITIZE_THREAD)
#include <sanitizer/tsan_interface.h>
#define WEFT_FIBER_TSAN 1
#else
#define WEFT_FIBER_TSAN 0
#endif

/* Tool state kept in each fiber. */
struct weft__fiber_tools {
#if WEFT_FIBER_ASAN
    void *fake_stack;       /* the fiber's ASan fake stack while it is switched out */
    const void *caller_lo;  /* bounds of the poller's stack that resumed us last */
    size_t caller_size;
#endif
#if WEFT_FIBER_TSAN
    void *fiber;            /* TSan context of the fiber */
    void *caller;           /* TSan context of the thread that resumed us last */
#endif
    char unused_;           /* keeps the struct non-empty in plain builds */
};

static inline void tool_create(struct weft__fiber_tools *t, const char *name)
{
#if WEFT_FIBER_TSAN
    t->fiber = __tsan_create_fiber(0);
    __tsan_set_fiber_name(t->fiber, name);
#else
    (void)t, (void)name;
#endif
}

static inline void tool_destroy(struct weft__fiber_tools *t)
{
#if WEFT_FIBER_TSAN
    __tsan_destroy_fiber(t->fiber);
    t->fiber = NULL;
#else
    (void)t;
#endif
}

static inline void tool_resume_begin(struct weft__fiber_tools *t, void **save, const void *lo,
                                     size_t size)
{
#if WEFT_FIBER_ASAN
    __sanitizer_start_switch_fiber(save, lo, size);
#else
    (void)save, (void)lo, (void)size;
#endif
#if WEFT_FIBER_TSAN
    t->caller = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(t->fiber, 0);
#else
    (void)t;
#endif
}

static inline void tool_resume_end(void *save)
{
#if WEFT_FIBER_ASAN
    __sanitizer_finish_switch_fiber(save, NULL, NULL);
#else
    (void)save;
#endif
}

static inline void tool_entry(struct weft__fiber_tools *t)
{
#if WEFT_FIBER_ASAN
    __sanitizer_finish_switch_fiber(NULL, &t->caller_lo, &t->caller_size);
#else
    (void)t;
#endif
}

static inline void tool_suspend_begin(struct weft__fiber_tools *t)
{
#if WEFT_FIBER_ASAN
    __sanitizer_start_switch_fiber(&t->fake_stack, t->caller_lo, t->caller_size);
#endif
#if WEFT_FIBER_TSAN
    __tsan_switch_to_fiber(t->caller, 0);
#endif
    (void)t;
}

static inline void tool_suspend_end(struct weft__fiber_tools *t)
{
#if WEFT_FIBER_ASAN
    __sanitizer_finish_switch_fiber(t->fake_stack, &t->caller_lo, &t->caller_size);
#endif
    (void)t;
}

static inline void tool_exit(struct weft__fiber_tools *t)
{
#if WEFT_FIBER_ASAN
    __sanitizer_start_switch_fiber(NULL, t->caller_lo, t->caller_size); /* frees the fake stack */
#endif
#if WEFT_FIBER_TSAN
    __tsan_switch_to_fiber(t->caller, 0);
#endif
    (void)t;
}

#endif
