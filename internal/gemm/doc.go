// Package gemm implements general matrix multiplication (GEMM) for the
// neural-network engine: convolutions lowered with im2col, fully-connected
// layers and the backward passes of both reduce to C = alpha*op(A)*op(B) +
// beta*C on row-major float32 or float64 matrices.
//
// The implementation follows the classic Goto/BLIS design. op(B) is cut
// into column panels and op(A) into row panels; each panel is copied
// ("packed") into a contiguous buffer laid out exactly in the order a
// register-blocked micro-kernel consumes it, so the kernel streams through
// memory with unit stride no matter how A and B are stored or transposed.
// On amd64 CPUs with AVX2 and FMA the micro-kernels are written in assembly;
// everywhere else a portable Go kernel is used.
//
// Results are deterministic: for given inputs Gemm produces bit-identical
// output regardless of GOMAXPROCS and across calls. Work is split between
// goroutines only along the rows and columns of C, never along k, so every
// element of C is always reduced by the same sequence of operations.
//
// Packing buffers are recycled, so Gemm does not allocate in steady state.
package gemm
