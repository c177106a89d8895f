/*
 * The CA's state: the schema of its database, opening the state folder
 * (config, database, the online CA keys) and the audit log. Everything else
 * in ca/ works on a struct ca from ca_open().
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>

#include "ca.h"
#include "log.h"
#include "setcert.h"
#include "xmalloc.h"

const char *const ca_migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE authorities ("
	"  name TEXT PRIMARY KEY,"
	"  brand TEXT,"
	"  type INTEGER NOT NULL,"
	"  serial TEXT NOT NULL,"
	"  key_file TEXT," /* NULL: offline (the root) */
	"  kex_serial TEXT,"
	"  kex_key_file TEXT,"
	"  position INTEGER NOT NULL);"
	"CREATE TABLE certs ("
	"  serial TEXT PRIMARY KEY,"
	"  issuer TEXT NOT NULL," /* authorities.name */
	"  role TEXT NOT NULL," /* merchant, gateway, mca, tls, ... */
	"  usage TEXT NOT NULL," /* sig, kex, ca, tls */
	"  entity_id TEXT,"
	"  request_id TEXT,"
	"  subject TEXT NOT NULL,"
	"  not_before INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  der BLOB NOT NULL,"
	"  revoked_at INTEGER,"
	"  revoke_reason INTEGER);"
	"CREATE INDEX certs_issuer ON certs(issuer, revoked_at);"
	"CREATE INDEX certs_entity ON certs(entity_id);"
	"CREATE TABLE requests ("
	"  id TEXT PRIMARY KEY,"
	"  role TEXT NOT NULL,"
	"  entity_id TEXT NOT NULL,"
	"  brand TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  sig_csr BLOB NOT NULL,"
	"  kex_csr BLOB NOT NULL,"
	"  sig_key TEXT NOT NULL," /* SHA-256 of the signature key */
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('pending', 'issued', 'rejected')),"
	"  reason TEXT,"
	"  token TEXT," /* tokens.hash, when one was used */
	"  created_at INTEGER NOT NULL,"
	"  decided_at INTEGER,"
	"  decided_by TEXT);"
	"CREATE TABLE tokens ("
	"  hash TEXT PRIMARY KEY," /* SHA-256 of the token */
	"  role TEXT NOT NULL,"
	"  entity_id TEXT NOT NULL,"
	"  brand TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  used_at INTEGER,"
	"  request_id TEXT);"
	"CREATE TABLE crls ("
	"  id INTEGER PRIMARY KEY,"
	"  ca TEXT NOT NULL,"
	"  number INTEGER NOT NULL,"
	"  this_update INTEGER NOT NULL,"
	"  next_update INTEGER NOT NULL,"
	"  der BLOB NOT NULL,"
	"  UNIQUE (ca, number));"
	"CREATE TABLE bcis ("
	"  id INTEGER PRIMARY KEY,"
	"  brand TEXT NOT NULL,"
	"  number INTEGER NOT NULL,"
	"  der BLOB NOT NULL,"
	"  UNIQUE (brand, number));"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  who TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  target TEXT,"
	"  detail TEXT);",
};
const size_t ca_nmigrations = sizeof(ca_migrations) / sizeof(ca_migrations[0]);

static const struct ca_role roles[] = {
	{ "merchant", SETCERT_MER, SETCERT_MCA },
	{ "gateway", SETCERT_PGWY, SETCERT_PCA },
};

const struct ca_role *
ca_role_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i].name, name) == 0)
			return &roles[i];
	return NULL;
}

static const char *
operator_name(void)
{
	const char *who = getenv("SET_OPERATOR");
	struct passwd *pw;

	if (who != NULL && *who != '\0')
		return who;
	if ((pw = getpwuid(getuid())) != NULL)
		return pw->pw_name;
	return "unknown";
}

