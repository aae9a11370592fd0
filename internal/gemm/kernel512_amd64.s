//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 kernels: a 6×64 float32 tile or a 6×32 float64 tile, held in
// Z8-Z31 as four registers per row. Each step loads one 64-float (or
// 32-double) row of B into Z0-Z3 and broadcasts the six A values through
// Z4/Z5, giving 24 independent FMA chains.

#define ZSTEP(bcast, fma, asz) \
	VMOVUPS (DI), Z0;              \
	VMOVUPS 64(DI), Z1;            \
	VMOVUPS 128(DI), Z2;           \
	VMOVUPS 192(DI), Z3;           \
	bcast   (0*asz)(SI), Z4;       \
	bcast   (1*asz)(SI), Z5;       \
	fma     Z0, Z4, Z8;            \
	fma     Z1, Z4, Z9;            \
	fma     Z2, Z4, Z10;           \
	fma     Z3, Z4, Z11;           \
	fma     Z0, Z5, Z12;           \
	fma     Z1, Z5, Z13;           \
	fma     Z2, Z5, Z14;           \
	fma     Z3, Z5, Z15;           \
	bcast   (2*asz)(SI), Z4;       \
	bcast   (3*asz)(SI), Z5;       \
	fma     Z0, Z4, Z16;           \
	fma     Z1, Z4, Z17;           \
	fma     Z2, Z4, Z18;           \
	fma     Z3, Z4, Z19;           \
	fma     Z0, Z5, Z20;           \
	fma     Z1, Z5, Z21;           \
	fma     Z2, Z5, Z22;           \
	fma     Z3, Z5, Z23;           \
	bcast   (4*asz)(SI), Z4;       \
	bcast   (5*asz)(SI), Z5;       \
	fma     Z0, Z4, Z24;           \
	fma     Z1, Z4, Z25;           \
	fma     Z2, Z4, Z26;           \
	fma     Z3, Z4, Z27;           \
	fma     Z0, Z5, Z28;           \
	fma     Z1, Z5, Z29;           \
	fma     Z2, Z5, Z30;           \
	fma     Z3, Z5, Z31;           \
	ADDQ    $(6*asz), SI;          \
	ADDQ    R8, DI

#define ZZERO \
	VPXORD Z8, Z8, Z8;    \
	VPXORD Z9, Z9, Z9;    \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	VPXORD Z18, Z18, Z18; \
	VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; \
	VPXORD Z21, Z21, Z21; \
	VPXORD Z22, Z22, Z22; \
	VPXORD Z23, Z23, Z23; \
	VPXORD Z24, Z24, Z24; \
	VPXORD Z25, Z25, Z25; \
	VPXORD Z26, Z26, Z26; \
	VPXORD Z27, Z27, Z27; \
	VPXORD Z28, Z28, Z28; \
	VPXORD Z29, Z29, Z29; \
	VPXORD Z30, Z30, Z30; \
	VPXORD Z31, Z31, Z31

#define ZSCALE(mul) \
	mul Z0, Z8, Z8;   \
	mul Z0, Z9, Z9;   \
	mul Z0, Z10, Z10; \
	mul Z0, Z11, Z11; \
	mul Z0, Z12, Z12; \
	mul Z0, Z13, Z13; \
	mul Z0, Z14, Z14; \
	mul Z0, Z15, Z15; \
	mul Z0, Z16, Z16; \
	mul Z0, Z17, Z17; \
	mul Z0, Z18, Z18; \
	mul Z0, Z19, Z19; \
	mul Z0, Z20, Z20; \
	mul Z0, Z21, Z21; \
	mul Z0, Z22, Z22; \
	mul Z0, Z23, Z23; \
	mul Z0, Z24, Z24; \
	mul Z0, Z25, Z25; \
	mul Z0, Z26, Z26; \
	mul Z0, Z27, Z27; \
	mul Z0, Z28, Z28; \
	mul Z0, Z29, Z29; \
	mul Z0, Z30, Z30; \
	mul Z0, Z31, Z31

