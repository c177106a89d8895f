/*
 * Baskets become orders (POST /orders): the wallet names SKUs, quantities,
 * a delivery and a card brand; the merchant computes every price from its
 * own catalog and writes the order description (OD), the text the
 * cardholder's HOD will cover (SET's HODInput: OD, amount, ODSalt). The OD
 * is stored exactly as sent, so the HOD of a PReq is checked against the
 * very bytes the wallet saw. Also here: reading orders back, their
 * history, and the stock checks a purchase makes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "hex.h"
#include "log.h"
#include "merchant.h"
#include "money.h"
#include "xmalloc.h"

/* One line of a basket, once checked against the catalog. */
struct orders_line {
	const struct catalog_item *item;
	long long qty, total;
};

/* Everything POST /orders asked for, once checked. */
struct orders_basket {
	struct orders_line lines[MERCHANT_MAX_LINES];
	size_t nlines;
	const char *name, *address, *method;
	long long delivery;
	struct merchant_brand *brand;
	const char *customer;
	long long amount;
};

static void
orders_copy(char *dst, size_t size, const unsigned char *src)
{
	snprintf(dst, size, "%s", src != NULL ? (const char *)src : "");
}

static char *
orders_dup(const unsigned char *src)
{
	return src != NULL ? xstrdup((const char *)src) : NULL;
}

int
orders_load(
    struct merchant *m, const char *by, const char *value, struct order *o)
{
	sqlite3_stmt *st;
	char *sql;
	int rc = 1;

	memset(o, 0, sizeof(*o));
	if (strcmp(by, "id") != 0 && strcmp(by, "xid") != 0)
		return -1;
	sql = xasprintf("SELECT id, status, brand, currency, amount, od, "
	                "customer, xid, lid_c, chall_c, chall_m, od_salt, hod, "
	                "preq_rrpid, preq_hash, authreq_rrpid, authreq, "
	                "auth_code, capture_token, reason, created_at, "
	                "updated_at FROM orders WHERE %s = ?",
	    by);
	st = store_prepare(m->store, sql);
	free(sql);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		orders_copy(o->id, sizeof(o->id), sqlite3_column_text(st, 0));
		orders_copy(
		    o->status, sizeof(o->status), sqlite3_column_text(st, 1));
		orders_copy(
		    o->brand, sizeof(o->brand), sqlite3_column_text(st, 2));
		orders_copy(o->currency, sizeof(o->currency),
		    sqlite3_column_text(st, 3));
		o->amount = sqlite3_column_int64(st, 4);
		o->od = orders_dup(sqlite3_column_text(st, 5));
		o->customer = orders_dup(sqlite3_column_text(st, 6));
		orders_copy(o->xid, sizeof(o->xid), sqlite3_column_text(st, 7));
		orders_copy(
		    o->lid_c, sizeof(o->lid_c), sqlite3_column_text(st, 8));
		orders_copy(
		    o->chall_c, sizeof(o->chall_c), sqlite3_column_text(st, 9));
		orders_copy(o->chall_m, sizeof(o->chall_m),
		    sqlite3_column_text(st, 10));
		orders_copy(o->od_salt, sizeof(o->od_salt),
		    sqlite3_column_text(st, 11));
		orders_copy(
		    o->hod, sizeof(o->hod), sqlite3_column_text(st, 12));
		orders_copy(o->preq_rrpid, sizeof(o->preq_rrpid),
		    sqlite3_column_text(st, 13));
		orders_copy(o->preq_hash, sizeof(o->preq_hash),
		    sqlite3_column_text(st, 14));
		orders_copy(o->authreq_rrpid, sizeof(o->authreq_rrpid),
		    sqlite3_column_text(st, 15));
		if (sqlite3_column_type(st, 16) == SQLITE_BLOB) {
			o->authreqlen = (size_t)sqlite3_column_bytes(st, 16);
			o->authreq =
			    xmemdup(sqlite3_column_blob(st, 16), o->authreqlen);
		}
		orders_copy(o->auth_code, sizeof(o->auth_code),
		    sqlite3_column_text(st, 17));
		o->capture_token = orders_dup(sqlite3_column_text(st, 18));
		o->reason = orders_dup(sqlite3_column_text(st, 19));
		o->created_at = (time_t)sqlite3_column_int64(st, 20);
		o->updated_at = (time_t)sqlite3_column_int64(st, 21);
		rc = o->od != NULL ? 0 : -1;
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = -1;
	}
	sqlite3_reset(st);
	if (rc != 0)
		orders_clear(o);
	return rc;
}

