/*
 * The gateway's state: `set-gateway init` (the folder, the config, the
 * database, the card-number key), opening the state for the daemon and the
 * operator commands (config, database, the brands' certificates), and the
 * database itself: the transactions and the payment instructions seen.
 *
 * The database never holds a card number: a transaction keeps the masked
 * number (first six, last four) for people and an HMAC keyed with
 * keys/pan.key for matching; the CVV is never stored anywhere.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "errbuf.h"
#include "gateway.h"
#include "hex.h"
#include "log.h"
#include "setcert.h"
#include "xmalloc.h"

const char *const gateway_migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE transactions ("
	"  id INTEGER PRIMARY KEY,"
	"  xid TEXT NOT NULL,"
	"  rrpid TEXT NOT NULL," /* of the AuthReq */
	"  merchant TEXT NOT NULL,"
	"  brand TEXT NOT NULL,"
	"  lid_m TEXT NOT NULL,"
	"  amount INTEGER NOT NULL CHECK (amount > 0)," /* minor units */
	"  currency TEXT NOT NULL CHECK (length(currency) = 3),"
	"  status TEXT NOT NULL CHECK (status IN ('approved', 'declined')),"
	"  reason TEXT," /* a decline's */
	"  auth_code TEXT,"
	"  hold_id TEXT,"
	"  hold_expires TEXT,"
	"  issuer TEXT," /* NULL: no issuer handles the card */
	"  pan_masked TEXT NOT NULL," /* first six, last four */
	"  pan_hmac TEXT NOT NULL," /* HMAC-SHA256, keys/pan.key */
	"  hpi TEXT NOT NULL UNIQUE," /* SHA-256 of the PIData: replays */
	"  received_at INTEGER NOT NULL,"
	"  decided_at INTEGER NOT NULL);"
	"CREATE INDEX transactions_xid ON transactions(xid);"
	"CREATE INDEX transactions_pan ON transactions(pan_hmac);",
};
const size_t gateway_nmigrations =
    sizeof(gateway_migrations) / sizeof(gateway_migrations[0]);

static const char *const gateway_keys[] = { "id", "brands", "ca", "root",
	"database", "listen", "pidfile", "port_file", "limits", "timeouts",
	"tls", "issuers", NULL };
static const char *const gateway_addr_keys[] = { "address", "port", NULL };
static const char *const gateway_limit_keys[] = { "max_body", "timeout",
	"message_age", NULL };
static const char *const gateway_timeout_keys[] = { "issuer", "ca",
	"crl_refresh", NULL };
static const char *const gateway_tls_keys[] = { "cert", "key", "chain", NULL };

static int
gateway_ident_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 64 &&
	    strspn(s,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789._-") == n;
}

static int
gateway_brand_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 32 &&
	    strspn(s,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789") == n;
}

/* Writes a small file that must not exist yet, mode 0600, durably. */
static int
gateway_write_secret(
    const char *path, const char *text, char *err, size_t errlen)
{
	size_t len = strlen(text);
	int fd, rc = -1;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (write(fd, text, len) == (ssize_t)len && fsync(fd) == 0)
		rc = 0;
	else
		errbuf_set(err, errlen, "%s: cannot write", path);
	if (close(fd) == -1)
		rc = -1;
	return rc;
}