/* A certificate by serial, from the certs table. */
static X509 *
cert_by_serial(struct ca *ca, const char *serial)
{
	sqlite3_stmt *st;
	X509 *x = NULL;

	st = store_prepare(ca->store, "SELECT der FROM certs WHERE serial = ?");
	if (st == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		x = setcert_from_der(sqlite3_column_blob(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0));
	sqlite3_reset(st);
	return x;
}

/* Resolves a path stored relative to the state folder. */
static char *
state_path(struct ca *ca, const char *rel)
{
	if (rel[0] == '/')
		return xstrdup(rel);
	return xasprintf("%s/%s", ca->dir, rel);
}

static int
load_authorities(struct ca *ca, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = -1;

	st = store_prepare(ca->store,
	    "SELECT name, brand, type, serial, "
	    "key_file, kex_serial, kex_key_file FROM authorities "
	    "ORDER BY position");
	if (st == NULL) {
		snprintf(err, errlen, "cannot read the authorities table");
		return -1;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *brand = (const char *)sqlite3_column_text(st, 1);
		unsigned type = (unsigned)sqlite3_column_int(st, 2);
		const char *serial = (const char *)sqlite3_column_text(st, 3);
		const char *keyf = (const char *)sqlite3_column_text(st, 4);
		const char *kserial = (const char *)sqlite3_column_text(st, 5);
		const char *kkeyf = (const char *)sqlite3_column_text(st, 6);
		struct ca_authority *a;
		X509 *cert;
		char *path;

		if ((cert = cert_by_serial(ca, serial)) == NULL) {
			snprintf(err, errlen,
			    "authority %s: its certificate "
			    "%s is missing from the database",
			    name, serial);
			goto done;
		}
		if (type == SETCERT_RCA) {
			/* The root's key stays offline; only its
			 * certificate is loaded. */
			X509_free(ca->root);
			ca->root = cert;
			continue;
		}
		ca->auth =
		    xrealloc(ca->auth, (ca->nauth + 1) * sizeof(*ca->auth));
		a = &ca->auth[ca->nauth++];
		memset(a, 0, sizeof(*a));
		a->name = xstrdup(name);
		a->brand = xstrdup(brand ? brand : "");
		a->type = type;
		a->cert = cert;
		if (keyf == NULL) {
			snprintf(
			    err, errlen, "authority %s has no key file", name);
			goto done;
		}
		path = state_path(ca, keyf);
		a->key = setcert_read_key(path, err, errlen);
		free(path);
		if (a->key == NULL)
			goto done;
		if (kserial != NULL && kkeyf != NULL) {
			if ((a->kex = cert_by_serial(ca, kserial)) == NULL) {
				snprintf(err, errlen,
				    "authority %s: its "
				    "key-exchange certificate is missing",
				    name);
				goto done;
			}
			path = state_path(ca, kkeyf);
			a->kexkey = setcert_read_key(path, err, errlen);
			free(path);
			if (a->kexkey == NULL)
				goto done;
			a->kex_thumb = setcert_thumbprint(a->kex);
		}
	}
	rc = 0;
done:
	sqlite3_reset(st);
	return rc;
}

/* Each authority's chain: the certificates above it, up to the root. */
static void
build_chains(struct ca *ca)
{
	size_t i;

	for (i = 0; i < ca->nauth; i++) {
		struct ca_authority *a = &ca->auth[i];

		a->chain = sk_X509_new_null();
		if (a->type != SETCERT_BCA) {
			struct ca_authority *b =
			    ca_find(ca, a->brand, SETCERT_BCA);

			if (b != NULL) {
				X509_up_ref(b->cert);
				sk_X509_push(a->chain, b->cert);
			}
		}
		X509_up_ref(ca->root);
		sk_X509_push(a->chain, ca->root);
	}
}

static void
settings_clear(struct ca_settings *set)
{
	size_t i, j;

	for (i = 0; i < set->nissuers; i++) {
		struct ca_issuer *is = &set->issuers[i];

		free(is->name);
		free(is->brand);
		for (j = 0; j < is->nbins; j++)
			free(is->bins[j]);
		free(is->bins);
		free(is->address);
	}
	free(set->issuers);
	memset(set, 0, sizeof(*set));
}

static int
all_digits(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	return n >= min && n <= max && strspn(s, "0123456789") == n;
}

/* One entry of the "issuers" table. */
static int
issuer_load(struct config *cfg, size_t idx, json_t *e, struct ca_issuer *is,
    char *err, size_t errlen)
{
	static const char *const fields[] = { "name", "postcode", "expiry",
		"cvv" };
	const char *file = config_file(cfg);
	json_t *bins, *flds = NULL, *v;
	json_int_t port;
	size_t i, j;

	if (!json_is_object(e) ||
	    json_unpack(e, "{s:s, s:s, s:o, s:s, s:I, s?o}", "name", &is->name,
	        "brand", &is->brand, "bins", &bins, "address", &is->address,
	        "port", &port, "fields", &flds) != 0) {
		memset(is, 0, sizeof(*is));
		snprintf(err, errlen,
		    "%s: issuers[%zu]: needs name, brand, "
		    "bins, address and port (fields optional)",
		    file, idx);
		return -1;
	}
	is->name = xstrdup(is->name);
	is->brand = xstrdup(is->brand);
	is->address = xstrdup(is->address);
	if (port < 1 || port > 65535) {
		snprintf(err, errlen,
		    "%s: issuers[%zu].port: expected 1 to "
		    "65535",
		    file, idx);
		return -1;
	}
	is->port = (int)port;
	if (!json_is_array(bins) || json_array_size(bins) == 0) {
		snprintf(err, errlen,
		    "%s: issuers[%zu].bins: expected a "
		    "non-empty list of card number prefixes",
		    file, idx);
		return -1;
	}
	is->bins = xcalloc(json_array_size(bins), sizeof(*is->bins));
	json_array_foreach(bins, i, v)
	{
		if (!json_is_string(v) ||
		    !all_digits(json_string_value(v), 4, 11)) {
			snprintf(err, errlen,
			    "%s: issuers[%zu].bins[%zu]: "
			    "expected 4 to 11 digits",
			    file, idx, i);
			return -1;
		}
		is->bins[is->nbins++] = xstrdup(json_string_value(v));
	}
	is->fields = ISSUER_FIELD_NAME | ISSUER_FIELD_POSTCODE |
	    ISSUER_FIELD_EXPIRY | ISSUER_FIELD_CVV;
	if (flds == NULL)
		return 0;
	if (!json_is_array(flds)) {
		snprintf(err, errlen,
		    "%s: issuers[%zu].fields: expected a "
		    "list",
		    file, idx);
		return -1;
	}
	/* The expiry is always asked: it is part of the certificate's
	 * keyed hash. */
	is->fields = ISSUER_FIELD_EXPIRY;
	json_array_foreach(flds, i, v)
	{
		for (j = 0; j < 4; j++)
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), fields[j]) == 0)
				break;
		if (j == 4) {
			snprintf(err, errlen,
			    "%s: issuers[%zu].fields[%zu]: "
			    "expected name, postcode, expiry or cvv",
			    file, idx, i);
			return -1;
		}
		is->fields |= 1u << j;
	}
	return 0;
}

