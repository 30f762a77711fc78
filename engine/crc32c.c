/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C for records, headers, seals and the time index.
 *
 * Four paths, the best the CPU has chosen once, all giving the same
 * results (tests/test_crc32c.c selects each one the CPU has in turn and
 * checks it against a bit-at-a-time reference for every length up to 4200
 * and random ones up to 1 MiB):
 *
 * 1. Portable: a byte-wise table.
 * 2. SSE4.2: one serial chain of 8-byte crc32 instructions. The
 *    instruction has a latency of 3 cycles and a throughput of 1, so one
 *    chain uses a third of what the CPU can do. Buffers shorter than
 *    CRC_3WAY_MIN (record headers, seals) always take this loop.
 * 3. SSE4.2 + PCLMULQDQ, for longer buffers: the buffer is cut into three
 *    adjacent blocks of B bytes that three independent chains checksum in
 *    the same loop, keeping the crc32 unit busy. The chains are then
 *    joined, because the CRC is linear over GF(2):
 *
 *      crc(c, A|B|C) = crc(c, A) * x^(16B) ^ crc(0, B) * x^(8B) ^ crc(0, C)
 *
 *    (all mod P, the state before the final inversion). Multiplying a
 *    32-bit state a by x^n mod P is one carry-less multiply and one crc32:
 *    with reflected operands clmul(a, k) is a*k*x as a 64-bit message,
 *    and crc32_u64(0, v) is v*x^32 mod P, so crc32_u64(0, clmul(a, k)) is
 *    a*k*x^33 mod P; with k = x^(n-33) mod P that is a*x^n mod P. The
 *    constants x^(64j-33) for every block size B = 8j up to CRC_3WAY_MAX
 *    bytes are computed at init, so B follows len and a 4 KiB record
 *    is one pass of three blocks plus a short tail.
 * 4. AVX-512 + VPCLMULQDQ, for buffers of at least CRC_FOLD_MIN bytes:
 *    the buffer is read front to back, 64 bytes per register, and each
 *    128-bit lane is folded forward onto the lane D bytes later with two
 *    carry-less multiplies, lane(x) * x^(8D) = lo * x^(8D+64) + hi *
 *    x^(8D); with clmul's extra x and the 32-bit constant placed in the
 *    low half, the constants are x^(8D+31) for lo and x^(8D-33) for hi
 *    (crc_shift[D/8 + 1] and crc_shift[D/8]). Four registers fold 256
 *    bytes per step, are folded onto one, that one takes the rest 64
 *    bytes at a time, its lanes are folded onto the last, whose 16 bytes
 *    crc32 finishes, then the tail under 64 bytes. Why: path 3's three
 *    blocks are three short memory streams per record, which the
 *    hardware prefetcher follows badly when a scan reads records that
 *    are not in the cache (about 10 GB/s on the project's machine, where
 *    one front-to-back stream reads at over 20 GB/s), and one chain of
 *    crc32 on a 100 B record waits on 16 dependent instructions. This
 *    path reads one stream and has no long dependency chain: on the
 *    project's machine (AMD EPYC, 2026-11-24) a 4 KiB record takes
 *    about 75 ns cached instead of 150, and a 128-byte one 4 ns instead
 *    of 8 when records are checked back to back.
 *
 * Init builds the tables and reads the CPU features. It runs from a
 * constructor when the library loads; a call that comes earlier (from
 * another constructor) goes through pthread_once, so each call only
 * pays an acquire load of crc_ready.
 */
#include "crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define LS_HAVE_SSE42_PATH 1
#endif

#define CRC_POLY 0x82F63B78u /* CRC-32C, reflected */

/*
 * The three-way path starts at 256 bytes: below that the join (about 15
 * cycles) eats most of the gain, and headers keep the plain loop.
 */
#define CRC_3WAY_MIN 256u
/*
 * Largest block per chain, in 8-byte words: 512 (4 KiB) makes the join
 * cost under 1% of a pass and keeps the constant table at 4 KiB.
 */
#define CRC_3WAY_WORDS_MAX 512u
_Static_assert(CRC_3WAY_MIN >= 3 * 8, "a pass needs one word per chain");
/*
 * The folding path starts at one 64-byte register; below that the
 * headers and seals (60 bytes) keep the serial loop, which is as fast
 * for them.
 */
#define CRC_FOLD_MIN 64u
/* Fold distances in bytes: one step of four registers, then of one. */
#define CRC_FOLD_STEP_BYTES 256u
#define CRC_FOLD_REG_BYTES 64u
_Static_assert(CRC_FOLD_STEP_BYTES / 8 + 1 <= 2 * CRC_3WAY_WORDS_MAX,
	       "fold constants come from crc_shift");

