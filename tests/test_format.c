/* SPDX-License-Identifier: MIT */
/*
 * Goal: the bytes on disk are the ones engine/format.h specifies: the
 * CRC-32C definition, segment file names, the segment header, records
 * (layout, checksum, salt, 8-byte alignment, zero padding, the batch
 * flag), and the seal and time index of a sealed segment.
 *
 * Method: append through the API with a fake clock so every time and
 * sequence number is known, then read the segment files with pread and
 * decode them with format.h's helpers, independently of the engine's
 * decoder. ls_crc32c is checked against the standard check value and a
 * bit-at-a-time reference implementation written here.
 */
#include "helpers.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "format.h"

#define SEG16 16384u

/* Bitwise CRC-32C: reflected polynomial 0x82F63B78, init and xor ~0. */
static uint32_t crc_ref(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

static void test_crc32c(void **state)
{
	static unsigned char buf[4096 + 64];

	(void)state;
	assert_int_equal(ls_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc_ref("123456789", 9), 0xE3069283u);
	assert_int_equal(ls_crc32c(0, "", 0), 0);
	/* Chaining at every split point equals the whole. */
	for (size_t k = 0; k <= 9; k++)
		assert_int_equal(ls_crc32c(ls_crc32c(0, "123456789", k),
					   "123456789" + k, 9 - k),
				 0xE3069283u);
	/* Every length and alignment the fast paths may treat apart. */
	t_fill(buf, sizeof(buf), 3);
	for (size_t off = 0; off < 16; off++) {
		for (size_t len = 0; len < 300; len++)
			assert_int_equal(ls_crc32c(0, buf + off, len),
					 crc_ref(buf + off, len));
		assert_int_equal(ls_crc32c(0, buf + off, 4096),
				 crc_ref(buf + off, 4096));
		uint32_t part = ls_crc32c(0, buf + off, 1000 + off);

		assert_int_equal(
		    ls_crc32c(part, buf + 1000 + 2 * off, 3000 - off),
		    crc_ref(buf + off, 4000));
	}
}

struct hdr {
	unsigned char raw[64];
	uint32_t salt;
	uint64_t first_seq;
	int64_t first_time;
	uint64_t capacity;
	uint64_t index_offset;
	uint32_t index_capacity;
};

static void read_header(const char *path, struct hdr *h)
{
	assert_int_equal(t_read_at(path, h->raw, 64, 0), 0);
	assert_memory_equal(h->raw, ls_segment_magic, 8);
	assert_int_equal(ls_get_u32(h->raw + 8), LS_FORMAT_VERSION);
	assert_int_equal(ls_get_u32(h->raw + 12), LS_HEADER_BYTES);
	assert_int_equal(ls_get_u32(h->raw + 20), 0); /* flags */
	assert_int_equal(ls_get_u32(h->raw + 60), ls_crc32c(0, h->raw, 60));
	h->salt = ls_get_u32(h->raw + 16);
	h->first_seq = ls_get_u64(h->raw + 24);
	h->first_time = (int64_t)ls_get_u64(h->raw + 32);
	h->capacity = ls_get_u64(h->raw + 40);
	h->index_offset = ls_get_u64(h->raw + 48);
	h->index_capacity = ls_get_u32(h->raw + 56);
	assert_int_equal(h->capacity, (uint64_t)t_file_size(path));
	assert_int_equal(h->index_offset, ls_index_offset(h->capacity));
	assert_int_equal(h->index_capacity, ls_index_capacity(h->capacity));
}

/*
 * Walk the records of a segment file as format.h defines validity and
 * check them against model entries [first, first + count). Returns the
 * offset just past the last record; records[] gets their offsets.
 */
static uint64_t check_records(const char *path, const struct hdr *h,
			      const struct t_entries *model, size_t first,
			      size_t count, uint64_t *records)
{
	unsigned char *seg = malloc(h->capacity);
	uint64_t off = LS_HEADER_BYTES;

	assert_non_null(seg);
	assert_int_equal(t_read_at(path, seg, h->capacity, 0), 0);
	for (size_t i = 0; i < count; i++) {
		const struct t_entry *want = &model->v[first + i];
		const unsigned char *r = seg + off;
		uint32_t length = ls_get_u32(r + 4) & LS_RECORD_LENGTH_MASK;
		uint64_t bytes = ls_record_bytes(want->len);

		if (records)
			records[i] = off;
		assert_int_equal(off % LS_RECORD_ALIGN, 0);
		assert_true(off + bytes <= h->index_offset);
		assert_int_equal(length, want->len);
		assert_int_equal(ls_get_u64(r + 8), want->seq);
		assert_int_equal((int64_t)ls_get_u64(r + 16), want->time_ns);
		assert_int_equal(ls_get_u32(r + 24), h->salt);
		assert_int_equal(ls_get_u32(r + 28), 0);
		assert_int_equal(
		    ls_get_u32(r),
		    ls_crc32c(0, r + 4, LS_RECORD_HEADER_BYTES - 4 + length));
		if (want->len)
			assert_memory_equal(r + LS_RECORD_HEADER_BYTES,
					    want->data, want->len);
		for (uint64_t k = LS_RECORD_HEADER_BYTES + length; k < bytes;
		     k++)
			assert_int_equal(r[k], 0); /* padding */
		if (i == 0) {
			assert_int_equal(want->seq, h->first_seq);
			assert_int_equal(want->time_ns, h->first_time);
		}
		off += bytes;
	}
	free(seg);
	return off;
}

static void test_first_segment_layout(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	char names[4][64];
	unsigned char tail[512];
	struct hdr h;
	char *path;
	uint64_t end;

	assert_int_equal(t_seg_files(ctx->dir, names, 4), 0);
	t_append_data(log, &model, "hello", 5);
	assert_int_equal(t_seg_files(ctx->dir, names, 4), 1);
	assert_string_equal(names[0], "00000000000000000001.seg");
	assert_int_equal(strlen(names[0]),
			 LS_SEGMENT_NAME_DIGITS + strlen(LS_SEGMENT_SUFFIX));
	path = t_path(ctx->dir, names[0]);
	char *lock = t_path(ctx->dir, "LOCK");

	assert_true(t_file_exists(lock));
	free(lock);
	read_header(path, &h);
	assert_int_equal(h.first_seq, 1);
	assert_int_equal(h.first_time, T_TIME0);
	assert_int_equal(h.capacity, SEG16);

	/* Records of every length mod 8, back to back. */
	for (size_t len = 0; len < 40; len++) {
		t_clock_advance(&ctx->clock, 7);
		t_append(log, &model, len, len);
	}
	end = check_records(path, &h, &model, 0, model.n, NULL);
	/* Nothing after the last record; no seal on the active segment. */
	assert_int_equal(t_read_at(path, tail, sizeof(tail), end), 0);
	for (size_t i = 0; i < sizeof(tail); i++)
		assert_int_equal(tail[i], 0);
	assert_int_equal(t_read_at(path, tail, 64, LS_SEAL_OFFSET), 0);
	for (size_t i = 0; i < 64; i++)
		assert_int_equal(tail[i], 0);
	t_close(log);
	free(path);
	t_entries_free(&model);
}

static void test_sealed_segment_layout(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	char names[4][64];
	struct hdr h0, h1;
	uint64_t offs[16];
	unsigned char seal[64];
	char *p0, *p1;

	for (int i = 0; i < 10; i++) {
		t_append(log, &model, 1000, (uint64_t)i);
		t_clock_advance(&ctx->clock, 1000);
	}
	t_close(log);
	assert_int_equal(t_seg_files(ctx->dir, names, 4), 2);
	assert_string_equal(names[0], "00000000000000000001.seg");
	assert_string_equal(names[1], "00000000000000000008.seg");
	p0 = t_path(ctx->dir, names[0]);
	p1 = t_path(ctx->dir, names[1]);
	read_header(p0, &h0);
	read_header(p1, &h1);
	assert_int_equal(h1.first_seq, 8);
	assert_int_equal(h1.first_time, model.v[7].time_ns);
	assert_int_not_equal(h0.salt, h1.salt);
	uint64_t end = check_records(p0, &h0, &model, 0, 7, offs);

	check_records(p1, &h1, &model, 7, 3, NULL);

	/* The seal of the first segment. */
	assert_int_equal(t_read_at(p0, seal, 64, LS_SEAL_OFFSET), 0);
	assert_memory_equal(seal, ls_seal_magic, 8);
	assert_int_equal(ls_get_u32(seal + 8), h0.salt);
	assert_int_equal(ls_get_u64(seal + 16), 7);
	assert_int_equal((int64_t)ls_get_u64(seal + 24), model.v[6].time_ns);
	assert_int_equal(ls_get_u64(seal + 32), 7);
	assert_int_equal(ls_get_u64(seal + 40), end);
	assert_int_equal(ls_get_u64(seal + 52), 0);
	assert_int_equal(ls_get_u32(seal + 60), ls_crc32c(0, seal, 60));

	/* The index: the first record, then one per LS_INDEX_STRIDE. */
	uint32_t count = ls_get_u32(seal + 12);
	uint32_t want_at[16];
	uint32_t want = 0;

	for (int i = 0; i < 7; i++) {
		if (want == 0 ||
		    offs[i] >= offs[want_at[want - 1]] + LS_INDEX_STRIDE)
			want_at[want++] = (uint32_t)i;
	}
	assert_int_equal(count, want);
	assert_true(count <= h0.index_capacity);
	unsigned char *index = malloc(count * LS_INDEX_ENTRY_BYTES);

	assert_non_null(index);
	assert_int_equal(
	    t_read_at(p0, index, count * LS_INDEX_ENTRY_BYTES, h0.index_offset),
	    0);
	assert_int_equal(ls_get_u32(seal + 48),
			 ls_crc32c(0, index, count * LS_INDEX_ENTRY_BYTES));
	for (uint32_t k = 0; k < count; k++) {
		const unsigned char *ie = index + k * LS_INDEX_ENTRY_BYTES;
		uint32_t i = want_at[k];

		assert_int_equal((int64_t)ls_get_u64(ie), model.v[i].time_ns);
		assert_int_equal(ls_get_u32(ie + 8), offs[i]);
		assert_int_equal(ls_get_u32(ie + 12), i);
	}
	free(index);
	free(p0);
	free(p1);
	t_entries_free(&model);
}

static void test_batch_flag(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	struct logstore_batch_entry b[3] = {
	    {.data = "one", .len = 3},
	    {.data = "two!", .len = 4},
	    {.data = "three", .len = 5},
	};
	uint64_t offs[4];
	struct hdr h;
	char *path = t_path(ctx->dir, "00000000000000000001.seg");

	t_append_data(log, &model, "single", 6);
	t_assert_ok(logstore_log_append_batch(log, b, 3, 0));
	for (int i = 0; i < 3; i++)
		t_entries_push(&model, b[i].seq, b[i].time_ns, b[i].data,
			       b[i].len);
	read_header(path, &h);
	check_records(path, &h, &model, 0, 4, offs);
	for (int i = 0; i < 4; i++) {
		uint32_t flags;

		assert_int_equal(t_read_at(path, &flags, 4, offs[i] + 4), 0);
		assert_int_equal(flags & LS_RECORD_BATCH_MORE,
				 (i == 1 || i == 2) ? LS_RECORD_BATCH_MORE : 0);
	}
	t_close(log);
	free(path);
	t_entries_free(&model);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_crc32c),
	    T(test_first_segment_layout),
	    T(test_sealed_segment_layout),
	    T(test_batch_flag),
	};
	int skip = t_uring_available();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
