/*
 * The issuer's state: the schema of its database, opening the state folder
 * (config, database, the card key), the settings a HUP reloads, the keyed
 * hashes that stand in for card numbers and CVVs, amounts, and the audit
 * log. Everything else in issuer-sim/ works on a struct issuer from
 * issuer_open().
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "errbuf.h"
#include "hex.h"
#include "issuer.h"
#include "log.h"
#include "xmalloc.h"

const char *const issuer_migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE ledger_accounts ("
	"  id INTEGER PRIMARY KEY,"
	"  code TEXT NOT NULL UNIQUE," /* card:N, cash:EUR, settlement:EUR */
	"  kind TEXT NOT NULL CHECK (kind IN ('card', 'cash', 'settlement')),"
	"  currency TEXT NOT NULL,"
	"  name TEXT NOT NULL);"
	"CREATE TABLE accounts ("
	"  id INTEGER PRIMARY KEY,"
	"  ledger_id INTEGER NOT NULL UNIQUE REFERENCES ledger_accounts(id),"
	"  pan_hash TEXT NOT NULL UNIQUE," /* HMAC of the card number */
	"  pan_first6 TEXT NOT NULL,"
	"  pan_last4 TEXT NOT NULL,"
	"  pan_len INTEGER NOT NULL,"
	"  expiry TEXT NOT NULL," /* YYYY-MM */
	"  cvv_hash TEXT NOT NULL," /* HMAC of card number and CVV */
	"  holder TEXT NOT NULL,"
	"  postcode TEXT NOT NULL,"
	"  currency TEXT NOT NULL,"
	"  credit_limit INTEGER NOT NULL CHECK (credit_limit >= 0),"
	"  per_tx_limit INTEGER NOT NULL DEFAULT 0 CHECK (per_tx_limit >= 0),"
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('active', 'blocked', 'lost', 'stolen', 'closed')),"
	"  demo INTEGER NOT NULL DEFAULT 0,"
	"  opened_at INTEGER NOT NULL,"
	"  status_at INTEGER NOT NULL);"
	"CREATE TABLE ledger_transactions ("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL," /* payment; capture, refund to come */
	"  reference TEXT,"
	"  description TEXT NOT NULL,"
	"  currency TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  created_by TEXT NOT NULL);"
	"CREATE TABLE ledger_entries ("
	"  id INTEGER PRIMARY KEY,"
	"  txn_id INTEGER NOT NULL REFERENCES ledger_transactions(id),"
	"  account_id INTEGER NOT NULL REFERENCES ledger_accounts(id),"
	"  amount INTEGER NOT NULL);" /* minor units, debit positive */
	"CREATE INDEX ledger_entries_txn ON ledger_entries(txn_id);"
	"CREATE INDEX ledger_entries_account ON ledger_entries(account_id);"
	/* A ledger is append-only: a mistake is corrected by a new
	 * transaction, never by editing an old one. */
	"CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON "
	"  ledger_entries BEGIN SELECT RAISE(ABORT, "
	"  'ledger entries are append-only'); END;"
	"CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON "
	"  ledger_entries BEGIN SELECT RAISE(ABORT, "
	"  'ledger entries are append-only'); END;"
	"CREATE TABLE holds ("
	"  id TEXT PRIMARY KEY,"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id),"
	"  auth_code TEXT NOT NULL,"
	"  amount INTEGER NOT NULL CHECK (amount > 0),"
	"  remaining INTEGER NOT NULL"
	"    CHECK (remaining >= 0 AND remaining <= amount),"
	"  currency TEXT NOT NULL,"
	"  merchant_id TEXT NOT NULL,"
	"  request_id TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('active', 'reversed', 'captured')),"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  closed_at INTEGER);"
	"CREATE INDEX holds_account ON holds(account_id, status, expires_at);"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  who TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  target TEXT,"
	"  detail TEXT);",
};
const size_t issuer_nmigrations =
    sizeof(issuer_migrations) / sizeof(issuer_migrations[0]);

