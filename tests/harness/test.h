/* A tiny test harness: each test file is one executable with a main() built from TEST()s.
 *
 *   TEST(spawn_returns_output) { ASSERT_EQ(weft_spawn(...), 0); }
 *   TEST_MAIN()
 *
 * ASSERT_* print both sides and the location, then abort the process (CTest reports the
 * failure). Every test runs in the same process, in file order; a watchdog alarm (default
 * 50 s, WEFT_TEST_TIMEOUT seconds) turns a hang into a failure with a message.
 */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*weft_test_fn)(void);
void weft_test_register(const char *name, weft_test_fn fn);
int weft_test_main(int argc, char **argv);
void weft_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
/* Monotonic nanoseconds, for tests that measure elapsed time loosely. */
int64_t weft_test_now_ns(void);
/* Scale factor for loop counts: 1 normally, smaller under sanitizers (WEFT_TEST_SCALE). */
double weft_test_scale(void);

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        weft_test_register(#name, test_##name);                                                    \
    }                                                                                              \
    static void test_##name(void)

#define TEST_MAIN()                                                                                \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        return weft_test_main(argc, argv);                                                         \
    }

#define ASSERT_TRUE(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            weft_test_fail(__FILE__, __LINE__, "ASSERT_TRUE(%s)", #c);                             \
    } while (0)

#define ASSERT_OP_(a, op, b)                                                                       \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (!(va_ op vb_))                                                                         \
            weft_test_fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", #a, #op, #b, va_, vb_);   \
    } while (0)

#define ASSERT_EQ(a, b) ASSERT_OP_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_OP_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_OP_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_OP_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_OP_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_OP_(a, >=, b)
#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (strcmp(sa_, sb_) != 0)                                                                 \
            weft_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b, sa_, sb_);    \
    } while (0)

#endif