void
orders_clear(struct order *o)
{
	free(o->od);
	free(o->customer);
	free(o->authreq);
	free(o->capture_token);
	free(o->reason);
	memset(o, 0, sizeof(*o));
}

int
orders_event(struct merchant *m, const char *order_id, const char *event,
    const char *detail)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(m->store,
	    "INSERT INTO order_events (order_id, at, who, event, detail) "
	    "VALUES (?, ?, ?, ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 3, m->who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, detail, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

json_t *
orders_items_json(struct merchant *m, const char *order_id)
{
	sqlite3_stmt *st;
	json_t *items = json_array();

	st = store_prepare(m->store,
	    "SELECT sku, name, qty, unit_price, line_total FROM order_items "
	    "WHERE order_id = ? ORDER BY line");
	if (st == NULL)
		return items;
	sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(items,
		    json_pack("{s:s, s:s, s:I, s:I, s:I}", "sku",
		        (const char *)sqlite3_column_text(st, 0), "name",
		        (const char *)sqlite3_column_text(st, 1), "qty",
		        (json_int_t)sqlite3_column_int64(st, 2), "unit_price",
		        (json_int_t)sqlite3_column_int64(st, 3), "line_total",
		        (json_int_t)sqlite3_column_int64(st, 4)));
	sqlite3_reset(st);
	return items;
}

int
orders_in_stock(
    struct merchant *m, const char *order_id, char *err, size_t errlen)
{
	json_t *items = orders_items_json(m, order_id), *it;
	size_t i;
	int rc = 1;

	json_array_foreach(items, i, it)
	{
		const char *sku = json_string_value(json_object_get(it, "sku"));
		long long qty = json_integer_value(json_object_get(it, "qty"));
		long long n = catalog_available(m, sku);

		if (n < 0) {
			rc = -1;
			break;
		}
		if (n < qty) {
			snprintf(err, errlen,
			    "only %lld of %s left, the order wants %lld", n,
			    sku, qty);
			rc = 0;
			break;
		}
	}
	json_decref(items);
	return rc;
}

int
orders_take_stock(struct merchant *m, const char *order_id)
{
	json_t *items = orders_items_json(m, order_id), *it;
	size_t i;
	int rc = 0;

	json_array_foreach(items, i, it)
	{
		const char *sku = json_string_value(json_object_get(it, "sku"));
		long long qty = json_integer_value(json_object_get(it, "qty"));

		if (catalog_take(m, sku, qty) == -1) {
			rc = -1;
			break;
		}
		if (catalog_available(m, sku) < 0)
			log_warnx("order %s: %s is oversold (stock below 0)",
			    order_id, sku);
	}
	json_decref(items);
	return rc;
}

json_t *
orders_of_customer(struct merchant *m, const char *username)
{
	sqlite3_stmt *st;
	json_t *list = json_array(), *o;

	st = store_prepare(m->store,
	    "SELECT id, created_at, status, amount, currency, brand, "
	    "auth_code FROM orders WHERE customer = ? ORDER BY created_at "
	    "DESC, rowid DESC");
	if (st == NULL)
		return list;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		o = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s}", "order_id",
		    (const char *)sqlite3_column_text(st, 0), "created",
		    (json_int_t)sqlite3_column_int64(st, 1), "status",
		    (const char *)sqlite3_column_text(st, 2), "amount",
		    (json_int_t)sqlite3_column_int64(st, 3), "currency",
		    (const char *)sqlite3_column_text(st, 4), "brand",
		    (const char *)sqlite3_column_text(st, 5));
		if (sqlite3_column_type(st, 6) != SQLITE_NULL)
			json_object_set_new(o, "auth_code",
			    json_string(
			        (const char *)sqlite3_column_text(st, 6)));
		json_object_set_new(o, "items",
		    orders_items_json(
		        m, json_string_value(json_object_get(o, "order_id"))));
		json_array_append_new(list, o);
	}
	sqlite3_reset(st);
	return list;
}