/* The reloadable settings of a loaded config file. */
static int
settings_load(
    struct config *cfg, struct ca_settings *set, char *err, size_t errlen)
{
	const long long d365 = 365, d730 = 730, d24 = 24, d6 = 6, d72 = 72;
	const long long d10 = 10;
	json_t *issuers, *e;
	size_t i;

	memset(set, 0, sizeof(*set));
	if (config_int(cfg, "validity_days.merchant", &d365, 1, 3650,
	        &set->days_merchant) == -1 ||
	    config_int(cfg, "validity_days.gateway", &d365, 1, 3650,
	        &set->days_gateway) == -1 ||
	    config_int(cfg, "validity_days.cardholder", &d730, 1, 3650,
	        &set->days_cardholder) == -1 ||
	    config_int(cfg, "crl.validity_hours", &d24, 1, 24 * 366,
	        &set->crl_hours) == -1 ||
	    config_int(cfg, "crl.refresh_hours", &d6, 0, 24 * 365,
	        &set->crl_refresh_hours) == -1 ||
	    config_int(cfg, "tokens.valid_hours", &d72, 1, 24 * 365,
	        &set->token_hours) == -1 ||
	    config_int(cfg, "issuer_timeout", &d10, 1, 120,
	        &set->issuer_timeout) == -1) {
		snprintf(err, errlen, "%s", config_error(cfg));
		return -1;
	}
	if (set->crl_refresh_hours >= set->crl_hours) {
		snprintf(err, errlen,
		    "%s: crl.refresh_hours must be less "
		    "than crl.validity_hours",
		    config_file(cfg));
		return -1;
	}
	if ((issuers = config_get(cfg, "issuers")) == NULL)
		return 0;
	if (!json_is_array(issuers)) {
		snprintf(err, errlen, "%s: issuers: expected a list",
		    config_file(cfg));
		return -1;
	}
	set->issuers =
	    xcalloc(json_array_size(issuers) + 1, sizeof(*set->issuers));
	json_array_foreach(issuers, i, e)
	{
		set->nissuers++;
		if (issuer_load(cfg, i, e, &set->issuers[i], err, errlen))
			return -1;
	}
	return 0;
}