static int
gateway_write_config(
    const struct gateway_init_opts *o, char *err, size_t errlen)
{
	char *path = xasprintf("%s/gateway.json", o->dir);
	char *tmp = xasprintf("%s.tmp", path);
	json_t *cfg, *brands = json_array();
	FILE *f;
	size_t i;
	int rc = -1;

	for (i = 0; i < o->nbrands; i++)
		json_array_append_new(brands, json_string(o->brands[i]));
	cfg = json_pack("{s:s, s:o, s:{s:s, s:i}, s:s, s:s, s:{s:s, s:i}, "
	                "s:s, s:s, s:{s:i, s:i, s:i}, s:{s:i, s:i, s:i}, "
	                "s:{s:s, s:s, s:s}, s:[]}",
	    "id", o->id, "brands", brands, "ca", "address", o->ca_address,
	    "port", o->ca_port, "root", "root.pem", "database", "gateway.db",
	    "listen", "address", o->address, "port", o->port, "pidfile",
	    "gateway.pid", "port_file", "gateway.port", "limits", "max_body",
	    131072, "timeout", 10, "message_age", 600, "timeouts", "issuer", 10,
	    "ca", 10, "crl_refresh", 300, "tls", "cert", "tls/tls.pem", "key",
	    "tls/tls.key", "chain", "tls/chain.pem", "issuers");
	if (cfg == NULL) {
		errbuf_set(err, errlen, "cannot build the configuration");
		goto done;
	}
	if ((f = fopen(tmp, "w")) == NULL) {
		errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	if (json_dumpf(cfg, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == -1 ||
	    fputc('\n', f) == EOF || fflush(f) == EOF || fsync(fileno(f)) ||
	    fclose(f) == EOF) {
		errbuf_set(err, errlen, "%s: cannot write", tmp);
		goto done;
	}
	if (rename(tmp, path) == -1) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	json_decref(cfg);
	free(path);
	free(tmp);
	return rc;
}

int
gateway_init(const struct gateway_init_opts *o, char *err, size_t errlen)
{
	static const char *const subs[] = { "", "/keys", "/certs" };
	unsigned char key[GATEWAY_KEY_LEN];
	struct store *store = NULL;
	X509 *root = NULL;
	char *path = NULL, *hex = NULL;
	size_t i, j;
	int rc = -1;

	if (!gateway_ident_ok(o->id)) {
		errbuf_set(err, errlen,
		    "--id must be 1-64 characters from A-Z a-z 0-9 . _ -");
		return -1;
	}
	for (i = 0; i < o->nbrands; i++) {
		if (!gateway_brand_ok(o->brands[i])) {
			errbuf_set(err, errlen,
			    "brand \"%s\": 1-32 letters and digits",
			    o->brands[i]);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcasecmp(o->brands[i], o->brands[j]) == 0) {
				errbuf_set(err, errlen,
				    "brand %s is given twice", o->brands[i]);
				return -1;
			}
	}
	if ((root = setcert_read_cert(o->root_file, err, errlen)) == NULL)
		return -1;
	if ((setcert_types(root) & SETCERT_RCA) == 0) {
		errbuf_set(err, errlen,
		    "%s is not a SET root certificate (its certificateType is "
		    "not rca)",
		    o->root_file);
		goto done;
	}
	path = xasprintf("%s/gateway.json", o->dir);
	if (access(path, F_OK) == 0) {
		errbuf_set(err, errlen, "%s already holds a gateway", o->dir);
		goto done;
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		free(path);
		path = xasprintf("%s%s", o->dir, subs[i]);
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			errbuf_set(
			    err, errlen, "%s: %s", path, strerror(errno));
			goto done;
		}
	}
	free(path);
	path = xasprintf("%s/root.pem", o->dir);
	if (setcert_write_pem(path, &root, 1, err, errlen) == -1)
		goto done;

	/* The secret that keys the card-number HMAC: made once, here. */
	if (RAND_bytes(key, sizeof(key)) != 1) {
		errbuf_openssl(err, errlen, "RAND_bytes");
		goto done;
	}
	hex = hex_encode(key, sizeof(key));
	free(path);
	path = xasprintf("%s/keys/pan.key", o->dir);
	if (gateway_write_secret(path, hex, err, errlen) == -1)
		goto done;

	free(path);
	path = xasprintf("%s/gateway.db", o->dir);
	if ((store = store_open(path, gateway_migrations, gateway_nmigrations,
	         err, errlen)) == NULL)
		goto done;
	if (gateway_write_config(o, err, errlen) == -1)
		goto done;
	rc = 0;
done:
	OPENSSL_cleanse(key, sizeof(key));
	if (hex != NULL)
		freezero_buf(hex, strlen(hex));
	store_close(store);
	X509_free(root);
	free(path);
	return rc;
}

/* Reads keys/pan.key: 64 hex digits, readable by the owner only. */
static int
gateway_read_pan_key(struct gateway *gw, char *err, size_t errlen)
{
	char *path = xasprintf("%s/keys/pan.key", gw->dir), buf[80];
	struct stat sb;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY)) == -1) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (fstat(fd, &sb) == -1 || (sb.st_mode & 077) != 0) {
		errbuf_set(err, errlen,
		    "%s: must be readable by its owner only (mode 0600)", path);
		goto done;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 2 * GATEWAY_KEY_LEN) {
		errbuf_set(err, errlen, "%s: too short", path);
		goto done;
	}
	buf[2 * GATEWAY_KEY_LEN] = '\0';
	if (hex_decode(buf, gw->pan_key, sizeof(gw->pan_key)) == -1) {
		errbuf_set(err, errlen, "%s: not %d hex digits", path,
		    2 * GATEWAY_KEY_LEN);
		goto done;
	}
	rc = 0;
done:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (fd != -1)
		close(fd);
	free(path);
	return rc;
}

/* The reloadable settings of a loaded config file. */
static int
gateway_settings_load(
    struct config *cfg, struct gateway_settings *set, char *err, size_t errlen)
{
	const long long d10 = 10, d300 = 300, d600 = 600;

	memset(set, 0, sizeof(*set));
	if (config_check_keys(cfg, "limits", gateway_limit_keys) == -1 ||
	    config_check_keys(cfg, "timeouts", gateway_timeout_keys) == -1 ||
	    config_int(cfg, "timeouts.issuer", &d10, 1, 120,
	        &set->issuer_timeout) == -1 ||
	    config_int(cfg, "timeouts.ca", &d10, 1, 120, &set->ca_timeout) ==
	        -1 ||
	    config_int(cfg, "timeouts.crl_refresh", &d300, 10, 86400,
	        &set->crl_refresh) == -1 ||
	    config_int(cfg, "limits.message_age", &d600, 10, 86400,
	        &set->message_age) == -1) {
		errbuf_set(err, errlen, "%s", config_error(cfg));
		return -1;
	}
	return routing_load(cfg, set, err, errlen);
}

/* Checks the config's shape: every key known, id and brands well-formed. */
static int
gateway_config_check(struct config *cfg, char *err, size_t errlen)
{
	json_t *brands, *v;
	const char *id;
	size_t i, j;

	if (config_check_keys(cfg, "", gateway_keys) == -1 ||
	    config_check_keys(cfg, "ca", gateway_addr_keys) == -1 ||
	    config_check_keys(cfg, "listen", gateway_addr_keys) == -1 ||
	    config_check_keys(cfg, "tls", gateway_tls_keys) == -1 ||
	    config_string(cfg, "id", NULL, &id) == -1) {
		errbuf_set(err, errlen, "%s", config_error(cfg));
		return -1;
	}
	if (!gateway_ident_ok(id)) {
		errbuf_set(err, errlen,
		    "%s: id: expected 1-64 characters from A-Z a-z 0-9 . _ -",
		    config_file(cfg));
		return -1;
	}
	brands = config_get(cfg, "brands");
	if (!json_is_array(brands) || json_array_size(brands) == 0) {
		errbuf_set(err, errlen,
		    "%s: brands: expected a non-empty list of brand names",
		    config_file(cfg));
		return -1;
	}
	json_array_foreach(brands, i, v)
	{
		if (!json_is_string(v) ||
		    !gateway_brand_ok(json_string_value(v))) {
			errbuf_set(err, errlen,
			    "%s: brands[%zu]: expected 1-32 letters and "
			    "digits",
			    config_file(cfg), i);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcasecmp(json_string_value(v),
			        json_string_value(json_array_get(brands, j))) ==
			    0) {
				errbuf_set(err, errlen,
				    "%s: brands[%zu]: given twice",
				    config_file(cfg), i);
				return -1;
			}
	}
	return 0;
}

char *
gateway_certs_dir(struct gateway *gw, const char *brand)
{
	return xasprintf("%s/certs/%s", gw->dir, brand);
}

static void
gateway_brand_clear(struct gateway_brand *b)
{
	free(b->name);
	X509_free(b->sig);
	EVP_PKEY_free(b->sigkey);
	X509_free(b->kex);
	EVP_PKEY_free(b->kexkey);
	free(b->kex_thumb);
	sk_X509_pop_free(b->chain, X509_free);
	sk_X509_CRL_pop_free(b->crls, X509_CRL_free);
	memset(b, 0, sizeof(*b));
}

/* A brand's certificates, keys, chain and CRLs from certs/BRAND/. */
static int
gateway_brand_load(
    struct gateway *gw, struct gateway_brand *b, char *err, size_t errlen)
{
	char *dir = gateway_certs_dir(gw, b->name), *path = NULL, why[256];
	int rc = -1;

