/* SPDX-License-Identifier: MIT */
/*
 * Typed entries with the fixed-layout struct codec: append structs, read
 * them back in place (no copy), and see a reader of another layout
 * version refuse them. Run: codec_struct DIR (a new or empty log
 * directory). Exits 0 when every check holds; built and run by ctest.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <logstore.h>

/* The application's record; its layout is the format (version 1). */
struct trade {
	uint64_t order_id;
	int64_t price_cents;
	uint32_t quantity;
	uint32_t side; /* 0 buy, 1 sell */
};

enum { TRADE_TYPE = 1, TRADE_VERSION = 1, TRADES = 1000 };

static int check(int ok, const char *what)
{
	if (!ok)
		fprintf(stderr, "codec_struct: FAILED: %s (%s)\n", what,
			logstore_error_detail());
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct logstore_codec codec, codec_v2;
	logstore_log *log;
	logstore_reader *reader;
	struct logstore_entry entry;
	int bad = 0;

	if (argc != 2)
		return 2;
	logstore_codec_init_struct(&codec, TRADE_TYPE, TRADE_VERSION,
				   sizeof(struct trade));
	if (logstore_log_open(argv[1], NULL, &log) != 0)
		return check(0, "open");
	for (uint32_t i = 0; i < TRADES; i++) {
		struct trade t = {.order_id = 1000 + i,
				  .price_cents = 9999 - (int64_t)i,
				  .quantity = i % 7 + 1,
				  .side = i % 2};
		if (logstore_log_append_value(
			log, &codec, &t, LOGSTORE_BUFFERED, NULL, NULL) != 0)
			return check(0, "append_value");
	}
	bad += check(logstore_log_sync(log) == 0, "sync");

	/* Zero-copy: the struct is read where it lies in the mapping. */
	bad += check(logstore_reader_open(log, NULL, &reader) == 0, "reader");
	uint32_t n = 0;
	while (!bad && logstore_reader_next(reader, &entry) == 0) {
		const struct trade *t;
		bad += check(
		    logstore_entry_view(&entry, &codec, (const void **)&t) == 0,
		    "view");
		if (bad)
			break;
		bad += check((const char *)t == (const char *)entry.data +
						    LOGSTORE_CODEC_TAG_BYTES,
			     "view points into the entry, not a copy");
		bad += check(t->order_id == 1000 + n &&
				 t->price_cents == 9999 - (int64_t)n &&
				 t->quantity == n % 7 + 1 && t->side == n % 2,
			     "fields read back");
		n++;
	}
	bad += check(n == TRADES, "every trade read back");
	logstore_reader_close(reader);

	/* A reader built for layout version 2 must not misread version 1. */
	logstore_codec_init_struct(&codec_v2, TRADE_TYPE, 2,
				   sizeof(struct trade) + 8);
	bad += check(logstore_reader_open(log, NULL, &reader) == 0, "reader");
	uint8_t v2[sizeof(struct trade) + 8];
	int rc = logstore_reader_next_value(reader, &codec_v2, v2, &entry);
	bad += check(rc == LOGSTORE_ETYPE, "version 2 reader gets ETYPE");
	if (rc == LOGSTORE_ETYPE)
		printf("version 2 reader: %s\n", logstore_error_detail());
	/* The copying decode works with the right codec. */
	struct trade copy;
	bad += check(
	    logstore_reader_next_value(reader, &codec, &copy, &entry) == 0 &&
		copy.order_id == 1001,
	    "decode copy");
	logstore_reader_close(reader);
	bad += check(logstore_log_close(log) == 0, "close");
	if (!bad)
		printf("codec_struct: %u trades read in place: OK\n", n);
	return bad ? 1 : 0;
}
