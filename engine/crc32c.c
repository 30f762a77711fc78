/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C for records, headers, seals and the time index.
 *
 * Three paths, chosen once from the CPU's features, all giving the same
 * results (tests/test_crc32c.c checks them against a bit-at-a-time
 * reference for every length up to 4200 and random ones up to 1 MiB):
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
#include <nmmintrin.h>
#include <wmmintrin.h>
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

enum crc_path {
	CRC_PATH_SW,	/* byte-wise table */
	CRC_PATH_SSE42, /* serial crc32 */
	CRC_PATH_CLMUL, /* three crc32 chains joined with pclmulqdq */
};

static uint32_t crc_table[256];
/* crc_shift[j] = x^(64j - 33) mod P, reflected; index 0 is unused. */
static uint32_t crc_shift[2 * CRC_3WAY_WORDS_MAX + 1];
static enum crc_path crc_path;
static atomic_bool crc_ready;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Multiplies the reflected polynomial c by x^8 mod P. */
static uint32_t mul_x8(uint32_t c)
{
	return crc_table[c & 0xff] ^ (c >> 8);
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
	crc_path = CRC_PATH_SW;
#ifdef LS_HAVE_SSE42_PATH
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc_path = __builtin_cpu_supports("pclmul") ? CRC_PATH_CLMUL
							    : CRC_PATH_SSE42;
#endif
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
#endif

uint32_t ls_crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (!atomic_load_explicit(&crc_ready, memory_order_acquire))
		pthread_once(&crc_once, crc_init);
	uint32_t c = ~crc;
#ifdef LS_HAVE_SSE42_PATH
	if (crc_path == CRC_PATH_CLMUL && len >= CRC_3WAY_MIN)
		return ~crc_clmul(c, buf, len);
	if (crc_path != CRC_PATH_SW)
		return ~crc_hw(c, buf, len);
#endif
	return ~crc_sw(c, buf, len);
}
