/* The context switch (switch_<arch>.S), white box: ping-pong, callee-saved registers, the
 * FP control state each context keeps, the entry frame's alignment. Runs on the
 * architecture it was built for (x86_64 here; the aarch64 branch runs on aarch64). */
#include <stdalign.h>

#include "fiber/fiber.h"
#include "test.h"

static void *main_sp, *fib_sp;
static int counter;
static uintptr_t entry_frame;

static void __attribute__((noinline)) ping_entry(void *arg)
{
    int n = *(int *)arg;
    entry_frame = (uintptr_t)__builtin_frame_address(0);
    for (int i = 0; i < n; i++) {
        counter++;
        weft__fiber_switch(&fib_sp, main_sp);
    }
    counter = -1;
    weft__fiber_switch(&fib_sp, main_sp);
    __builtin_trap();
}

static alignas(16) unsigned char stack_mem[64 << 10];

TEST(ping_pong)
{
    int n = 1000;
    fib_sp = weft__fiber_make(stack_mem + sizeof stack_mem - 7, ping_entry, &n);
    for (int i = 1; i <= n; i++) {
        weft__fiber_switch(&main_sp, fib_sp);
        ASSERT_EQ(counter, i);
    }
    weft__fiber_switch(&main_sp, fib_sp);
    ASSERT_EQ(counter, -1);
    ASSERT_TRUE(entry_frame > (uintptr_t)stack_mem && entry_frame < (uintptr_t)(stack_mem + sizeof stack_mem));
    ASSERT_EQ(entry_frame % 16, 0); /* the ABI alignment a call gives, from an odd top */
}

/* ------------------------------------------------------------------ callee-saved registers */

static void __attribute__((noinline)) clobber_entry(void *arg)
{
    (void)arg;
    for (;;) {
#if defined(__x86_64__)
        __asm__ volatile("movq $-1, %%rbx\n\tmovq $-2, %%r12\n\tmovq $-3, %%r13\n\t"
                         "movq $-4, %%r14\n\tmovq $-5, %%r15\n\t"
                         "xorps %%xmm6, %%xmm6" ::: "rbx", "r12", "r13", "r14", "r15", "xmm6");
#elif defined(__aarch64__)
        __asm__ volatile("mov x19, #-1\n\tmov x20, #-2\n\tmov x21, #-3\n\tmov x22, #-4\n\t"
                         "mov x23, #-5\n\tmov x24, #-6\n\tmov x25, #-7\n\tmov x26, #-8\n\t"
                         "mov x27, #-9\n\tmov x28, #-10\n\tfmov d8, xzr\n\tfmov d9, xzr\n\t"
                         "fmov d10, xzr\n\tfmov d11, xzr\n\tfmov d12, xzr\n\tfmov d13, xzr\n\t"
                         "fmov d14, xzr\n\tfmov d15, xzr" ::: "x19", "x20", "x21", "x22", "x23",
                         "x24", "x25", "x26", "x27", "x28", "d8", "d9", "d10", "d11", "d12",
                         "d13", "d14", "d15");
#endif
        weft__fiber_switch(&fib_sp, main_sp);
    }
}

static volatile long seed = 3;
static volatile double dseed = 1.5;

