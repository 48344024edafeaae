/* The fiber context switch for aarch64 (AAPCS64). Assembles to nothing elsewhere.
 *
 * Callee-saved state: x19-x28, the frame pointer x29, the link register x30 (the resume
 * address), sp, the low halves of v8-v15 (d8-d15) and, kept per fiber as on x86_64, the FPCR
 * (rounding mode and FP exception enables). Frame, 176 bytes from the saved sp up:
 *
 *   +0   x19 x20   +16 x21 x22   +32 x23 x24   +48 x25 x26   +64 x27 x28   +80 x29 x30
 *   +96  d8 d9     +112 d10 d11  +128 d12 d13  +144 d14 d15  +160 FPCR    +168 (pad)
 *
 * A new fiber's frame (weft__fiber_make) "returns" (x30) into weft__fiber_trampoline with the
 * entry function in x19 and its argument in x20, x29 = 0, and sp 16-byte aligned.
 */
#if defined(__aarch64__)

	.text

/* void weft__fiber_switch(void **save_sp, void *to_sp) */
	.globl	weft__fiber_switch
	.hidden	weft__fiber_switch
	.type	weft__fiber_switch, %function
	.p2align 4
weft__fiber_switch:
	.cfi_startproc
	sub	sp, sp, #176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x11, sp
	str	x11, [x0]
	mov	sp, x1			/* now on the other stack: same frame layout */
	ldr	x10, [sp, #160]
	cmp	x9, x10			/* msr fpcr can serialise: write it only if it differs */
	b.eq	1f
	msr	fpcr, x10
1:
	ldp	d14, d15, [sp, #144]
	ldp	d12, d13, [sp, #128]
	ldp	d10, d11, [sp, #112]
	ldp	d8, d9, [sp, #96]
	ldp	x29, x30, [sp, #80]
	ldp	x27, x28, [sp, #64]
	ldp	x25, x26, [sp, #48]
	ldp	x23, x24, [sp, #32]
	ldp	x21, x22, [sp, #16]
	ldp	x19, x20, [sp, #0]
	add	sp, sp, #176
	ret
	.cfi_endproc
	.size	weft__fiber_switch, .-weft__fiber_switch

/* void *weft__fiber_make(void *top, void (*entry)(void *), void *arg) */
	.globl	weft__fiber_make
	.hidden	weft__fiber_make
	.type	weft__fiber_make, %function
	.p2align 4
weft__fiber_make:
	.cfi_startproc
	and	x0, x0, #~15
	sub	x0, x0, #16		/* a zeroed slot above the trampoline's frame */
	stp	xzr, xzr, [x0]
	sub	x0, x0, #176
	stp	x1, x2, [x0, #0]	/* x19 = entry, x20 = arg */
	stp	xzr, xzr, [x0, #16]
	stp	xzr, xzr, [x0, #32]
	stp	xzr, xzr, [x0, #48]
	stp	xzr, xzr, [x0, #64]
	adr	x9, weft__fiber_trampoline
	stp	xzr, x9, [x0, #80]	/* x29 = 0, x30 = the trampoline */
	stp	xzr, xzr, [x0, #96]
	stp	xzr, xzr, [x0, #112]
	stp	xzr, xzr, [x0, #128]
	stp	xzr, xzr, [x0, #144]
	mrs	x9, fpcr		/* the creator's FP control state */
	stp	x9, xzr, [x0, #160]
	ret
	.cfi_endproc
	.size	weft__fiber_make, .-weft__fiber_make

/* First code a fiber runs: entry(arg); entry never returns. */
	.type	weft__fiber_trampoline, %function
	.p2align 4
weft__fiber_trampoline:
	.cfi_startproc
	.cfi_undefined x30		/* the outermost frame: unwinders stop here */
	mov	x0, x20
	blr	x19
	brk	#0
	.cfi_endproc
	.size	weft__fiber_trampoline, .-weft__fiber_trampoline

#endif /* __aarch64__ */

#if defined(__linux__) && defined(__ELF__)
	.section .note.GNU-stack,"",%progbits
#endif
