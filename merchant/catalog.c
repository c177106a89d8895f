/*
 * The catalog: what the shop sells, at which price, and how many are on
 * hand. The operator edits catalog.json
 *
 *	{"currency":"EUR","items":[{"sku":"mug","name":"Mug","price":990,
 *	 "stock":100}, ...]}
 *
 * (prices in minor units of the merchant's currency) and the daemon reads it
 * at start and on HUP; a file that does not pass every check is refused as a
 * whole and the old catalog stays. The count on hand lives in the database
 * (table stock), because sales take items off it in the same transaction
 * that records an authorization: the file's "stock" is the operator's figure,
 * and when it changes the database takes it as the new count on hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "errbuf.h"
#include "log.h"
#include "merchant.h"
#include "xmalloc.h"

#define CATALOG_MAX_ITEMS 10000
#define CATALOG_MAX_STOCK 1000000000LL

void
catalog_free(struct catalog *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nitems; i++) {
		free(c->items[i].sku);
		free(c->items[i].name);
	}
	free(c->items);
	free(c->currency);
	free(c);
}

const struct catalog_item *
catalog_find(const struct catalog *c, const char *sku)
{
	size_t i;

	if (c == NULL)
		return NULL;
	for (i = 0; i < c->nitems; i++)
		if (strcmp(c->items[i].sku, sku) == 0)
			return &c->items[i];
	return NULL;
}

/* One entry of "items". */
static int
catalog_item_load(const char *path, size_t idx, json_t *e, struct catalog *c,
    char *err, size_t errlen)
{
	static const char *const keys[] = { "sku", "name", "price", "stock" };
	struct catalog_item *it = &c->items[c->nitems];
	const char *key, *sku, *name;
	json_t *v, *price, *stock;
	size_t i;

	if (!json_is_object(e)) {
		errbuf_set(err, errlen, "%s: items[%zu]: expected an object",
		    path, idx);
		return -1;
	}
	json_object_foreach(e, key, v)
	{
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			errbuf_set(err, errlen,
			    "%s: items[%zu].%s: unknown key (a typo?)", path,
			    idx, key);
			return -1;
		}
	}
	sku = json_string_value(json_object_get(e, "sku"));
	name = json_string_value(json_object_get(e, "name"));
	price = json_object_get(e, "price");
	stock = json_object_get(e, "stock");
	if (sku == NULL || !merchant_ident_ok(sku, 64)) {
		errbuf_set(err, errlen,
		    "%s: items[%zu].sku: 1-64 characters from A-Z a-z 0-9 "
		    ". _ -",
		    path, idx);
		return -1;
	}
	if (catalog_find(c, sku) != NULL) {
		errbuf_set(err, errlen,
		    "%s: items[%zu]: SKU %s is listed twice", path, idx, sku);
		return -1;
	}
	if (name == NULL || !merchant_text_ok(name, 128)) {
		errbuf_set(err, errlen,
		    "%s: items[%zu].name: 1-128 printable characters", path,
		    idx);
		return -1;
	}
	if (!json_is_integer(price) || json_integer_value(price) < 1 ||
	    json_integer_value(price) > PAYMENT_MAX_AMOUNT) {
		errbuf_set(err, errlen,
		    "%s: items[%zu].price: an integer count of minor units "
		    "(cents), 1 to %lld",
		    path, idx, PAYMENT_MAX_AMOUNT);
		return -1;
	}
	if (!json_is_integer(stock) || json_integer_value(stock) < 0 ||
	    json_integer_value(stock) > CATALOG_MAX_STOCK) {
		errbuf_set(err, errlen,
		    "%s: items[%zu].stock: an integer from 0 to %lld", path,
		    idx, CATALOG_MAX_STOCK);
		return -1;
	}
	it->sku = xstrdup(sku);
	it->name = xstrdup(name);
	it->price = (long long)json_integer_value(price);
	it->stock = (long long)json_integer_value(stock);
	c->nitems++;
	return 0;
}

struct catalog *
catalog_load(const char *path, const char *currency, char *err, size_t errlen)
{
	struct catalog *c = xcalloc(1, sizeof(*c));
	json_error_t jerr;
	json_t *doc, *items, *e, *v;
	const char *cur, *key;
	size_t i;

	doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		errbuf_set(err, errlen, "%s: line %d, column %d: %s", path,
		    jerr.line, jerr.column, jerr.text);
		goto fail;
	}
	if (!json_is_object(doc)) {
		errbuf_set(err, errlen, "%s: expected a JSON object", path);
		goto fail;
	}
	json_object_foreach(doc, key, v)
	{
		if (strcmp(key, "currency") != 0 && strcmp(key, "items") != 0) {
			errbuf_set(err, errlen, "%s: %s: unknown key (a typo?)",
			    path, key);
			goto fail;
		}
	}
	cur = json_string_value(json_object_get(doc, "currency"));
	if (cur == NULL || strcmp(cur, currency) != 0) {
		errbuf_set(err, errlen,
		    "%s: currency: must be the merchant's currency, %s", path,
		    currency);
		goto fail;
	}
	items = json_object_get(doc, "items");
	if (!json_is_array(items) ||
	    json_array_size(items) > CATALOG_MAX_ITEMS) {
		errbuf_set(err, errlen,
		    "%s: items: expected a list of at most %d items", path,
		    CATALOG_MAX_ITEMS);
		goto fail;
	}
	c->currency = xstrdup(cur);
	c->items = xcalloc(json_array_size(items) + 1, sizeof(*c->items));
	json_array_foreach(items, i, e)
	{
		if (catalog_item_load(path, i, e, c, err, errlen) == -1)
			goto fail;
	}
	json_decref(doc);
	return c;
