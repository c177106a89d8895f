/*
 * `set-ca init`: creates a new SET certificate hierarchy in a state folder.
 *
 *	Root CA (offline key)
 *	  -> one Brand CA per brand
 *	       -> Cardholder CA, Merchant CA, Payment Gateway CA
 *	          (each also holds a key-exchange certificate, so requests to it
 *	          can be sealed, as SET's CertReq is)
 *	       -> the CA daemon's TLS certificate (first brand only)
 *
 * Path lengths are constrained (root 2, brand 1, issuing CAs 0). Every
 * certificate, the first CRL of every CA and each brand's BCI go into the
 * database; private keys go into files of mode 0600, the root's into
 * offline/, which the daemon never reads.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ca.h"
#include "log.h"
#include "setcert.h"
#include "xmalloc.h"

#define YEAR (365L * 86400)

/* An issuing CA kind under a brand. */
static const struct {
	const char *suffix; /* name suffix: visa-cca */
	const char *title; /* subject CN: "Visa Cardholder CA" */
	unsigned type;
} kinds[] = {
	{ "cca", "Cardholder CA", SETCERT_CCA },
	{ "mca", "Merchant CA", SETCERT_MCA },
	{ "pca", "Payment Gateway CA", SETCERT_PCA },
};

struct init {
	const struct hierarchy_opts *o;
	struct store *store;
	int position;
	char *err;
	size_t errlen;
};

static int
valid_brand(const char *b)
{
	size_t i, n = strlen(b);

	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)b[i]))
			return 0;
	return 1;
}

static char *
lower(const char *s)
{
	char *p = xstrdup(s), *q;

	for (q = p; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	return p;
}

static int
put_cert(struct init *in, X509 *x, const char *issuer, const char *role,
    const char *usage)
{
	return ca_put_cert(
	    in->store, x, issuer, role, usage, NULL, NULL, in->err, in->errlen);
}

static int
put_authority(struct init *in, const char *name, const char *brand,
    unsigned type, X509 *cert, const char *keyfile, X509 *kex,
    const char *kexfile)
{
	sqlite3_stmt *st;
	char *serial = setcert_serial_hex(cert);
	char *kserial = kex ? setcert_serial_hex(kex) : NULL;
	int rc;

	st = store_prepare(in->store,
	    "INSERT INTO authorities (name, brand, "
	    "type, serial, key_file, kex_serial, kex_key_file, position) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (st == NULL) {
		rc = -1;
		goto done;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, brand, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)type);
	sqlite3_bind_text(st, 4, serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, keyfile, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, kserial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, kexfile, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, in->position++);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
done:
	if (rc == -1)
		snprintf(in->err, in->errlen, "cannot store authority %s: %s",
		    name, sqlite3_errmsg(store_db(in->store)));
	free(serial);
	free(kserial);
	return rc;
}

/* Makes a key, writes it to dir/rel (0600) and returns it. */
static EVP_PKEY *
new_key(struct init *in, const char *rel)
{
	EVP_PKEY *k = setcert_keygen();
	char *path = xasprintf("%s/%s", in->o->dir, rel);

	if (setcert_write_key(path, k, in->err, in->errlen) == -1) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	free(path);
	return k;
}