static const char *const config_keys[] = { "database", "listen", "pidfile",
	"port_file", "limits", "validity_days", "crl", "tokens", "tls_names",
	"issuers", "issuer_timeout", NULL };

struct ca *
ca_open(const char *cfgfile, char *err, size_t errlen)
{
	struct ca *ca = xcalloc(1, sizeof(*ca));
	char *dbpath = NULL, *slash;
	size_t i;

	ca->who = operator_name();
	ca->cfgfile = xstrdup(cfgfile);
	if ((ca->cfg = config_load(cfgfile, err, errlen)) == NULL)
		goto fail;
	if (config_check_keys(ca->cfg, "", config_keys) == -1 ||
	    config_path(ca->cfg, "database", "ca.db", &dbpath) == -1) {
		snprintf(err, errlen, "%s", config_error(ca->cfg));
		goto fail;
	}
	if (settings_load(ca->cfg, &ca->set, err, errlen) == -1)
		goto fail;
	ca->dir = xstrdup(cfgfile);
	if ((slash = strrchr(ca->dir, '/')) != NULL)
		*slash = '\0';
	else {
		free(ca->dir);
		ca->dir = xstrdup(".");
	}

	ca->store =
	    store_open(dbpath, ca_migrations, ca_nmigrations, err, errlen);
	if (ca->store == NULL)
		goto fail;
	if (load_authorities(ca, err, errlen) == -1)
		goto fail;
	if (ca->root == NULL || ca->nauth == 0) {
		snprintf(err, errlen,
		    "%s holds no hierarchy: run `set-ca init` first", dbpath);
		goto fail;
	}
	build_chains(ca);

	ca->pki = pki_new();
	pki_add_trusted(ca->pki, ca->root);
	for (i = 0; i < ca->nauth; i++)
		pki_add_ca(ca->pki, ca->auth[i].cert);
	if (ca_reload_crls(ca, err, errlen) == -1)
		goto fail;
	free(dbpath);
	return ca;
fail:
	free(dbpath);
	ca_close(ca);
	return NULL;
}

int
ca_reload_config(struct ca *ca, char *err, size_t errlen)
{
	struct config *cfg;
	struct ca_settings set;

	if ((cfg = config_load(ca->cfgfile, err, errlen)) == NULL)
		return -1;
	if (config_check_keys(cfg, "", config_keys) == -1) {
		snprintf(err, errlen, "%s", config_error(cfg));
		config_free(cfg);
		return -1;
	}
	if (settings_load(cfg, &set, err, errlen) == -1) {
		settings_clear(&set);
		config_free(cfg);
		return -1;
	}
	/* Where the database is and where the daemon listens are read once
	 * at start; a change there needs a restart. */
	settings_clear(&ca->set);
	ca->set = set;
	config_free(ca->cfg);
	ca->cfg = cfg;
	return 0;
}

