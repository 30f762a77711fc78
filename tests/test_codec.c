/* SPDX-License-Identifier: MIT */
/*
 * Goal: typed entries (engine/codec.c) write the tag format.h-style
 * (type_id, version, little-endian) before the value, read fixed-layout
 * values in place, and refuse with LOGSTORE_ETYPE, never misread, an
 * entry of another type, version or length.
 *
 * Method: append through logstore_log_append_value with the struct codec
 * and with a variable-length codec written here (including values larger
 * than the stack buffer, which take the malloc path), read back with
 * logstore_entry_view / logstore_entry_decode / logstore_reader_next_value,
 * and compare with what was written; check the payload bytes with
 * logstore_reader_next to see the tag itself; feed mismatching codecs
 * and check the code, the detail, and that the reader moved on.
 */
#include "helpers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

struct point {
	int64_t x;
	int64_t y;
	uint32_t id;
	uint32_t pad;
};

/* A variable-length codec: value is a struct blob, encoded as its bytes. */
struct blob {
	const uint8_t *data; /* encode: in */
	size_t len;
	uint8_t *out;	/* decode: out buffer */
	size_t out_cap; /* decode: its size */
	int fail_with;	/* encode: return this */
};

static int blob_encode(const struct logstore_codec *codec, const void *value,
		       void *buf, size_t cap, size_t *len)
{
	const struct blob *b = value;
	(void)codec;
	if (b->fail_with)
		return b->fail_with;
	*len = b->len;
	if (cap < b->len)
		return -ENOSPC;
	memcpy(buf, b->data, b->len);
	return 0;
}

static int blob_decode(const struct logstore_codec *codec, const void *data,
		       size_t len, void *value)
{
	struct blob *b = value;
	(void)codec;
	if (len > b->out_cap)
		return -ENOSPC;
	memcpy(b->out, data, len);
	b->len = len;
	return 0;
}

static void blob_codec(struct logstore_codec *c, uint32_t type, uint32_t v)
{
	memset(c, 0, sizeof(*c));
	c->type_id = type;
	c->version = v;
	c->encode = blob_encode;
	c->decode = blob_decode;
}

static logstore_reader *reader_at(logstore_log *log, uint64_t seq)
{
	struct logstore_start s = t_start_seq(seq);
	logstore_reader *r = NULL;
	t_assert_ok(logstore_reader_open(log, &s, &r));
	return r;
}

static void test_struct_in_place(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, 64 * 1024);
	struct logstore_codec codec;
	struct logstore_entry e;
	logstore_codec_init_struct(&codec, 0x01020304, 7, sizeof(struct point));
	for (uint32_t i = 0; i < 300; i++) { /* several segments */
		struct point p = {.x = i * 3, .y = -(int64_t)i, .id = i};
		uint64_t seq;
		t_assert_ok(logstore_log_append_value(
		    log, &codec, &p, LOGSTORE_DURABILITY_DEFAULT, &seq, NULL));
		assert_int_equal(seq, i + 1);
	}
	logstore_reader *r = reader_at(log, 1);
	for (uint32_t i = 0; i < 300; i++) {
		const struct point *p;
		t_assert_ok(logstore_reader_next(r, &e));
		/* The tag, as specified: type_id then version, LE. */
		assert_int_equal(e.len, 8 + sizeof(struct point));
		assert_int_equal(ls_get_u32(e.data), 0x01020304);
		assert_int_equal(ls_get_u32((const uint8_t *)e.data + 4), 7);
		t_assert_ok(logstore_entry_view(&e, &codec, (const void **)&p));
		assert_ptr_equal(p, (const uint8_t *)e.data + 8);
		assert_int_equal((uintptr_t)p % 8, 0);
		assert_int_equal(p->x, i * 3);
		assert_int_equal(p->y, -(int64_t)i);
		assert_int_equal(p->id, i);
	}
	assert_int_equal(logstore_reader_next(r, &e), LOGSTORE_END);
	logstore_reader_close(r);
	t_close(log);
}

static void test_mismatch_is_etype(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, 0);
	struct logstore_codec v1, v2, other, longer;
	struct logstore_entry e;
	struct point p = {.x = 1, .y = 2, .id = 3}, out;
	const void *view;
	logstore_codec_init_struct(&v1, 5, 1, sizeof(p));
	logstore_codec_init_struct(&v2, 5, 2, sizeof(p));
	logstore_codec_init_struct(&other, 6, 1, sizeof(p));
	logstore_codec_init_struct(&longer, 5, 1, sizeof(p) + 8);
	t_assert_ok(logstore_log_append_value(log, &v1, &p, 0, NULL, NULL));
	t_assert_ok(logstore_log_append(log, "abc", 3, 0, NULL, NULL));

	logstore_reader *r = reader_at(log, 1);
	t_assert_ok(logstore_reader_next(r, &e));
	assert_int_equal(logstore_entry_decode(&e, &v2, &out), LOGSTORE_ETYPE);
	assert_non_null(
	    strstr(logstore_error_detail(),
		   "type 5 version 1, codec reads type 5 version 2"));
	assert_int_equal(logstore_entry_view(&e, &other, &view),
			 LOGSTORE_ETYPE);
	assert_int_equal(logstore_entry_view(&e, &longer, &view),
			 LOGSTORE_ETYPE);
	assert_non_null(strstr(logstore_error_detail(), "value of 24 bytes"));
	t_assert_ok(logstore_entry_decode(&e, &v1, &out));
	assert_memory_equal(&out, &p, sizeof(p));
	/* Shorter than a tag. */
	t_assert_ok(logstore_reader_next(r, &e));
	assert_int_equal(logstore_entry_tag(&e, NULL, NULL), LOGSTORE_ETYPE);
	assert_int_equal(logstore_entry_decode(&e, &v1, &out), LOGSTORE_ETYPE);
	logstore_reader_close(r);

	/* reader_next_value moves past an entry it refuses. */
	r = reader_at(log, 1);
	assert_int_equal(logstore_reader_next_value(r, &v2, &out, &e),
			 LOGSTORE_ETYPE);
	assert_int_equal(e.seq, 1);
	assert_int_equal(logstore_reader_next_value(r, &v1, &out, &e),
			 LOGSTORE_ETYPE);
	assert_int_equal(e.seq, 2);
	assert_int_equal(logstore_reader_next_value(r, &v1, &out, NULL),
			 LOGSTORE_END);
	logstore_reader_close(r);
	assert_string_not_equal(logstore_strerror(LOGSTORE_ETYPE),
				"unknown logstore error");
	t_close(log);
}

