/* SPDX-License-Identifier: MIT */
/*
 * Typed entries: the codec layer over appends and readers, and the
 * fixed-layout struct codec.
 *
 * Owns nothing but the tag: every typed entry's payload is an 8-byte tag
 * (type_id, version; little-endian) followed by the codec's bytes. The
 * tag and, for fixed-layout codecs, the length are checked before the
 * codec sees any byte, so a decoder never runs on another type's bytes.
 *
 * Normal path: append_value encodes behind the tag into a stack buffer
 * of LOGSTORE_CODEC_INLINE_BYTES and appends it with logstore_log_append;
 * a value that does not fit is encoded again into the calling thread's
 * big-value buffer, grown to the size the codec asked for (a malloc only
 * when it grows; freed at thread exit). entry_view hands out a pointer into
 * the entry's payload: zero-copy, as the entry itself.
 *
 * Failure modes: a tag or length mismatch is LOGSTORE_ETYPE with both
 * sides in logstore_error_detail(); an encoder or decoder error passes
 * through with the codec named in the detail.
 */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(LOGSTORE_CODEC_TAG_BYTES % LS_RECORD_ALIGN == 0,
	       "values after the tag stay 8-byte aligned");
_Static_assert(LS_RECORD_HEADER_BYTES % LS_RECORD_ALIGN == 0,
	       "payloads start 8-byte aligned");

static int struct_encode(const struct logstore_codec *codec, const void *value,
			 void *buf, size_t cap, size_t *len)
{
	*len = codec->fixed_bytes;
	if (cap < codec->fixed_bytes)
		return -ENOSPC;
	memcpy(buf, value, codec->fixed_bytes);
	return 0;
}

static int struct_decode(const struct logstore_codec *codec, const void *data,
			 size_t len, void *value)
{
	LOGSTORE_ASSERT(len == codec->fixed_bytes); /* checked by the caller */
	memcpy(value, data, len);
	return 0;
}

void logstore_codec_init_struct(struct logstore_codec *codec, uint32_t type_id,
				uint32_t version, size_t size)
{
	memset(codec, 0, sizeof(*codec));
	codec->type_id = type_id;
	codec->version = version;
	codec->fixed_bytes = size;
	codec->encode = struct_encode;
	codec->decode = struct_decode;
}

static int codec_check(const struct logstore_codec *codec)
{
	if (!codec || !codec->encode || !codec->decode)
		return ls_error(-EINVAL,
				"codec with encode and decode required");
	return 0;
}

/* Tag and encode into buf; *len is the whole payload. */
static int encode_tagged(const struct logstore_codec *codec, const void *value,
			 uint8_t *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	ls_put_u32(buf, codec->type_id);
	ls_put_u32(buf + 4, codec->version);
	int rc = codec->encode(codec, value, buf + LOGSTORE_CODEC_TAG_BYTES,
			       cap - LOGSTORE_CODEC_TAG_BYTES, &n);
	*len = LOGSTORE_CODEC_TAG_BYTES + n;
	if (rc == -ENOSPC)
		return rc;
	if (rc)
		return ls_error(
		    rc,
		    "codec type %" PRIu32 " version %" PRIu32 ": encode: %s",
		    codec->type_id, codec->version, logstore_strerror(rc));
	if (n > cap - LOGSTORE_CODEC_TAG_BYTES ||
	    (codec->fixed_bytes && n != codec->fixed_bytes))
		return ls_error(-EINVAL,
				"codec type %" PRIu32 ": encode produced %zu "
				"bytes (room %zu, fixed %zu)",
				codec->type_id, n,
				cap - LOGSTORE_CODEC_TAG_BYTES,
				codec->fixed_bytes);
	return 0;
}

/*
 * Values too big for the stack are encoded into a buffer of the calling
 * thread's, kept between appends (so appends of big values do not
 * allocate once it is large enough) and freed when the thread exits.
 */
struct big_buf {
	uint8_t *data;
	size_t cap;
};

static pthread_key_t big_key;
static pthread_once_t big_once = PTHREAD_ONCE_INIT;
static int big_key_rc;

static void big_free(void *p)
{
	struct big_buf *b = p;
	free(b->data);
	free(b);
}

static void big_key_init(void)
{
	big_key_rc = pthread_key_create(&big_key, big_free);
}

static int big_buffer(size_t len, uint8_t **out)
{
	pthread_once(&big_once, big_key_init);
	if (big_key_rc)
		return ls_error(-big_key_rc, "pthread_key_create: %s",
				strerror(big_key_rc));
	struct big_buf *b = pthread_getspecific(big_key);
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || pthread_setspecific(big_key, b) != 0) {
			free(b);
			return ls_error(-ENOMEM, "out of memory");
		}
	}
	if (b->cap < len) {
		uint8_t *data = malloc(len);
		if (!data)
			return ls_error(-ENOMEM, "out of memory");
		free(b->data);
		b->data = data;
		b->cap = len;
	}
	*out = b->data;
	return 0;
}

