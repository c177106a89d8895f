/*
 * The commands bank staff run against an issuer's state folder, while the
 * daemon runs or not: open card accounts, look at them, block, unblock,
 * report lost or stolen, close, take a payment, print a statement, and
 * prove the ledger balanced. Every action that changes something is
 * recorded in the audit table with who did it ($SET_OPERATOR or the login
 * name). A card is named by its full number (the masked form matches many
 * cards); "-" reads it from standard input, which keeps it out of the
 * process list. Only masked numbers are ever printed, except by `open`,
 * which shows a new card's number and CVV once.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "issuer.h"
#include "daemon.h"
#include "log.h"
#include "money.h"
#include "pan.h"
#include "xmalloc.h"

struct command {
	const char *name;
	int (*fn)(struct issuer *, int, char **);
	const char *usage;
};

/* A card number as typed: spaces and dashes dropped, "-" from stdin.
 * Prints why and returns -1 when it names no card of ours. */
static int
operator_card(struct issuer *is, const char *arg, struct account *a)
{
	char buf[64], pan[24];
	size_t n = 0, i;
	int rc;

	if (strcmp(arg, "-") == 0) {
		if (fgets(buf, sizeof(buf), stdin) == NULL)
			buf[0] = '\0';
		arg = buf;
	}
	for (i = 0; arg[i] != '\0' && n < sizeof(pan) - 1; i++)
		if (isdigit((unsigned char)arg[i]))
			pan[n++] = arg[i];
		else if (arg[i] == '*') {
			fprintf(stderr,
			    "set-issuer: give the full card number: "
			    "a masked one matches many cards\n");
			return -1;
		} else if (arg[i] != ' ' && arg[i] != '-' && arg[i] != '\n') {
			n = 0;
			break;
		}
	pan[n] = '\0';
	if (!account_pan_ok(pan)) {
		fprintf(stderr, "set-issuer: not a valid card number\n");
		rc = -1;
	} else if ((rc = account_find(is, pan, a)) == 1) {
		fprintf(stderr, "set-issuer: no such card at %s\n", is->name);
		rc = -1;
	} else if (rc == -1)
		fprintf(stderr, "set-issuer: cannot read the accounts\n");
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(pan, sizeof(pan));
	return rc;
}

static void
operator_money(long long minor, const char *currency, char *buf, size_t len)
{
	char dec[48];

	money_digits(minor, currency, dec, sizeof(dec));
	snprintf(buf, len, "%lld (%s %s)", minor, dec, currency);
}