/* One brand: its Brand CA and the three issuing CAs below it. */
static int
make_brand(struct init *in, const char *brand, X509 *root, EVP_PKEY *rootkey,
    X509 **bca_out, EVP_PKEY **bcakey_out)
{
	struct setcert_spec s;
	char *lb = lower(brand), *name = NULL, *rel = NULL, *krel = NULL;
	char *cn = NULL, *bcaname = NULL;
	X509 *bca = NULL, *ca = NULL, *kex = NULL;
	EVP_PKEY *bcakey = NULL, *key = NULL, *kexkey = NULL;
	time_t now = time(NULL);
	size_t i;
	int rc = -1;

	name = xasprintf("%s-bca", lb);
	bcaname = xstrdup(name);
	rel = xasprintf("keys/%s.key", name);
	cn = xasprintf("%s Brand CA", brand);
	if ((bcakey = new_key(in, rel)) == NULL)
		goto done;
	memset(&s, 0, sizeof(s));
	s.pubkey = bcakey;
	s.issuer = root;
	s.issuer_key = rootkey;
	s.cn = cn;
	s.o = brand;
	s.types = SETCERT_BCA;
	s.usage = SETCERT_CA;
	s.is_ca = 1;
	s.pathlen = 1;
	s.not_before = now - 300;
	s.not_after = now + 5 * YEAR;
	if ((bca = setcert_issue(&s, in->err, in->errlen)) == NULL ||
	    put_cert(in, bca, "root", "bca", "ca") == -1 ||
	    put_authority(in, name, brand, SETCERT_BCA, bca, rel, NULL, NULL) ==
	        -1)
		goto done;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		free(name);
		free(rel);
		free(krel);
		free(cn);
		name = xasprintf("%s-%s", lb, kinds[i].suffix);
		rel = xasprintf("keys/%s.key", name);
		krel = xasprintf("keys/%s-kex.key", name);
		cn = xasprintf("%s %s", brand, kinds[i].title);
		if ((key = new_key(in, rel)) == NULL ||
		    (kexkey = new_key(in, krel)) == NULL)
			goto done;
		memset(&s, 0, sizeof(s));
		s.pubkey = key;
		s.issuer = bca;
		s.issuer_key = bcakey;
		s.cn = cn;
		s.o = brand;
		s.types = kinds[i].type;
		s.usage = SETCERT_CA;
		s.is_ca = 1;
		s.pathlen = 0;
		s.not_before = now - 300;
		s.not_after = now + 3 * YEAR;
		if ((ca = setcert_issue(&s, in->err, in->errlen)) == NULL)
			goto done;
		/* The CA's key-exchange certificate: requests to this CA
		 * are sealed to it. */
		s.pubkey = kexkey;
		s.usage = SETCERT_KEYEX;
		s.is_ca = 0;
		s.pathlen = -1;
		s.ou = "key exchange";
		if ((kex = setcert_issue(&s, in->err, in->errlen)) == NULL ||
		    put_cert(in, ca, bcaname, kinds[i].suffix, "ca") == -1 ||
		    put_cert(in, kex, bcaname, kinds[i].suffix, "kex") == -1 ||
		    put_authority(in, name, brand, kinds[i].type, ca, rel, kex,
		        krel) == -1)
			goto done;
		X509_free(ca);
		X509_free(kex);
		EVP_PKEY_free(key);
		EVP_PKEY_free(kexkey);
		ca = kex = NULL;
		key = kexkey = NULL;
	}
	*bca_out = bca;
	*bcakey_out = bcakey;
	bca = NULL;
	bcakey = NULL;
	rc = 0;
done:
	free(lb);
	free(name);
	free(bcaname);
	free(rel);
	free(krel);
	free(cn);
	X509_free(bca);
	X509_free(ca);
	X509_free(kex);
	EVP_PKEY_free(bcakey);
	EVP_PKEY_free(key);
	EVP_PKEY_free(kexkey);
	return rc;
}

/*
 * The daemon's TLS certificate, from the first Brand CA. It also serves as
 * the CA's client certificate when it asks an issuer about a card.
 */
