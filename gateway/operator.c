/*
 * The commands the acquirer's staff run against a gateway's state folder,
 * while the daemon runs or not: list the transactions, show one in full.
 * They only read; the card number never appears (the database does not
 * hold it): cards are shown masked, first six and last four.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "daemon.h"
#include "log.h"
#include "money.h"

struct operator_command {
	const char *name;
	int (*fn)(struct gateway *, int, char **);
	const char *usage;
};

static void
operator_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0) {
		snprintf(buf, len, "-");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
}

/* A time the issuer gave: seconds since the epoch are shown as a date. */
static void
operator_when(const char *s, char *buf, size_t len)
{
	size_t n = strlen(s);

	if (n > 0 && n < 19 && strspn(s, "0123456789") == n)
		operator_time((time_t)strtoll(s, NULL, 10), buf, len);
	else
		snprintf(buf, len, "%s", s);
}

static const char *
operator_col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s != NULL ? (const char *)s : "-";
}

static int
operator_list(struct gateway *gw, int argc, char **argv)
{
	static const struct option longopts[] = { { "status", 1, NULL, 's' },
		{ NULL, 0, NULL, 0 } };
	const char *status = NULL;
	sqlite3_stmt *st;
	char amount[48], when[32];
	int c;

	while ((c = getopt_long(argc, argv, "s:", longopts, NULL)) != -1)
		if (c == 's')
			status = optarg;
		else
			return 2;
	if (optind != argc)
		return 2;
	if (status != NULL && strcmp(status, "approved") != 0 &&
	    strcmp(status, "declined") != 0) {
		fprintf(stderr,
		    "set-gateway list: --status is approved or declined\n");
		return 2;
	}
	st = store_prepare(gw->store,
	    "SELECT xid, merchant, pan_masked, amount, currency, status, "
	    "coalesce(auth_code, reason), received_at FROM transactions "
	    "WHERE ?1 IS NULL OR status = ?1 ORDER BY id");
	if (st == NULL)
		return 1;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	printf("%-40s  %-16s  %-16s  %14s  %-8s  %-18s  %s\n", "XID",
	    "MERCHANT", "CARD", "AMOUNT", "STATUS", "AUTH CODE / REASON",
	    "RECEIVED");
	while (sqlite3_step(st) == SQLITE_ROW) {
		money_format(sqlite3_column_int64(st, 3), operator_col(st, 4),
		    amount, sizeof(amount));
		operator_time(
		    (time_t)sqlite3_column_int64(st, 7), when, sizeof(when));
		printf("%-40s  %-16s  %-16s  %14s  %-8s  %-18s  %s\n",
		    operator_col(st, 0), operator_col(st, 1),
		    operator_col(st, 2), amount, operator_col(st, 5),
		    operator_col(st, 6), when);
	}
	sqlite3_reset(st);
	return 0;
}

static int
operator_show(struct gateway *gw, int argc, char **argv)
{
	sqlite3_stmt *st;
	char amount[48], rcv[32], dec[32], exp[48];
	int n = 0;

	if (argc != 2)
		return 2;
	st = store_prepare(gw->store,
	    "SELECT xid, merchant, brand, lid_m, amount, currency, status, "
	    "reason, auth_code, hold_id, hold_expires, issuer, pan_masked, "
	    "pan_hmac, hpi, rrpid, received_at, decided_at FROM transactions "
	    "WHERE xid = ? ORDER BY id");
	if (st == NULL)
		return 1;
	sqlite3_bind_text(st, 1, argv[1], -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		money_format(sqlite3_column_int64(st, 4), operator_col(st, 5),
		    amount, sizeof(amount));
		operator_time(
		    (time_t)sqlite3_column_int64(st, 16), rcv, sizeof(rcv));
		operator_time(
		    (time_t)sqlite3_column_int64(st, 17), dec, sizeof(dec));
		if (n++ > 0)
			printf("\n");
		printf("xid:           %s\n", operator_col(st, 0));
		printf("merchant:      %s\n", operator_col(st, 1));
		printf("brand:         %s\n", operator_col(st, 2));
		printf("lid-m:         %s\n", operator_col(st, 3));
		printf("amount:        %s (%lld minor units)\n", amount,
		    (long long)sqlite3_column_int64(st, 4));
		printf("status:        %s\n", operator_col(st, 6));
		printf("reason:        %s\n", operator_col(st, 7));
		printf("auth code:     %s\n", operator_col(st, 8));
		printf("hold:          %s\n", operator_col(st, 9));
		operator_when(operator_col(st, 10), exp, sizeof(exp));
		printf("hold expires:  %s\n", exp);
		printf("issuer:        %s\n", operator_col(st, 11));
		printf("card:          %s\n", operator_col(st, 12));
		printf("card hmac:     %s\n", operator_col(st, 13));
		printf("hpi:           %s\n", operator_col(st, 14));
		printf("rrpid:         %s\n", operator_col(st, 15));
		printf("received:      %s\n", rcv);
		printf("decided:       %s\n", dec);
	}
	sqlite3_reset(st);
	if (n == 0) {
		fprintf(stderr, "set-gateway show: no transaction has XID %s\n",
		    argv[1]);
		return 1;
	}
	return 0;
}

static const struct operator_command operator_commands[] = {
	{ "list", operator_list,
	    "set-gateway list [-f config] [--status approved|declined]" },
	{ "show", operator_show, "set-gateway show [-f config] XID" },
};

int
operator_main(const char *name, int argc, char **argv)
{
	const struct operator_command *cmd = NULL;
	const char *config = NULL;
	struct gateway *gw;
	char err[512];
	size_t i;
	int rc, help;

	for (i = 0;
	     i < sizeof(operator_commands) / sizeof(operator_commands[0]); i++)
		if (strcmp(operator_commands[i].name, name) == 0)
			cmd = &operator_commands[i];
	if (cmd == NULL)
		return -1;
	config = daemon_command_args(
	    &argc, argv, "SET_GATEWAY_CONFIG", "gateway.json", &help);
	if (help) {
		printf("usage: %s\n", cmd->usage);
		return 0;
	}
	log_init("set-gateway", 1, 0);
	if ((gw = gateway_open(config, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "set-gateway %s: %s\n", name, err);
		return 1;
	}
	optind = 1;
	rc = cmd->fn(gw, argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: %s\n", cmd->usage);
	gateway_close(gw);
	return rc;
}