int logstore_log_append_value(logstore_log *log,
			      const struct logstore_codec *codec,
			      const void *value, int durability, uint64_t *seq,
			      int64_t *time_ns)
{
	uint8_t inline_buf[LOGSTORE_CODEC_INLINE_BYTES];
	size_t len = 0;
	int rc = codec_check(codec);
	if (rc)
		return rc;
	rc = encode_tagged(codec, value, inline_buf, sizeof(inline_buf), &len);
	if (rc == 0)
		return logstore_log_append(log, inline_buf, len, durability,
					   seq, time_ns);
	if (rc != -ENOSPC)
		return rc;
	if (len > LOGSTORE_BATCH_BYTES_MAX)
		return ls_error(LOGSTORE_ETOOBIG, "value of %zu bytes", len);
	uint8_t *buf = NULL;
	if ((rc = big_buffer(len, &buf)) != 0)
		return rc;
	size_t cap = len;
	rc = encode_tagged(codec, value, buf, cap, &len);
	if (rc == -ENOSPC)
		rc = ls_error(-EINVAL,
			      "codec type %" PRIu32 ": asked for %zu bytes, "
			      "then for more",
			      codec->type_id, cap);
	if (!rc)
		rc = logstore_log_append(log, buf, len, durability, seq,
					 time_ns);
	return rc;
}

int logstore_entry_tag(const struct logstore_entry *entry, uint32_t *type_id,
		       uint32_t *version)
{
	if (!entry || (entry->len && !entry->data))
		return ls_error(-EINVAL, "entry is required");
	if (entry->len < LOGSTORE_CODEC_TAG_BYTES)
		return ls_error(LOGSTORE_ETYPE,
				"entry seq %" PRIu64 ": %zu bytes, shorter "
				"than a type tag",
				entry->seq, entry->len);
	if (type_id)
		*type_id = ls_get_u32(entry->data);
	if (version)
		*version = ls_get_u32((const uint8_t *)entry->data + 4);
	return 0;
}

/* The tag and length checks every typed read starts with. */
static int entry_matches(const struct logstore_entry *entry,
			 const struct logstore_codec *codec)
{
	uint32_t type_id, version;
	int rc = logstore_entry_tag(entry, &type_id, &version);
	if (rc)
		return rc;
	if (type_id != codec->type_id || version != codec->version)
		return ls_error(
		    LOGSTORE_ETYPE,
		    "entry seq %" PRIu64 ": type %" PRIu32 " version %" PRIu32
		    ", codec reads type %" PRIu32 " version %" PRIu32,
		    entry->seq, type_id, version, codec->type_id,
		    codec->version);
	size_t n = entry->len - LOGSTORE_CODEC_TAG_BYTES;
	if (codec->fixed_bytes && n != codec->fixed_bytes)
		return ls_error(LOGSTORE_ETYPE,
				"entry seq %" PRIu64 ": value of %zu bytes, "
				"codec type %" PRIu32 " reads %zu",
				entry->seq, n, codec->type_id,
				codec->fixed_bytes);
	return 0;
}

int logstore_entry_decode(const struct logstore_entry *entry,
			  const struct logstore_codec *codec, void *value)
{
	int rc = codec_check(codec);
	if (!rc)
		rc = entry_matches(entry, codec);
	if (rc)
		return rc;
	const uint8_t *p = (const uint8_t *)entry->data;
	rc = codec->decode(codec, p + LOGSTORE_CODEC_TAG_BYTES,
			   entry->len - LOGSTORE_CODEC_TAG_BYTES, value);
	if (rc)
		return ls_error(rc,
				"entry seq %" PRIu64 ": codec type %" PRIu32
				" version %" PRIu32 ": decode: %s",
				entry->seq, codec->type_id, codec->version,
				logstore_strerror(rc));
	return 0;
}

int logstore_entry_view(const struct logstore_entry *entry,
			const struct logstore_codec *codec, const void **value)
{
	if (!codec || codec->fixed_bytes == 0 || !value)
		return ls_error(-EINVAL, "a fixed-layout codec is required");
	int rc = entry_matches(entry, codec);
	if (rc)
		return rc;
	const uint8_t *p = (const uint8_t *)entry->data;
	if ((uintptr_t)(p + LOGSTORE_CODEC_TAG_BYTES) % LS_RECORD_ALIGN != 0)
		return ls_error(-EINVAL,
				"entry seq %" PRIu64 ": payload not 8-byte "
				"aligned (a copy?): decode it instead",
				entry->seq);
	*value = p + LOGSTORE_CODEC_TAG_BYTES;
	return 0;
}

int logstore_reader_next_value(logstore_reader *reader,
			       const struct logstore_codec *codec, void *value,
			       struct logstore_entry *entry)
{
	struct logstore_entry e;
	int rc = logstore_reader_next(reader, &e);
	if (rc)
		return rc;
	if (entry)
		*entry = e;
	return logstore_entry_decode(&e, codec, value);
}