static int
cmd_open(struct issuer *is, int argc, char **argv)
{
	static const struct option longopts[] = { { "name", 1, NULL, 'n' },
		{ "postcode", 1, NULL, 'p' }, { "limit", 1, NULL, 'l' },
		{ "currency", 1, NULL, 'c' }, { "per-tx-limit", 1, NULL, 't' },
		{ "expiry", 1, NULL, 'e' }, { "bin", 1, NULL, 'b' },
		{ NULL, 0, NULL, 0 } };
	struct account_spec sp;
	char pan[ISSUER_PAN_LEN + 4], cvv[5], expiry[8], err[256], masked[24];
	char *detail, money[64];
	int c, have_limit = 0, rc = 1;

	memset(&sp, 0, sizeof(sp));
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		switch (c) {
		case 'n':
			sp.holder = optarg;
			break;
		case 'p':
			sp.postcode = optarg;
			break;
		case 'l':
			/* A limit of 0 is allowed: a card for payments in. */
			if (strcmp(optarg, "0") != 0 &&
			    issuer_parse_amount(optarg, &sp.limit) == -1) {
				fprintf(stderr,
				    "set-issuer open: --limit: an "
				    "integer number of minor units (1999 "
				    "for 19.99)\n");
				return 2;
			}
			have_limit = 1;
			break;
		case 'c':
			sp.currency = optarg;
			break;
		case 't':
			if (issuer_parse_amount(optarg, &sp.per_tx) == -1) {
				fprintf(stderr,
				    "set-issuer open: --per-tx-limit: "
				    "an integer number of minor units\n");
				return 2;
			}
			break;
		case 'e':
			sp.expiry = optarg;
			break;
		case 'b':
			sp.bin = optarg;
			break;
		default:
			return 2;
		}
	if (sp.holder == NULL || sp.postcode == NULL || !have_limit ||
	    optind < argc) {
		fprintf(stderr,
		    "set-issuer open: --name, --postcode and "
		    "--limit are required\n");
		return 2;
	}
	if (store_begin(is->store) == -1) {
		fprintf(stderr, "set-issuer open: cannot write the database\n");
		return 1;
	}
	if (account_open(is, &sp, pan, cvv, expiry, err, sizeof(err)) == -1)
		goto fail;
	pan_mask(pan, masked, sizeof(masked));
	operator_money(sp.limit, sp.currency ? sp.currency : is->currency,
	    money, sizeof(money));
	detail = xasprintf("%s, limit %s", sp.holder, money);
	rc = issuer_audit(is, "open", masked, detail);
	free(detail);
	if (rc == -1 || store_commit(is->store) == -1) {
		snprintf(err, sizeof(err), "cannot write the database");
		goto fail;
	}
	/* The only time the number and the CVV are ever shown. */
	printf("card %s\nexpiry %s\ncvv %s\n", pan, expiry, cvv);
	fprintf(stderr,
	    "opened a card account for %s, limit %s: the card number "
	    "and CVV are shown only this once\n",
	    sp.holder, money);
	rc = 0;
	goto done;
fail:
	store_rollback(is->store);
	fprintf(stderr, "set-issuer open: %s\n", err);
	rc = 1;
done:
	OPENSSL_cleanse(pan, sizeof(pan));
	OPENSSL_cleanse(cvv, sizeof(cvv));
	return rc;
}

static int
cmd_show(struct issuer *is, int argc, char **argv)
{
	struct account a;
	long long balance, held, available;
	char when[32], m1[64], m2[64], m3[64], m4[64], m5[64];

	if (argc != 2)
		return 2;
	if (operator_card(is, argv[1], &a) == -1)
		return 1;
	if (account_funds(is, &a, time(NULL), &balance, &held, &available) ==
	    -1) {
		fprintf(stderr, "set-issuer show: cannot read the ledger\n");
		return 1;
	}
	operator_money(a.limit, a.currency, m1, sizeof(m1));
	operator_money(balance, a.currency, m2, sizeof(m2));
	operator_money(held, a.currency, m3, sizeof(m3));
	operator_money(available, a.currency, m4, sizeof(m4));
	if (a.per_tx > 0)
		operator_money(a.per_tx, a.currency, m5, sizeof(m5));
	else
		snprintf(m5, sizeof(m5), "none");
	issuer_format_time(a.opened_at, when, sizeof(when));
	printf("card %s\nholder %s\npostcode %s\nexpiry %s\nstatus %s%s\n"
	       "currency %s\nlimit %s\nper_tx_limit %s\nbalance %s\n"
	       "held %s\navailable %s\nopened %s\n",
	    a.masked, a.holder, a.postcode, a.expiry, a.status,
	    account_expired(a.expiry, time(NULL)) ? " (expired)" : "",
	    a.currency, m1, m5, m2, m3, m4, when);
	return 0;
}

