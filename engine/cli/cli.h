/* SPDX-License-Identifier: MIT */
/*
 * Shared parts of the logstore command-line tool: exit codes, argument
 * parsing, error reports, times and durations, payload encodings.
 *
 * Every subcommand is a function int cli_<name>(int argc, char **argv)
 * with argv[0] the subcommand's name; it returns the process exit code:
 * CLI_OK, CLI_ERROR (the library or the system said no; the message on
 * stderr names the file and what is wrong) or CLI_USAGE (bad arguments;
 * the usage is printed to stderr).
 */
#ifndef LOGSTORE_CLI_H
#define LOGSTORE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "logstore.h"

enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

/* Positional arguments a subcommand takes at most. */
#define CLI_POSITIONAL_MAX 4
/* Room for a formatted time: "2006-01-02T15:04:05.123456789Z". */
#define CLI_TIME_BYTES 96 /* the compiler proves ints fit */

/* One option of a subcommand: a flag, or an option with a value. */
struct cli_opt {
	const char *name;   /* "--count"; a short alias in alias, or NULL */
	const char *alias;  /* "-n", or NULL */
	const char **value; /* out: the value; NULL for a flag */
	bool *flag;	    /* out: set when given; NULL for a value option */
};

/* Whether --help or -h is among the arguments (before a "--"). */
bool cli_wants_help(int argc, char **argv);

/*
 * Parse argv[1..] against opts; "--name value" and "--name=value" both
 * work. Positional arguments go to pos (at most pos_max; *npos set).
 * Returns 0, or CLI_USAGE after printing the problem and usage.
 */
int cli_parse(int argc, char **argv, const struct cli_opt *opts, size_t nopts,
	      const char **pos, size_t pos_max, size_t *npos,
	      const char *usage);

/* Print "logstore: <msg>" and the usage to stderr; returns CLI_USAGE. */
int cli_usage(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Report a library error: "logstore: DIR: WHAT: <strerror>: <detail>".
 * Copies logstore_error_detail() first. Returns CLI_ERROR.
 */
int cli_fail(const char *dir, const char *what, int rc);

/*
 * Open the log in dir. A read-only open takes no lock, so it works while
 * another process writes. must_exist: a missing directory is an error
 * (and is not created). Returns 0 or CLI_ERROR after reporting.
 */
int cli_open(const char *dir, bool read_only, bool must_exist,
	     logstore_log **out);

/* Numbers: 0 or -EINVAL. */
int cli_parse_u64(const char *text, uint64_t *out);
/* RFC 3339 (fraction up to ns, Z or +hh:mm) or integer ns since epoch. */
int cli_parse_time(const char *text, int64_t *out);
/* "90s", "1h30m", "7d", "250ms", "100ns": units ns us ms s m h d. */
int cli_parse_duration(const char *text, int64_t *out);
/* RFC 3339 in UTC with nanoseconds; buf is CLI_TIME_BYTES. */
void cli_format_time(int64_t ns, char *buf);
int64_t cli_now_ns(void);
double cli_mono_s(void);

/* Payload encodings, written to f. */
void cli_put_hex(FILE *f, const void *data, size_t len);
void cli_put_base64(FILE *f, const void *data, size_t len);
/* Printable ASCII as is, '\\' '\n' '\t' '\r' escaped, other bytes \xNN. */
void cli_put_text(FILE *f, const void *data, size_t len);
/* A JSON string with quotes; invalid UTF-8 bytes become \u00NN. */
void cli_put_json_string(FILE *f, const void *data, size_t len);

/* How cat and tail print an entry. */
enum cli_payload {
	CLI_PAYLOAD_TEXT = 0,
	CLI_PAYLOAD_HEX = 1,
	CLI_PAYLOAD_BASE64 = 2,
};

struct cli_entry_format {
	int payload;  /* enum cli_payload */
	bool time_ns; /* integer nanoseconds instead of RFC 3339 */
	bool json;    /* one JSON object per line */
};

/* --format and --time values (NULL = default). Returns 0 or -EINVAL. */
int cli_entry_format_parse(const char *format, const char *time,
			   struct cli_entry_format *out);
void cli_entry_print(FILE *f, const struct cli_entry_format *fmt,
		     const struct logstore_entry *entry);
/* The segment list, malloc'ed into *infos. Returns 0 or CLI_ERROR. */
int cli_segments(logstore_log *log, const char *dir,
		 struct logstore_segment_info **infos, size_t *count);

/* The subcommands. */
int cli_demo(int argc, char **argv);
int cli_ls(int argc, char **argv);
int cli_cat(int argc, char **argv);
int cli_tail(int argc, char **argv);
int cli_stat(int argc, char **argv);
int cli_verify(int argc, char **argv);
int cli_append(int argc, char **argv);
int cli_repair(int argc, char **argv);
int cli_retain(int argc, char **argv);
int cli_rm_segment(int argc, char **argv);
int cli_bench(int argc, char **argv);

#endif
