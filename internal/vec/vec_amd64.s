//go:build amd64 && !purego

#include "textflag.h"

// Each loop runs over 8 floats at a time (one YMM register), then over the
// remaining 0–7 one at a time with the scalar form of the same
// instructions, so every element is computed the same way.

// func axpyAVX2(a float32, x, y *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y15
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
	XORQ AX, AX
	MOVQ CX, DX
	ANDQ $-32, DX
	JZ   axpy8

axpy32:
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS 32(DI)(AX*4), Y1
	VMOVUPS 64(DI)(AX*4), Y2
	VMOVUPS 96(DI)(AX*4), Y3
	VFMADD231PS (SI)(AX*4), Y15, Y0
	VFMADD231PS 32(SI)(AX*4), Y15, Y1
	VFMADD231PS 64(SI)(AX*4), Y15, Y2
	VFMADD231PS 96(SI)(AX*4), Y15, Y3
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ $32, AX
	CMPQ AX, DX
	JLT  axpy32

axpy8:
	MOVQ CX, DX
	ANDQ $-8, DX
	CMPQ AX, DX
	JGE  axpytail

axpy8loop:
	VMOVUPS (DI)(AX*4), Y0
	VFMADD231PS (SI)(AX*4), Y15, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, DX
	JLT  axpy8loop

axpytail:
	CMPQ AX, CX
	JGE  axpydone
	VMOVSS (DI)(AX*4), X0
	VFMADD231SS (SI)(AX*4), X15, X0
	VMOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP  axpytail

axpydone:
	VZEROUPPER
	RET

// func dotAVX2(x, y *float32, n int) float32
//
// Four accumulators over blocks of 32, then one over blocks of 8, summed
// in a fixed order, then the tail.
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ AX, AX
	MOVQ CX, DX
	ANDQ $-32, DX
	JZ   dot8

dot32:
	VMOVUPS (SI)(AX*4), Y4
	VMOVUPS 32(SI)(AX*4), Y5
	VMOVUPS 64(SI)(AX*4), Y6
	VMOVUPS 96(SI)(AX*4), Y7
	VFMADD231PS (DI)(AX*4), Y4, Y0
	VFMADD231PS 32(DI)(AX*4), Y5, Y1
	VFMADD231PS 64(DI)(AX*4), Y6, Y2
	VFMADD231PS 96(DI)(AX*4), Y7, Y3
	ADDQ $32, AX
	CMPQ AX, DX
	JLT  dot32

dot8:
	MOVQ CX, DX
	ANDQ $-8, DX
	CMPQ AX, DX
	JGE  dotsum

dot8loop:
	VMOVUPS (SI)(AX*4), Y4
	VFMADD231PS (DI)(AX*4), Y4, Y0
	ADDQ $8, AX
	CMPQ AX, DX
	JLT  dot8loop

dotsum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0

dottail:
	CMPQ AX, CX
	JGE  dotdone
	VMOVSS (SI)(AX*4), X4
	VFMADD231SS (DI)(AX*4), X4, X0
	INCQ AX
	JMP  dottail

dotdone:
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func reluAVX2(dst, x *float32, n int)
//
// dst = x with every element whose sign bit is set replaced by +0.
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	MOVQ CX, DX
	ANDQ $-8, DX
	JZ   relutail

relu8:
	VMOVUPS (SI)(AX*4), Y0
	VPSRAD  $31, Y0, Y1
	VPANDN  Y0, Y1, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, DX
	JLT  relu8

relutail:
	CMPQ AX, CX
	JGE  reludone
	MOVL (SI)(AX*4), BX
	MOVL BX, R8
	SARL $31, R8
	NOTL R8
	ANDL R8, BX
	MOVL BX, (DI)(AX*4)
	INCQ AX
	JMP  relutail

reludone:
	VZEROUPPER
	RET

// func reluGradAVX2(gx, gy, x *float32, n int)
//
// gx += gy where x > 0 read as a signed integer.
TEXT ·reluGradAVX2(SB), NOSPLIT, $0-32
	MOVQ gx+0(FP), DI
	MOVQ gy+8(FP), BX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	VPXOR Y15, Y15, Y15
	XORQ AX, AX
	MOVQ CX, DX
	ANDQ $-8, DX
	JZ   rgtail

rg8:
	VMOVUPS (SI)(AX*4), Y0
	VPCMPGTD Y15, Y0, Y1
	VANDPS  (BX)(AX*4), Y1, Y1
	VADDPS  (DI)(AX*4), Y1, Y1
	VMOVUPS Y1, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, DX
	JLT  rg8

rgtail:
	CMPQ AX, CX
	JGE  rgdone
	VMOVSS (SI)(AX*4), X0
	VPCMPGTD X15, X0, X1
	VMOVSS (BX)(AX*4), X2
	VANDPS X2, X1, X1
	VADDSS (DI)(AX*4), X1, X1
	VMOVSS X1, (DI)(AX*4)
	INCQ AX
	JMP  rgtail

rgdone:
	VZEROUPPER
	RET