static int
cmd_list(struct issuer *is, int argc, char **argv)
{
	static const struct option longopts[] = { { "status", 1, NULL, 's' },
		{ NULL, 0, NULL, 0 } };
	const char *status = NULL;
	sqlite3_stmt *st;
	struct account a;
	long long balance, held, available, *ids = NULL;
	size_t nids = 0, i;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		switch (c) {
		case 's':
			status = optarg;
			break;
		default:
			return 2;
		}
	if (optind < argc)
		return 2;
	if (status != NULL && strcmp(status, ACCOUNT_ACTIVE) != 0 &&
	    strcmp(status, ACCOUNT_BLOCKED) != 0 &&
	    strcmp(status, ACCOUNT_LOST) != 0 &&
	    strcmp(status, ACCOUNT_STOLEN) != 0 &&
	    strcmp(status, ACCOUNT_CLOSED) != 0) {
		fprintf(stderr,
		    "set-issuer list: --status is active, blocked, "
		    "lost, stolen or closed\n");
		return 2;
	}
	/* account_funds() uses statements of its own: ids first. */
	st = store_prepare(is->store,
	    "SELECT id FROM accounts WHERE "
	    "?1 IS NULL OR status = ?1 ORDER BY id");
	if (st == NULL)
		return 1;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		ids = xrealloc(ids, (nids + 1) * sizeof(*ids));
		ids[nids++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	printf("%-19s  %-7s  %-8s  %12s  %12s  %12s  %12s  %-3s  %s\n", "CARD",
	    "EXPIRY", "STATUS", "LIMIT", "BALANCE", "HELD", "AVAILABLE", "CUR",
	    "HOLDER");
	for (i = 0; i < nids; i++) {
		if (account_by_id(is, ids[i], &a) != 0 ||
		    account_funds(is, &a, time(NULL), &balance, &held,
		        &available) == -1) {
			rc = 1;
			break;
		}
		printf("%-19s  %-7s  %-8s  %12lld  %12lld  %12lld  %12lld  "
		       "%-3s  %s\n",
		    a.masked, a.expiry, a.status, a.limit, balance, held,
		    available, a.currency, a.holder);
	}
	free(ids);
	fprintf(stderr, "%zu card account%s\n", nids, nids == 1 ? "" : "s");
	return rc;
}

/* block, unblock, lost, stolen, close: one status change, audited. */
static int
operator_status(struct issuer *is, int argc, char **argv, const char *action,
    const char *status)
{
	struct account a;
	char err[256], *detail = NULL;
	int rc = 1;

	if (argc != 2)
		return 2;
	if (operator_card(is, argv[1], &a) == -1)
		return 1;
	detail = xasprintf("%s -> %s", a.status, status);
	snprintf(err, sizeof(err), "cannot write the database");
	if (store_begin(is->store) == -1)
		goto done;
	if (account_set_status(is, &a, status, err, sizeof(err)) == -1)
		goto fail;
	snprintf(err, sizeof(err), "cannot write the database");
	if (issuer_audit(is, action, a.masked, detail) == -1 ||
	    store_commit(is->store) == -1)
		goto fail;
	printf("card %s is now %s\n", a.masked, status);
	rc = 0;
	goto done;
fail:
	store_rollback(is->store);
done:
	if (rc != 0)
		fprintf(stderr, "set-issuer %s: %s\n", action, err);
	free(detail);
	return rc;
}

static int
cmd_block(struct issuer *is, int argc, char **argv)
{
	return operator_status(is, argc, argv, "block", ACCOUNT_BLOCKED);
}

static int
cmd_unblock(struct issuer *is, int argc, char **argv)
{
	return operator_status(is, argc, argv, "unblock", ACCOUNT_ACTIVE);
}

static int
cmd_lost(struct issuer *is, int argc, char **argv)
{
	return operator_status(is, argc, argv, "lost", ACCOUNT_LOST);
}

static int
cmd_stolen(struct issuer *is, int argc, char **argv)
{
	return operator_status(is, argc, argv, "stolen", ACCOUNT_STOLEN);
}

static int
cmd_close(struct issuer *is, int argc, char **argv)
{
	return operator_status(is, argc, argv, "close", ACCOUNT_CLOSED);
}

static int
cmd_payment(struct issuer *is, int argc, char **argv)
{
	struct account a;
	long long amount, txn;
	char err[256], money[64], *detail;

	if (argc != 3)
		return 2;
	if (issuer_parse_amount(argv[2], &amount) == -1) {
		fprintf(stderr,
		    "set-issuer payment: AMOUNT is an integer "
		    "number of minor units from 1 to %lld (1999 for 19.99)\n",
		    ISSUER_MAX_AMOUNT);
		return 2;
	}
	if (operator_card(is, argv[1], &a) == -1)
		return 1;
	if (store_begin(is->store) == -1) {
		fprintf(stderr,
		    "set-issuer payment: cannot write the "
		    "database\n");
		return 1;
	}
	operator_money(amount, a.currency, money, sizeof(money));
	if (ledger_payment(is, &a, amount, &txn, err, sizeof(err)) == -1) {
		store_rollback(is->store);
		fprintf(stderr, "set-issuer payment: %s\n", err);
		return 1;
	}
	detail = xasprintf("%s, ledger transaction %lld", money, txn);
	if (issuer_audit(is, "payment", a.masked, detail) == -1 ||
	    store_commit(is->store) == -1) {
		store_rollback(is->store);
		free(detail);
		fprintf(stderr,
		    "set-issuer payment: cannot write the "
		    "database\n");
		return 1;
	}
	free(detail);
	printf("payment of %s credited to card %s (ledger transaction "
	       "%lld)\n",
	    money, a.masked, txn);
	return 0;
}

static void
statement_holds(struct issuer *is, const struct account *a, time_t now)
{
	sqlite3_stmt *st;
	char when[32], amt[48], rem[48];
	int n = 0;

	st = store_prepare(is->store,
	    "SELECT id, auth_code, merchant_id, "
	    "amount, remaining, status, expires_at FROM holds WHERE "
	    "account_id = ? ORDER BY created_at, id");
	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, a->id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 5);
		time_t exp = (time_t)sqlite3_column_int64(st, 6);

		if (n++ == 0)
			printf("\nholds:\n%-32s  %-6s  %-16s  %12s  %12s  "
			       "%-8s  %s\n",
			    "HOLD", "AUTH", "MERCHANT", "AMOUNT", "REMAINING",
			    "STATE", "EXPIRES");
		if (strcmp(state, "active") == 0 && exp <= now)
			state = "expired";
		issuer_format_time(exp, when, sizeof(when));
		money_digits(
		    sqlite3_column_int64(st, 3), a->currency, amt, sizeof(amt));
		money_digits(
		    sqlite3_column_int64(st, 4), a->currency, rem, sizeof(rem));
		printf("%-32s  %-6s  %-16.16s  %12s  %12s  %-8s  %s\n",
		    sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
		    sqlite3_column_text(st, 2), amt, rem, state, when);
	}
	sqlite3_reset(st);
}