	path = xasprintf("%s/sig.pem", dir);
	if (access(path, F_OK) == -1) {
		errbuf_set(err, errlen,
		    "brand %s is not enrolled (no %s): run `set-gateway "
		    "enroll --brand %s --token TOKEN`",
		    b->name, path, b->name);
		goto done;
	}
#define GATEWAY_LOAD(expr, file)                                               \
	do {                                                                   \
		free(path);                                                    \
		path = xasprintf("%s/%s", dir, file);                          \
		if ((expr) == NULL) {                                          \
			errbuf_set(err, errlen, "brand %s: %s", b->name, why); \
			goto done;                                             \
		}                                                              \
	} while (0)
	GATEWAY_LOAD(
	    b->sig = setcert_read_cert(path, why, sizeof(why)), "sig.pem");
	GATEWAY_LOAD(
	    b->sigkey = setcert_read_key(path, why, sizeof(why)), "sig.key");
	GATEWAY_LOAD(
	    b->kex = setcert_read_cert(path, why, sizeof(why)), "kex.pem");
	GATEWAY_LOAD(
	    b->kexkey = setcert_read_key(path, why, sizeof(why)), "kex.key");
	GATEWAY_LOAD(
	    b->chain = setcert_read_certs(path, why, sizeof(why)), "chain.pem");
	GATEWAY_LOAD(
	    b->crls = setcert_read_crls(path, why, sizeof(why)), "crl.pem");
#undef GATEWAY_LOAD
	if (X509_check_private_key(b->sig, b->sigkey) != 1 ||
	    X509_check_private_key(b->kex, b->kexkey) != 1) {
		errbuf_set(err, errlen,
		    "brand %s: a key in %s does not match its certificate",
		    b->name, dir);
		goto done;
	}
	b->kex_thumb = setcert_thumbprint(b->kex);
	b->enrolled = 1;
	rc = 0;
done:
	free(dir);
	free(path);
	return rc;
}

struct gateway *
gateway_open(const char *cfgfile, int full, char *err, size_t errlen)
{
	struct gateway *gw = xcalloc(1, sizeof(*gw));
	const char *addr, *id;
	char *dbpath = NULL, *rootpath = NULL, *slash;
	long long port;
	json_t *brands, *v;
	size_t i;

	gw->cfgfile = xstrdup(cfgfile);
	if ((gw->cfg = config_load(cfgfile, err, errlen)) == NULL ||
	    gateway_config_check(gw->cfg, err, errlen) == -1)
		goto fail;
	if (config_string(gw->cfg, "id", NULL, &id) == -1 ||
	    config_string(gw->cfg, "ca.address", NULL, &addr) == -1 ||
	    config_int(gw->cfg, "ca.port", NULL, 1, 65535, &port) == -1 ||
	    config_path(gw->cfg, "database", "gateway.db", &dbpath) == -1 ||
	    config_path(gw->cfg, "root", "root.pem", &rootpath) == -1) {
		errbuf_set(err, errlen, "%s", config_error(gw->cfg));
		goto fail;
	}
	gw->id = xstrdup(id);
	gw->ca_address = xstrdup(addr);
	gw->ca_port = (int)port;
	if (gateway_settings_load(gw->cfg, &gw->set, err, errlen) == -1)
		goto fail;
	gw->dir = xstrdup(cfgfile);
	if ((slash = strrchr(gw->dir, '/')) != NULL)
		*slash = '\0';
	else {
		free(gw->dir);
		gw->dir = xstrdup(".");
	}
	if ((gw->root = setcert_read_cert(rootpath, err, errlen)) == NULL)
		goto fail;
	if (full && gateway_read_pan_key(gw, err, errlen) == -1)
		goto fail;
	gw->store = store_open(
	    dbpath, gateway_migrations, gateway_nmigrations, err, errlen);
	if (gw->store == NULL)
		goto fail;

	brands = config_get(gw->cfg, "brands");
	gw->brands = xcalloc(json_array_size(brands), sizeof(*gw->brands));
	json_array_foreach(brands, i, v)
	{
		gw->brands[i].name = xstrdup(json_string_value(v));
		gw->nbrands++;
		if (full &&
		    gateway_brand_load(gw, &gw->brands[i], err, errlen) == -1)
			goto fail;
	}
	free(dbpath);
	free(rootpath);
	return gw;
fail:
	free(dbpath);
	free(rootpath);
	gateway_close(gw);
	return NULL;
}

