// Code adapted from the Go standard library
// (crypto/internal/fips140/sha256/sha256block_amd64.s, blockSHANI), which is
// Copyright 2017 The Go Authors, BSD-style license (full text in LICENSE.golang beside this file). Changes: legacy SSE
// encodings instead of VEX (no AVX requirement), an unduplicated K table.

//go:build amd64 && !purego

#include "textflag.h"

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func blockSHANI(state *[8]uint32, p []byte)
// Requires: SHA, SSE2, SSSE3, SSE4.1
TEXT ·blockSHANI(SB), NOSPLIT, $0-32
	MOVQ    state+0(FP), DI
	MOVQ    p_base+8(FP), SI
	MOVQ    p_len+16(FP), DX
	SHRQ    $0x06, DX
	SHLQ    $0x06, DX
	CMPQ    DX, $0x00
	JEQ     done
	ADDQ    SI, DX
	MOVOU (DI), X1
	MOVOU 16(DI), X2
	PSHUFD  $0xb1, X1, X1
	PSHUFD  $0x1b, X2, X2
	MOVO X1, X7
	PALIGNR $0x08, X2, X1
	PBLENDW $0xf0, X7, X2
	MOVOU sha_flip<>+0(SB), X8
	LEAQ    sha_k<>+0(SB), AX