/* 1 when the object has only keys from the NULL-terminated list. */
static int
orders_only_keys(json_t *o, const char *const *allowed, const char **bad)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(o, key, v)
	{
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			*bad = key;
			return 0;
		}
	}
	return 1;
}

static int
orders_read_items(struct merchant *m, struct http_req *req, json_t *items,
    struct orders_basket *b)
{
	static const char *const keys[] = { "sku", "qty", NULL };
	const char *bad;
	json_t *e, *qty;
	size_t i, j;

	if (!json_is_array(items) || json_array_size(items) == 0 ||
	    json_array_size(items) > MERCHANT_MAX_LINES) {
		reply_json_error(req, 400, "malformed",
		    "\"items\" must be a list of 1 to %d {\"sku\",\"qty\"}",
		    MERCHANT_MAX_LINES);
		return -1;
	}
	json_array_foreach(items, i, e)
	{
		struct orders_line *l = &b->lines[i];
		const char *sku;

		if (!json_is_object(e) || !orders_only_keys(e, keys, &bad)) {
			reply_json_error(req, 400, "malformed",
			    "items[%zu]: an object with \"sku\" and \"qty\" "
			    "only",
			    i);
			return -1;
		}
		sku = json_string_value(json_object_get(e, "sku"));
		qty = json_object_get(e, "qty");
		if (sku == NULL) {
			reply_json_error(req, 400, "malformed",
			    "items[%zu].sku: a string is required", i);
			return -1;
		}
		if ((l->item = catalog_find(m->catalog, sku)) == NULL) {
			reply_json_error(req, 400, "unknown-sku",
			    "items[%zu]: no item with SKU \"%.64s\" in the "
			    "catalog",
			    i, sku);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (b->lines[j].item == l->item) {
				reply_json_error(req, 400, "malformed",
				    "items[%zu]: SKU %s is listed twice; give "
				    "one line with the total quantity",
				    i, sku);
				return -1;
			}
		if (!json_is_integer(qty) || json_integer_value(qty) < 1 ||
		    json_integer_value(qty) > MERCHANT_MAX_QTY) {
			reply_json_error(req, 400, "bad-quantity",
			    "items[%zu].qty: an integer from 1 to %d", i,
			    MERCHANT_MAX_QTY);
			return -1;
		}
		l->qty = (long long)json_integer_value(qty);
		if (catalog_available(m, sku) < l->qty) {
			reply_json_error(req, 400, "out-of-stock",
			    "items[%zu]: %s is out of stock (%lld left)", i,
			    sku,
			    catalog_available(m, sku) > 0
			        ? catalog_available(m, sku)
			        : 0);
			return -1;
		}
		l->total = l->item->price * l->qty;
		b->amount += l->total;
		b->nlines++;
	}
	return 0;
}

static int
orders_read_delivery(struct merchant *m, struct http_req *req, json_t *d,
    struct orders_basket *b)
{
	static const char *const keys[] = { "name", "address", "method", NULL };
	const char *bad;

	if (!json_is_object(d) || !orders_only_keys(d, keys, &bad)) {
		reply_json_error(req, 400, "malformed",
		    "\"delivery\" must be an object with \"name\", "
		    "\"address\" and \"method\"");
		return -1;
	}
	b->name = json_string_value(json_object_get(d, "name"));
	b->address = json_string_value(json_object_get(d, "address"));
	b->method = json_string_value(json_object_get(d, "method"));
	if (b->name == NULL || !merchant_text_ok(b->name, 128)) {
		reply_json_error(req, 400, "malformed",
		    "delivery.name: 1-128 printable characters");
		return -1;
	}
	if (b->address == NULL || !merchant_text_ok(b->address, 512)) {
		reply_json_error(req, 400, "malformed",
		    "delivery.address: 1-512 printable characters, one line");
		return -1;
	}
	if (merchant_holds_pan(b->name) || merchant_holds_pan(b->address)) {
		reply_json_error(req, 400, "malformed",
		    "the delivery details hold what looks like a card "
		    "number: never send a card number to the merchant");
		return -1;
	}
	if (b->method != NULL && strcmp(b->method, "standard") == 0)
		b->delivery = m->set.delivery_standard;
	else if (b->method != NULL && strcmp(b->method, "express") == 0)
		b->delivery = m->set.delivery_express;
	else {
		reply_json_error(req, 400, "malformed",
		    "delivery.method: \"standard\" or \"express\"");
		return -1;
	}
	b->amount += b->delivery;
	return 0;
}

static int
orders_read_customer(struct merchant *m, struct http_req *req, json_t *c,
    struct orders_basket *b)
{
	static const char *const keys[] = { "username", "password", NULL };
	const char *bad, *user, *pass;
	int r;