TEST(callee_saved_registers_survive)
{
    fib_sp = weft__fiber_make(stack_mem + sizeof stack_mem, clobber_entry, NULL);
    /* Many values live across the switch call: the compiler keeps them in callee-saved
     * registers, which the fiber overwrites with garbage. */
    long a = seed, b = a * 3, c = b + 7, d = c * c, e = d - a, f = e ^ b, g = f + c, h = g * 5;
    double x = dseed, y = x * 2, z = y + x, w = z * y;
    for (int i = 0; i < 100; i++) {
        weft__fiber_switch(&main_sp, fib_sp);
        a += 1, b += a, c ^= b, d += c, e -= d, f += e, g ^= f, h += g;
        x += 1, y += x, z += y, w += z;
    }
    long a2 = seed, b2 = a2 * 3, c2 = b2 + 7, d2 = c2 * c2, e2 = d2 - a2, f2 = e2 ^ b2,
         g2 = f2 + c2, h2 = g2 * 5;
    double x2 = dseed, y2 = x2 * 2, z2 = y2 + x2, w2 = z2 * y2;
    for (int i = 0; i < 100; i++) {
        a2 += 1, b2 += a2, c2 ^= b2, d2 += c2, e2 -= d2, f2 += e2, g2 ^= f2, h2 += g2;
        x2 += 1, y2 += x2, z2 += y2, w2 += z2;
    }
    ASSERT_EQ(a, a2);
    ASSERT_EQ(b, b2);
    ASSERT_EQ(c, c2);
    ASSERT_EQ(d, d2);
    ASSERT_EQ(e, e2);
    ASSERT_EQ(f, f2);
    ASSERT_EQ(g, g2);
    ASSERT_EQ(h, h2);
    ASSERT_TRUE(x == x2 && y == y2 && z == z2 && w == w2);
}

/* ------------------------------------------------------------------ FP control state */

#if defined(__x86_64__)
static unsigned get_fpctl(void)
{
    unsigned mxcsr;
    unsigned short cw;
    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(cw));
    return (mxcsr & 0xffc0u) << 16 | (cw & 0x0f3fu); /* control bits, not sticky flags */
}
static void set_round_up(void)
{
    unsigned mxcsr;
    unsigned short cw;
    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(cw));
    mxcsr = (mxcsr & ~0x6000u) | 0x4000u; /* RC = up */
    cw = (unsigned short)((cw & ~0x0c00u) | 0x0800u);
    __asm__ volatile("ldmxcsr %0\n\tfldcw %1" ::"m"(mxcsr), "m"(cw));
}
static void set_round_nearest(void)
{
    unsigned mxcsr;
    unsigned short cw;
    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(cw));
    mxcsr &= ~0x6000u;
    cw = (unsigned short)(cw & ~0x0c00u);
    __asm__ volatile("ldmxcsr %0\n\tfldcw %1" ::"m"(mxcsr), "m"(cw));
}
#elif defined(__aarch64__)
static unsigned get_fpctl(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return (unsigned)v;
}
static void set_fpcr_rmode(uint64_t mode)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    v = (v & ~(3ull << 22)) | mode << 22;
    __asm__ volatile("msr fpcr, %0" ::"r"(v));
}
static void set_round_up(void) { set_fpcr_rmode(1); }
static void set_round_nearest(void) { set_fpcr_rmode(0); }
#endif

static unsigned fiber_seen[3];

static void fp_entry(void *arg)
{
    (void)arg;
    fiber_seen[0] = get_fpctl(); /* inherited from the creator */
    set_round_up();
    fiber_seen[1] = get_fpctl();
    weft__fiber_switch(&fib_sp, main_sp);
    fiber_seen[2] = get_fpctl(); /* still ours after the main context ran */
    weft__fiber_switch(&fib_sp, main_sp);
    __builtin_trap();
}

TEST(fp_control_state_is_per_context)
{
    set_round_nearest();
    unsigned mine = get_fpctl();
    fib_sp = weft__fiber_make(stack_mem + sizeof stack_mem, fp_entry, NULL);
    weft__fiber_switch(&main_sp, fib_sp);
    ASSERT_EQ(fiber_seen[0], mine);
    ASSERT_NE(fiber_seen[1], mine);
    ASSERT_EQ(get_fpctl(), mine); /* the fiber's rounding mode did not leak out */
    weft__fiber_switch(&main_sp, fib_sp);
    ASSERT_EQ(fiber_seen[2], fiber_seen[1]);
    ASSERT_EQ(get_fpctl(), mine);
}

TEST_MAIN()
