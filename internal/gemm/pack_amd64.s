//go:build amd64 && !purego

#include "textflag.h"

// Transposing copies used to pack row-major panels into the interleaved
// layout the kernels read. Eight source rows are given as separate
// pointers so that callers can repeat the last row when fewer are valid.

// func transpose8x8f32(dst *float32, ldd int, rows *[8]*float32, cols int)
//
// For l in [0,cols) (cols a multiple of 8) and j in [0,8):
// dst[l*ldd+j] = rows[j][l]. Destination rows are stored in increasing l,
// so ldd may be smaller than 8 when the caller accepts the overlap.
TEXT ·transpose8x8f32(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), DX
	SHLQ $2, DX
	MOVQ rows+16(FP), AX
	MOVQ cols+24(FP), CX
	MOVQ 0(AX), SI
	MOVQ 8(AX), R8
	MOVQ 16(AX), R9
	MOVQ 24(AX), R10
	MOVQ 32(AX), R11
	MOVQ 40(AX), R12
	MOVQ 48(AX), R13
	MOVQ 56(AX), BX
	XORQ AX, AX
	SHRQ $3, CX
	JZ   tdone

tloop:
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS (R8)(AX*1), Y1
	VMOVUPS (R9)(AX*1), Y2
	VMOVUPS (R10)(AX*1), Y3
	VMOVUPS (R11)(AX*1), Y4
	VMOVUPS (R12)(AX*1), Y5
	VMOVUPS (R13)(AX*1), Y6
	VMOVUPS (BX)(AX*1), Y7

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	VMOVUPS Y8, (DI)
	ADDQ    DX, DI
	VMOVUPS Y9, (DI)
	ADDQ    DX, DI
	VMOVUPS Y10, (DI)
	ADDQ    DX, DI
	VMOVUPS Y11, (DI)
	ADDQ    DX, DI
	VMOVUPS Y12, (DI)
	ADDQ    DX, DI
	VMOVUPS Y13, (DI)
	ADDQ    DX, DI
	VMOVUPS Y14, (DI)
	ADDQ    DX, DI
	VMOVUPS Y15, (DI)
	ADDQ    DX, DI

	ADDQ $32, AX
	DECQ CX
	JNZ  tloop

tdone:
	VZEROUPPER
	RET

// func transpose8x4f64(dst *float64, ldd int, rows *[8]*float64, cols int)
//
// For l in [0,cols) (cols a multiple of 4) and j in [0,8):
// dst[l*ldd+j] = rows[j][l], as two 4×4 transposes. For each l the first
// four elements are stored before the last four, and l increases, so ldd
// may be smaller than 8 when the caller accepts the overlap.
TEXT ·transpose8x4f64(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), DX
	SHLQ $3, DX
	MOVQ rows+16(FP), AX
	MOVQ cols+24(FP), CX
	MOVQ 0(AX), SI
	MOVQ 8(AX), R8
	MOVQ 16(AX), R9
	MOVQ 24(AX), R10
	MOVQ 32(AX), R11
	MOVQ 40(AX), R12
	MOVQ 48(AX), R13
	MOVQ 56(AX), BX
	XORQ AX, AX
	SHRQ $2, CX
	JZ   ddone

dloop:
	VMOVUPD (SI)(AX*1), Y0
	VMOVUPD (R8)(AX*1), Y1
	VMOVUPD (R9)(AX*1), Y2
	VMOVUPD (R10)(AX*1), Y3
	VMOVUPD (R11)(AX*1), Y4
	VMOVUPD (R12)(AX*1), Y5
	VMOVUPD (R13)(AX*1), Y6
	VMOVUPD (BX)(AX*1), Y7

	VUNPCKLPD Y1, Y0, Y8
	VUNPCKHPD Y1, Y0, Y9
	VUNPCKLPD Y3, Y2, Y10
	VUNPCKHPD Y3, Y2, Y11
	VUNPCKLPD Y5, Y4, Y12
	VUNPCKHPD Y5, Y4, Y13
	VUNPCKLPD Y7, Y6, Y14
	VUNPCKHPD Y7, Y6, Y15

	VPERM2F128 $0x20, Y10, Y8, Y0
	VPERM2F128 $0x20, Y11, Y9, Y1
	VPERM2F128 $0x31, Y10, Y8, Y2
	VPERM2F128 $0x31, Y11, Y9, Y3
	VPERM2F128 $0x20, Y14, Y12, Y4
	VPERM2F128 $0x20, Y15, Y13, Y5
	VPERM2F128 $0x31, Y14, Y12, Y6
	VPERM2F128 $0x31, Y15, Y13, Y7

	VMOVUPD Y0, (DI)
	VMOVUPD Y4, 32(DI)
	ADDQ    DX, DI
	VMOVUPD Y1, (DI)
	VMOVUPD Y5, 32(DI)
	ADDQ    DX, DI
	VMOVUPD Y2, (DI)
	VMOVUPD Y6, 32(DI)
	ADDQ    DX, DI
	VMOVUPD Y3, (DI)
	VMOVUPD Y7, 32(DI)
	ADDQ    DX, DI

	ADDQ $32, AX
	DECQ CX
	JNZ  dloop

ddone:
	VZEROUPPER
	RET

// func prefetchRows(p unsafe.Pointer, stride, rowBytes, rows int)
//
// Prefetches rows bytes-long rows, stride bytes apart, into the cache.
TEXT ·prefetchRows(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ stride+8(FP), DX
	MOVQ rowBytes+16(FP), BX
	MOVQ rows+24(FP), CX
	TESTQ CX, CX
	JZ    pdone

prow:
	XORQ AX, AX

pline:
	PREFETCHT1 (SI)(AX*1)
	ADDQ       $64, AX
	CMPQ       AX, BX
	JLT        pline
	ADDQ       DX, SI
	DECQ       CX
	JNZ        prow

pdone:
	RET

// func copyStrided(dst unsafe.Pointer, dstStride int, src unsafe.Pointer, srcStride, chunk, n int)
//
// Copies n chunk-byte pieces from src, src+srcStride, ... to dst,
// dst+dstStride, ... chunk is a multiple of 32.
TEXT ·copyStrided(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R8
	MOVQ chunk+32(FP), BX
	MOVQ n+40(FP), CX
	TESTQ CX, CX
	JZ    cdone
	CMPQ  BX, $256
	JEQ   c256

cpanel:
	XORQ AX, AX

cpiece:
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, BX
	JLT     cpiece
	ADDQ    R8, SI
	ADDQ    DX, DI
	DECQ    CX
	JNZ     cpanel
	VZEROUPPER
	RET

c256:
	// The AVX-512 panels: 256 bytes each.
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMOVUPS 128(SI), Y4
	VMOVUPS 160(SI), Y5
	VMOVUPS 192(SI), Y6
	VMOVUPS 224(SI), Y7
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ    R8, SI
	ADDQ    DX, DI
	DECQ    CX
	JNZ     c256

cdone:
	VZEROUPPER
	RET