static uint32_t crc_table[256];
/* crc_shift[j] = x^(64j - 33) mod P, reflected; index 0 is unused. */
static uint32_t crc_shift[2 * CRC_3WAY_WORDS_MAX + 1];
/*
 * Fold constants for path 4, one 128-bit lane {x^(8D+31), x^(8D-33)} per
 * register lane: fold_k[D] moves every lane D bytes on; fold_lanes moves
 * lanes 0-2 of a register onto lane 3 (48, 32, 16 bytes; lane 3 zero).
 */
enum { FOLD_256, FOLD_192, FOLD_128, FOLD_64, FOLD_LANES, FOLD_COUNT };
static _Alignas(64) uint64_t fold_k[FOLD_COUNT][8];
static enum ls_crc32c_path crc_path;
static enum ls_crc32c_path crc_path_best;
static atomic_bool crc_ready;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Multiplies the reflected polynomial c by x^8 mod P. */
static uint32_t mul_x8(uint32_t c)
{
	return crc_table[c & 0xff] ^ (c >> 8);
}

/* Lane l of fold constant k moves 128 bits on by dist bytes (0: clears). */
static void fold_const(uint64_t *k, unsigned l, unsigned dist)
{
	k[2 * l] = dist ? crc_shift[dist / 8 + 1] : 0;
	k[2 * l + 1] = dist ? crc_shift[dist / 8] : 0;
}

static void fold_init(void)
{
	for (unsigned l = 0; l < 4; l++) {
		fold_const(fold_k[FOLD_256], l, 256);
		fold_const(fold_k[FOLD_192], l, 192);
		fold_const(fold_k[FOLD_128], l, 128);
		fold_const(fold_k[FOLD_64], l, 64);
		fold_const(fold_k[FOLD_LANES], l, 48 - 16 * l);
	}
}

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC_POLY : c >> 1;
		crc_table[i] = c;
	}
	/* Reflected: bit 31 is x^0, bit 0 is x^31. */
	crc_shift[1] = 1u;
	for (uint32_t j = 2; j <= 2 * CRC_3WAY_WORDS_MAX; j++) {
		uint32_t c = crc_shift[j - 1];
		for (int k = 0; k < 8; k++)
			c = mul_x8(c);
		crc_shift[j] = c;
	}
	fold_init();
	crc_path_best = LS_CRC32C_PATH_SW;
#ifdef LS_HAVE_SSE42_PATH
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc_path_best = LS_CRC32C_PATH_SSE42;
	if (crc_path_best == LS_CRC32C_PATH_SSE42 &&
	    __builtin_cpu_supports("pclmul"))
		crc_path_best = LS_CRC32C_PATH_CLMUL;
	if (crc_path_best == LS_CRC32C_PATH_CLMUL &&
	    __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("vpclmulqdq"))
		crc_path_best = LS_CRC32C_PATH_FOLD;
#endif
	crc_path = crc_path_best;
	atomic_store_explicit(&crc_ready, true, memory_order_release);
}

__attribute__((constructor)) static void crc_init_at_load(void)
{
	pthread_once(&crc_once, crc_init);
}

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t len)
{
	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#ifdef LS_HAVE_SSE42_PATH
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t c, const uint8_t *p, size_t len)
{
	uint64_t c64 = c;
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c64 = _mm_crc32_u64(c64, v);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len--)
		c = _mm_crc32_u8(c, *p++);
	return c;
}

/* Returns a * x^(64j) mod P as a 64-bit value for crc32_u64(0, .). */
__attribute__((target("sse4.2,pclmul"))) static inline __m128i
shift_words(uint64_t a, uint32_t j)
{
	return _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)a),
				    _mm_cvtsi32_si128((int)crc_shift[j]), 0);
}

/*
 * One pass over three adjacent blocks of words 8-byte words each,
 * starting from state c; returns the state after all 24 * words bytes.
 */
__attribute__((target("sse4.2,pclmul"))) static uint32_t
crc_3way(uint32_t c, const uint8_t *p, uint32_t words)
{
	const size_t block = (size_t)words * 8;
	uint64_t c0 = c, c1 = 0, c2 = 0;

	for (size_t i = 0; i < block; i += 8) {
		uint64_t v0, v1, v2;
		memcpy(&v0, p + i, 8);
		memcpy(&v1, p + block + i, 8);
		memcpy(&v2, p + 2 * block + i, 8);
		c0 = _mm_crc32_u64(c0, v0);
		c1 = _mm_crc32_u64(c1, v1);
		c2 = _mm_crc32_u64(c2, v2);
	}
	__m128i m =
	    _mm_xor_si128(shift_words(c0, 2 * words), shift_words(c1, words));
	uint64_t joined = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(m));
	return (uint32_t)(joined ^ c2);
}

__attribute__((target("sse4.2,pclmul"))) static uint32_t
crc_clmul(uint32_t c, const uint8_t *p, size_t len)
{
	while (len >= CRC_3WAY_MIN) {
		size_t words = len / 24;
		if (words > CRC_3WAY_WORDS_MAX)
			words = CRC_3WAY_WORDS_MAX;
		c = crc_3way(c, p, (uint32_t)words);
		p += 24 * words;
		len -= 24 * words;
	}
	return crc_hw(c, p, len);
}