static void test_view_needs_fixed_and_aligned(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, 0);
	struct logstore_codec fixed, blob;
	struct logstore_entry e;
	struct point p = {.x = 42}, out;
	const void *view;
	uint8_t copy[64];
	logstore_codec_init_struct(&fixed, 1, 1, sizeof(p));
	blob_codec(&blob, 1, 1);
	t_assert_ok(logstore_log_append_value(log, &fixed, &p, 0, NULL, NULL));
	/* A copy at an odd address: decode works, view refuses. */
	t_assert_ok(
	    logstore_log_last_entry(log, &e, copy + 1, sizeof(copy) - 1));
	assert_int_equal(logstore_entry_view(&e, &fixed, &view), -EINVAL);
	assert_int_equal(logstore_entry_view(&e, &blob, &view), -EINVAL);
	t_assert_ok(logstore_entry_decode(&e, &fixed, &out));
	assert_int_equal(out.x, 42);
	t_close(log);
}

static void test_large_value_and_encoder_errors(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, 0);
	struct logstore_codec codec, liar;
	struct logstore_entry e;
	size_t big = LOGSTORE_CODEC_INLINE_BYTES * 3 + 5;
	uint8_t *in = malloc(big), *out = malloc(big);
	assert_non_null(in);
	assert_non_null(out);
	t_fill(in, big, 9);
	blob_codec(&codec, 3, 1);
	struct blob small = {.data = in, .len = 100};
	struct blob large = {.data = in, .len = big};
	t_assert_ok(
	    logstore_log_append_value(log, &codec, &small, 0, NULL, NULL));
	t_assert_ok(
	    logstore_log_append_value(log, &codec, &large, 0, NULL, NULL));
	/* The thread's big-value buffer is reused for a smaller big value. */
	struct blob reused = {.data = in + 7, .len = big - 3000};
	t_assert_ok(
	    logstore_log_append_value(log, &codec, &reused, 0, NULL, NULL));
	/* An encoder error passes through, nothing is appended. */
	struct blob failing = {.fail_with = -EDOM};
	assert_int_equal(
	    logstore_log_append_value(log, &codec, &failing, 0, NULL, NULL),
	    -EDOM);
	assert_non_null(strstr(logstore_error_detail(), "encode"));
	/* A fixed codec whose encoder writes another length. */
	blob_codec(&liar, 3, 1);
	liar.fixed_bytes = 10;
	assert_int_equal(
	    logstore_log_append_value(log, &liar, &small, 0, NULL, NULL),
	    -EINVAL);
	/* Larger than any batch. */
	struct blob huge = {.data = NULL, .len = LOGSTORE_BATCH_BYTES_MAX + 1};
	assert_int_equal(
	    logstore_log_append_value(log, &codec, &huge, 0, NULL, NULL),
	    LOGSTORE_ETOOBIG);

	logstore_reader *r = reader_at(log, 1);
	struct blob got = {.out = out, .out_cap = big};
	t_assert_ok(logstore_reader_next_value(r, &codec, &got, &e));
	assert_int_equal(got.len, 100);
	assert_memory_equal(out, in, 100);
	t_assert_ok(logstore_reader_next_value(r, &codec, &got, &e));
	assert_int_equal(got.len, big);
	assert_memory_equal(out, in, big);
	t_assert_ok(logstore_reader_next_value(r, &codec, &got, &e));
	assert_int_equal(got.len, big - 3000);
	assert_memory_equal(out, in + 7, big - 3000);
	assert_int_equal(logstore_reader_next(r, &e), LOGSTORE_END);
	logstore_reader_close(r);
	/* A decoder error passes through with the codec named. */
	got.out_cap = 10;
	r = reader_at(log, 1);
	assert_int_equal(logstore_reader_next_value(r, &codec, &got, NULL),
			 -ENOSPC);
	assert_non_null(strstr(logstore_error_detail(), "decode"));
	logstore_reader_close(r);
	t_close(log);
	free(in);
	free(out);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_struct_in_place),
	    T(test_mismatch_is_etype),
	    T(test_view_needs_fixed_and_aligned),
	    T(test_large_value_and_encoder_errors),
	};
	int skip = t_uring_available();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