fail:
	json_decref(doc);
	catalog_free(c);
	return NULL;
}

/* Brings one SKU's row of the stock table in line with the file. */
static int
catalog_sync_item(struct merchant *m, const struct catalog_item *it)
{
	sqlite3_stmt *st;
	int found = 0, rc = -1;
	long long file_stock = 0;

	st = store_prepare(
	    m->store, "SELECT file_stock FROM stock WHERE sku = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, it->sku, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = 1;
		file_stock = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (found && file_stock == it->stock)
		return 0;
	if (found)
		log_info("catalog: %s: the operator set the stock to %lld",
		    it->sku, it->stock);
	st = store_prepare(m->store,
	    "INSERT INTO stock (sku, file_stock, available) VALUES (?1, ?2, "
	    "?2) ON CONFLICT (sku) DO UPDATE SET file_stock = ?2, "
	    "available = ?2");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, it->sku, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, it->stock);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
	sqlite3_reset(st);
	return rc;
}

int
catalog_reload(struct merchant *m, char *err, size_t errlen)
{
	struct catalog *c;
	size_t i;

	if ((c = catalog_load(m->catalog_file, m->currency, err, errlen)) ==
	    NULL)
		return -1;
	if (store_begin(m->store) == -1)
		goto fail;
	for (i = 0; i < c->nitems; i++)
		if (catalog_sync_item(m, &c->items[i]) == -1) {
			store_rollback(m->store);
			goto fail;
		}
	if (store_commit(m->store) == -1)
		goto fail;
	catalog_free(m->catalog);
	m->catalog = c;
	log_info("catalog: %zu items from %s", c->nitems, m->catalog_file);
	return 0;
fail:
	errbuf_set(err, errlen, "%s: cannot record the stock: %s",
	    m->catalog_file, sqlite3_errmsg(store_db(m->store)));
	catalog_free(c);
	return -1;
}

long long
catalog_available(struct merchant *m, const char *sku)
{
	sqlite3_stmt *st;
	long long n = 0;

	st = store_prepare(
	    m->store, "SELECT available FROM stock WHERE sku = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, sku, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

int
catalog_take(struct merchant *m, const char *sku, long long qty)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(m->store,
	    "UPDATE stock SET available = available - ? WHERE sku = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, qty);
	sqlite3_bind_text(st, 2, sku, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

json_t *
catalog_json(struct merchant *m)
{
	json_t *items = json_array(), *brands = json_array();
	size_t i;

	for (i = 0; m->catalog != NULL && i < m->catalog->nitems; i++) {
		const struct catalog_item *it = &m->catalog->items[i];
		long long n = catalog_available(m, it->sku);

		json_array_append_new(items,
		    json_pack("{s:s, s:s, s:I, s:I}", "sku", it->sku, "name",
		        it->name, "price", (json_int_t)it->price, "stock",
		        (json_int_t)(n > 0 ? n : 0)));
	}
	for (i = 0; i < m->nbrands; i++)
		json_array_append_new(brands, json_string(m->brands[i].name));
	return json_pack("{s:s, s:s, s:s, s:o, s:{s:I, s:I}, s:o}", "merchant",
	    m->id, "name", m->name, "currency", m->currency, "brands", brands,
	    "delivery", "standard", (json_int_t)m->set.delivery_standard,
	    "express", (json_int_t)m->set.delivery_express, "items", items);
}

void
catalog_http_get(struct merchant *m, struct http_req *req)
{
	if (strcmp(req->method, "GET") != 0) {
		reply_json_error(req, 405, "method", "use GET for the catalog");
		return;
	}
	reply_json(req, 200, catalog_json(m));
}

int
catalog_write_example(
    const char *path, const char *currency, char *err, size_t errlen)
{
	struct stat sb;
	json_t *doc;
	int rc;

	/* An operator's own catalog is never overwritten. */
	if (stat(path, &sb) == 0)
		return 0;
	doc = json_pack("{s:s, s:[{s:s, s:s, s:i, s:i}, {s:s, s:s, s:i, s:i}, "
	                "{s:s, s:s, s:i, s:i}]}",
	    "currency", currency, "items", "sku", "set-book", "name",
	    "Secure Electronic Transaction, Books 1-3", "price", 4500, "stock",
	    20, "sku", "mug", "name", "Dual-signature mug", "price", 990,
	    "stock", 100, "sku", "poster", "name", "Payment flow poster",
	    "price", 1500, "stock", 5);
	rc = merchant_write_json(path, doc, err, errlen);
	json_decref(doc);
	return rc;
}