#define CRC_FOLD_TARGET "avx512f,avx512vl,vpclmulqdq,sse4.2,pclmul"

/* Each lane of x times its lane of constant k: both halves, xored. */
__attribute__((target(CRC_FOLD_TARGET))) static inline __m512i
fold_mul(__m512i x, __m512i k)
{
	return _mm512_xor_si512(_mm512_clmulepi64_epi128(x, k, 0x00),
				_mm512_clmulepi64_epi128(x, k, 0x11));
}

/* fold_mul(x, k) ^ d: x moved onto the data d it was folded onto. */
__attribute__((target(CRC_FOLD_TARGET))) static inline __m512i
fold_onto(__m512i x, __m512i k, __m512i d)
{
	/* 0x96: three-way xor. */
	return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
					 _mm512_clmulepi64_epi128(x, k, 0x11),
					 d, 0x96);
}

__attribute__((target(CRC_FOLD_TARGET))) static inline __m512i
fold_load(const uint8_t *p)
{
	return _mm512_loadu_si512((const void *)p);
}

/*
 * The state c (before the final inversion) after len >= CRC_FOLD_MIN
 * bytes at p: see path 4 in the module comment.
 */
__attribute__((target(CRC_FOLD_TARGET))) static uint32_t
crc_fold(uint32_t c, const uint8_t *p, size_t len)
{
	__m512i x = _mm512_xor_si512(
	    fold_load(p), _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)c)));
	p += CRC_FOLD_REG_BYTES;
	len -= CRC_FOLD_REG_BYTES;
	if (len >= CRC_FOLD_STEP_BYTES - CRC_FOLD_REG_BYTES) {
		__m512i x1 = fold_load(p), x2 = fold_load(p + 64),
			x3 = fold_load(p + 128);
		const __m512i k = fold_load((const uint8_t *)fold_k[FOLD_256]);
		p += 192;
		len -= 192;
		for (; len >= CRC_FOLD_STEP_BYTES;
		     p += CRC_FOLD_STEP_BYTES, len -= CRC_FOLD_STEP_BYTES) {
			x = fold_onto(x, k, fold_load(p));
			x1 = fold_onto(x1, k, fold_load(p + 64));
			x2 = fold_onto(x2, k, fold_load(p + 128));
			x3 = fold_onto(x3, k, fold_load(p + 192));
		}
		x = _mm512_ternarylogic_epi64(
		    fold_mul(x, fold_load((const uint8_t *)fold_k[FOLD_192])),
		    fold_mul(x1, fold_load((const uint8_t *)fold_k[FOLD_128])),
		    fold_onto(x2, fold_load((const uint8_t *)fold_k[FOLD_64]),
			      x3),
		    0x96);
	}
	const __m512i k = fold_load((const uint8_t *)fold_k[FOLD_64]);
	for (; len >= CRC_FOLD_REG_BYTES;
	     p += CRC_FOLD_REG_BYTES, len -= CRC_FOLD_REG_BYTES)
		x = fold_onto(x, k, fold_load(p));
	/* Lanes 0-2 onto lane 3, then crc32 over those 16 bytes. */
	__m512i s = fold_mul(x, fold_load((const uint8_t *)fold_k[FOLD_LANES]));
	__m128i v = _mm_ternarylogic_epi64(_mm512_extracti32x4_epi32(s, 0),
					   _mm512_extracti32x4_epi32(s, 1),
					   _mm512_extracti32x4_epi32(s, 2),
					   0x96);
	v = _mm_ternarylogic_epi64(v, _mm512_extracti32x4_epi32(s, 3),
				   _mm512_extracti32x4_epi32(x, 3), 0x96);
	uint64_t c64 = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(v));
	c64 = _mm_crc32_u64(c64, (uint64_t)_mm_extract_epi64(v, 1));
	return crc_hw((uint32_t)c64, p, len);
}
#endif

uint32_t ls_crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (!atomic_load_explicit(&crc_ready, memory_order_acquire))
		pthread_once(&crc_once, crc_init);
	uint32_t c = ~crc;
#ifdef LS_HAVE_SSE42_PATH
	if (crc_path == LS_CRC32C_PATH_FOLD && len >= CRC_FOLD_MIN)
		return ~crc_fold(c, buf, len);
	if (crc_path >= LS_CRC32C_PATH_CLMUL && len >= CRC_3WAY_MIN)
		return ~crc_clmul(c, buf, len);
	if (crc_path != LS_CRC32C_PATH_SW)
		return ~crc_hw(c, buf, len);
#endif
	return ~crc_sw(c, buf, len);
}

bool ls_crc32c_path_select(enum ls_crc32c_path path)
{
	pthread_once(&crc_once, crc_init);
	if (path > crc_path_best)
		return false;
	crc_path = path;
	return true;
}
