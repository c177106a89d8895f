/*
 * The commands the shop's operator runs against the state folder, while the
 * daemon runs or not: enroll with the CA for a brand, list orders, show one
 * order with its history, resolve an order whose authorization went
 * unanswered, print the catalog with the stock on hand. The merchant holds
 * no card number, so none can ever be shown: an order's payment is its
 * authorization code and the gateway's outcome.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enroll.h"
#include "daemon.h"
#include "log.h"
#include "merchant.h"
#include "money.h"
#include "xmalloc.h"

struct operator_command {
	const char *name;
	int (*fn)(struct merchant *, int, char **);
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

static const char *
operator_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s != NULL ? (const char *)s : "-";
}

static int
operator_enroll(struct merchant *m, int argc, char **argv)
{
	static const struct option longopts[] = { { "brand", 1, NULL, 'b' },
		{ "token", 1, NULL, 't' }, { "poll", 0, NULL, 'p' },
		{ "timeout", 1, NULL, 'T' }, { NULL, 0, NULL, 0 } };
	struct enroll_params p;
	struct merchant_brand *b;
	const char *brand = NULL;
	char *outdir = NULL, err[1024];
	enum enroll_result r;
	int c, poll = 0, rc;

	memset(&p, 0, sizeof(p));
	p.timeout = m->set.ca_timeout;
	while ((c = getopt_long(argc, argv, "b:t:pT:", longopts, NULL)) != -1)
		switch (c) {
		case 'b':
			brand = optarg;
			break;
		case 't':
			p.token = optarg;
			break;
		case 'p':
			poll = 1;
			break;
		case 'T':
			p.timeout = atoi(optarg);
			if (p.timeout < 1 || p.timeout > 600)
				return 2;
			break;
		default:
			return 2;
		}
	if (brand == NULL || optind != argc)
		return 2;
	if ((b = merchant_brand_find(m, brand)) == NULL) {
		fprintf(stderr,
		    "set-merchant enroll: %s is not among the brands of %s; "
		    "add it to \"brands\" first\n",
		    brand, m->cfgfile);
		return 1;
	}
	if ((outdir = merchant_certs_dir(m, b->name)) == NULL) {
		fprintf(
		    stderr, "set-merchant enroll: %s\n", config_error(m->cfg));
		return 1;
	}
	p.host = m->set.ca_host;
	p.port = m->set.ca_port;
	p.root_file = m->root_file;
	p.role = "merchant";
	p.id = m->id;
	p.name = m->name;
	p.brand = b->name;
	p.outdir = outdir;
	r = poll ? enroll_poll(&p, err, sizeof(err))
	         : enroll_run(&p, err, sizeof(err));
	switch (r) {
	case ENROLL_ISSUED:
		printf("enrolled: the %s certificates of merchant %s are in "
		       "%s\n",
		    b->name, m->id, outdir);
		rc = 0;
		break;
	case ENROLL_PENDING:
		printf("pending: %s; when the CA's operator has approved it, "
		       "run this again with --poll\n",
		    err);
		rc = 3;
		break;
	case ENROLL_REJECTED:
		fprintf(stderr, "set-merchant enroll: rejected: %s\n", err);
		rc = 4;
		break;
	default:
		fprintf(stderr, "set-merchant enroll: %s\n", err);
		rc = 1;
	}
	free(outdir);
	return rc;
}

static int
operator_orders(struct merchant *m, int argc, char **argv)
{
	static const struct option longopts[] = { { "status", 1, NULL, 's' },
		{ NULL, 0, NULL, 0 } };
	static const char *const statuses[] = { "placed", "initiated",
		"authorizing", "authorized", "declined", "unresolved", NULL };
	const char *status = NULL;
	sqlite3_stmt *st;
	char when[32], amount[48];
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "s:", longopts, NULL)) != -1)
		switch (c) {
		case 's':
			status = optarg;
			break;
		default:
			return 2;
		}
	if (optind != argc)
		return 2;
	for (i = 0; status != NULL && statuses[i] != NULL; i++)
		if (strcmp(status, statuses[i]) == 0)
			break;
	if (status != NULL && statuses[i] == NULL) {
		fprintf(stderr,
		    "set-merchant orders: --status is one of placed, "
		    "initiated, authorizing, authorized, declined, "
		    "unresolved\n");
		return 2;
	}
	st = store_prepare(m->store,
	    "SELECT id, created_at, status, amount, currency, brand, "
	    "coalesce(customer, '-'), coalesce(auth_code, '-') FROM orders "
	    "WHERE ?1 IS NULL OR status = ?1 ORDER BY created_at, rowid");
	if (st == NULL)
		return 1;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	printf("%-20s  %-20s  %-11s  %16s  %-10s  %-16s  %s\n", "ORDER",
	    "PLACED", "STATUS", "AMOUNT", "BRAND", "CUSTOMER", "AUTH CODE");
	while (sqlite3_step(st) == SQLITE_ROW) {
		operator_time(
		    (time_t)sqlite3_column_int64(st, 1), when, sizeof(when));
		money_format(sqlite3_column_int64(st, 3), operator_text(st, 4),
		    amount, sizeof(amount));
		printf("%-20s  %-20s  %-11s  %16s  %-10s  %-16s  %s\n",
		    operator_text(st, 0), when, operator_text(st, 2), amount,
		    operator_text(st, 5), operator_text(st, 6),
		    operator_text(st, 7));
	}
	sqlite3_reset(st);
	return 0;
}

static void
operator_history(struct merchant *m, const char *id)
{
	sqlite3_stmt *st;
	char when[32];

	st = store_prepare(m->store,
	    "SELECT at, who, event, detail FROM order_events WHERE order_id "
	    "= ? ORDER BY id");
	if (st == NULL)
		return;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	printf("history:\n");
	while (sqlite3_step(st) == SQLITE_ROW) {
		operator_time(
		    (time_t)sqlite3_column_int64(st, 0), when, sizeof(when));
		printf("  %s  %-12s  %s", when, operator_text(st, 2),
		    operator_text(st, 1));
		if (sqlite3_column_type(st, 3) != SQLITE_NULL)
			printf(": %s", operator_text(st, 3));
		printf("\n");
	}
	sqlite3_reset(st);
}

static void
operator_print(struct merchant *m, const struct order *o)
{
	sqlite3_stmt *st;
	json_t *items, *it;
	char when[32], amount[48], unit[48];
	size_t i;

	operator_time(o->created_at, when, sizeof(when));
	money_format(o->amount, o->currency, amount, sizeof(amount));
	printf("order:       %s\n", o->id);
	printf("placed:      %s\n", when);
	printf("status:      %s\n", o->status);
	printf("amount:      %s (%lld minor units)\n", amount, o->amount);
	printf("brand:       %s\n", o->brand);
	printf("customer:    %s\n", o->customer ? o->customer : "-");
	st = store_prepare(m->store,
	    "SELECT delivery_method, delivery_name, delivery_address, "
	    "delivery_price FROM orders WHERE id = ?");
	if (st != NULL) {
		sqlite3_bind_text(st, 1, o->id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			money_format(sqlite3_column_int64(st, 3), o->currency,
			    unit, sizeof(unit));
			printf("delivery:    %s to %s, %s (%s)\n",
			    operator_text(st, 0), operator_text(st, 1),
			    operator_text(st, 2), unit);
		}
		sqlite3_reset(st);
	}
	printf("items:\n");
	items = orders_items_json(m, o->id);
	json_array_foreach(items, i, it)
	{
		money_format(
		    json_integer_value(json_object_get(it, "unit_price")),
		    o->currency, unit, sizeof(unit));
		money_format(
		    json_integer_value(json_object_get(it, "line_total")),
		    o->currency, amount, sizeof(amount));
		printf("  %4lld x %-16s %-32s at %s = %s\n",
		    (long long)json_integer_value(json_object_get(it, "qty")),
		    json_string_value(json_object_get(it, "sku")),
		    json_string_value(json_object_get(it, "name")), unit,
		    amount);
	}
	json_decref(items);
	printf("transaction:\n");
	printf("  XID        %s\n", o->xid[0] ? o->xid : "-");
	printf("  LID-C      %s\n", o->lid_c[0] ? o->lid_c : "-");
	printf("  HOD        %s\n", o->hod[0] ? o->hod : "-");
	printf("  PReq RRPID %s\n", o->preq_rrpid[0] ? o->preq_rrpid : "-");
	printf("authorization (the merchant never sees the card number):\n");
	printf("  AuthReq    %s (%zu bytes recorded)\n",
	    o->authreq_rrpid[0] ? o->authreq_rrpid : "-", o->authreqlen);
	printf("  auth code  %s\n", o->auth_code[0] ? o->auth_code : "-");
	printf("  capture    %s\n",
	    o->capture_token != NULL ? "token held for the capture" : "-");
	printf("  outcome    %s\n", o->reason ? o->reason : "-");
	operator_history(m, o->id);
	printf(
	    "order description (what the cardholder's HOD covers):\n%s", o->od);
}

static int
operator_order(struct merchant *m, int argc, char **argv)
{
	struct order o;
	int r;

	if (argc != 2)
		return 2;
	if ((r = orders_load(m, "id", argv[1], &o)) != 0) {
		fprintf(stderr, "set-merchant order: %s\n",
		    r == 1 ? "no such order" : "cannot read the orders");
		return 1;
	}
	operator_print(m, &o);
	orders_clear(&o);
	return 0;
}

static int
operator_resolve(struct merchant *m, int argc, char **argv)
{
	struct order o;
	char err[1024];
	int r, rc = 1;

	if (argc != 2)
		return 2;
	if ((r = orders_load(m, "id", argv[1], &o)) != 0) {
		fprintf(stderr, "set-merchant resolve: %s\n",
		    r == 1 ? "no such order" : "cannot read the orders");
		return 1;
	}
	if (strcmp(o.status, "unresolved") != 0 &&
	    strcmp(o.status, "authorizing") != 0) {
		printf("%s %s: nothing to resolve\n", o.id, o.status);
		orders_clear(&o);
		return 0;
	}
	if (merchant_load_certs(m, err, sizeof(err)) == -1 ||
	    merchant_refresh_crls(m, o.brand, err, sizeof(err)) == -1 ||
	    authorization_resolve(m, &o, err, sizeof(err)) == -1) {
		fprintf(stderr, "set-merchant resolve: %s\n", err);
		goto done;
	}
	if (strcmp(o.status, "authorized") == 0)
		printf("%s authorized %s\n", o.id, o.auth_code);
	else
		printf("%s %s %s\n", o.id, o.status, o.reason ? o.reason : "");
	rc = strcmp(o.status, "unresolved") == 0 ? 1 : 0;
done:
	orders_clear(&o);
	return rc;
}

static int
operator_catalog(struct merchant *m, int argc, char **argv)
{
	struct catalog *c;
	char err[1024], price[48];
	size_t i;

	if (argc != 1)
		return 2;
	if ((c = catalog_load(
	         m->catalog_file, m->currency, err, sizeof(err))) == NULL) {
		fprintf(stderr, "set-merchant catalog: %s\n", err);
		return 1;
	}
	printf("catalog %s (%s)\n", m->catalog_file, c->currency);
	printf("%-24s  %16s  %8s  %8s  %s\n", "SKU", "PRICE", "ON HAND",
	    "IN FILE", "NAME");
	for (i = 0; i < c->nitems; i++) {
		const struct catalog_item *it = &c->items[i];
		sqlite3_stmt *st;
		long long hand = it->stock;

		/* The daemon takes a changed figure as the new count; until
		 * then the database's count is what is on hand. */
		st = store_prepare(m->store,
		    "SELECT file_stock, available FROM stock WHERE sku = ?");
		if (st != NULL) {
			sqlite3_bind_text(st, 1, it->sku, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW &&
			    sqlite3_column_int64(st, 0) == it->stock)
				hand = sqlite3_column_int64(st, 1);
			sqlite3_reset(st);
		}
		money_format(it->price, c->currency, price, sizeof(price));
		printf("%-24s  %16s  %8lld  %8lld  %s\n", it->sku, price, hand,
		    it->stock, it->name);
	}
	catalog_free(c);
	return 0;
}

