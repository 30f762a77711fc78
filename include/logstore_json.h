/* SPDX-License-Identifier: MIT */
/*
 * logstore_json: a codec for typed entries (see "Typed entries" in
 * logstore.h) that stores values as JSON text, through the Jansson
 * library (Debian: libjansson-dev).
 *
 * Why a second header and library, when logstore.h is otherwise the
 * whole API: this one needs <jansson.h>, and the core library must not.
 * An application that never stores JSON links only liburing; one that
 * does links logstore_json (CMake: logstore::logstore_json; pkg-config:
 * logstore-json), which brings Jansson along.
 *
 * Two ways to use it:
 *  - type NULL: the values are Jansson values. logstore_log_append_value
 *    takes a `json_t *` (not stolen); logstore_entry_decode writes a new
 *    reference into a `json_t *` the caller passes by address and must
 *    json_decref().
 *  - type set: the values are the application's own type, converted to
 *    and from a json_t by type->to_json and type->from_json.
 * The encoding is compact JSON (JSON_COMPACT); a payload that does not
 * parse decodes as LOGSTORE_ETYPE.
 */
#ifndef LOGSTORE_JSON_H
#define LOGSTORE_JSON_H

#include <jansson.h>

#include "logstore.h"

#ifdef __cplusplus
extern "C" {
#endif

struct logstore_json_type {
	/* A new reference to value as JSON, or NULL if it cannot be. */
	json_t *(*to_json)(const void *value, void *type_ctx);
	/* Fill value from json. Returns 0 or a negative code. */
	int (*from_json)(const json_t *json, void *value, void *type_ctx);
	void *type_ctx; /* passed to both */
};

/*
 * Fill codec as a JSON codec with the given tag.
 * type: NULL for json_t values; else kept by pointer (codec->ctx), so it
 * must outlive the codec. Thread-safe as Jansson is (its values are not
 * shared between threads by this codec).
 */
LOGSTORE_API void logstore_json_codec_init(struct logstore_codec *codec,
					   uint32_t type_id, uint32_t version,
					   const struct logstore_json_type *type);

#ifdef __cplusplus
}
#endif
#endif /* LOGSTORE_JSON_H */