void
gateway_close(struct gateway *gw)
{
	size_t i;

	if (gw == NULL)
		return;
	for (i = 0; i < gw->nbrands; i++)
		gateway_brand_clear(&gw->brands[i]);
	free(gw->brands);
	routing_clear(&gw->set);
	store_close(gw->store);
	X509_free(gw->root);
	pki_free(gw->pki);
	SSL_CTX_free(gw->issuer_ssl);
	config_free(gw->cfg);
	OPENSSL_cleanse(gw->pan_key, sizeof(gw->pan_key));
	free(gw->id);
	free(gw->ca_address);
	free(gw->cfgfile);
	free(gw->dir);
	free(gw);
}

int
gateway_reload(struct gateway *gw, char *err, size_t errlen)
{
	struct config *cfg;
	struct gateway_settings set;
	const char *id;

	memset(&set, 0, sizeof(set));
	if ((cfg = config_load(gw->cfgfile, err, errlen)) == NULL)
		return -1;
	if (gateway_config_check(cfg, err, errlen) == -1 ||
	    gateway_settings_load(cfg, &set, err, errlen) == -1) {
		routing_clear(&set);
		config_free(cfg);
		return -1;
	}
	/* The id, the brands, the CA, the database and the listening address
	 * are read once at start; a change there needs a restart. */
	if (config_string(cfg, "id", NULL, &id) == 0 && strcmp(id, gw->id) != 0)
		log_warnx("%s: the new id takes effect at the next start",
		    gw->cfgfile);
	routing_clear(&gw->set);
	gw->set = set;
	config_free(gw->cfg);
	gw->cfg = cfg;
	return 0;
}

struct gateway_brand *
gateway_brand_find(struct gateway *gw, const char *name)
{
	size_t i;

	for (i = 0; i < gw->nbrands; i++)
		if (strcasecmp(gw->brands[i].name, name) == 0)
			return &gw->brands[i];
	return NULL;
}

struct gateway_brand *
gateway_brand_by_kex(struct gateway *gw, const char *thumbprint)
{
	size_t i;

	for (i = 0; i < gw->nbrands; i++)
		if (gw->brands[i].kex_thumb != NULL &&
		    strcmp(gw->brands[i].kex_thumb, thumbprint) == 0)
			return &gw->brands[i];
	return NULL;
}

void
gateway_pan_hmac(struct gateway *gw, const char *pan, char out[65])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char *hex;

	if (HMAC(EVP_sha256(), gw->pan_key, sizeof(gw->pan_key),
	        (const unsigned char *)pan, strlen(pan), mac, &len) == NULL ||
	    len != 32)
		log_fatalx("HMAC-SHA256 failed");
	hex = hex_encode(mac, len);
	memcpy(out, hex, 65);
	free(hex);
}

int
gateway_tx_put(struct gateway *gw, const struct gateway_tx *t)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(gw->store,
	    "INSERT INTO transactions (xid, rrpid, merchant, brand, lid_m, "
	    "amount, currency, status, reason, auth_code, hold_id, "
	    "hold_expires, issuer, pan_masked, pan_hmac, hpi, received_at, "
	    "decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?, ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, t->xid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->rrpid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->merchant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, t->brand, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, t->lid_m, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)t->amount);
	sqlite3_bind_text(st, 7, t->currency, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, t->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, t->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, t->auth_code, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, t->hold_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, t->hold_expires, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, t->issuer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 14, t->pan_masked, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 15, t->pan_hmac, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 16, t->hpi, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 17, (sqlite3_int64)t->received);
	sqlite3_bind_int64(st, 18, (sqlite3_int64)t->decided);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	if (rc == -1)
		log_warnx("cannot record transaction %s: %s", t->xid,
		    sqlite3_errmsg(store_db(gw->store)));
	sqlite3_reset(st);
	return rc;
}

int
gateway_pi_seen(struct gateway *gw, const char *hpi)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(
	    gw->store, "SELECT 1 FROM transactions WHERE hpi = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, hpi, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		rc = 1;
		break;
	case SQLITE_DONE:
		rc = 0;
		break;
	default:
		rc = -1;
	}
	sqlite3_reset(st);
	return rc;
}

int
gateway_xid_approved(struct gateway *gw, const char *merchant, const char *xid)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(gw->store,
	    "SELECT 1 FROM transactions WHERE xid = ? AND merchant = ? AND "
	    "status = 'approved'");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, xid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, merchant, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		rc = 1;
		break;
	case SQLITE_DONE:
		rc = 0;
		break;
	default:
		rc = -1;
	}
	sqlite3_reset(st);
	return rc;
}