static const struct operator_command operator_commands[] = {
	{ "enroll", operator_enroll,
	    "set-merchant enroll [-f config] --brand BRAND [--token TOKEN] "
	    "[--poll] [--timeout SECONDS]" },
	{ "orders", operator_orders,
	    "set-merchant orders [-f config] [--status STATUS]" },
	{ "order", operator_order, "set-merchant order [-f config] ORDER" },
	{ "resolve", operator_resolve,
	    "set-merchant resolve [-f config] ORDER" },
	{ "catalog", operator_catalog, "set-merchant catalog [-f config]" },
};

int
operator_main(const char *name, int argc, char **argv)
{
	const struct operator_command *cmd = NULL;
	const char *config = NULL;
	struct merchant *m;
	char err[1024];
	size_t i;
	int rc, help;

	for (i = 0;
	     i < sizeof(operator_commands) / sizeof(operator_commands[0]); i++)
		if (strcmp(operator_commands[i].name, name) == 0)
			cmd = &operator_commands[i];
	if (cmd == NULL)
		return -1;
	config = daemon_command_args(
	    &argc, argv, "SET_MERCHANT_CONFIG", "merchant.json", &help);
	if (help) {
		printf("usage: %s\n", cmd->usage);
		return 0;
	}
	log_init("set-merchant", 1, 0);
	if ((m = merchant_open(config, err, sizeof(err))) == NULL) {
		fprintf(stderr, "set-merchant %s: %s\n", name, err);
		return 1;
	}
	optind = 1;
	rc = cmd->fn(m, argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: %s\n", cmd->usage);
	merchant_close(m);
	return rc;
}