const struct ca_issuer *
ca_issuer_for(struct ca *ca, const char *brand, const char *pan)
{
	const struct ca_issuer *best = NULL;
	size_t i, j, bestlen = 0;

	/* The longest matching prefix wins. */
	for (i = 0; i < ca->set.nissuers; i++) {
		const struct ca_issuer *is = &ca->set.issuers[i];

		if (strcasecmp(is->brand, brand) != 0)
			continue;
		for (j = 0; j < is->nbins; j++) {
			size_t n = strlen(is->bins[j]);

			if (n > bestlen && strncmp(pan, is->bins[j], n) == 0) {
				best = is;
				bestlen = n;
			}
		}
	}
	return best;
}

int
ca_load_tls(struct ca *ca, X509 **cert, EVP_PKEY **key, STACK_OF(X509) **chain,
    char *err, size_t errlen)
{
	sqlite3_stmt *st;
	struct ca_authority *issuer = NULL;
	char *path;

	*cert = NULL;
	st = store_prepare(ca->store,
	    "SELECT der, issuer FROM certs WHERE "
	    "role = 'tls' AND entity_id IS NULL AND revoked_at IS NULL "
	    "ORDER BY not_after DESC LIMIT 1");
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		*cert = setcert_from_der(sqlite3_column_blob(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0));
		issuer =
		    ca_find_name(ca, (const char *)sqlite3_column_text(st, 1));
	}
	if (st != NULL)
		sqlite3_reset(st);
	if (*cert == NULL || issuer == NULL) {
		snprintf(err, errlen,
		    "the state holds no TLS certificate for "
		    "the daemon");
		X509_free(*cert);
		*cert = NULL;
		return -1;
	}
	path = xasprintf("%s/keys/tls.key", ca->dir);
	*key = setcert_read_key(path, err, errlen);
	free(path);
	if (*key == NULL) {
		X509_free(*cert);
		*cert = NULL;
		return -1;
	}
	*chain = sk_X509_new_null();
	X509_up_ref(issuer->cert);
	sk_X509_push(*chain, issuer->cert);
	return 0;
}

void
ca_close(struct ca *ca)
{
	size_t i;

	if (ca == NULL)
		return;
	for (i = 0; i < ca->nauth; i++) {
		struct ca_authority *a = &ca->auth[i];

		free(a->name);
		free(a->brand);
		X509_free(a->cert);
		EVP_PKEY_free(a->key);
		X509_free(a->kex);
		EVP_PKEY_free(a->kexkey);
		free(a->kex_thumb);
		sk_X509_pop_free(a->chain, X509_free);
	}
	free(ca->auth);
	settings_clear(&ca->set);
	SSL_CTX_free(ca->issuer_ssl);
	free(ca->cfgfile);
	X509_free(ca->root);
	pki_free(ca->pki);
	store_close(ca->store);
	config_free(ca->cfg);
	free(ca->dir);
	free(ca);
}

struct ca_authority *
ca_find(struct ca *ca, const char *brand, unsigned type)
{
	size_t i;

	for (i = 0; i < ca->nauth; i++)
		if (ca->auth[i].type == type &&
		    strcasecmp(ca->auth[i].brand, brand) == 0)
			return &ca->auth[i];
	return NULL;
}

struct ca_authority *
ca_find_name(struct ca *ca, const char *name)
{
	size_t i;

	for (i = 0; i < ca->nauth; i++)
		if (strcmp(ca->auth[i].name, name) == 0)
			return &ca->auth[i];
	return NULL;
}

struct ca_authority *
ca_find_kex(struct ca *ca, const char *thumbprint)
{
	size_t i;

	for (i = 0; i < ca->nauth; i++)
		if (ca->auth[i].kex_thumb != NULL &&
		    strcmp(ca->auth[i].kex_thumb, thumbprint) == 0)
			return &ca->auth[i];
	return NULL;
}