const char *
issuer_operator(void)
{
	const char *who = getenv("SET_OPERATOR");
	struct passwd *pw;

	if (who != NULL && *who != '\0')
		return who;
	if ((pw = getpwuid(getuid())) != NULL)
		return pw->pw_name;
	return "unknown";
}

static void
issuer_settings_free(struct issuer_settings *set)
{
	size_t i;

	for (i = 0; i < set->nclients; i++)
		free(set->clients[i]);
	free(set->clients);
	for (i = 0; i < set->nmagic; i++)
		free(set->magic[i].decline);
	free(set->magic);
	memset(set, 0, sizeof(*set));
}

static struct issuer_magic *
issuer_magic_add(struct issuer_settings *set, long long amount)
{
	struct issuer_magic *m;
	size_t i;

	for (i = 0; i < set->nmagic; i++)
		if (set->magic[i].amount == amount)
			return &set->magic[i];
	set->magic =
	    xrealloc(set->magic, (set->nmagic + 1) * sizeof(*set->magic));
	m = &set->magic[set->nmagic++];
	memset(m, 0, sizeof(*m));
	m->amount = amount;
	return m;
}

/* The "test" section: magic amounts (docs/issuer-sim.md). */
static int
issuer_settings_magic(
    struct config *cfg, struct issuer_settings *set, char *err, size_t errlen)
{
	static const char *const keys[] = { "decline", "slow_ms", "no_answer",
		NULL };
	const char *file = config_file(cfg), *k;
	json_t *obj, *v;
	long long amount;
	size_t i;

	if (config_check_keys(cfg, "test", keys) == -1) {
		errbuf_set(err, errlen, "%s", config_error(cfg));
		return -1;
	}
	if ((obj = config_get(cfg, "test.decline")) != NULL) {
		if (!json_is_object(obj)) {
			errbuf_set(err, errlen,
			    "%s: test.decline: expected an object of "
			    "amount: reason",
			    file);
			return -1;
		}
		json_object_foreach(obj, k, v)
		{
			if (issuer_parse_amount(k, &amount) == -1 ||
			    !json_is_string(v) ||
			    !authorize_reason_ok(json_string_value(v))) {
				errbuf_set(err, errlen,
				    "%s: test.decline.%s: expected an "
				    "amount in minor units and a decline "
				    "reason",
				    file, k);
				return -1;
			}
			issuer_magic_add(set, amount)->decline =
			    xstrdup(json_string_value(v));
		}
	}
	if ((obj = config_get(cfg, "test.slow_ms")) != NULL) {
		if (!json_is_object(obj)) {
			errbuf_set(err, errlen,
			    "%s: test.slow_ms: expected an object of "
			    "amount: milliseconds",
			    file);
			return -1;
		}
		json_object_foreach(obj, k, v)
		{
			if (issuer_parse_amount(k, &amount) == -1 ||
			    !json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > 600000) {
				errbuf_set(err, errlen,
				    "%s: test.slow_ms.%s: expected an "
				    "amount and 1-600000 milliseconds",
				    file, k);
				return -1;
			}
			issuer_magic_add(set, amount)->slow_ms =
			    json_integer_value(v);
		}
	}
	if ((obj = config_get(cfg, "test.no_answer")) != NULL) {
		if (!json_is_array(obj)) {
			errbuf_set(err, errlen,
			    "%s: test.no_answer: expected an array of "
			    "amounts",
			    file);
			return -1;
		}
		json_array_foreach(obj, i, v)
		{
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > ISSUER_MAX_AMOUNT) {
				errbuf_set(err, errlen,
				    "%s: test.no_answer[%zu]: expected an "
				    "amount in minor units",
				    file, i);
				return -1;
			}
			issuer_magic_add(set, json_integer_value(v))
			    ->no_answer = 1;
		}
	}
	return 0;
}