// ZROW stores one row: C = acc + beta*C, beta in Z1.
#define ZROW(fma, r0, r1, r2, r3) \
	fma     (DX), Z1, r0;    \
	fma     64(DX), Z1, r1;  \
	fma     128(DX), Z1, r2; \
	fma     192(DX), Z1, r3; \
	VMOVUPS r0, (DX);        \
	VMOVUPS r1, 64(DX);      \
	VMOVUPS r2, 128(DX);     \
	VMOVUPS r3, 192(DX);     \
	ADDQ    R9, DX

#define ZROW0(r0, r1, r2, r3) \
	VMOVUPS r0, (DX);    \
	VMOVUPS r1, 64(DX);  \
	VMOVUPS r2, 128(DX); \
	VMOVUPS r3, 192(DX); \
	ADDQ    R9, DX

// ZBODY is the whole kernel; shift converts element strides to bytes.
#define ZBODY(bcast, fma, mul, asz, shift, alphaoff, betaoff, loadoff) \
	MOVQ kc+0(FP), CX;        \
	MOVQ a+8(FP), SI;         \
	MOVQ b+16(FP), DI;        \
	MOVQ ldb+24(FP), R8;      \
	SHLQ $shift, R8;          \
	MOVQ c+32(FP), DX;        \
	MOVQ ldc+40(FP), R9;      \
	SHLQ $shift, R9;          \
	ZZERO;                    \
	MOVQ CX, BX;              \
	SHRQ $2, BX;              \
	ANDQ $3, CX;              \
	TESTQ BX, BX;             \
	JZ   tail;                \
loop4:                        \
	ZSTEP(bcast, fma, asz);   \
	ZSTEP(bcast, fma, asz);   \
	ZSTEP(bcast, fma, asz);   \
	ZSTEP(bcast, fma, asz);   \
	DECQ BX;                  \
	JNZ  loop4;               \
tail:                         \
	TESTQ CX, CX;             \
	JZ    done;               \
loop1:                        \
	ZSTEP(bcast, fma, asz);   \
	DECQ CX;                  \
	JNZ  loop1;               \
done:                         \
	bcast alphaoff(FP), Z0;   \
	ZSCALE(mul);              \
	MOVQ  loadoff(FP), AX;    \
	TESTQ AX, AX;             \
	JZ    store0;             \
	bcast betaoff(FP), Z1;    \
	ZROW(fma, Z8, Z9, Z10, Z11);   \
	ZROW(fma, Z12, Z13, Z14, Z15); \
	ZROW(fma, Z16, Z17, Z18, Z19); \
	ZROW(fma, Z20, Z21, Z22, Z23); \
	ZROW(fma, Z24, Z25, Z26, Z27); \
	ZROW(fma, Z28, Z29, Z30, Z31); \
	VZEROUPPER;               \
	RET;                      \
store0:                       \
	ZROW0(Z8, Z9, Z10, Z11);  \
	ZROW0(Z12, Z13, Z14, Z15);\
	ZROW0(Z16, Z17, Z18, Z19);\
	ZROW0(Z20, Z21, Z22, Z23);\
	ZROW0(Z24, Z25, Z26, Z27);\
	ZROW0(Z28, Z29, Z30, Z31);\
	VZEROUPPER;               \
	RET

// func sgemmAVX512(kc int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, loadC int)
TEXT ·sgemmAVX512(SB), NOSPLIT, $0-64
	ZBODY(VBROADCASTSS, VFMADD231PS, VMULPS, 4, 2, alpha+48, beta+52, loadC+56)

// func dgemmAVX512(kc int, a, b *float64, ldb int, c *float64, ldc int, alpha, beta float64, loadC int)
TEXT ·dgemmAVX512(SB), NOSPLIT, $0-72
	ZBODY(VBROADCASTSD, VFMADD231PD, VMULPD, 8, 3, alpha+48, beta+56, loadC+64)
