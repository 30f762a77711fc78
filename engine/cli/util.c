/* SPDX-License-Identifier: MIT */
/*
 * Shared parts of the command-line tool: argument parsing, error reports,
 * opening a log, times, durations and payload encodings. Nothing here
 * touches a log's files except through the public API.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* timegm */
#endif

#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NS_PER_S 1000000000LL

/* ---- arguments ---- */

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

int cli_usage(const char *usage, const char *fmt, ...)
{
	va_list ap;
	fputs("logstore: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage, stderr);
	return CLI_USAGE;
}

static const struct cli_opt *find_opt(const struct cli_opt *opts, size_t nopts,
				      const char *arg, size_t len)
{
	for (size_t i = 0; i < nopts; i++) {
		const char *names[2] = {opts[i].name, opts[i].alias};
		for (int k = 0; k < 2; k++)
			if (names[k] && strlen(names[k]) == len &&
			    strncmp(names[k], arg, len) == 0)
				return &opts[i];
	}
	return NULL;
}

/* One option at argv[*i]; advances *i past its value. */
static int parse_one(int argc, char **argv, int *i, const struct cli_opt *opts,
		     size_t nopts, const char *usage)
{
	const char *arg = argv[*i];
	const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct cli_opt *o = find_opt(opts, nopts, arg, len);
	if (!o)
		return cli_usage(usage, "unknown option '%s'", arg);
	if (o->flag) {
		if (eq)
			return cli_usage(usage, "%s takes no value", o->name);
		*o->flag = true;
		return 0;
	}
	if (eq) {
		*o->value = eq + 1;
		return 0;
	}
	if (*i + 1 >= argc)
		return cli_usage(usage, "%s needs a value", o->name);
	*o->value = argv[++*i];
	return 0;
}

int cli_parse(int argc, char **argv, const struct cli_opt *opts, size_t nopts,
	      const char **pos, size_t pos_max, size_t *npos, const char *usage)
{
	bool only_pos = false;
	*npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!only_pos && strcmp(arg, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (!only_pos && arg[0] == '-' && arg[1] != '\0') {
			int rc = parse_one(argc, argv, &i, opts, nopts, usage);
			if (rc)
				return rc;
			continue;
		}
		if (*npos == pos_max)
			return cli_usage(usage, "unexpected argument '%s'",
					 arg);
		pos[(*npos)++] = arg;
	}
	return 0;
}

/* ---- errors and opening ---- */

int cli_fail(const char *dir, const char *what, int rc)
{
	char detail[512];
	snprintf(detail, sizeof(detail), "%s", logstore_error_detail());
	fprintf(stderr, "logstore: %s: %s: %s%s%s\n", dir, what,
		logstore_strerror(rc), detail[0] ? ": " : "", detail);
	return CLI_ERROR;
}

int cli_open(const char *dir, bool read_only, bool must_exist,
	     logstore_log **out)
{
	struct stat st;
	*out = NULL;
	if ((read_only || must_exist) && stat(dir, &st) < 0) {
		fprintf(stderr, "logstore: %s: %s\n", dir, strerror(errno));
		return CLI_ERROR;
	}
	if ((read_only || must_exist) && !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "logstore: %s: not a directory\n", dir);
		return CLI_ERROR;
	}
	struct logstore_options opts;
	logstore_options_init(&opts);
	opts.read_only = read_only;
	int rc = logstore_log_open(dir, &opts, out);
	if (rc)
		return cli_fail(dir, read_only ? "open (read-only)" : "open",
				rc);
	return 0;
}

/* ---- numbers, times, durations ---- */

int cli_parse_u64(const char *text, uint64_t *out)
{
	if (!text || !isdigit((unsigned char)text[0]))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -EINVAL;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

/* ".123" -> 123000000 ns; no fraction -> 0. */
static int fraction_ns(const char **p, int64_t *ns)
{
	*ns = 0;
	if (**p != '.')
		return 0;
	(*p)++;
	int n = 0;
	int64_t scale = NS_PER_S / 10;
	while (isdigit((unsigned char)**p)) {
		if (n++ == 9)
			return -EINVAL; /* finer than a nanosecond */
		*ns += (**p - '0') * scale;
		scale /= 10;
		(*p)++;
	}
	return n ? 0 : -EINVAL;
}

/* "Z", "+hh:mm" or "-hh:mm" -> seconds east of UTC. */
static int zone_s(const char *p, int64_t *east)
{
	int hh, mm;
	if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
		*east = 0;
		return 0;
	}
	if (p[0] != '+' && p[0] != '-')
		return -EINVAL;
	const char *q = p + 1;
	if (digits(&q, 2, &hh) || *q++ != ':' || digits(&q, 2, &mm) || *q)
		return -EINVAL;
	if (hh > 23 || mm > 59)
		return -EINVAL;
	*east = (p[0] == '-' ? -1 : 1) * (int64_t)(hh * 3600 + mm * 60);
	return 0;
}