/* verify.required: which of cvv, name, postcode a verification needs. */
static int
issuer_settings_verify(
    struct config *cfg, struct issuer_settings *set, char *err, size_t errlen)
{
	static const char *const keys[] = { "required", NULL };
	const char *f;
	json_t *arr, *v;
	size_t i;

	if (config_check_keys(cfg, "verify", keys) == -1) {
		errbuf_set(err, errlen, "%s", config_error(cfg));
		return -1;
	}
	if ((arr = config_get(cfg, "verify.required")) == NULL) {
		set->verify_required =
		    VERIFY_CVV | VERIFY_NAME | VERIFY_POSTCODE;
		return 0;
	}
	if (!json_is_array(arr)) {
		errbuf_set(err, errlen,
		    "%s: verify.required: expected an array of \"cvv\", "
		    "\"name\", \"postcode\"",
		    config_file(cfg));
		return -1;
	}
	json_array_foreach(arr, i, v)
	{
		f = json_string_value(v);
		if (f != NULL && strcmp(f, "cvv") == 0)
			set->verify_required |= VERIFY_CVV;
		else if (f != NULL && strcmp(f, "name") == 0)
			set->verify_required |= VERIFY_NAME;
		else if (f != NULL && strcmp(f, "postcode") == 0)
			set->verify_required |= VERIFY_POSTCODE;
		else {
			errbuf_set(err, errlen,
			    "%s: verify.required[%zu]: expected "
			    "\"cvv\", \"name\" or \"postcode\"",
			    config_file(cfg), i);
			return -1;
		}
	}
	return 0;
}

static int
issuer_settings_load(
    struct config *cfg, struct issuer_settings *set, char *err, size_t errlen)
{
	const char *file = config_file(cfg);
	const long long d168 = 168;
	long long hours;
	json_t *arr, *v;
	size_t i;

	memset(set, 0, sizeof(*set));
	if (config_int(cfg, "holds.expiry_hours", &d168, 1, 24 * 366, &hours) ==
	    -1) {
		errbuf_set(err, errlen, "%s", config_error(cfg));
		goto fail;
	}
	set->hold_secs = hours * 3600;
	if ((arr = config_get(cfg, "clients")) == NULL) {
		set->clients = xcalloc(1, sizeof(*set->clients));
		set->clients[set->nclients++] = xstrdup("set-ca");
	} else if (!json_is_array(arr)) {
		errbuf_set(err, errlen,
		    "%s: clients: expected an array of certificate "
		    "names",
		    file);
		goto fail;
	} else {
		set->clients =
		    xcalloc(json_array_size(arr) + 1, sizeof(*set->clients));
		json_array_foreach(arr, i, v)
		{
			if (!json_is_string(v) ||
			    !api_text_ok(json_string_value(v))) {
				errbuf_set(err, errlen,
				    "%s: clients[%zu]: expected a "
				    "certificate name (subject CN)",
				    file, i);
				goto fail;
			}
			set->clients[set->nclients++] =
			    xstrdup(json_string_value(v));
		}
	}
	if (issuer_settings_verify(cfg, set, err, errlen) == -1 ||
	    issuer_settings_magic(cfg, set, err, errlen) == -1)
		goto fail;
	return 0;
fail:
	issuer_settings_free(set);
	return -1;
}

