//go:build amd64 && !purego

#include "textflag.h"

// The kernels keep a 6-row tile of C in Y4-Y15 (two registers per row),
// load one row of the B micro-panel into Y0/Y1 per step and broadcast the
// six A values through Y2/Y3. Each accumulator therefore receives one FMA
// per step, and the twelve independent chains hide the FMA latency.

// SSTEP performs one rank-1 update of the float32 tile.
#define SSTEP \
	VMOVUPS      (DI), Y0;       \
	VMOVUPS      32(DI), Y1;     \
	VBROADCASTSS (SI), Y2;       \
	VBROADCASTSS 4(SI), Y3;      \
	VFMADD231PS  Y0, Y2, Y4;     \
	VFMADD231PS  Y1, Y2, Y5;     \
	VFMADD231PS  Y0, Y3, Y6;     \
	VFMADD231PS  Y1, Y3, Y7;     \
	VBROADCASTSS 8(SI), Y2;      \
	VBROADCASTSS 12(SI), Y3;     \
	VFMADD231PS  Y0, Y2, Y8;     \
	VFMADD231PS  Y1, Y2, Y9;     \
	VFMADD231PS  Y0, Y3, Y10;    \
	VFMADD231PS  Y1, Y3, Y11;    \
	VBROADCASTSS 16(SI), Y2;     \
	VBROADCASTSS 20(SI), Y3;     \
	VFMADD231PS  Y0, Y2, Y12;    \
	VFMADD231PS  Y1, Y2, Y13;    \
	VFMADD231PS  Y0, Y3, Y14;    \
	VFMADD231PS  Y1, Y3, Y15;    \
	ADDQ         $24, SI;        \
	ADDQ         R8, DI

// SROW stores row r of the tile: C = acc + beta*C.
#define SROW(lo, hi) \
	VFMADD231PS (DX), Y1, lo;   \
	VFMADD231PS 32(DX), Y1, hi; \
	VMOVUPS     lo, (DX);       \
	VMOVUPS     hi, 32(DX);     \
	ADDQ        R9, DX

// SROW0 stores row r of the tile without reading C.
#define SROW0(lo, hi) \
	VMOVUPS lo, (DX);   \
	VMOVUPS hi, 32(DX); \
	ADDQ    R9, DX

// func sgemmAVX2(kc int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, loadC int)
TEXT ·sgemmAVX2(SB), NOSPLIT, $0-64
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R8
	SHLQ $2, R8
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R9
	SHLQ $2, R9

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	MOVQ CX, BX
	SHRQ $2, BX
	ANDQ $3, CX
	TESTQ BX, BX
	JZ   stail

sloop4:
	SSTEP
	SSTEP
	SSTEP
	SSTEP
	DECQ BX
	JNZ  sloop4

stail:
	TESTQ CX, CX
	JZ    sdone

sloop1:
	SSTEP
	DECQ CX
	JNZ  sloop1

sdone:
	VBROADCASTSS alpha+48(FP), Y0
	VMULPS       Y0, Y4, Y4
	VMULPS       Y0, Y5, Y5
	VMULPS       Y0, Y6, Y6
	VMULPS       Y0, Y7, Y7
	VMULPS       Y0, Y8, Y8
	VMULPS       Y0, Y9, Y9
	VMULPS       Y0, Y10, Y10
	VMULPS       Y0, Y11, Y11
	VMULPS       Y0, Y12, Y12
	VMULPS       Y0, Y13, Y13
	VMULPS       Y0, Y14, Y14
	VMULPS       Y0, Y15, Y15

	MOVQ  loadC+56(FP), AX
	TESTQ AX, AX
	JZ    sstore0

	VBROADCASTSS beta+52(FP), Y1
	SROW(Y4, Y5)
	SROW(Y6, Y7)
	SROW(Y8, Y9)
	SROW(Y10, Y11)
	SROW(Y12, Y13)
	SROW(Y14, Y15)
	VZEROUPPER
	RET

sstore0:
	SROW0(Y4, Y5)
	SROW0(Y6, Y7)
	SROW0(Y8, Y9)
	SROW0(Y10, Y11)
	SROW0(Y12, Y13)
	SROW0(Y14, Y15)
	VZEROUPPER
	RET

