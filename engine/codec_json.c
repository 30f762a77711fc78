/* SPDX-License-Identifier: MIT */
/*
 * The JSON codec (include/logstore_json.h), built as its own library so
 * that the core does not depend on Jansson.
 *
 * Encode: the value (a json_t, or the application's value turned into
 * one by type->to_json) is written with json_dumpb(JSON_COMPACT) straight
 * into the buffer logstore_log_append_value offers; json_dumpb returns
 * the size it needs when the buffer is too small, which becomes -ENOSPC
 * and a second call with a buffer of that size. Decode: json_loadb on the
 * payload (no copy of the bytes first), then type->from_json if set.
 * Failure modes: a value Jansson cannot dump is -EINVAL; a payload that
 * does not parse is LOGSTORE_ETYPE; an error of from_json passes through.
 * Jansson's references are released on every path.
 */
#include "logstore_json.h"

#include <errno.h>
#include <string.h>

static int json_encode(const struct logstore_codec *codec, const void *value,
		       void *buf, size_t cap, size_t *len)
{
	const struct logstore_json_type *type = codec->ctx;
	json_t *json =
	    type ? type->to_json(value, type->type_ctx) : (json_t *)value;
	if (!json)
		return -EINVAL;
	size_t n = json_dumpb(json, buf, cap, JSON_COMPACT | JSON_ENCODE_ANY);
	if (type)
		json_decref(json);
	if (n == 0)
		return -EINVAL; /* Jansson could not encode it */
	*len = n;
	return n > cap ? -ENOSPC : 0;
}

static int json_decode(const struct logstore_codec *codec, const void *data,
		       size_t len, void *value)
{
	const struct logstore_json_type *type = codec->ctx;
	json_error_t err;
	json_t *json = json_loadb(data, len, JSON_DECODE_ANY, &err);
	if (!json)
		return LOGSTORE_ETYPE;
	if (!type) {
		*(json_t **)value = json;
		return 0;
	}
	int rc = type->from_json(json, value, type->type_ctx);
	json_decref(json);
	return rc;
}

void logstore_json_codec_init(struct logstore_codec *codec, uint32_t type_id,
			      uint32_t version,
			      const struct logstore_json_type *type)
{
	memset(codec, 0, sizeof(*codec));
	codec->type_id = type_id;
	codec->version = version;
	codec->encode = json_encode;
	codec->decode = json_decode;
	codec->ctx = (void *)type;
}