/* keys/card.key: 64 hex digits, readable by the owner only. */
static int
issuer_read_key(struct issuer *is, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char buf[130];
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	if ((st.st_mode & 077) != 0) {
		errbuf_set(err, errlen,
		    "%s: readable by others (mode %o): "
		    "chmod 600 it",
		    path, (unsigned)(st.st_mode & 0777));
		goto done;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (strlen(buf) != 2 * ISSUER_KEY_LEN ||
	    hex_decode(buf, is->key, sizeof(is->key)) == -1) {
		errbuf_set(err, errlen, "%s: expected %d hex digits", path,
		    2 * ISSUER_KEY_LEN);
		goto done;
	}
	rc = 0;
done:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

static int
issuer_identity(struct issuer *is, char *err, size_t errlen)
{
	const char *file = config_file(is->cfg);
	json_t *arr, *v;
	size_t i, n;

	if (config_string(is->cfg, "name", NULL, &is->name) == -1 ||
	    config_string(is->cfg, "brand", NULL, &is->brand) == -1 ||
	    config_string(is->cfg, "currency", "EUR", &is->currency) == -1) {
		errbuf_set(err, errlen, "%s", config_error(is->cfg));
		return -1;
	}
	if (!api_text_ok(is->name) || !api_text_ok(is->brand)) {
		errbuf_set(err, errlen,
		    "%s: name and brand must be 1-64 "
		    "printable characters",
		    file);
		return -1;
	}
	if (!issuer_currency_ok(is->currency)) {
		errbuf_set(err, errlen,
		    "%s: currency: expected an ISO 4217 "
		    "code such as EUR",
		    file);
		return -1;
	}
	if ((arr = config_get(is->cfg, "bins")) == NULL ||
	    !json_is_array(arr) || json_array_size(arr) == 0) {
		errbuf_set(err, errlen,
		    "%s: bins: expected an array of card "
		    "number prefixes (4-11 digits)",
		    file);
		return -1;
	}
	is->bins = xcalloc(json_array_size(arr), sizeof(*is->bins));
	json_array_foreach(arr, i, v)
	{
		const char *s = json_string_value(v);

		n = s ? strlen(s) : 0;
		if (n < 4 || n > 11 || strspn(s, "0123456789") != n) {
			errbuf_set(err, errlen,
			    "%s: bins[%zu]: expected 4-11 "
			    "digits",
			    file, i);
			return -1;
		}
		is->bins[is->nbins++] = s;
	}
	return 0;
}

struct issuer *
issuer_open(const char *cfgfile, char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "brand", "bins", "currency",
		"database", "card_key", "listen", "pidfile", "port_file", "tls",
		"ca", "clients", "limits", "cards", "holds", "verify", "test",
		NULL };
	static const char *const listen_keys[] = { "address", "port", NULL };
	static const char *const tls_keys[] = { "cert", "key", "chain", "root",
		"client_cas", "crl", NULL };
	static const char *const limits_keys[] = { "max_body", "timeout",
		NULL };
	static const char *const cards_keys[] = { "expiry_years", NULL };
	static const char *const holds_keys[] = { "expiry_hours", NULL };
	struct issuer *is = xcalloc(1, sizeof(*is));
	char *dbpath = NULL, *keypath = NULL, *slash;
	const long long d4 = 4;

	is->who = issuer_operator();
	is->cfgfile = xstrdup(cfgfile);
	if ((is->cfg = config_load(cfgfile, err, errlen)) == NULL)
		goto fail;
	if (config_check_keys(is->cfg, "", keys) == -1 ||
	    config_check_keys(is->cfg, "listen", listen_keys) == -1 ||
	    config_check_keys(is->cfg, "tls", tls_keys) == -1 ||
	    config_check_keys(is->cfg, "limits", limits_keys) == -1 ||
	    config_check_keys(is->cfg, "cards", cards_keys) == -1 ||
	    config_check_keys(is->cfg, "holds", holds_keys) == -1 ||
	    config_path(is->cfg, "database", "issuer.db", &dbpath) == -1 ||
	    config_path(is->cfg, "card_key", "keys/card.key", &keypath) == -1 ||
	    config_int(is->cfg, "cards.expiry_years", &d4, 1, 20,
	        &is->expiry_years) == -1) {
		errbuf_set(err, errlen, "%s", config_error(is->cfg));
		goto fail;
	}
	if (issuer_identity(is, err, errlen) == -1 ||
	    issuer_settings_load(is->cfg, &is->set, err, errlen) == -1)
		goto fail;
	is->dir = xstrdup(cfgfile);
	if ((slash = strrchr(is->dir, '/')) != NULL)
		*slash = '\0';
	else {
		free(is->dir);
		is->dir = xstrdup(".");
	}
	if (issuer_read_key(is, keypath, err, errlen) == -1)
		goto fail;
	is->store = store_open(
	    dbpath, issuer_migrations, issuer_nmigrations, err, errlen);
	if (is->store == NULL)
		goto fail;
	free(dbpath);
	free(keypath);
	return is;
fail:
	free(dbpath);
	free(keypath);
	issuer_close(is);
	return NULL;
}

void
issuer_close(struct issuer *is)
{
	if (is == NULL)
		return;
	store_close(is->store);
	issuer_settings_free(&is->set);
	free(is->bins);
	config_free(is->cfg);
	OPENSSL_cleanse(is->key, sizeof(is->key));
	free(is->dir);
	free(is->cfgfile);
	free(is);
}

int
issuer_reload(struct issuer *is, char *err, size_t errlen)
{
	struct issuer_settings set;
	struct config *cfg;

	if ((cfg = config_load(is->cfgfile, err, errlen)) == NULL)
		return -1;
	if (issuer_settings_load(cfg, &set, err, errlen) == -1) {
		config_free(cfg);
		return -1;
	}
	config_free(cfg);
	issuer_settings_free(&is->set);
	is->set = set;
	return 0;
}

int
issuer_audit(struct issuer *is, const char *action, const char *target,
    const char *detail)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(is->store,
	    "INSERT INTO audit (at, who, action, "
	    "target, detail) VALUES (?, ?, ?, ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 2, is->who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, detail, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

void
issuer_hmac(struct issuer *is, const char *label, const void *data, size_t len,
    char out[ISSUER_HASH_LEN])
{
	unsigned char mac[32];
	size_t llen = strlen(label), maclen = 0;
	unsigned char *msg = xmalloc(llen + 1 + len + 1);
	char *hex;

	memcpy(msg, label, llen);
	msg[llen] = '|';
	if (len > 0)
		memcpy(msg + llen + 1, data, len);
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, is->key,
	        sizeof(is->key), msg, llen + 1 + len, mac, sizeof(mac),
	        &maclen) == NULL ||
	    maclen != sizeof(mac))
		log_fatalx("HMAC-SHA256 failed");
	freezero_buf(msg, llen + 1 + len + 1);
	hex = hex_encode(mac, sizeof(mac));
	memcpy(out, hex, ISSUER_HASH_LEN);
	free(hex);
}