// func clampAVX2(dst, x *float32, n int, lo, hi float32)
//
// max then min with x as the second source, which MAXPS/MINPS return
// when either operand is NaN: a NaN in x stays NaN.
TEXT ·clampAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS lo+24(FP), Y14
	VBROADCASTSS hi+28(FP), Y15
	XORQ AX, AX
	MOVQ CX, DX
	ANDQ $-8, DX
	JZ   cltail

cl8:
	VMOVUPS (SI)(AX*4), Y0
	VMAXPS  Y0, Y14, Y1
	VMINPS  Y1, Y15, Y1
	VMOVUPS Y1, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, DX
	JLT  cl8

cltail:
	CMPQ AX, CX
	JGE  cldone
	VMOVSS (SI)(AX*4), X0
	VMAXSS X0, X14, X1
	VMINSS X1, X15, X1
	VMOVSS X1, (DI)(AX*4)
	INCQ AX
	JMP  cltail

cldone:
	VZEROUPPER
	RET

// func clampGradAVX2(gx, gy, x *float32, n int, lo, hi float32)
//
// gx += gy where lo <= x <= hi (ordered comparisons: false for NaN).
TEXT ·clampGradAVX2(SB), NOSPLIT, $0-40
	MOVQ gx+0(FP), DI
	MOVQ gy+8(FP), BX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	VBROADCASTSS lo+32(FP), Y14
	VBROADCASTSS hi+36(FP), Y15
	XORQ AX, AX
	MOVQ CX, DX
	ANDQ $-8, DX
	JZ   cgtail

cg8:
	VMOVUPS (SI)(AX*4), Y0
	VCMPPS  $0x1D, Y14, Y0, Y1
	VCMPPS  $0x12, Y15, Y0, Y2
	VANDPS  Y2, Y1, Y1
	VANDPS  (BX)(AX*4), Y1, Y1
	VADDPS  (DI)(AX*4), Y1, Y1
	VMOVUPS Y1, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, DX
	JLT  cg8

cgtail:
	CMPQ AX, CX
	JGE  cgdone
	VMOVSS (SI)(AX*4), X0
	VCMPSS $0x1D, X14, X0, X1
	VCMPSS $0x12, X15, X0, X2
	VANDPS X2, X1, X1
	VMOVSS (BX)(AX*4), X3
	VANDPS X3, X1, X1
	VADDSS (DI)(AX*4), X1, X1
	VMOVSS X1, (DI)(AX*4)
	INCQ AX
	JMP  cgtail

cgdone:
	VZEROUPPER
	RET

// func reluMaskAVX2(grad, y *float32, n int)
//
// g &= (y > 0 read as a signed integer).
TEXT ·reluMaskAVX2(SB), NOSPLIT, $0-24
	MOVQ grad+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	VPXOR Y15, Y15, Y15
	XORQ AX, AX
	MOVQ CX, DX
	ANDQ $-8, DX
	JZ   rmtail

rm8:
	VMOVUPS (SI)(AX*4), Y0
	VPCMPGTD Y15, Y0, Y1
	VANDPS  (DI)(AX*4), Y1, Y1
	VMOVUPS Y1, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, DX
	JLT  rm8

rmtail:
	CMPQ AX, CX
	JGE  rmdone
	VMOVSS (SI)(AX*4), X0
	VPCMPGTD X15, X0, X1
	VMOVSS (DI)(AX*4), X2
	VANDPS X2, X1, X1
	VMOVSS X1, (DI)(AX*4)
	INCQ AX
	JMP  rmtail

rmdone:
	VZEROUPPER
	RET

// func sumScaledAVX2(dst *float32, n int, w, src *float32, offs *int, taps int)
//
// dst[i] = Σ_t w[t]·src[offs[t]+i], the terms fused in the order of t onto
// an accumulator that starts at zero: the rounding of axpy over a cleared
// dst, term by term.
TEXT ·sumScaledAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ w+16(FP), R8
	MOVQ src+24(FP), SI
	MOVQ offs+32(FP), R9
	MOVQ taps+40(FP), R10
	XORQ AX, AX
	MOVQ CX, R11
	ANDQ $-8, R11
	JZ   sstail

ss8:
	VXORPS Y0, Y0, Y0
	XORQ BX, BX

ss8tap:
	MOVQ (R9)(BX*8), DX
	ADDQ AX, DX
	VBROADCASTSS (R8)(BX*4), Y1
	VFMADD231PS (SI)(DX*4), Y1, Y0
	INCQ BX
	CMPQ BX, R10
	JLT  ss8tap
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, R11
	JLT  ss8

sstail:
	CMPQ AX, CX
	JGE  ssdone
	VXORPS X0, X0, X0
	XORQ BX, BX

sstailtap:
	MOVQ (R9)(BX*8), DX
	ADDQ AX, DX
	VMOVSS (R8)(BX*4), X1
	VFMADD231SS (SI)(DX*4), X1, X0
	INCQ BX
	CMPQ BX, R10
	JLT  sstailtap
	VMOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP  sstail

ssdone:
	VZEROUPPER
	RET
