/*
 * The merchant's state: the schema of its database, the configuration, the
 * brands it accepts with their certificates, the certificate checker kept
 * current from the CA, and `set-merchant init`, which makes a new state
 * folder. Everything else in merchant/ works on a struct merchant from
 * merchant_open().
 */
#include <sys/stat.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "crlfetch.h"
#include "errbuf.h"
#include "log.h"
#include "merchant.h"
#include "pan.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

const char *const merchant_migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE orders ("
	"  id TEXT PRIMARY KEY," /* also SET's LID-M */
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('placed', 'initiated',"
	"    'authorizing', 'authorized', 'declined', 'unresolved')),"
	"  brand TEXT NOT NULL,"
	"  currency TEXT NOT NULL,"
	"  amount INTEGER NOT NULL CHECK (amount > 0),"
	"  od TEXT NOT NULL," /* the order description the HOD covers */
	"  delivery_name TEXT NOT NULL,"
	"  delivery_address TEXT NOT NULL,"
	"  delivery_method TEXT NOT NULL,"
	"  delivery_price INTEGER NOT NULL,"
	"  customer TEXT REFERENCES accounts(username),"
	"  xid TEXT UNIQUE," /* from PInitReq on */
	"  lid_c TEXT,"
	"  chall_c TEXT,"
	"  chall_m TEXT,"
	"  od_salt TEXT," /* from the PReq's OIData on */
	"  hod TEXT,"
	"  cardholder TEXT," /* SHA-256 of the cardholder certificate */
	"  preq_rrpid TEXT,"
	"  preq_hash TEXT," /* SHA-256 of the PReq as received */
	"  authreq_rrpid TEXT,"
	"  authreq BLOB," /* the exact AuthReq bytes, sealed */
	"  auth_code TEXT,"
	"  capture_token TEXT,"
	"  reason TEXT);"
	"CREATE INDEX orders_status ON orders(status, created_at);"
	"CREATE INDEX orders_customer ON orders(customer, created_at);"
	"CREATE TABLE order_items ("
	"  order_id TEXT NOT NULL REFERENCES orders(id),"
	"  line INTEGER NOT NULL,"
	"  sku TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  qty INTEGER NOT NULL CHECK (qty > 0),"
	"  unit_price INTEGER NOT NULL,"
	"  line_total INTEGER NOT NULL,"
	"  PRIMARY KEY (order_id, line));"
	"CREATE TABLE order_events ("
	"  id INTEGER PRIMARY KEY,"
	"  order_id TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  who TEXT NOT NULL,"
	"  event TEXT NOT NULL,"
	"  detail TEXT);"
	"CREATE INDEX order_events_order ON order_events(order_id, id);"
	"CREATE TABLE stock ("
	"  sku TEXT PRIMARY KEY,"
	"  file_stock INTEGER NOT NULL," /* the catalog file's figure */
	"  available INTEGER NOT NULL);" /* on hand: that, less sales */
	"CREATE TABLE accounts ("
	"  username TEXT PRIMARY KEY,"
	"  hash TEXT NOT NULL," /* scrypt$N$r$p$salt$hash */
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE gateway_certs ("
	"  brand TEXT PRIMARY KEY,"
	"  wire BLOB NOT NULL," /* the PCertRes as received */
	"  fetched_at INTEGER NOT NULL);",
};
const size_t merchant_nmigrations =
    sizeof(merchant_migrations) / sizeof(merchant_migrations[0]);

static const char *const merchant_keys[] = { "id", "name", "currency", "brands",
	"database", "catalog", "certs", "root", "ca", "gateway", "listen",
	"pidfile", "port_file", "tls", "limits", "delivery", "refresh_minutes",
	"accounts", NULL };
static const char *const merchant_peer_keys[] = { "address", "port", "timeout",
	NULL };
static const char *const merchant_listen_keys[] = { "address", "port", NULL };
static const char *const merchant_tls_keys[] = { "cert", "key", "chain", NULL };
static const char *const merchant_limits_keys[] = { "max_body", "timeout",
	NULL };
static const char *const merchant_delivery_keys[] = { "standard", "express",
	NULL };

int
merchant_ident_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n >= 1 && n <= max &&
	    strspn(s,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789._-") == n;
}

int
merchant_holds_pan(const char *s)
{
	char *copy = xstrdup(s);
	int found;

	pan_scrub(copy);
	found = strcmp(copy, s) != 0;
	free(copy);
	return found;
}

int
merchant_text_ok(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i;

	if (n < 1 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	/* jansson has already refused invalid UTF-8 in JSON input; the
	 * command line is checked by the same rule here. */
	for (i = 0; i < n;) {
		size_t k = p[i] < 0x80      ? 1
		    : (p[i] & 0xe0) == 0xc0 ? 2
		    : (p[i] & 0xf0) == 0xe0 ? 3
		    : (p[i] & 0xf8) == 0xf0 ? 4
		                            : 0;
		size_t j;

		if (k == 0 || i + k > n)
			return 0;
		for (j = 1; j < k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
		i += k;
	}
	return 1;
}

static int
merchant_brand_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 32 &&
	    strspn(s,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789") == n;
}

static int
merchant_currency_ok(const char *s)
{
	return strlen(s) == 3 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 3;
}

static const char *
merchant_operator(void)
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
merchant_settings_clear(struct merchant_settings *set)
{
	free(set->ca_host);
	free(set->gw_host);
	memset(set, 0, sizeof(*set));
}

/* "ca" or "gateway": address, port, timeout. */
static int
merchant_peer_load(struct config *cfg, const char *what, long long def_timeout,
    char **host, int *port, int *timeout)
{
	char key[32];
	const char *h;
	long long p, t;

	snprintf(key, sizeof(key), "%s.address", what);
	if (config_string(cfg, key, NULL, &h) == -1)
		return -1;
	snprintf(key, sizeof(key), "%s.port", what);
	if (config_int(cfg, key, NULL, 1, 65535, &p) == -1)
		return -1;
	snprintf(key, sizeof(key), "%s.timeout", what);
	if (config_int(cfg, key, &def_timeout, 1, 600, &t) == -1)
		return -1;
	*host = xstrdup(h);
	*port = (int)p;
	*timeout = (int)t;
	return 0;
}

/* The reloadable settings of a loaded config file. */
static int
merchant_settings_load(
    struct config *cfg, struct merchant_settings *set, char *err, size_t errlen)
{
	const long long d0 = 0, d990 = 990, d5 = 5;
	const int on = 1;

	memset(set, 0, sizeof(*set));
	if (config_check_keys(cfg, "", merchant_keys) == -1 ||
	    config_check_keys(cfg, "ca", merchant_peer_keys) == -1 ||
	    config_check_keys(cfg, "gateway", merchant_peer_keys) == -1 ||
	    config_check_keys(cfg, "listen", merchant_listen_keys) == -1 ||
	    config_check_keys(cfg, "tls", merchant_tls_keys) == -1 ||
	    config_check_keys(cfg, "limits", merchant_limits_keys) == -1 ||
	    config_check_keys(cfg, "delivery", merchant_delivery_keys) == -1 ||
	    merchant_peer_load(cfg, "ca", 10, &set->ca_host, &set->ca_port,
	        &set->ca_timeout) == -1 ||
	    merchant_peer_load(cfg, "gateway", 15, &set->gw_host, &set->gw_port,
	        &set->gw_timeout) == -1 ||
	    config_int(cfg, "delivery.standard", &d0, 0, PAYMENT_MAX_AMOUNT,
	        &set->delivery_standard) == -1 ||
	    config_int(cfg, "delivery.express", &d990, 0, PAYMENT_MAX_AMOUNT,
	        &set->delivery_express) == -1 ||
	    config_int(cfg, "refresh_minutes", &d5, 1, 24 * 60,
	        &set->refresh_minutes) == -1 ||
	    config_bool(cfg, "accounts", &on, &set->accounts) == -1) {
		errbuf_set(err, errlen, "%s", config_error(cfg));
		return -1;
	}
	return 0;
}

/* Who the merchant is and which brands it takes: read once, at start. */
static int
merchant_identity_load(struct merchant *m, char *err, size_t errlen)
{
	const char *file = config_file(m->cfg);
	const char *id, *name, *currency;
	json_t *brands, *v;
	size_t i, j;

	if (config_string(m->cfg, "id", NULL, &id) == -1 ||
	    config_string(m->cfg, "name", id, &name) == -1 ||
	    config_string(m->cfg, "currency", "EUR", &currency) == -1) {
		errbuf_set(err, errlen, "%s", config_error(m->cfg));
		return -1;
	}
	if (!merchant_ident_ok(id, 64)) {
		errbuf_set(err, errlen,
		    "%s: id: 1-64 characters from A-Z a-z 0-9 . _ -", file);
		return -1;
	}
	if (!merchant_text_ok(name, 128)) {
		errbuf_set(
		    err, errlen, "%s: name: 1-128 printable characters", file);
		return -1;
	}
	if (!merchant_currency_ok(currency)) {
		errbuf_set(err, errlen,
		    "%s: currency: an ISO 4217 code such as EUR", file);
		return -1;
	}
	brands = config_get(m->cfg, "brands");
	if (!json_is_array(brands) || json_array_size(brands) == 0 ||
	    json_array_size(brands) > 16) {
		errbuf_set(err, errlen,
		    "%s: brands: expected a list of 1-16 card brands", file);
		return -1;
	}
	m->id = xstrdup(id);
	m->name = xstrdup(name);
	m->currency = xstrdup(currency);
	m->brands = xcalloc(json_array_size(brands), sizeof(*m->brands));
	json_array_foreach(brands, i, v)
	{
		const char *b = json_string_value(v);

		if (b == NULL || !merchant_brand_name_ok(b)) {
			errbuf_set(err, errlen,
			    "%s: brands[%zu]: 1-32 letters and digits", file,
			    i);
			return -1;
		}
		for (j = 0; j < m->nbrands; j++)
			if (strcasecmp(m->brands[j].name, b) == 0) {
				errbuf_set(err, errlen,
				    "%s: brands: %s is listed twice", file, b);
				return -1;
			}
		m->brands[m->nbrands++].name = xstrdup(b);
	}
	return 0;
}

/* The CA's TLS certificate is checked against our root, without CRLs: the
 * CA is where the CRLs come from (as common/caclient.c does). */
static int
merchant_ca_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	return pki_verify(arg, leaf, chain, 0, SETCERT_TLS_SERVER, NULL, NULL,
	           err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

/*
 * The gateway's TLS certificate: our root, a server certificate of the
 * hierarchy, current CRLs. One TLS certificate serves all of a gateway's
 * brands and comes from one brand CA; when that is a brand we do not take
 * (its issuer's O), we hold no CRL of its CA and check chain, time and host
 * name only. The
 * SET messages the gateway signs are checked in full either way.
 */
static int
merchant_gw_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	struct merchant *m = arg;
	enum pki_result r;
	char brand[64];

	r = pki_verify(m->pki, leaf, chain, 0, SETCERT_TLS_SERVER, NULL, NULL,
	    err, errlen);
	if (r == PKI_ERR_CRL &&
	    (X509_NAME_get_text_by_NID(X509_get_issuer_name(leaf),
	         NID_organizationName, brand, sizeof(brand)) <= 0 ||
	        merchant_brand_find(m, brand) == NULL)) {
		log_debug(
		    "gateway TLS certificate: %s; checked without CRLs", err);
		r = pki_verify(m->ca_tls_pki, leaf, chain, 0,
		    SETCERT_TLS_SERVER, NULL, NULL, err, errlen);
	}
	return r == PKI_OK ? 0 : -1;
}

struct merchant *
merchant_open(const char *cfgfile, char *err, size_t errlen)
{
	struct merchant *m = xcalloc(1, sizeof(*m));
	char *dbpath = NULL, *slash;

	m->who = merchant_operator();
	m->cfgfile = xstrdup(cfgfile);
	if ((m->cfg = config_load(cfgfile, err, errlen)) == NULL)
		goto fail;
	if (merchant_settings_load(m->cfg, &m->set, err, errlen) == -1 ||
	    merchant_identity_load(m, err, errlen) == -1)
		goto fail;
	if (config_path(m->cfg, "database", "merchant.db", &dbpath) == -1 ||
	    config_path(m->cfg, "catalog", "catalog.json", &m->catalog_file) ==
	        -1 ||
	    config_path(m->cfg, "root", "root.pem", &m->root_file) == -1) {
		errbuf_set(err, errlen, "%s", config_error(m->cfg));
		goto fail;
	}
	m->dir = xstrdup(cfgfile);
	if ((slash = strrchr(m->dir, '/')) != NULL)
		*slash = '\0';
	else {
		free(m->dir);
		m->dir = xstrdup(".");
	}
	m->store = store_open(
	    dbpath, merchant_migrations, merchant_nmigrations, err, errlen);
	if (m->store == NULL)
		goto fail;
	if ((m->root = setcert_read_cert(m->root_file, err, errlen)) == NULL)
		goto fail;
	m->pki = pki_new();
	m->ca_tls_pki = pki_new();
	if (pki_add_trusted(m->pki, m->root) == -1 ||
	    pki_add_trusted(m->ca_tls_pki, m->root) == -1) {
		errbuf_set(
		    err, errlen, "%s: cannot trust this root", m->root_file);
		goto fail;
	}
	pki_set_crl_check(m->ca_tls_pki, 0);
	m->ca_ssl = tls_client_ctx(NULL, NULL, NULL, merchant_ca_verify_cb,
	    m->ca_tls_pki, err, errlen);
	if (m->ca_ssl == NULL)
		goto fail;
	free(dbpath);
	return m;
fail:
	free(dbpath);
	merchant_close(m);
	return NULL;
}

static void
merchant_brand_clear(struct merchant_brand *b)
{
	free(b->name);
	free(b->dir);
	X509_free(b->sig);
	EVP_PKEY_free(b->sigkey);
	sk_X509_pop_free(b->chain, X509_free);
	X509_free(b->kex);
	EVP_PKEY_free(b->kexkey);
	free(b->kex_thumb);
	SSL_CTX_free(b->gw_ssl);
	X509_free(b->gw_sig);
	X509_free(b->gw_kex);
	json_decref(b->gw_block);
	memset(b, 0, sizeof(*b));
}

void
merchant_close(struct merchant *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nbrands; i++)
		merchant_brand_clear(&m->brands[i]);
	free(m->brands);
	catalog_free(m->catalog);
	merchant_settings_clear(&m->set);
	SSL_CTX_free(m->ca_ssl);
	pki_free(m->ca_tls_pki);
	pki_free(m->pki);
	X509_free(m->root);
	store_close(m->store);
	config_free(m->cfg);
	free(m->catalog_file);
	free(m->root_file);
	free(m->id);
	free(m->name);
	free(m->currency);
	free(m->dir);
	free(m->cfgfile);
	free(m);
}

int
merchant_reload_config(struct merchant *m, char *err, size_t errlen)
{
	struct config *cfg;
	struct merchant_settings set;

	if ((cfg = config_load(m->cfgfile, err, errlen)) == NULL)
		return -1;
	if (merchant_settings_load(cfg, &set, err, errlen) == -1) {
		merchant_settings_clear(&set);
		config_free(cfg);
		return -1;
	}
	/* Who we are, our brands, the database, the listening address and
	 * the TLS files are read once at start; a change there needs a
	 * restart. */
	merchant_settings_clear(&m->set);
	m->set = set;
	config_free(m->cfg);
	m->cfg = cfg;
	return 0;
}

char *
merchant_certs_dir(struct merchant *m, const char *brand)
{
	char *base, *dir;

	if (config_path(m->cfg, "certs", "certs", &base) == -1)
		return NULL;
	dir = xasprintf("%s/%s", base, brand);
	free(base);
	return dir;
}

/* One brand's files from `set-merchant enroll`. */
static int
merchant_brand_load(
    struct merchant *m, struct merchant_brand *b, char *err, size_t errlen)
{
	char *path = NULL, why[256];
	int rc = -1;

	if ((b->dir = merchant_certs_dir(m, b->name)) == NULL) {
		errbuf_set(err, errlen, "%s", config_error(m->cfg));
		return -1;
	}
#define MERCHANT_READ(field, file, fn)                                         \
	do {                                                                   \
		free(path);                                                    \
		path = xasprintf("%s/%s", b->dir, file);                       \
		if ((b->field = fn(path, why, sizeof(why))) == NULL)           \
			goto missing;                                          \
	} while (0)
	MERCHANT_READ(sig, "sig.pem", setcert_read_cert);
	MERCHANT_READ(sigkey, "sig.key", setcert_read_key);
	MERCHANT_READ(chain, "chain.pem", setcert_read_certs);
	MERCHANT_READ(kex, "kex.pem", setcert_read_cert);
	MERCHANT_READ(kexkey, "kex.key", setcert_read_key);
#undef MERCHANT_READ
	if (X509_check_private_key(b->sig, b->sigkey) != 1 ||
	    X509_check_private_key(b->kex, b->kexkey) != 1) {
		errbuf_set(err, errlen,
		    "brand %s: a key in %s does not match its certificate",
		    b->name, b->dir);
		goto done;
	}
	b->kex_thumb = setcert_thumbprint(b->kex);
	b->gw_ssl = tls_client_ctx(b->sig, b->sigkey, b->chain,
	    merchant_gw_verify_cb, m, why, sizeof(why));
	if (b->gw_ssl == NULL) {
		errbuf_set(err, errlen, "brand %s: TLS towards the gateway: %s",
		    b->name, why);
		goto done;
	}
	rc = 0;
	goto done;
missing:
	errbuf_set(err, errlen,
	    "brand %s: %s (enroll first: set-merchant enroll --brand %s "
	    "--token TOKEN)",
	    b->name, why, b->name);
done:
	free(path);
	return rc;
}

int
merchant_load_certs(struct merchant *m, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < m->nbrands; i++)
		if (merchant_brand_load(m, &m->brands[i], err, errlen) == -1)
			return -1;
	return 0;
}

int
merchant_refresh_crls(
    struct merchant *m, const char *brand, char *err, size_t errlen)
{
	char why[512];
	size_t i;
	int rc = 0;

	for (i = 0; i < m->nbrands; i++) {
		if (brand != NULL && strcasecmp(brand, m->brands[i].name) != 0)
			continue;
		if (crlfetch_refresh(m->pki, m->root, m->ca_ssl, m->set.ca_host,
		        m->set.ca_port, m->brands[i].name, m->set.ca_timeout,
		        why, sizeof(why)) == -1) {
			errbuf_set(err, errlen, "brand %s: %s",
			    m->brands[i].name, why);
			rc = -1;
		}
	}
	return rc;
}

struct merchant_brand *
merchant_brand_find(struct merchant *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nbrands; i++)
		if (strcasecmp(m->brands[i].name, name) == 0)
			return &m->brands[i];
	return NULL;
}

struct merchant_brand *
merchant_brand_by_kex(struct merchant *m, const char *thumb)
{
	size_t i;

	for (i = 0; i < m->nbrands; i++)
		if (m->brands[i].kex_thumb != NULL &&
		    strcmp(m->brands[i].kex_thumb, thumb) == 0)
			return &m->brands[i];
	return NULL;
}

int
merchant_write_json(const char *path, json_t *doc, char *err, size_t errlen)
{
	char *tmp = xasprintf("%s.tmp", path);
	FILE *fp;
	int rc = -1;

	if ((fp = fopen(tmp, "w")) == NULL) {
		errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	if (json_dumpf(doc, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == -1 ||
	    fputc('\n', fp) == EOF || fflush(fp) == EOF ||
	    fsync(fileno(fp)) == -1) {
		fclose(fp);
		errbuf_set(err, errlen, "%s: cannot write", tmp);
		goto done;
	}
	if (fclose(fp) == EOF || rename(tmp, path) == -1) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	free(tmp);
	return rc;
}

static int
merchant_init_check(
    const struct merchant_init_opts *o, char *err, size_t errlen)
{
	size_t i, j;

	if (!merchant_ident_ok(o->id, 64)) {
		errbuf_set(err, errlen,
		    "--id: 1-64 characters from A-Z a-z 0-9 . _ -");
		return -1;
	}
	if (!merchant_text_ok(o->name, 128)) {
		errbuf_set(err, errlen, "--name: 1-128 printable characters");
		return -1;
	}
	if (!merchant_currency_ok(o->currency)) {
		errbuf_set(
		    err, errlen, "--currency: an ISO 4217 code such as EUR");
		return -1;
	}
	for (i = 0; i < o->nbrands; i++) {
		if (!merchant_brand_name_ok(o->brands[i])) {
			errbuf_set(err, errlen,
			    "--brand %s: 1-32 letters and digits",
			    o->brands[i]);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcasecmp(o->brands[i], o->brands[j]) == 0) {
				errbuf_set(err, errlen,
				    "--brand %s is given twice", o->brands[i]);
				return -1;
			}
	}
	return 0;
}

int
merchant_init(const struct merchant_init_opts *o, char *err, size_t errlen)
{
	json_t *cfg = NULL, *brands = json_array();
	char *path = NULL;
	X509 *root = NULL;
	struct store *st = NULL;
	struct stat sb;
	size_t i;
	int rc = -1;

	if (merchant_init_check(o, err, errlen) == -1)
		goto done;
	if ((root = setcert_read_cert(o->root, err, errlen)) == NULL)
		goto done;
	if (X509_check_issued(root, root) != X509_V_OK) {
		errbuf_set(err, errlen,
		    "%s: not a root certificate (it is not self-signed)",
		    o->root);
		goto done;
	}
	if (mkdir(o->dir, 0700) == -1 && errno != EEXIST) {
		errbuf_set(err, errlen, "%s: %s", o->dir, strerror(errno));
		goto done;
	}
	path = xasprintf("%s/merchant.json", o->dir);
	if (stat(path, &sb) == 0) {
		errbuf_set(err, errlen, "%s already holds a merchant (%s)",
		    o->dir, path);
		goto done;
	}
	free(path);
	path = xasprintf("%s/certs", o->dir);
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	free(path);
	path = xasprintf("%s/root.pem", o->dir);
	if (setcert_write_pem(path, &root, 1, err, errlen) == -1)
		goto done;
	free(path);
	path = xasprintf("%s/catalog.json", o->dir);
	if (catalog_write_example(path, o->currency, err, errlen) == -1)
		goto done;
	free(path);
	path = xasprintf("%s/merchant.db", o->dir);
	st = store_open(
	    path, merchant_migrations, merchant_nmigrations, err, errlen);
	if (st == NULL)
		goto done;

	for (i = 0; i < o->nbrands; i++)
		json_array_append_new(brands, json_string(o->brands[i]));
	cfg = json_pack("{s:s, s:s, s:s, s:O, s:s, s:s, s:s, s:s, "
	                "s:{s:s, s:i, s:i}, s:{s:s, s:i, s:i}, s:{s:s, s:i}, "
	                "s:s, s:s, s:{s:s, s:s, s:s}, s:{s:i, s:i}, "
	                "s:{s:i, s:i}, s:i, s:b}",
	    "id", o->id, "name", o->name, "currency", o->currency, "brands",
	    brands, "database", "merchant.db", "catalog", "catalog.json",
	    "certs", "certs", "root", "root.pem", "ca", "address", o->ca_host,
	    "port", o->ca_port, "timeout", 10, "gateway", "address", o->gw_host,
	    "port", o->gw_port, "timeout", 15, "listen", "address", o->address,
	    "port", o->port, "pidfile", "merchant.pid", "port_file",
	    "merchant.port", "tls", "cert", "tls/tls.pem", "key", "tls/tls.key",
	    "chain", "tls/chain.pem", "limits", "max_body", 262144, "timeout",
	    10, "delivery", "standard", 0, "express", 990, "refresh_minutes", 5,
	    "accounts", 1);
	if (cfg == NULL) {
		errbuf_set(err, errlen, "cannot build the configuration");
		goto done;
	}
	free(path);
	path = xasprintf("%s/merchant.json", o->dir);
	if (merchant_write_json(path, cfg, err, errlen) == -1)
		goto done;
	rc = 0;
done:
	json_decref(cfg);
	json_decref(brands);
	store_close(st);
	X509_free(root);
	free(path);
	return rc;
}
