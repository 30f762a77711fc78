/* SPDX-License-Identifier: MIT */
/*
 * Typed entries with the JSON codec (logstore_json, through Jansson):
 * an application type converted to and from JSON, plain json_t values
 * beside it in the same log, and entries told apart by their tag. Run:
 * codec_json DIR (a new or empty log directory). Exits 0 when every
 * check holds; built and run by ctest.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <logstore_json.h>

/* The application's type. */
struct reading {
	char sensor[32];
	double celsius;
	int64_t at_ms;
};

enum { READING_TYPE = 10, EVENT_TYPE = 11, READINGS = 100 };

static json_t *reading_to_json(const void *value, void *ctx)
{
	const struct reading *r = value;
	(void)ctx;
	return json_pack("{s:s, s:f, s:I}", "sensor", r->sensor, "celsius",
			 r->celsius, "at_ms", (json_int_t)r->at_ms);
}

static int reading_from_json(const json_t *json, void *value, void *ctx)
{
	struct reading *r = value;
	const char *sensor;
	json_int_t at_ms;
	(void)ctx;
	if (json_unpack((json_t *)json, "{s:s, s:F, s:I}", "sensor", &sensor,
			"celsius", &r->celsius, "at_ms", &at_ms) != 0)
		return LOGSTORE_ETYPE;
	snprintf(r->sensor, sizeof(r->sensor), "%s", sensor);
	r->at_ms = at_ms;
	return 0;
}

static int check(int ok, const char *what)
{
	if (!ok)
		fprintf(stderr, "codec_json: FAILED: %s (%s)\n", what,
			logstore_error_detail());
	return ok ? 0 : 1;
}

/*
 * A value larger than the codec's stack buffer (the -ENOSPC path reruns
 * json_dumpb into a buffer of the size it asked for), and an entry with
 * the events' tag whose bytes are not JSON: LOGSTORE_ETYPE, not a crash.
 */
static int big_and_garbage(logstore_log *log, const struct logstore_codec *c)
{
	json_t *big = json_array(), *back = NULL;
	for (int i = 0; i < 3000; i++)
		json_array_append_new(big, json_integer(i * 7));
	uint64_t seq;
	int bad =
	    check(logstore_log_append_value(log, c, big, 0, &seq, NULL) == 0,
		  "append a big value");
	uint8_t garbage[8 + 9];
	memcpy(garbage, "\x0b\0\0\0\x01\0\0\0{\"i\": ,]}", sizeof(garbage));
	bad += check(logstore_log_append(log, garbage, sizeof(garbage), 0, NULL,
					 NULL) == 0,
		     "append garbage");
	struct logstore_start start = {.kind = LOGSTORE_START_SEQ, .seq = seq};
	logstore_reader *r;
	struct logstore_entry e;
	bad += check(logstore_reader_open(log, &start, &r) == 0, "reader");
	if (bad)
		return bad;
	bad += check(logstore_reader_next_value(r, c, &back, &e) == 0 &&
			 e.len > LOGSTORE_CODEC_INLINE_BYTES &&
			 json_equal(big, back),
		     "big value read back");
	json_decref(back);
	back = NULL;
	bad += check(logstore_reader_next_value(r, c, &back, &e) ==
			     LOGSTORE_ETYPE &&
			 back == NULL,
		     "garbage is ETYPE");
	logstore_reader_close(r);
	json_decref(big);
	return bad;
}

int main(int argc, char **argv)
{
	static const struct logstore_json_type reading_type = {
	    reading_to_json, reading_from_json, NULL};
	struct logstore_codec readings, events;
	logstore_log *log;
	logstore_reader *reader;
	struct logstore_entry entry;
	int bad = 0;

	if (argc != 2)
		return 2;
	logstore_json_codec_init(&readings, READING_TYPE, 1, &reading_type);
	logstore_json_codec_init(&events, EVENT_TYPE, 1, NULL);
	if (logstore_log_open(argv[1], NULL, &log) != 0)
		return check(0, "open");
	for (int i = 0; i < READINGS && !bad; i++) {
		struct reading r = {.celsius = 20.5 + i, .at_ms = 1000 * i};
		snprintf(r.sensor, sizeof(r.sensor), "sensor-\"%d\"", i % 3);
		bad += check(logstore_log_append_value(log, &readings, &r,
						       LOGSTORE_BUFFERED, NULL,
						       NULL) == 0,
			     "append reading");
		if (i % 10 == 0) {
			json_t *ev =
			    json_pack("{s:s, s:i}", "event", "tick", "i", i);
			bad += check(logstore_log_append_value(
					 log, &events, ev, LOGSTORE_BUFFERED,
					 NULL, NULL) == 0,
				     "append event");
			json_decref(ev);
		}
	}
	bad += check(logstore_log_sync(log) == 0, "sync");

	/* Read everything back, choosing the codec by each entry's tag. */
	int seen_readings = 0, seen_events = 0;
	bad += check(logstore_reader_open(log, NULL, &reader) == 0, "reader");
	while (!bad && logstore_reader_next(reader, &entry) == 0) {
		uint32_t type;
		bad +=
		    check(logstore_entry_tag(&entry, &type, NULL) == 0, "tag");
		if (!bad && type == READING_TYPE) {
			struct reading r;
			int i = seen_readings++;
			char want[32];
			snprintf(want, sizeof(want), "sensor-\"%d\"", i % 3);
			bad += check(
			    logstore_entry_decode(&entry, &readings, &r) == 0 &&
				strcmp(r.sensor, want) == 0 &&
				r.celsius == 20.5 + i && r.at_ms == 1000 * i,
			    "reading read back");
		} else if (!bad && type == EVENT_TYPE) {
			json_t *ev = NULL;
			bad += check(
			    logstore_entry_decode(&entry, &events, &ev) == 0 &&
				json_integer_value(json_object_get(ev, "i")) ==
				    seen_events * 10,
			    "event read back");
			json_decref(ev);
			seen_events++;
		}
	}
	logstore_reader_close(reader);
	bad += check(seen_readings == READINGS && seen_events == READINGS / 10,
		     "every value read back");

	/* An event read as a reading is refused by its tag. */
	struct reading r;
	bad += check(logstore_reader_open(log, NULL, &reader) == 0, "reader");
	logstore_reader_next(reader, &entry); /* reading 0 */
	int rc = logstore_reader_next_value(reader, &readings, &r, &entry);
	bad += check(rc == LOGSTORE_ETYPE, "an event is not a reading");
	logstore_reader_close(reader);
	bad += check(big_and_garbage(log, &events) == 0, "big and garbage");
	bad += check(logstore_log_close(log) == 0, "close");
	if (!bad)
		printf("codec_json: %d readings and %d events: OK\n",
		       seen_readings, seen_events);
	return bad ? 1 : 0;
}