int
ca_reload_crls(struct ca *ca, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = 0;

	/* The newest CRL of each CA, if any is newer than what we hold. */
	st = store_prepare(ca->store,
	    "SELECT id, der FROM crls c WHERE "
	    "id > ? AND number = (SELECT max(number) FROM crls d "
	    "WHERE d.ca = c.ca) ORDER BY id");
	if (st == NULL) {
		snprintf(err, errlen, "cannot read the crls table");
		return -1;
	}
	sqlite3_bind_int64(st, 1, ca->crl_loaded);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *der = sqlite3_column_blob(st, 1);
		const unsigned char *p = der;
		X509_CRL *crl;

		crl = d2i_X509_CRL(NULL, &p, sqlite3_column_bytes(st, 1));
		if (crl == NULL || pki_set_crl(ca->pki, crl, err, errlen)) {
			if (crl == NULL)
				snprintf(err, errlen,
				    "a stored CRL does not "
				    "parse");
			X509_CRL_free(crl);
			rc = -1;
			break;
		}
		X509_CRL_free(crl);
		ca->crl_loaded = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	return rc;
}

int
ca_audit(
    struct ca *ca, const char *action, const char *target, const char *detail)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(ca->store,
	    "INSERT INTO audit (at, who, action, "
	    "target, detail) VALUES (?, ?, ?, ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 2, ca->who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, detail, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

char **
ca_brands(struct ca *ca, size_t *n)
{
	char **out = NULL;
	size_t i;

	*n = 0;
	for (i = 0; i < ca->nauth; i++)
		if (ca->auth[i].type == SETCERT_BCA) {
			out = xrealloc(out, (*n + 1) * sizeof(*out));
			out[(*n)++] = xstrdup(ca->auth[i].brand);
		}
	return out;
}

/* An ASN1_TIME as seconds since the epoch (0 when it cannot be read). */
static time_t
asn1_epoch(const ASN1_TIME *t)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

int
ca_put_cert(struct store *store, X509 *x, const char *issuer, const char *role,
    const char *usage, const char *entity_id, const char *request_id, char *err,
    size_t errlen)
{
	sqlite3_stmt *st;
	char *serial = setcert_serial_hex(x), *subject = setcert_subject(x);
	unsigned char *der;
	size_t len;
	int rc = -1;

	der = setcert_der(x, &len);
	st = store_prepare(store,
	    "INSERT INTO certs (serial, issuer, role, "
	    "usage, entity_id, request_id, subject, not_before, not_after, "
	    "der) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (st != NULL) {
		sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, issuer, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, usage, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, entity_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, request_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, subject, -1, SQLITE_STATIC);
		sqlite3_bind_int64(
		    st, 8, (sqlite3_int64)asn1_epoch(X509_get0_notBefore(x)));
		sqlite3_bind_int64(
		    st, 9, (sqlite3_int64)asn1_epoch(X509_get0_notAfter(x)));
		sqlite3_bind_blob(st, 10, der, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(st);
	}
	if (rc == -1)
		snprintf(err, errlen, "cannot store certificate %s: %s", serial,
		    sqlite3_errmsg(store_db(store)));
	free(serial);
	free(subject);
	free(der);
	return rc;
}

char *
ca_serial_normalize(const char *in)
{
	BIGNUM *bn = NULL;
	char *hex, *out, *p;
	size_t n = strlen(in);

	if (n == 0 || n > 64 || strspn(in, "0123456789abcdefABCDEF:") != n)
		return NULL;
	/* openssl prints serials with colons in some places; drop them. */
	out = xstrdup(in);
	for (p = out, n = 0; out[n] != '\0'; n++)
		if (out[n] != ':')
			*p++ = out[n];
	*p = '\0';
	if (BN_hex2bn(&bn, out) == 0) {
		free(out);
		return NULL;
	}
	free(out);
	hex = BN_bn2hex(bn);
	BN_free(bn);
	if (hex == NULL)
		return NULL;
	out = xstrdup(hex);
	OPENSSL_free(hex);
	for (p = out; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	return out;
}