	if (c == NULL)
		return 0;
	if (!m->set.accounts) {
		reply_json_error(req, 400, "no-accounts",
		    "this shop takes orders without customer accounts");
		return -1;
	}
	user = json_string_value(json_object_get(c, "username"));
	pass = json_string_value(json_object_get(c, "password"));
	if (!json_is_object(c) || !orders_only_keys(c, keys, &bad) ||
	    user == NULL || pass == NULL) {
		reply_json_error(req, 400, "malformed",
		    "\"customer\" must be {\"username\",\"password\"}");
		return -1;
	}
	if ((r = accounts_check(m, user, pass)) == -1) {
		reply_json_error(req, 500, "internal",
		    "the shop cannot check the account now");
		return -1;
	}
	if (r == 1) {
		reply_json_error(req, 401, "bad-credentials",
		    "unknown username or wrong password");
		return -1;
	}
	b->customer = user;
	return 0;
}

/* The order description: one text, the bytes the HOD covers. */
static char *
orders_od(struct merchant *m, const char *id, const struct orders_basket *b)
{
	char unit[48], total[48], *od, *next;
	size_t i;

	od = xasprintf("SET order %s\nmerchant: %s (%s)\n", id, m->id, m->name);
	for (i = 0; i < b->nlines; i++) {
		const struct orders_line *l = &b->lines[i];

		money_format(l->item->price, m->currency, unit, sizeof(unit));
		money_format(l->total, m->currency, total, sizeof(total));
		next = xasprintf("%s%lld x %s \"%s\" at %s = %s\n", od, l->qty,
		    l->item->sku, l->item->name, unit, total);
		free(od);
		od = next;
	}
	money_format(b->delivery, m->currency, total, sizeof(total));
	next = xasprintf("%sdelivery: %s to %s, %s = %s\n", od, b->method,
	    b->name, b->address, total);
	free(od);
	od = next;
	money_format(b->amount, m->currency, total, sizeof(total));
	next = xasprintf("%stotal: %s\n", od, total);
	free(od);
	return next;
}

static int
orders_insert(struct merchant *m, const char *id, const char *od,
    const struct orders_basket *b)
{
	sqlite3_stmt *st;
	time_t now = time(NULL);
	size_t i;
	int rc;

	st = store_prepare(m->store,
	    "INSERT INTO orders (id, created_at, updated_at, status, brand, "
	    "currency, amount, od, delivery_name, delivery_address, "
	    "delivery_method, delivery_price, customer) VALUES (?1, ?2, ?2, "
	    "'placed', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	sqlite3_bind_text(st, 3, b->brand->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->currency, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, b->amount);
	sqlite3_bind_text(st, 6, od, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, b->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, b->address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, b->method, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, b->delivery);
	sqlite3_bind_text(st, 11, b->customer, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	for (i = 0; rc == 0 && i < b->nlines; i++) {
		st = store_prepare(m->store,
		    "INSERT INTO order_items (order_id, line, sku, name, qty, "
		    "unit_price, line_total) VALUES (?, ?, ?, ?, ?, ?, ?)");
		if (st == NULL)
			return -1;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i + 1);
		sqlite3_bind_text(
		    st, 3, b->lines[i].item->sku, -1, SQLITE_STATIC);
		sqlite3_bind_text(
		    st, 4, b->lines[i].item->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, b->lines[i].qty);
		sqlite3_bind_int64(st, 6, b->lines[i].item->price);
		sqlite3_bind_int64(st, 7, b->lines[i].total);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(st);
	}
	if (rc == 0)
		rc = orders_event(m, id, "placed", NULL);
	return rc;
}

void
orders_http_place(struct merchant *m, struct http_req *req)
{
	static const char *const keys[] = { "items", "delivery", "brand",
		"customer", NULL };
	struct orders_basket b;
	json_t *in, *out;
	const char *bad, *brand;
	char *id = NULL, *od = NULL, amount[48];

	if (strcmp(req->method, "POST") != 0) {
		orders_http_list(m, req);
		return;
	}
	if ((in = reply_parse_body(req)) == NULL)
		return;
	memset(&b, 0, sizeof(b));
	if (m->catalog == NULL) {
		reply_json_error(
		    req, 503, "no-catalog", "the shop has no catalog loaded");
		goto done;
	}
	if (!orders_only_keys(in, keys, &bad)) {
		reply_json_error(req, 400, "malformed",
		    "unknown field \"%.64s\"; an order has \"items\", "
		    "\"delivery\", \"brand\" and optionally \"customer\"",
		    bad);
		goto done;
	}
	brand = json_string_value(json_object_get(in, "brand"));
	if (brand == NULL ||
	    (b.brand = merchant_brand_find(m, brand)) == NULL) {
		reply_json_error(req, 400, "unknown-brand",
		    "\"brand\": this shop accepts %s%s", m->brands[0].name,
		    m->nbrands > 1 ? " and others (GET /catalog lists them)"
		                   : " only");
		goto done;
	}
	if (orders_read_items(m, req, json_object_get(in, "items"), &b) == -1 ||
	    orders_read_delivery(m, req, json_object_get(in, "delivery"), &b) ==
	        -1 ||
	    orders_read_customer(m, req, json_object_get(in, "customer"), &b) ==
	        -1)
		goto done;
	if (b.amount < 1 || b.amount > PAYMENT_MAX_AMOUNT) {
		reply_json_error(req, 400, "bad-amount",
		    "the order's total is out of range");
		goto done;
	}

	id = hex_random(10);
	od = orders_od(m, id, &b);
	if (store_begin(m->store) == -1)
		goto internal;
	if (orders_insert(m, id, od, &b) == -1 ||
	    store_commit(m->store) == -1) {
		store_rollback(m->store);
		goto internal;
	}
	money_format(b.amount, m->currency, amount, sizeof(amount));
	log_info("order %s placed: %s, %zu line(s), %s", id, amount, b.nlines,
	    b.brand->name);
	out = json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s, s:I}, s:I, s:s, "
	                "s:s}",
	    "order_id", id, "od", od, "items", orders_items_json(m, id),
	    "delivery", "name", b.name, "address", b.address, "method",
	    b.method, "price", (json_int_t)b.delivery, "amount",
	    (json_int_t)b.amount, "currency", m->currency, "brand",
	    b.brand->name);
	reply_json(req, 200, out);
	goto done;
internal:
	reply_json_error(req, 500, "internal",
	    "the shop could not record the order: %s",
	    sqlite3_errmsg(store_db(m->store)));
done:
	free(id);
	free(od);
	json_decref(in);
}

/* GET /orders with HTTP Basic authentication: the customer's orders. */
void
orders_http_list(struct merchant *m, struct http_req *req)
{
	const char *auth = http_req_header(req, "Authorization");
	char *user = NULL, *pass = NULL;
	int r;

	if (strcmp(req->method, "GET") != 0) {
		reply_json_error(req, 405, "method",
		    "POST /orders places an order, GET /orders lists yours");
		return;
	}
	if (!m->set.accounts) {
		reply_json_error(req, 404, "no-accounts",
		    "this shop has no customer accounts");
		return;
	}
	if (auth == NULL || accounts_basic_decode(auth, &user, &pass) == -1) {
		reply_json_error(req, 401, "bad-credentials",
		    "log in with HTTP Basic authentication");
		return;
	}
	if ((r = accounts_check(m, user, pass)) == 0)
		reply_json(req, 200,
		    json_pack("{s:s, s:o}", "username", user, "orders",
		        orders_of_customer(m, user)));
	else if (r == 1)
		reply_json_error(req, 401, "bad-credentials",
		    "unknown username or wrong password");
	else
		reply_json_error(req, 500, "internal",
		    "the shop cannot check the account now");
	free(user);
	freezero_buf(pass, strlen(pass));
}