const struct issuer_magic *
issuer_magic_find(struct issuer *is, long long amount)
{
	size_t i;

	for (i = 0; i < is->set.nmagic; i++)
		if (is->set.magic[i].amount == amount)
			return &is->set.magic[i];
	return NULL;
}

int
issuer_client_allowed(struct issuer *is, const char *cn)
{
	size_t i;

	for (i = 0; i < is->set.nclients; i++)
		if (strcmp(is->set.clients[i], cn) == 0)
			return 1;
	return 0;
}

int
issuer_bin_ok(struct issuer *is, const char *bin)
{
	size_t i;

	for (i = 0; i < is->nbins; i++)
		if (strcmp(is->bins[i], bin) == 0)
			return 1;
	return 0;
}

int
issuer_currency_ok(const char *s)
{
	return strlen(s) == 3 && isupper((unsigned char)s[0]) &&
	    isupper((unsigned char)s[1]) && isupper((unsigned char)s[2]);
}

int
issuer_parse_amount(const char *s, long long *out)
{
	size_t n = strlen(s), i;
	long long v = 0;

	if (n == 0 || n > 13 || strspn(s, "0123456789") != n)
		return -1;
	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	if (v < 1 || v > ISSUER_MAX_AMOUNT)
		return -1;
	*out = v;
	return 0;
}

void
issuer_format_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0) {
		snprintf(buf, len, "-");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
}