// DSTEP performs one rank-1 update of the float64 tile.
#define DSTEP \
	VMOVUPD      (DI), Y0;       \
	VMOVUPD      32(DI), Y1;     \
	VBROADCASTSD (SI), Y2;       \
	VBROADCASTSD 8(SI), Y3;      \
	VFMADD231PD  Y0, Y2, Y4;     \
	VFMADD231PD  Y1, Y2, Y5;     \
	VFMADD231PD  Y0, Y3, Y6;     \
	VFMADD231PD  Y1, Y3, Y7;     \
	VBROADCASTSD 16(SI), Y2;     \
	VBROADCASTSD 24(SI), Y3;     \
	VFMADD231PD  Y0, Y2, Y8;     \
	VFMADD231PD  Y1, Y2, Y9;     \
	VFMADD231PD  Y0, Y3, Y10;    \
	VFMADD231PD  Y1, Y3, Y11;    \
	VBROADCASTSD 32(SI), Y2;     \
	VBROADCASTSD 40(SI), Y3;     \
	VFMADD231PD  Y0, Y2, Y12;    \
	VFMADD231PD  Y1, Y2, Y13;    \
	VFMADD231PD  Y0, Y3, Y14;    \
	VFMADD231PD  Y1, Y3, Y15;    \
	ADDQ         $48, SI;        \
	ADDQ         R8, DI

#define DROW(lo, hi) \
	VFMADD231PD (DX), Y1, lo;   \
	VFMADD231PD 32(DX), Y1, hi; \
	VMOVUPD     lo, (DX);       \
	VMOVUPD     hi, 32(DX);     \
	ADDQ        R9, DX

#define DROW0(lo, hi) \
	VMOVUPD lo, (DX);   \
	VMOVUPD hi, 32(DX); \
	ADDQ    R9, DX

// func dgemmAVX2(kc int, a, b *float64, ldb int, c *float64, ldc int, alpha, beta float64, loadC int)
TEXT ·dgemmAVX2(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R8
	SHLQ $3, R8
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R9
	SHLQ $3, R9

	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11
	VXORPD Y12, Y12, Y12
	VXORPD Y13, Y13, Y13
	VXORPD Y14, Y14, Y14
	VXORPD Y15, Y15, Y15

	MOVQ CX, BX
	SHRQ $2, BX
	ANDQ $3, CX
	TESTQ BX, BX
	JZ   dtail

dloop4:
	DSTEP
	DSTEP
	DSTEP
	DSTEP
	DECQ BX
	JNZ  dloop4

dtail:
	TESTQ CX, CX
	JZ    ddone

dloop1:
	DSTEP
	DECQ CX
	JNZ  dloop1

ddone:
	VBROADCASTSD alpha+48(FP), Y0
	VMULPD       Y0, Y4, Y4
	VMULPD       Y0, Y5, Y5
	VMULPD       Y0, Y6, Y6
	VMULPD       Y0, Y7, Y7
	VMULPD       Y0, Y8, Y8
	VMULPD       Y0, Y9, Y9
	VMULPD       Y0, Y10, Y10
	VMULPD       Y0, Y11, Y11
	VMULPD       Y0, Y12, Y12
	VMULPD       Y0, Y13, Y13
	VMULPD       Y0, Y14, Y14
	VMULPD       Y0, Y15, Y15

	MOVQ  loadC+64(FP), AX
	TESTQ AX, AX
	JZ    dstore0

	VBROADCASTSD beta+56(FP), Y1
	DROW(Y4, Y5)
	DROW(Y6, Y7)
	DROW(Y8, Y9)
	DROW(Y10, Y11)
	DROW(Y12, Y13)
	DROW(Y14, Y15)
	VZEROUPPER
	RET

dstore0:
	DROW0(Y4, Y5)
	DROW0(Y6, Y7)
	DROW0(Y8, Y9)
	DROW0(Y10, Y11)
	DROW0(Y12, Y13)
	DROW0(Y14, Y15)
	VZEROUPPER
	RET