int cli_parse_time(const char *text, int64_t *out)
{
	if (!text || !*text)
		return -EINVAL;
	const char *p = text;
	if (isdigit((unsigned char)p[0]) &&
	    strspn(p, "0123456789") == strlen(p)) {
		uint64_t v;
		if (cli_parse_u64(p, &v) || v > INT64_MAX)
			return -EINVAL;
		*out = (int64_t)v;
		return 0;
	}
	int y, mo, d, h, mi, s;
	int64_t frac, east;
	struct tm tm = {0};
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d) ||
	    (*p != 'T' && *p != 't' && *p != ' ') || !*p++ ||
	    digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) ||
	    *p++ != ':' || digits(&p, 2, &s) || fraction_ns(&p, &frac) ||
	    zone_s(p, &east))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	time_t secs = timegm(&tm);
	if (tm.tm_mday != d) /* timegm normalised Feb 30 into March */
		return -EINVAL;
	int64_t t = (int64_t)secs - east;
	if (t > INT64_MAX / NS_PER_S - 1 || t < INT64_MIN / NS_PER_S + 1)
		return -EINVAL;
	*out = t * NS_PER_S + frac;
	return 0;
}

int cli_parse_duration(const char *text, int64_t *out)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = {{"ns", 1},
		     {"us", 1000},
		     {"ms", 1000000},
		     {"s", NS_PER_S},
		     {"m", 60 * NS_PER_S},
		     {"h", 3600 * NS_PER_S},
		     {"d", 86400 * NS_PER_S}};
	const char *p = text;
	int64_t total = 0;
	if (!p || !*p)
		return -EINVAL;
	while (*p) {
		char *end;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		errno = 0;
		unsigned long long n = strtoull(p, &end, 10);
		size_t ulen = strspn(end, "abcdefghijklmnopqrstuvwxyz");
		size_t k = 0;
		while (k < sizeof(units) / sizeof(units[0]) &&
		       (strlen(units[k].unit) != ulen ||
			strncmp(units[k].unit, end, ulen) != 0))
			k++;
		if (errno || ulen == 0 || k == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		if (n > (unsigned long long)(INT64_MAX - total) / units[k].ns)
			return -EINVAL;
		total += (int64_t)n * units[k].ns;
		p = end + ulen;
	}
	*out = total;
	return 0;
}

void cli_format_time(int64_t ns, char *buf)
{
	int64_t secs = ns / NS_PER_S, rem = ns % NS_PER_S;
	if (rem < 0) {
		rem += NS_PER_S;
		secs--;
	}
	time_t t = (time_t)secs;
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, CLI_TIME_BYTES, "%" PRId64, ns);
		return;
	}
	snprintf(buf, CLI_TIME_BYTES, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)rem);
}

int64_t cli_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

double cli_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- payload encodings ---- */

void cli_put_hex(FILE *f, const void *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++) {
		putc(hex[p[i] >> 4], f);
		putc(hex[p[i] & 15], f);
	}
}

void cli_put_base64(FILE *f, const void *data, size_t len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = data;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v =
		    (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		putc(b64[v >> 18], f);
		putc(b64[(v >> 12) & 63], f);
		putc(b64[(v >> 6) & 63], f);
		putc(b64[v & 63], f);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		fprintf(f, "%c%c==", b64[v >> 18], b64[(v >> 12) & 63]);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		fprintf(f, "%c%c%c=", b64[v >> 18], b64[(v >> 12) & 63],
			b64[(v >> 6) & 63]);
	}
}

void cli_put_text(FILE *f, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		if (c == '\\')
			fputs("\\\\", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			putc(c, f);
	}
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_len(const uint8_t *p, size_t left)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4	  ? 4
		   : p[0] >= 0xe0		  ? 3
		   : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
						  : 0;
	if (n == 0 || n > left)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong 3-byte forms, surrogates, and past U+10FFFF. */
	if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) ||
	    (n == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
	    (n == 4 && p[0] == 0xf0 && p[1] < 0x90) ||
	    (n == 4 && p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

void cli_put_json_string(FILE *f, const void *data, size_t len)
{
	const uint8_t *p = data;
	putc('"', f);
	for (size_t i = 0; i < len;) {
		uint8_t c = p[i];
		size_t n = c >= 0x80 ? utf8_len(p + i, len - i) : 1;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20 || c == 0x7f || n == 0)
			fprintf(f, "\\u%04x", c);
		else
			fwrite(p + i, 1, n, f);
		i += n ? n : 1;
	}
	putc('"', f);
}