static int
cmd_statement(struct issuer *is, int argc, char **argv)
{
	struct account a;
	sqlite3_stmt *st;
	long long balance, held, available, running = 0;
	char when[32], amt[48], run[48], m1[64], m2[64], m3[64], m4[64];
	time_t now = time(NULL);

	if (argc != 2)
		return 2;
	if (operator_card(is, argv[1], &a) == -1)
		return 1;
	printf("statement of card %s, %s, %s, in %s\n\n", a.masked, a.holder,
	    a.status, a.currency);
	st = store_prepare(is->store,
	    "SELECT t.created_at, t.id, t.kind, "
	    "t.description, e.amount FROM ledger_entries e JOIN "
	    "ledger_transactions t ON t.id = e.txn_id WHERE e.account_id = ? "
	    "ORDER BY t.id, e.id");
	if (st == NULL)
		return 1;
	sqlite3_bind_int64(st, 1, a.ledger);
	printf("%-20s  %6s  %-8s  %-28s  %12s  %12s\n", "DATE", "TXN", "KIND",
	    "DESCRIPTION", "AMOUNT", "OWED");
	while (sqlite3_step(st) == SQLITE_ROW) {
		long long amount = sqlite3_column_int64(st, 4);

		running += amount;
		issuer_format_time(
		    (time_t)sqlite3_column_int64(st, 0), when, sizeof(when));
		money_digits(amount, a.currency, amt, sizeof(amt));
		money_digits(running, a.currency, run, sizeof(run));
		printf("%-20s  %6lld  %-8s  %-28.28s  %12s  %12s\n", when,
		    (long long)sqlite3_column_int64(st, 1),
		    sqlite3_column_text(st, 2), sqlite3_column_text(st, 3), amt,
		    run);
	}
	sqlite3_reset(st);
	statement_holds(is, &a, now);
	if (account_funds(is, &a, now, &balance, &held, &available) == -1)
		return 1;
	operator_money(balance, a.currency, m1, sizeof(m1));
	operator_money(held, a.currency, m2, sizeof(m2));
	operator_money(available, a.currency, m3, sizeof(m3));
	operator_money(a.limit, a.currency, m4, sizeof(m4));
	printf("\nbalance owed %s\nheld %s\navailable %s\nlimit %s\n", m1, m2,
	    m3, m4);
	return 0;
}

