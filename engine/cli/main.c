/* SPDX-License-Identifier: MIT */
/*
 * The logstore command-line tool: the dispatcher.
 *
 * Each subcommand lives in its own file of engine/cli/ (read.c: ls, cat,
 * stat, verify; tail.c: tail; write.c: append, repair, retain,
 * rm-segment; bench.c; demo.c) and uses only the public API of
 * include/logstore.h. Every subcommand takes --help, and exits 0 (done),
 * 1 (an error, named on stderr with the file and what is wrong) or 2
 * (bad usage). Commands that only read (ls, cat, tail, stat, verify) open
 * the log read-only: they take no lock and work beside a running writer.
 */
#include "cli.h"

#include <string.h>

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    {"ls", cli_ls, "list the segments"},
    {"cat", cli_cat, "print entries (seq, time, payload)"},
    {"tail", cli_tail, "print the last entries; -f follows new ones"},
    {"append", cli_append, "append stdin, one entry per line (or --raw)"},
    {"verify", cli_verify, "check every checksum and index"},
    {"repair", cli_repair, "cut a torn tail, saving what is cut"},
    {"retain", cli_retain, "remove segments older than a duration"},
    {"rm-segment", cli_rm_segment, "remove one segment"},
    {"stat", cli_stat, "the log's figures (--prometheus)"},
    {"bench", cli_bench, "a quick throughput and latency run"},
    {"demo", cli_demo, "append, read back and check (README)"},
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fputs("usage: logstore COMMAND [OPTIONS] DIR ...\n\ncommands:\n", f);
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		fprintf(f, "  %-11s %s\n", commands[i].name,
			commands[i].summary);
	fputs("\n`logstore COMMAND --help` describes a command. Exit status: "
	      "0 done,\n1 an error (named on stderr), 2 bad usage.\n",
	      f);
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "";
	if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 ||
	    strcmp(name, "-h") == 0) {
		if (argc > 2)
			for (size_t i = 0; i < COMMAND_COUNT; i++)
				if (strcmp(argv[2], commands[i].name) == 0) {
					char *help_argv[] = {argv[2], "--help",
							     NULL};
					return commands[i].run(2, help_argv);
				}
		usage(stdout);
		return CLI_OK;
	}
	if (strcmp(name, "--version") == 0) {
		unsigned v = logstore_version();
		printf("logstore %u.%u.%u\n", v / 10000, v / 100 % 100,
		       v % 100);
		return CLI_OK;
	}
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	if (name[0])
		fprintf(stderr, "logstore: unknown command '%s'\n", name);
	usage(stderr);
	return CLI_USAGE;
}
