/* The fiber context switch for x86_64 (System V ABI). Assembles to nothing elsewhere.
 *
 * A switch is a call: the caller-saved registers are already dead, so only the callee-saved
 * state is kept - rbx, rbp, r12-r15, the return address (rip) and, because the ABI makes
 * them callee-saved too, the MXCSR control bits and the x87 control word. They are pushed on
 * the current stack, whose pointer is stored in *save_sp; then the other stack is loaded and
 * popped in reverse. Frame, from the saved stack pointer up:
 *
 *   +0  MXCSR (4 bytes), x87 CW (2 bytes), pad     +32 r12
 *   +8  r15                                         +40 rbx
 *   +16 r14                                         +48 rbp
 *   +24 r13                                         +56 return address
 *
 * A new fiber's frame (weft__fiber_make) returns into weft__fiber_trampoline with the
 * entry function in r12 and its argument in r13, rbp = 0 (frame-pointer walks stop there) and
 * rsp 16-byte aligned, so entry starts with the alignment a call gives.
 */
#if defined(__x86_64__)

	.text

/* void weft__fiber_switch(void **save_sp, void *to_sp) */
	.globl	weft__fiber_switch
	.hidden	weft__fiber_switch
	.type	weft__fiber_switch, @function
	.p2align 4
weft__fiber_switch:
	.cfi_startproc
#if defined(__CET__)
	endbr64
#endif
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movl	(%rsp), %eax		/* ours, to compare with theirs (rax, rcx are scratch) */
	movzwl	4(%rsp), %ecx
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp		/* now on the other stack: same frame layout */
	cmpl	(%rsp), %eax		/* load only what differs: fldcw alone is ~75% of a */
	je	1f			/* switch on our VMs, and both are nearly always equal */
	ldmxcsr	(%rsp)
1:	cmpw	4(%rsp), %cx
	je	2f
	fldcw	4(%rsp)
2:	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	popq	%r14
	.cfi_adjust_cfa_offset -8
	popq	%r13
	.cfi_adjust_cfa_offset -8
	popq	%r12
	.cfi_adjust_cfa_offset -8
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size	weft__fiber_switch, .-weft__fiber_switch

/* void *weft__fiber_make(void *top, void (*entry)(void *), void *arg) */
	.globl	weft__fiber_make
	.hidden	weft__fiber_make
	.type	weft__fiber_make, @function
	.p2align 4
weft__fiber_make:
	.cfi_startproc
#if defined(__CET__)
	endbr64
#endif
	movq	%rdi, %rax
	andq	$-16, %rax
	subq	$16, %rax		/* a zeroed slot above the trampoline's frame */
	movq	$0, 8(%rax)
	movq	$0, (%rax)
	leaq	weft__fiber_trampoline(%rip), %rcx
	movq	%rcx, -8(%rax)		/* return address: the trampoline */
	movq	$0, -16(%rax)		/* rbp */
	movq	$0, -24(%rax)		/* rbx */
	movq	%rsi, -32(%rax)		/* r12 = entry */
	movq	%rdx, -40(%rax)		/* r13 = arg */
	movq	$0, -48(%rax)		/* r14 */
	movq	$0, -56(%rax)		/* r15 */
	movq	$0, -64(%rax)
	stmxcsr	-64(%rax)		/* the creator's FP control state */
	fnstcw	-60(%rax)
	subq	$64, %rax
	ret
	.cfi_endproc
	.size	weft__fiber_make, .-weft__fiber_make

/* First code a fiber runs: entry(arg); entry never returns. */
	.type	weft__fiber_trampoline, @function
	.p2align 4
weft__fiber_trampoline:
	.cfi_startproc
	.cfi_undefined rip		/* the outermost frame: unwinders stop here */
	movq	%r13, %rdi
	callq	*%r12
	ud2
	.cfi_endproc
	.size	weft__fiber_trampoline, .-weft__fiber_trampoline

#endif /* __x86_64__ */

#if defined(__linux__) && defined(__ELF__)
	.section .note.GNU-stack,"",%progbits
#endif