static int
cmd_ledger_check(struct issuer *is, int argc, char **argv)
{
	long long ntx, nentries;
	char err[256];
	int rc;

	if (argc != 1)
		return 2;
	rc = ledger_check(is, &ntx, &nentries, err, sizeof(err));
	if (rc == -1) {
		fprintf(stderr,
		    "set-issuer ledger-check: cannot read the "
		    "ledger\n");
		return 1;
	}
	if (rc == 1) {
		printf("ledger unbalanced: %s\n", err);
		return 1;
	}
	printf("ledger balanced: %lld transactions, %lld entries\n", ntx,
	    nentries);
	return 0;
}

static int
cmd_audit(struct issuer *is, int argc, char **argv)
{
	sqlite3_stmt *st;
	char when[32];

	if (argc != 1)
		return 2;
	st = store_prepare(is->store,
	    "SELECT at, who, action, "
	    "coalesce(target, '-'), coalesce(detail, '') FROM audit ORDER "
	    "BY id");
	if (st == NULL)
		return 1;
	printf("%-20s  %-16s  %-10s  %-19s  %s\n", "WHEN", "WHO", "ACTION",
	    "TARGET", "DETAIL");
	while (sqlite3_step(st) == SQLITE_ROW) {
		issuer_format_time(
		    (time_t)sqlite3_column_int64(st, 0), when, sizeof(when));
		printf("%-20s  %-16s  %-10s  %-19s  %s\n", when,
		    sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
		    sqlite3_column_text(st, 3), sqlite3_column_text(st, 4));
	}
	sqlite3_reset(st);
	return 0;
}

static const struct command commands[] = {
	{ "open", cmd_open,
	    "set-issuer open [-f config] --name NAME --postcode PC "
	    "--limit MINOR\n"
	    "           [--currency CUR] [--per-tx-limit MINOR] "
	    "[--expiry YYYY-MM] [--bin BIN]\n"
	    "  opens a card account; prints \"card N\", \"expiry YYYY-MM\" "
	    "and \"cvv N\"\n"
	    "  once (amounts are integer minor units: 1999 for 19.99)" },
	{ "show", cmd_show, "set-issuer show [-f config] CARD" },
	{ "list", cmd_list,
	    "set-issuer list [-f config] "
	    "[--status active|blocked|lost|stolen|closed]" },
	{ "block", cmd_block, "set-issuer block [-f config] CARD" },
	{ "unblock", cmd_unblock, "set-issuer unblock [-f config] CARD" },
	{ "lost", cmd_lost, "set-issuer lost [-f config] CARD" },
	{ "stolen", cmd_stolen, "set-issuer stolen [-f config] CARD" },
	{ "close", cmd_close, "set-issuer close [-f config] CARD" },
	{ "statement", cmd_statement, "set-issuer statement [-f config] CARD" },
	{ "payment", cmd_payment,
	    "set-issuer payment [-f config] CARD AMOUNT\n"
	    "  the cardholder pays AMOUNT minor units towards the card" },
	{ "ledger-check", cmd_ledger_check,
	    "set-issuer ledger-check [-f config]\n"
	    "  proves every ledger transaction sums to zero" },
	{ "audit", cmd_audit, "set-issuer audit [-f config]" },
};

int
operator_main(const char *name, int argc, char **argv)
{
	const struct command *cmd = NULL;
	const char *config = NULL;
	struct issuer *is;
	char err[512];
	size_t i;
	int rc, help;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		return -1;
	config = daemon_command_args(
	    &argc, argv, "SET_ISSUER_CONFIG", "issuer.json", &help);
	if (help) {
		printf("usage: %s\n", cmd->usage);
		return 0;
	}
	log_init("set-issuer", 1, 0);
	if ((is = issuer_open(config, err, sizeof(err))) == NULL) {
		fprintf(stderr, "set-issuer %s: %s\n", name, err);
		return 1;
	}
	optind = 1;
	rc = cmd->fn(is, argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: %s\n", cmd->usage);
	issuer_close(is);
	return rc;
}