roundLoop:
	// save hash values for addition after rounds
	MOVO X1, X9
	MOVO X2, X10

	// do rounds 0-59
	MOVOU     (SI), X0
	PSHUFB      X8, X0
	MOVO     X0, X3
	PADDD       0(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	MOVOU     16(SI), X0
	PSHUFB      X8, X0
	MOVO     X0, X4
	PADDD       16(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X4, X3
	MOVOU     32(SI), X0
	PSHUFB      X8, X0
	MOVO     X0, X5
	PADDD       32(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X5, X4
	MOVOU     48(SI), X0
	PSHUFB      X8, X0
	MOVO     X0, X6
	PADDD       48(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X6, X7
	PALIGNR     $0x04, X5, X7
	PADDD       X7, X3
	SHA256MSG2  X6, X3
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X6, X5
	MOVO     X3, X0
	PADDD       64(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X3, X7
	PALIGNR     $0x04, X6, X7
	PADDD       X7, X4
	SHA256MSG2  X3, X4
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X3, X6
	MOVO     X4, X0
	PADDD       80(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X4, X7
	PALIGNR     $0x04, X3, X7
	PADDD       X7, X5
	SHA256MSG2  X4, X5
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X4, X3
	MOVO     X5, X0
	PADDD       96(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X5, X7
	PALIGNR     $0x04, X4, X7
	PADDD       X7, X6
	SHA256MSG2  X5, X6
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X5, X4
	MOVO     X6, X0
	PADDD       112(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X6, X7
	PALIGNR     $0x04, X5, X7
	PADDD       X7, X3
	SHA256MSG2  X6, X3
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X6, X5
	MOVO     X3, X0
	PADDD       128(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X3, X7
	PALIGNR     $0x04, X6, X7
	PADDD       X7, X4
	SHA256MSG2  X3, X4
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X3, X6
	MOVO     X4, X0
	PADDD       144(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X4, X7
	PALIGNR     $0x04, X3, X7
	PADDD       X7, X5
	SHA256MSG2  X4, X5
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X4, X3
	MOVO     X5, X0
	PADDD       160(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X5, X7
	PALIGNR     $0x04, X4, X7
	PADDD       X7, X6
	SHA256MSG2  X5, X6
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X5, X4
	MOVO     X6, X0
	PADDD       176(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X6, X7
	PALIGNR     $0x04, X5, X7
	PADDD       X7, X3
	SHA256MSG2  X6, X3
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X6, X5
	MOVO     X3, X0
	PADDD       192(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X3, X7
	PALIGNR     $0x04, X6, X7
	PADDD       X7, X4
	SHA256MSG2  X3, X4
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X3, X6
	MOVO     X4, X0
	PADDD       208(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X4, X7
	PALIGNR     $0x04, X3, X7
	PADDD       X7, X5
	SHA256MSG2  X4, X5
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	MOVO     X5, X0
	PADDD       224(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X5, X7
	PALIGNR     $0x04, X4, X7
	PADDD       X7, X6
	SHA256MSG2  X5, X6
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1

	// do rounds 60-63
	MOVO     X6, X0
	PADDD       240(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1

	// add current hash values with previously saved
	PADDD X9, X1
	PADDD X10, X2

	// advance data pointer; loop until buffer empty
	ADDQ $0x40, SI
	CMPQ DX, SI
	JNE  roundLoop

	// write hash values back in the correct order
	PSHUFD  $0x1b, X1, X1
	PSHUFD  $0xb1, X2, X2
	MOVO X1, X7
	PBLENDW $0xf0, X2, X1
	PALIGNR $0x08, X7, X2
	MOVOU X1, (DI)
	MOVOU X2, 16(DI)

done:
	RET

DATA sha_flip<>+0(SB)/8, $0x0405060700010203
DATA sha_flip<>+8(SB)/8, $0x0c0d0e0f08090a0b
GLOBL sha_flip<>(SB), RODATA|NOPTR, $16

DATA sha_k<>+0(SB)/4, $0x428a2f98
DATA sha_k<>+4(SB)/4, $0x71374491
DATA sha_k<>+8(SB)/4, $0xb5c0fbcf
DATA sha_k<>+12(SB)/4, $0xe9b5dba5
DATA sha_k<>+16(SB)/4, $0x3956c25b
DATA sha_k<>+20(SB)/4, $0x59f111f1
DATA sha_k<>+24(SB)/4, $0x923f82a4
DATA sha_k<>+28(SB)/4, $0xab1c5ed5
DATA sha_k<>+32(SB)/4, $0xd807aa98
DATA sha_k<>+36(SB)/4, $0x12835b01
DATA sha_k<>+40(SB)/4, $0x243185be
DATA sha_k<>+44(SB)/4, $0x550c7dc3
DATA sha_k<>+48(SB)/4, $0x72be5d74
DATA sha_k<>+52(SB)/4, $0x80deb1fe
DATA sha_k<>+56(SB)/4, $0x9bdc06a7
DATA sha_k<>+60(SB)/4, $0xc19bf174
DATA sha_k<>+64(SB)/4, $0xe49b69c1
DATA sha_k<>+68(SB)/4, $0xefbe4786
DATA sha_k<>+72(SB)/4, $0x0fc19dc6
DATA sha_k<>+76(SB)/4, $0x240ca1cc
DATA sha_k<>+80(SB)/4, $0x2de92c6f
DATA sha_k<>+84(SB)/4, $0x4a7484aa
DATA sha_k<>+88(SB)/4, $0x5cb0a9dc
DATA sha_k<>+92(SB)/4, $0x76f988da
DATA sha_k<>+96(SB)/4, $0x983e5152
DATA sha_k<>+100(SB)/4, $0xa831c66d
DATA sha_k<>+104(SB)/4, $0xb00327c8
DATA sha_k<>+108(SB)/4, $0xbf597fc7
DATA sha_k<>+112(SB)/4, $0xc6e00bf3
DATA sha_k<>+116(SB)/4, $0xd5a79147
DATA sha_k<>+120(SB)/4, $0x06ca6351
DATA sha_k<>+124(SB)/4, $0x14292967
DATA sha_k<>+128(SB)/4, $0x27b70a85
DATA sha_k<>+132(SB)/4, $0x2e1b2138
DATA sha_k<>+136(SB)/4, $0x4d2c6dfc
DATA sha_k<>+140(SB)/4, $0x53380d13
DATA sha_k<>+144(SB)/4, $0x650a7354
DATA sha_k<>+148(SB)/4, $0x766a0abb
DATA sha_k<>+152(SB)/4, $0x81c2c92e
DATA sha_k<>+156(SB)/4, $0x92722c85
DATA sha_k<>+160(SB)/4, $0xa2bfe8a1
DATA sha_k<>+164(SB)/4, $0xa81a664b
DATA sha_k<>+168(SB)/4, $0xc24b8b70
DATA sha_k<>+172(SB)/4, $0xc76c51a3
DATA sha_k<>+176(SB)/4, $0xd192e819
DATA sha_k<>+180(SB)/4, $0xd6990624
DATA sha_k<>+184(SB)/4, $0xf40e3585
DATA sha_k<>+188(SB)/4, $0x106aa070
DATA sha_k<>+192(SB)/4, $0x19a4c116
DATA sha_k<>+196(SB)/4, $0x1e376c08
DATA sha_k<>+200(SB)/4, $0x2748774c
DATA sha_k<>+204(SB)/4, $0x34b0bcb5
DATA sha_k<>+208(SB)/4, $0x391c0cb3
DATA sha_k<>+212(SB)/4, $0x4ed8aa4a
DATA sha_k<>+216(SB)/4, $0x5b9cca4f
DATA sha_k<>+220(SB)/4, $0x682e6ff3
DATA sha_k<>+224(SB)/4, $0x748f82ee
DATA sha_k<>+228(SB)/4, $0x78a5636f
DATA sha_k<>+232(SB)/4, $0x84c87814
DATA sha_k<>+236(SB)/4, $0x8cc70208
DATA sha_k<>+240(SB)/4, $0x90befffa
DATA sha_k<>+244(SB)/4, $0xa4506ceb
DATA sha_k<>+248(SB)/4, $0xbef9a3f7
DATA sha_k<>+252(SB)/4, $0xc67178f2
GLOBL sha_k<>(SB), RODATA|NOPTR, $256

// func hashHeaderSHANI(out *[32]byte, mid *[8]uint32, tail *[64]byte, iv *[8]uint32)
// SHA256d of an 80-byte header from the midstate of its first 64 bytes:
// compresses tail (header bytes 64..80 plus padding) into mid, then hashes
// the 32-byte digest from iv with its fixed padding, without leaving the
// registers. Requires: SHA, SSE2, SSSE3, SSE4.1
TEXT ·hashHeaderSHANI(SB), NOSPLIT, $0-32
	MOVQ    mid+8(FP), DI
	MOVQ    tail+16(FP), SI
	MOVOU   sha_flip<>+0(SB), X8
	LEAQ    sha_k<>+0(SB), AX
	MOVOU   (DI), X1
	MOVOU   16(DI), X2
	PSHUFD  $0xb1, X1, X1
	PSHUFD  $0x1b, X2, X2
	MOVO    X1, X7
	PALIGNR $0x08, X2, X1
	PBLENDW $0xf0, X7, X2
	MOVO    X1, X9
	MOVO    X2, X10
	// do rounds 0-59
	MOVOU     (SI), X0
	PSHUFB      X8, X0
	MOVO     X0, X3
	PADDD       0(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	MOVOU     16(SI), X0
	PSHUFB      X8, X0
	MOVO     X0, X4
	PADDD       16(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X4, X3
	MOVOU     32(SI), X0
	PSHUFB      X8, X0
	MOVO     X0, X5
	PADDD       32(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X5, X4
	MOVOU     48(SI), X0
	PSHUFB      X8, X0
	MOVO     X0, X6
	PADDD       48(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X6, X7
	PALIGNR     $0x04, X5, X7
	PADDD       X7, X3
	SHA256MSG2  X6, X3
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X6, X5
	MOVO     X3, X0
	PADDD       64(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X3, X7
	PALIGNR     $0x04, X6, X7
	PADDD       X7, X4
	SHA256MSG2  X3, X4
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X3, X6
	MOVO     X4, X0
	PADDD       80(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X4, X7
	PALIGNR     $0x04, X3, X7
	PADDD       X7, X5
	SHA256MSG2  X4, X5
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X4, X3
	MOVO     X5, X0
	PADDD       96(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X5, X7
	PALIGNR     $0x04, X4, X7
	PADDD       X7, X6
	SHA256MSG2  X5, X6
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X5, X4
	MOVO     X6, X0
	PADDD       112(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X6, X7
	PALIGNR     $0x04, X5, X7
	PADDD       X7, X3
	SHA256MSG2  X6, X3
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X6, X5
	MOVO     X3, X0
	PADDD       128(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X3, X7
	PALIGNR     $0x04, X6, X7
	PADDD       X7, X4
	SHA256MSG2  X3, X4
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X3, X6
	MOVO     X4, X0
	PADDD       144(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X4, X7
	PALIGNR     $0x04, X3, X7
	PADDD       X7, X5
	SHA256MSG2  X4, X5
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X4, X3
	MOVO     X5, X0
	PADDD       160(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X5, X7
	PALIGNR     $0x04, X4, X7
	PADDD       X7, X6
	SHA256MSG2  X5, X6
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X5, X4
	MOVO     X6, X0
	PADDD       176(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X6, X7
	PALIGNR     $0x04, X5, X7
	PADDD       X7, X3
	SHA256MSG2  X6, X3
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X6, X5
	MOVO     X3, X0
	PADDD       192(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X3, X7
	PALIGNR     $0x04, X6, X7
	PADDD       X7, X4
	SHA256MSG2  X3, X4
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X3, X6
	MOVO     X4, X0
	PADDD       208(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X4, X7
	PALIGNR     $0x04, X3, X7
	PADDD       X7, X5
	SHA256MSG2  X4, X5
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	MOVO     X5, X0
	PADDD       224(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X5, X7
	PALIGNR     $0x04, X4, X7
	PADDD       X7, X6
	SHA256MSG2  X5, X6
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1

	// do rounds 60-63
	MOVO     X6, X0
	PADDD       240(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1

	PADDD   X9, X1
	PADDD   X10, X2
	PSHUFD  $0x1b, X1, X1
	PSHUFD  $0xb1, X2, X2
	MOVO    X1, X7
	PBLENDW $0xf0, X2, X1
	PALIGNR $0x08, X7, X2

	// X1 = H0..H3, X2 = H4..H7: the second block's message words 0..7
	MOVO    X1, X3
	MOVO    X2, X4
	MOVOU   sha_pad32<>+0(SB), X5
	MOVOU   sha_pad32<>+16(SB), X6
	MOVQ    iv+24(FP), DI
	MOVOU   (DI), X1
	MOVOU   16(DI), X2
	PSHUFD  $0xb1, X1, X1
	PSHUFD  $0x1b, X2, X2
	MOVO    X1, X7
	PALIGNR $0x08, X2, X1
	PBLENDW $0xf0, X7, X2
	MOVO    X1, X9
	MOVO    X2, X10
	// do rounds 0-59
	MOVO        X3, X0
	PADDD       0(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	MOVO        X4, X0
	PADDD       16(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X4, X3
	MOVO        X5, X0
	PADDD       32(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X5, X4
	MOVO        X6, X0
	PADDD       48(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X6, X7
	PALIGNR     $0x04, X5, X7
	PADDD       X7, X3
	SHA256MSG2  X6, X3
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X6, X5
	MOVO     X3, X0
	PADDD       64(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X3, X7
	PALIGNR     $0x04, X6, X7
	PADDD       X7, X4
	SHA256MSG2  X3, X4
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X3, X6
	MOVO     X4, X0
	PADDD       80(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X4, X7
	PALIGNR     $0x04, X3, X7
	PADDD       X7, X5
	SHA256MSG2  X4, X5
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X4, X3
	MOVO     X5, X0
	PADDD       96(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X5, X7
	PALIGNR     $0x04, X4, X7
	PADDD       X7, X6
	SHA256MSG2  X5, X6
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X5, X4
	MOVO     X6, X0
	PADDD       112(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X6, X7
	PALIGNR     $0x04, X5, X7
	PADDD       X7, X3
	SHA256MSG2  X6, X3
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X6, X5
	MOVO     X3, X0
	PADDD       128(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X3, X7
	PALIGNR     $0x04, X6, X7
	PADDD       X7, X4
	SHA256MSG2  X3, X4
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X3, X6
	MOVO     X4, X0
	PADDD       144(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X4, X7
	PALIGNR     $0x04, X3, X7
	PADDD       X7, X5
	SHA256MSG2  X4, X5
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X4, X3
	MOVO     X5, X0
	PADDD       160(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X5, X7
	PALIGNR     $0x04, X4, X7
	PADDD       X7, X6
	SHA256MSG2  X5, X6
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X5, X4
	MOVO     X6, X0
	PADDD       176(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X6, X7
	PALIGNR     $0x04, X5, X7
	PADDD       X7, X3
	SHA256MSG2  X6, X3
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X6, X5
	MOVO     X3, X0
	PADDD       192(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X3, X7
	PALIGNR     $0x04, X6, X7
	PADDD       X7, X4
	SHA256MSG2  X3, X4
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	SHA256MSG1  X3, X6
	MOVO     X4, X0
	PADDD       208(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X4, X7
	PALIGNR     $0x04, X3, X7
	PADDD       X7, X5
	SHA256MSG2  X4, X5
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1
	MOVO     X5, X0
	PADDD       224(AX), X0
	SHA256RNDS2 X0, X1, X2
	MOVO     X5, X7
	PALIGNR     $0x04, X4, X7
	PADDD       X7, X6
	SHA256MSG2  X5, X6
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1

	// do rounds 60-63
	MOVO     X6, X0
	PADDD       240(AX), X0
	SHA256RNDS2 X0, X1, X2
	PSHUFD      $0x0e, X0, X0
	SHA256RNDS2 X0, X2, X1

	PADDD   X9, X1
	PADDD   X10, X2
	PSHUFD  $0x1b, X1, X1
	PSHUFD  $0xb1, X2, X2
	MOVO    X1, X7
	PBLENDW $0xf0, X2, X1
	PALIGNR $0x08, X7, X2

	PSHUFB  X8, X1
	PSHUFB  X8, X2
	MOVQ    out+0(FP), DI
	MOVOU   X1, (DI)
	MOVOU   X2, 16(DI)
	RET

// message words 8..15 of a 32-byte message's padding block: 0x80000000, 0..., 256
DATA sha_pad32<>+0(SB)/4, $0x80000000
DATA sha_pad32<>+4(SB)/4, $0
DATA sha_pad32<>+8(SB)/4, $0
DATA sha_pad32<>+12(SB)/4, $0
DATA sha_pad32<>+16(SB)/4, $0
DATA sha_pad32<>+20(SB)/4, $0
DATA sha_pad32<>+24(SB)/4, $0
DATA sha_pad32<>+28(SB)/4, $0x00000100
GLOBL sha_pad32<>(SB), RODATA|NOPTR, $32
