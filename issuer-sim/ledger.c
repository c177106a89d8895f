/*
 * The double-entry ledger. Money moves only as transactions whose entries
 * sum to zero in one currency; no balance is ever stored, every balance is
 * the sum of an account's entries, and entries are append-only (triggers in
 * the schema refuse UPDATE and DELETE). ledger_check() proves the whole
 * ledger balanced, transaction by transaction.
 *
 * Signs: an entry's amount is positive for a debit and negative for a
 * credit. A card account is what the cardholder owes the bank: a purchase
 * debits it, a payment credits it. Today only payments post (cash in,
 * owed down); a capture in the purchase issue posts
 *	card account +amount, settlement:CUR -amount
 * through the same ledger_post(), and a refund the reverse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "issuer.h"
#include "log.h"
#include "money.h"
#include "xmalloc.h"

static int
ledger_insert_account(struct issuer *is, const char *code, const char *kind,
    const char *currency, const char *name, long long *id)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(is->store,
	    "INSERT INTO ledger_accounts (code, "
	    "kind, currency, name) VALUES (?, ?, ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, currency, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	if (rc == 0)
		*id = sqlite3_last_insert_rowid(store_db(is->store));
	return rc;
}

int
ledger_internal(
    struct issuer *is, const char *kind, const char *currency, long long *id)
{
	sqlite3_stmt *st;
	char *code = xasprintf("%s:%s", kind, currency), *name;
	int rc;

	st = store_prepare(
	    is->store, "SELECT id FROM ledger_accounts WHERE code = ?");
	if (st == NULL) {
		free(code);
		return -1;
	}
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) {
		free(code);
		return 0;
	}
	if (rc != SQLITE_DONE) {
		free(code);
		return -1;
	}
	name = xasprintf("the issuer's %s account in %s", kind, currency);
	rc = ledger_insert_account(is, code, kind, currency, name, id);
	free(name);
	free(code);
	return rc;
}

int
ledger_card_account(struct issuer *is, const char *pan_hash, const char *masked,
    const char *currency, long long *id)
{
	char *code = xasprintf("card:%.16s", pan_hash);
	char *name = xasprintf("card %s", masked);
	int rc;

	rc = ledger_insert_account(is, code, "card", currency, name, id);
	free(code);
	free(name);
	return rc;
}

static int
ledger_account_currency(
    struct issuer *is, long long account, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(
	    is->store, "SELECT currency FROM ledger_accounts WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(out, outlen, "%s", sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int
ledger_insert_entry(
    struct issuer *is, long long txn, const struct ledger_entry *e)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(is->store,
	    "INSERT INTO ledger_entries (txn_id, "
	    "account_id, amount) VALUES (?, ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, txn);
	sqlite3_bind_int64(st, 2, e->account);
	sqlite3_bind_int64(st, 3, e->amount);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

int
ledger_post(struct issuer *is, const char *kind, const char *reference,
    const char *description, const char *currency,
    const struct ledger_entry *entries, size_t n, long long *txn, char *err,
    size_t errlen)
{
	sqlite3_stmt *st;
	char cur[8];
	long long sum = 0;
	size_t i;
	int rc;

	if (n < 2) {
		errbuf_set(err, errlen, "a transaction needs two entries");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (entries[i].amount == 0 ||
		    entries[i].amount > ISSUER_MAX_AMOUNT ||
		    entries[i].amount < -ISSUER_MAX_AMOUNT) {
			errbuf_set(err, errlen, "entry %zu: bad amount %lld", i,
			    entries[i].amount);
			return -1;
		}
		if (ledger_account_currency(
		        is, entries[i].account, cur, sizeof(cur)) == -1 ||
		    strcmp(cur, currency) != 0) {
			errbuf_set(err, errlen,
			    "entry %zu: account %lld is not "
			    "an account in %s",
			    i, entries[i].account, currency);
			return -1;
		}
		sum += entries[i].amount;
	}
	if (sum != 0) {
		errbuf_set(err, errlen,
		    "the entries sum to %lld, not zero: "
		    "nothing posted",
		    sum);
		return -1;
	}
	st = store_prepare(is->store,
	    "INSERT INTO ledger_transactions (kind, "
	    "reference, description, currency, created_at, created_by) "
	    "VALUES (?, ?, ?, ?, ?, ?)");
	if (st == NULL) {
		errbuf_set(err, errlen, "cannot post to the ledger");
		return -1;
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reference, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, currency, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 6, is->who, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	if (rc == 0)
		*txn = sqlite3_last_insert_rowid(store_db(is->store));
	for (i = 0; rc == 0 && i < n; i++)
		rc = ledger_insert_entry(is, *txn, &entries[i]);
	if (rc == -1)
		errbuf_set(err, errlen, "cannot post to the ledger: %s",
		    sqlite3_errmsg(store_db(is->store)));
	return rc;
}

int
ledger_balance(struct issuer *is, long long account, long long *out)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(is->store,
	    "SELECT coalesce(sum(amount), 0) FROM "
	    "ledger_entries WHERE account_id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
ledger_payment(struct issuer *is, const struct account *a, long long amount,
    long long *txn, char *err, size_t errlen)
{
	struct ledger_entry e[2];
	long long cash;

	if (ledger_internal(is, "cash", a->currency, &cash) == -1) {
		errbuf_set(err, errlen, "cannot find the cash account");
		return -1;
	}
	e[0].account = a->ledger;
	e[0].amount = -amount;
	e[1].account = cash;
	e[1].amount = amount;
	return ledger_post(is, "payment", a->masked,
	    "payment by the cardholder", a->currency, e, 2, txn, err, errlen);
}

int
ledger_check(struct issuer *is, long long *ntx, long long *nentries, char *err,
    size_t errlen)
{
	sqlite3_stmt *st;
	char amount[48];
	int rc, bad = 0;

	*ntx = *nentries = 0;
	st = store_prepare(is->store,
	    "SELECT t.id, t.kind, t.currency, "
	    "count(e.id), coalesce(sum(e.amount), 0), "
	    "coalesce(sum(a.currency IS NOT t.currency), 0), "
	    "coalesce(sum(e.amount = 0), 0) "
	    "FROM ledger_transactions t "
	    "LEFT JOIN ledger_entries e ON e.txn_id = t.id "
	    "LEFT JOIN ledger_accounts a ON a.id = e.account_id "
	    "GROUP BY t.id ORDER BY t.id");
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		long long id = sqlite3_column_int64(st, 0);
		const char *kind = (const char *)sqlite3_column_text(st, 1);
		const char *cur = (const char *)sqlite3_column_text(st, 2);
		long long n = sqlite3_column_int64(st, 3);
		long long sum = sqlite3_column_int64(st, 4);

		(*ntx)++;
		*nentries += n;
		if (bad)
			continue;
		money_digits(sum, cur, amount, sizeof(amount));
		if (sum != 0) {
			errbuf_set(err, errlen,
			    "transaction %lld (%s) does not "
			    "sum to zero: it sums to %s %s",
			    id, kind, amount, cur);
			bad = 1;
		} else if (n < 2) {
			errbuf_set(err, errlen,
			    "transaction %lld (%s) has %lld "
			    "entries: a transaction needs two or more",
			    id, kind, n);
			bad = 1;
		} else if (sqlite3_column_int64(st, 5) != 0) {
			errbuf_set(err, errlen,
			    "transaction %lld (%s) has an "
			    "entry on an account that is not in %s",
			    id, kind, cur);
			bad = 1;
		} else if (sqlite3_column_int64(st, 6) != 0) {
			errbuf_set(err, errlen,
			    "transaction %lld (%s) has an "
			    "entry of zero",
			    id, kind);
			bad = 1;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (bad)
		return 1;
	/* Entries outside any transaction would escape the sums above. */
	st = store_prepare(is->store,
	    "SELECT count(*) FROM ledger_entries "
	    "WHERE txn_id NOT IN (SELECT id FROM ledger_transactions)");
	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) != 0) {
		errbuf_set(err, errlen,
		    "%lld ledger entries belong to no "
		    "transaction",
		    (long long)sqlite3_column_int64(st, 0));
		bad = 1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return -1;
	return bad;
}
