/* SPDX-License-Identifier: MIT */
/*
 * Goal: ls_crc32c gives the CRC-32C that engine/format.h defines for every
 * starting crc, buffer, length and alignment, on each of its paths (byte
 * table, serial crc32, three chains joined with carry-less multiplies,
 * AVX-512 folding) that this CPU has, whichever branch a length takes
 * inside a path, and from many threads at once.
 *
 * Method: select each path the CPU has in turn (ls_crc32c_path_select)
 * and compare against a bit-at-a-time reference written here (polynomial
 * 0x82F63B78, init and final xor ~0) for every length 0..4200 at each
 * start offset 0..7, for random lengths up to 1 MiB with random data,
 * offsets and starting crcs, and for chained calls split at random
 * points; plus the standard check value. The best path is selected again
 * after each test.
 */
#include "helpers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"

#define LEN_EXHAUSTIVE 4200u
#define LEN_RANDOM_MAX (1u << 20)
#define RANDOM_ROUNDS 200

/* Bitwise CRC-32C continuing from crc, like ls_crc32c. */
static uint32_t crc_ref(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = ~crc;

	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

/* Select the best path this CPU has, as the engine runs. */
static void select_best(void)
{
	int path = LS_CRC32C_PATH_COUNT - 1;
	while (!ls_crc32c_path_select((enum ls_crc32c_path)path))
		path--;
}

static uint64_t rng_next(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ull;
	uint64_t z = *state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void test_check_value(void **state)
{
	(void)state;
	assert_int_equal(ls_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc_ref(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(ls_crc32c(0, "", 0), 0);
	assert_int_equal(ls_crc32c(0x12345678u, "", 0), 0x12345678u);
}

/* Every length across the path thresholds, at every 8-byte alignment. */
static void every_length(const unsigned char *buf)
{
	for (size_t off = 0; off < 8; off++) {
		/* Reference CRCs of every prefix, built incrementally. */
		uint32_t want = crc_ref(0xdeadbeefu, buf + off, 0);
		for (size_t len = 0; len <= LEN_EXHAUSTIVE; len++) {
			assert_int_equal(ls_crc32c(0xdeadbeefu, buf + off, len),
					 want);
			if (len < LEN_EXHAUSTIVE)
				want = crc_ref(want, buf + off + len, 1);
		}
	}
	/* Same from crc 0, for every length, at offset 3. */
	uint32_t want = 0;
	for (size_t len = 0; len <= LEN_EXHAUSTIVE; len++) {
		assert_int_equal(ls_crc32c(0, buf + 3, len), want);
		if (len < LEN_EXHAUSTIVE)
			want = crc_ref(want, buf + 3 + len, 1);
	}
}

static void test_every_length(void **state)
{
	size_t size = LEN_EXHAUSTIVE + 8;
	unsigned char *buf = malloc(size);
	int paths = 0;

	(void)state;
	assert_non_null(buf);
	t_fill(buf, size, 7);
	for (int path = 0; path < LS_CRC32C_PATH_COUNT; path++) {
		if (!ls_crc32c_path_select((enum ls_crc32c_path)path))
			break;
		every_length(buf);
		paths++;
	}
	select_best();
	assert_true(paths >= 1); /* the byte table is always there */
	free(buf);
}

/* Random lengths up to 1 MiB, random data, offsets and starting crcs. */
static void random_lengths(unsigned char *buf)
{
	uint64_t rng = 42;

	for (int round = 0; round < RANDOM_ROUNDS; round++) {
		size_t len = rng_next(&rng) % (LEN_RANDOM_MAX + 1);
		size_t off = rng_next(&rng) % 64;
		uint32_t crc = (uint32_t)rng_next(&rng);

		/* Half the rounds near a 4 KiB record, where scans live. */
		if (round % 2)
			len = 4096 + rng_next(&rng) % 256;
		t_fill(buf + off, len, rng_next(&rng));
		uint32_t want = crc_ref(crc, buf + off, len);
		assert_int_equal(ls_crc32c(crc, buf + off, len), want);
		/* Chained at a random split point equals the whole. */
		size_t split = len ? rng_next(&rng) % (len + 1) : 0;
		uint32_t part = ls_crc32c(crc, buf + off, split);
		assert_int_equal(
		    ls_crc32c(part, buf + off + split, len - split), want);
	}
	/* All-zero and all-ones buffers, whose CRCs are easy to get wrong. */
	for (int fill = 0; fill < 2; fill++) {
		size_t len = LEN_RANDOM_MAX - 5;
		memset(buf, fill ? 0xff : 0, len);
		assert_int_equal(ls_crc32c(0, buf, len), crc_ref(0, buf, len));
		assert_int_equal(ls_crc32c(~0u, buf, len),
				 crc_ref(~0u, buf, len));
	}
}

static void test_random(void **state)
{
	unsigned char *buf = malloc(LEN_RANDOM_MAX + 64);

	(void)state;
	assert_non_null(buf);
	for (int path = 0; path < LS_CRC32C_PATH_COUNT; path++) {
		if (!ls_crc32c_path_select((enum ls_crc32c_path)path))
			break;
		random_lengths(buf);
	}
	select_best();
	free(buf);
}

#define THREADS 4

struct worker {
	const unsigned char *buf;
	size_t len;
	uint32_t want;
	int bad;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 200; i++)
		if (ls_crc32c(0, w->buf, w->len) != w->want)
			w->bad++;
	return NULL;
}

/* Concurrent callers all get the right answer. */
static void test_threads(void **state)
{
	static unsigned char buf[8192];
	struct worker w[THREADS];
	pthread_t tid[THREADS];

	(void)state;
	t_fill(buf, sizeof(buf), 9);
	for (int i = 0; i < THREADS; i++) {
		w[i].buf = buf + i;
		w[i].len = sizeof(buf) - 8 * (size_t)i - 4;
		w[i].want = crc_ref(0, w[i].buf, w[i].len);
		w[i].bad = 0;
		assert_int_equal(
		    pthread_create(&tid[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(w[i].bad, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_value),
	    cmocka_unit_test(test_every_length),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
