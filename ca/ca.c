/*
 * The CA's state: the schema of its database, opening the state folder
 * (config, database, the online CA keys) and the audit log. Everything else
 * in ca/ works on a struct ca from ca_open().
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

struct ca *
ca_open(const char *cfgfile, char *err, size_t errlen)
{
	static const char *const keys[] = { "database", "listen", "pidfile",
		"port_file", "limits", "validity_days", "crl", "tokens",
		"tls_names", NULL };
	struct ca *ca = xcalloc(1, sizeof(*ca));
	char *dbpath = NULL, *slash;
	const long long d365 = 365, d24 = 24, d6 = 6, d72 = 72;
	size_t i;

	ca->operator= operator_name();
	if ((ca->cfg = config_load(cfgfile, err, errlen)) == NULL)
		goto fail;
	if (config_check_keys(ca->cfg, "", keys) == -1 ||
	    config_path(ca->cfg, "database", "ca.db", &dbpath) == -1 ||
	    config_int(ca->cfg, "validity_days.merchant", &d365, 1, 3650,
	        &ca->days_merchant) == -1 ||
	    config_int(ca->cfg, "validity_days.gateway", &d365, 1, 3650,
	        &ca->days_gateway) == -1 ||
	    config_int(ca->cfg, "crl.validity_hours", &d24, 1, 24 * 366,
	        &ca->crl_hours) == -1 ||
	    config_int(ca->cfg, "crl.refresh_hours", &d6, 0, 24 * 365,
	        &ca->crl_refresh_hours) == -1 ||
	    config_int(ca->cfg, "tokens.valid_hours", &d72, 1, 24 * 365,
	        &ca->token_hours) == -1) {
		snprintf(err, errlen, "%s", config_error(ca->cfg));
		goto fail;
	}
	if (ca->crl_refresh_hours >= ca->crl_hours) {
		snprintf(err, errlen,
		    "%s: crl.refresh_hours must be less "
		    "than crl.validity_hours",
		    config_file(ca->cfg));
		goto fail;
	}
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
		    "%s holds no hierarchy: run "
		    "`set-ca init` first",
		    dbpath);
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
	sqlite3_bind_text(st, 2, ca->operator, - 1, SQLITE_STATIC);
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