static int
make_tls(struct init *in, X509 *bca, EVP_PKEY *bcakey, const char *bcaname)
{
	EVP_PKEY *key;
	X509 *x;
	int rc = -1;

	if ((key = new_key(in, "keys/tls.key")) == NULL)
		return -1;
	x = issue_tls(bca, bcakey, key, "set-ca", "SET CA service",
	    in->o->names, in->o->nnames, 2 * 365, in->err, in->errlen);
	if (x != NULL && put_cert(in, x, bcaname, "tls", "tls") == 0)
		rc = 0;
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

static int
write_config(struct init *in)
{
	char *path = xasprintf("%s/ca.json", in->o->dir), *tmp;
	json_t *cfg, *names = json_array();
	FILE *f;
	size_t i;
	int rc = -1;

	for (i = 0; i < in->o->nnames; i++)
		json_array_append_new(names, json_string(in->o->names[i]));
	cfg = json_pack("{s:s, s:{s:s, s:i}, s:s, s:s, s:{s:i, s:i}, "
	                "s:{s:i, s:i}, s:{s:i, s:i}, s:{s:i}, s:o}",
	    "database", "ca.db", "listen", "address", in->o->address, "port",
	    in->o->port, "pidfile", "ca.pid", "port_file", "ca.port", "limits",
	    "max_body", 65536, "timeout", 10, "validity_days", "merchant", 365,
	    "gateway", 365, "crl", "validity_hours", 24, "refresh_hours", 6,
	    "tokens", "valid_hours", 72, "tls_names", names);
	tmp = xasprintf("%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		snprintf(in->err, in->errlen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	if (json_dumpf(cfg, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == -1 ||
	    fputc('\n', f) == EOF || fflush(f) == EOF || fsync(fileno(f)) ||
	    fclose(f) == EOF) {
		snprintf(in->err, in->errlen, "%s: cannot write", tmp);
		goto done;
	}
	if (rename(tmp, path) == -1) {
		snprintf(in->err, in->errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	json_decref(cfg);
	free(path);
	free(tmp);
	return rc;
}

static int
make_dirs(const char *dir, char *err, size_t errlen)
{
	static const char *const subs[] = { "", "/keys", "/offline" };
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char *p = xasprintf("%s%s", dir, subs[i]);
		int r = mkdir(p, 0700);

		if (r == -1 && !(errno == EEXIST && i == 0)) {
			snprintf(err, errlen, "%s: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		free(p);
	}
	return 0;
}

int
hierarchy_init(const struct hierarchy_opts *o, char *err, size_t errlen)
{
	struct init in = { o, NULL, 0, err, errlen };
	struct setcert_spec s;
	EVP_PKEY *rootkey = NULL, *bcakey = NULL;
	X509 *root = NULL, *bca = NULL;
	struct ca *ca = NULL;
	char *path = NULL, *first_bca = NULL;
	time_t now = time(NULL);
	size_t i, j, nbrands;
	char **brands = NULL;
	int rc = -1;

	err[0] = '\0';
	if (o->nbrands == 0) {
		snprintf(err, errlen, "name at least one brand (--brand)");
		return -1;
	}
	for (i = 0; i < o->nbrands; i++) {
		if (!valid_brand(o->brands[i])) {
			snprintf(err, errlen,
			    "brand \"%s\": use 1-32 letters "
			    "and digits",
			    o->brands[i]);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcasecmp(o->brands[i], o->brands[j]) == 0) {
				snprintf(err, errlen,
				    "brand \"%s\" is named "
				    "twice",
				    o->brands[i]);
				return -1;
			}
	}
	path = xasprintf("%s/ca.db", o->dir);
	if (access(path, F_OK) == 0) {
		snprintf(err, errlen,
		    "%s already holds a hierarchy (%s); "
		    "choose an empty folder",
		    o->dir, path);
		goto done;
	}
	if (make_dirs(o->dir, err, errlen) == -1)
		goto done;
	if ((in.store = store_open(
	         path, ca_migrations, ca_nmigrations, err, errlen)) == NULL)
		goto done;
	if (store_begin(in.store) == -1) {
		snprintf(err, errlen, "cannot begin a transaction");
		goto done;
	}

	if ((rootkey = new_key(&in, "offline/root.key")) == NULL)
		goto done;
	memset(&s, 0, sizeof(s));
	s.pubkey = rootkey;
	s.issuer_key = rootkey;
	s.cn = "SET Root CA";
	s.o = "SET Root";
	s.types = SETCERT_RCA;
	s.usage = SETCERT_CA;
	s.is_ca = 1;
	s.pathlen = 2;
	s.not_before = now - 300;
	s.not_after = now + (time_t)o->root_years * YEAR;
	if ((root = setcert_issue(&s, err, errlen)) == NULL ||
	    put_cert(&in, root, "root", "rca", "ca") == -1 ||
	    put_authority(
	        &in, "root", NULL, SETCERT_RCA, root, NULL, NULL, NULL) == -1)
		goto done;

	for (i = 0; i < o->nbrands; i++) {
		if (make_brand(
		        &in, o->brands[i], root, rootkey, &bca, &bcakey) == -1)
			goto done;
		if (i == 0) {
			char *lb = lower(o->brands[0]);

			first_bca = xasprintf("%s-bca", lb);
			free(lb);
			rc = make_tls(&in, bca, bcakey, first_bca);
		}
		X509_free(bca);
		EVP_PKEY_free(bcakey);
		bca = NULL;
		bcakey = NULL;
		if (rc == -1 && i == 0)
			goto done;
		rc = -1;
	}
	if (store_commit(in.store) == -1) {
		snprintf(err, errlen, "cannot commit the new hierarchy");
		goto done;
	}
	store_close(in.store);
	in.store = NULL;

	{
		char *rp = xasprintf("%s/root.pem", o->dir);
		X509 *const one[1] = { root };

		if (setcert_write_pem(rp, one, 1, err, errlen) == -1) {
			free(rp);
			goto done;
		}
		free(rp);
	}
	if (write_config(&in) == -1)
		goto done;

	/* The first CRL of every CA and the first BCI of every brand. */
	free(path);
	path = xasprintf("%s/ca.json", o->dir);
	if ((ca = ca_open(path, err, errlen)) == NULL)
		goto done;
	ca->who = "set-ca init";
	if (store_begin(ca->store) == -1)
		goto done;
	if (crl_refresh_root(ca, rootkey, err, errlen) == -1)
		goto fail_tx;
	for (i = 0; i < ca->nauth; i++)
		if (crl_refresh(ca, &ca->auth[i], err, errlen) == -1)
			goto fail_tx;
	brands = ca_brands(ca, &nbrands);
	for (i = 0; i < nbrands; i++)
		if (bci_refresh(ca, brands[i], err, errlen) == -1)
			goto fail_tx;
	if (ca_audit(ca, "init", NULL, "new hierarchy") == -1 ||
	    store_commit(ca->store) == -1)
		goto fail_tx;
	rc = 0;
	goto done;
fail_tx:
	store_rollback(ca->store);
done:
	if (rc == -1 && err[0] == '\0')
		snprintf(err, errlen, "cannot create the hierarchy");
	if (brands != NULL) {
		for (i = 0; i < nbrands; i++)
			free(brands[i]);
		free(brands);
	}
	if (in.store != NULL) {
		store_rollback(in.store);
		store_close(in.store);
	}
	ca_close(ca);
	X509_free(root);
	EVP_PKEY_free(rootkey);
	free(path);
	free(first_bca);
	return rc;
}
