/*
 * The wallet's encrypted store: a folder (mode 0700) holding one SQLite
 * database, wallet.db (mode 0600, through common/store.c).
 *
 * Keys: a random 32-byte master key, wrapped with AES-256-GCM under a key
 * derived from the passphrase with scrypt (N=32768, r=8, p=1, a random
 * 16-byte salt; the parameters are stored with it, so they can be raised
 * later). Every secret, the card number, the PANSecret and the private
 * signature key (PKCS#8 DER), is sealed with AES-256-GCM under the master
 * key, with a fresh 12-byte IV and, as additional authenticated data, the
 * card's row id and the secret's purpose: a sealed value moved to another
 * row or column no longer opens. A wrong passphrase fails the master key's
 * GCM tag. The database holds no card number, no PANSecret and no private
 * key in the clear; the CVV is never stored at all.
 *
 * What is not secret stays readable without the passphrase, so `cards` and
 * `show` need none: the masked card number (first six, last four), brand,
 * expiry, label, the certificate and its chain, root, CRLs and BCI.
 *
 * The transaction log (table purchases: `buy`, `orders`, `order`) is not
 * secret either, and holds no card number: a purchase names its card by
 * label.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "errbuf.h"
#include "log.h"
#include "setcert.h"
#include "store.h"
#include "wallet.h"
#include "xmalloc.h"

#define WALLET_DB "wallet.db"
#define WALLET_KEYLEN 32
#define WALLET_IVLEN 12
#define WALLET_TAGLEN 16
#define WALLET_SALTLEN 16
#define WALLET_SCRYPT_N 32768
#define WALLET_SCRYPT_R 8
#define WALLET_SCRYPT_P 1
/* scrypt needs 128 * r * N bytes (32 MiB here); OpenSSL's default cap is
 * just below that. */
#define WALLET_SCRYPT_MAXMEM (256UL * 1024 * 1024)

struct wallet {
	char *dir;
	char *path;
	struct store *store;
	int unlocked;
	unsigned char master[WALLET_KEYLEN];
};

static const char *const wallet_migrations[] = {
	/* 1: the key record and the cards. */
	"CREATE TABLE keyring ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" kdf TEXT NOT NULL,"
	" n INTEGER NOT NULL, r INTEGER NOT NULL, p INTEGER NOT NULL,"
	" salt BLOB NOT NULL,"
	" master BLOB NOT NULL," /* IV || AES-256-GCM(master key) || tag */
	" created INTEGER NOT NULL);"
	"CREATE TABLE cards ("
	" id INTEGER PRIMARY KEY,"
	" label TEXT NOT NULL UNIQUE,"
	" brand TEXT NOT NULL,"
	" pan_masked TEXT NOT NULL,"
	" expiry TEXT NOT NULL,"
	" issuer TEXT NOT NULL,"
	" ca TEXT NOT NULL,"
	" pan BLOB NOT NULL," /* sealed */
	" pan_secret BLOB NOT NULL," /* sealed */
	" sig_key BLOB NOT NULL," /* sealed PKCS#8 DER */
	" cert BLOB NOT NULL," /* DER */
	" chain TEXT NOT NULL," /* PEM: cardholder CA, brand CA */
	" root TEXT NOT NULL," /* PEM */
	" crls TEXT NOT NULL," /* PEM */
	" bci BLOB NOT NULL," /* DER CMS */
	" bci_number INTEGER NOT NULL,"
	" created INTEGER NOT NULL,"
	" refreshed INTEGER NOT NULL)",
	/* 2: the transaction log: what was bought, never with which card
	 * number (the card's label only). */
	"CREATE TABLE purchases ("
	" id INTEGER PRIMARY KEY,"
	" xid TEXT NOT NULL UNIQUE,"
	" merchant TEXT NOT NULL," /* the merchant's SET id */
	" address TEXT NOT NULL," /* HOST:PORT, for `order XID` */
	" order_id TEXT NOT NULL,"
	" amount INTEGER NOT NULL," /* minor units */
	" currency TEXT NOT NULL,"
	" card TEXT NOT NULL," /* the card's label */
	" status TEXT NOT NULL,"
	" detail TEXT NOT NULL," /* auth code, or the reason */
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL)",
};

char *
wallet_default_dir(void)
{
	const char *env = getenv("SET_WALLET_DIR"), *home = getenv("HOME");

	if (env != NULL && env[0] != '\0')
		return xstrdup(env);
	return xasprintf("%s/.set-wallet", home ? home : ".");
}

const char *
wallet_path(const struct wallet *w)
{
	return w->path;
}

/* The key that wraps the master key, from the passphrase. */
static int
wallet_kdf(const char *pass, const unsigned char *salt, size_t saltlen,
    long long n, long long r, long long p, unsigned char key[WALLET_KEYLEN],
    char *err, size_t errlen)
{
	if (n < 2 || r < 1 || p < 1 || n > (1LL << 24) || r > 64 || p > 64) {
		errbuf_set(err, errlen,
		    "the wallet's key record names impossible scrypt "
		    "parameters (N=%lld, r=%lld, p=%lld)",
		    n, r, p);
		return -1;
	}
	if (EVP_PBE_scrypt(pass, strlen(pass), salt, saltlen, (uint64_t)n,
	        (uint64_t)r, (uint64_t)p, WALLET_SCRYPT_MAXMEM, key,
	        WALLET_KEYLEN) != 1) {
		errbuf_openssl(err, errlen, "scrypt");
		return -1;
	}
	return 0;
}

/* AES-256-GCM: IV || ciphertext || tag, xmalloc'd. */
static unsigned char *
wallet_gcm_seal(const unsigned char key[WALLET_KEYLEN], const char *aad,
    const void *in, size_t inlen, size_t *outlen)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char *out = xmalloc(WALLET_IVLEN + inlen + WALLET_TAGLEN);
	int n, ok;

	if (ctx == NULL)
		log_fatalx("wallet: cannot allocate a cipher context");
	ok = RAND_bytes(out, WALLET_IVLEN) == 1 &&
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	        (int)strlen(aad)) == 1 &&
	    EVP_EncryptUpdate(ctx, out + WALLET_IVLEN, &n, in, (int)inlen) ==
	        1 &&
	    EVP_EncryptFinal_ex(ctx, out + WALLET_IVLEN + n, &n) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WALLET_TAGLEN,
	        out + WALLET_IVLEN + inlen) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		log_fatalx("wallet: AES-256-GCM encryption failed");
	*outlen = WALLET_IVLEN + inlen + WALLET_TAGLEN;
	return out;
}

/* Opens what wallet_gcm_seal made; NULL when the tag does not verify. The
 * result is xmalloc'd, one byte longer and NUL-terminated: wipe it. */
static unsigned char *
wallet_gcm_open(const unsigned char key[WALLET_KEYLEN], const char *aad,
    const unsigned char *in, size_t inlen, size_t *outlen)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char *out, tag[WALLET_TAGLEN];
	size_t len;
	int n, ok;

	if (inlen < WALLET_IVLEN + WALLET_TAGLEN)
		return NULL;
	len = inlen - WALLET_IVLEN - WALLET_TAGLEN;
	memcpy(tag, in + inlen - WALLET_TAGLEN, WALLET_TAGLEN);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		log_fatalx("wallet: cannot allocate a cipher context");
	out = xmalloc(len + 1);
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	        (int)strlen(aad)) == 1 &&
	    EVP_DecryptUpdate(ctx, out, &n, in + WALLET_IVLEN, (int)len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(
	        ctx, EVP_CTRL_GCM_SET_TAG, WALLET_TAGLEN, tag) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + n, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		freezero_buf(out, len + 1);
		return NULL;
	}
	out[len] = '\0';
	*outlen = len;
	return out;
}

/* The additional data that binds a sealed value to its row and purpose. */
static char *
wallet_aad(long long id, const char *purpose)
{
	return xasprintf("set-wallet v1 card %lld %s", id, purpose);
}

static const char wallet_master_aad[] = "set-wallet v1 master key";

/* Writes the key record: a new salt, the master key wrapped under pass. */
static int
wallet_save_keyring(
    struct wallet *w, const char *pass, int replace, char *err, size_t errlen)
{
	unsigned char salt[WALLET_SALTLEN], kek[WALLET_KEYLEN], *wrapped;
	size_t wlen;
	sqlite3_stmt *st;
	int rc = -1;

	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		errbuf_openssl(err, errlen, "RAND_bytes");
		return -1;
	}
	if (wallet_kdf(pass, salt, sizeof(salt), WALLET_SCRYPT_N,
	        WALLET_SCRYPT_R, WALLET_SCRYPT_P, kek, err, errlen) == -1)
		return -1;
	wrapped = wallet_gcm_seal(
	    kek, wallet_master_aad, w->master, WALLET_KEYLEN, &wlen);
	OPENSSL_cleanse(kek, sizeof(kek));
	st = store_prepare(w->store,
	    replace ? "UPDATE keyring SET kdf = 'scrypt', n = ?1, r = ?2, "
	              "p = ?3, salt = ?4, master = ?5 WHERE id = 1"
	            : "INSERT INTO keyring (id, kdf, n, r, p, salt, master, "
	              "created) VALUES (1, 'scrypt', ?1, ?2, ?3, ?4, ?5, "
	              "CAST(strftime('%s', 'now') AS INTEGER))");
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, WALLET_SCRYPT_N);
		sqlite3_bind_int64(st, 2, WALLET_SCRYPT_R);
		sqlite3_bind_int64(st, 3, WALLET_SCRYPT_P);
		sqlite3_bind_blob(st, 4, salt, sizeof(salt), SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, wrapped, (int)wlen, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_DONE &&
		    sqlite3_changes(store_db(w->store)) == 1)
			rc = 0;
		sqlite3_reset(st);
	}
	if (rc == -1)
		errbuf_set(err, errlen, "%s: cannot write the key record: %s",
		    w->path, sqlite3_errmsg(store_db(w->store)));
	free(wrapped);
	return rc;
}

static struct wallet *
wallet_new(const char *dir)
{
	struct wallet *w = xcalloc(1, sizeof(*w));

	w->dir = xstrdup(dir);
	w->path = xasprintf("%s/%s", dir, WALLET_DB);
	return w;
}

void
wallet_close(struct wallet *w)
{
	if (w == NULL)
		return;
	store_close(w->store);
	OPENSSL_cleanse(w->master, sizeof(w->master));
	free(w->dir);
	free(w->path);
	free(w);
}

/* Removes a database and its WAL files. */
static void
wallet_unlink_db(const char *path)
{
	char *p;

	unlink(path);
	p = xasprintf("%s-wal", path);
	unlink(p);
	free(p);
	p = xasprintf("%s-shm", path);
	unlink(p);
	free(p);
}

int
wallet_create(const char *dir, const char *pass, char *err, size_t errlen)
{
	struct wallet *w = NULL;
	struct stat sb;
	int rc = -1;

	if (mkdir(dir, 0700) == -1) {
		if (errno != EEXIST) {
			errbuf_set(err, errlen,
			    "cannot create the folder %s: %s", dir,
			    strerror(errno));
			return -1;
		}
		if (stat(dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
			errbuf_set(
			    err, errlen, "%s exists and is not a folder", dir);
			return -1;
		}
		if ((sb.st_mode & 077) != 0) {
			errbuf_set(err, errlen,
			    "the folder %s is open to other users (mode "
			    "%03o): use a new folder, or `chmod 700 %s` "
			    "first",
			    dir, (unsigned)(sb.st_mode & 0777), dir);
			return -1;
		}
	}
	w = wallet_new(dir);
	if (access(w->path, F_OK) == 0) {
		errbuf_set(err, errlen,
		    "%s already holds a wallet; init never overwrites one "
		    "(use another folder with -w DIR)",
		    dir);
		goto done;
	}
	w->store = store_open(w->path, wallet_migrations,
	    sizeof(wallet_migrations) / sizeof(wallet_migrations[0]), err,
	    errlen);
	if (w->store == NULL)
		goto done;
	if (RAND_bytes(w->master, sizeof(w->master)) != 1) {
		errbuf_openssl(err, errlen, "RAND_bytes");
		goto done;
	}
	if (store_begin(w->store) == -1) {
		errbuf_set(err, errlen, "%s: cannot write", w->path);
		goto done;
	}
	if (wallet_save_keyring(w, pass, 0, err, errlen) == -1) {
		store_rollback(w->store);
		goto done;
	}
	if (store_commit(w->store) == -1) {
		errbuf_set(err, errlen, "%s: cannot write", w->path);
		goto done;
	}
	rc = 0;
done:
	if (rc == -1 && w != NULL && w->store != NULL) {
		/* Nothing usable was made: leave no half-made wallet. */
		store_close(w->store);
		w->store = NULL;
		wallet_unlink_db(w->path);
	}
	wallet_close(w);
	return rc;
}

struct wallet *
wallet_open(const char *dir, char *err, size_t errlen)
{
	struct wallet *w = wallet_new(dir);
	struct stat sb;

	if (access(w->path, F_OK) == -1) {
		errbuf_set(err, errlen,
		    "there is no wallet in %s: create one with `set-wallet "
		    "init`, or name yours with -w DIR",
		    dir);
		goto fail;
	}
	if (stat(dir, &sb) == 0 && (sb.st_mode & 077) != 0)
		log_warnx("the wallet folder %s is open to other users (mode "
		          "%03o): `chmod 700 %s`",
		    dir, (unsigned)(sb.st_mode & 0777), dir);
	w->store = store_open(w->path, wallet_migrations,
	    sizeof(wallet_migrations) / sizeof(wallet_migrations[0]), err,
	    errlen);
	if (w->store == NULL)
		goto fail;
	return w;
fail:
	wallet_close(w);
	return NULL;
}

int
wallet_unlock(struct wallet *w, const char *pass, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	unsigned char kek[WALLET_KEYLEN], *master = NULL;
	long long n = 0, r = 0, p = 0;
	unsigned char *salt = NULL, *wrapped = NULL;
	size_t saltlen = 0, wlen = 0, mlen = 0;
	int found = 0, rc = -1;

	st = store_prepare(w->store,
	    "SELECT kdf, n, r, p, salt, master FROM keyring WHERE id = 1");
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		const char *kdf = (const char *)sqlite3_column_text(st, 0);

		found = kdf != NULL && strcmp(kdf, "scrypt") == 0;
		n = sqlite3_column_int64(st, 1);
		r = sqlite3_column_int64(st, 2);
		p = sqlite3_column_int64(st, 3);
		saltlen = (size_t)sqlite3_column_bytes(st, 4);
		salt = xmemdup(sqlite3_column_blob(st, 4), saltlen + 1);
		wlen = (size_t)sqlite3_column_bytes(st, 5);
		wrapped = xmemdup(sqlite3_column_blob(st, 5), wlen + 1);
	}
	if (st != NULL)
		sqlite3_reset(st);
	if (!found) {
		errbuf_set(err, errlen,
		    "%s has no usable key record: it is damaged or not a "
		    "wallet",
		    w->path);
		goto done;
	}
	if (wallet_kdf(pass, salt, saltlen, n, r, p, kek, err, errlen) == -1)
		goto done;
	master = wallet_gcm_open(kek, wallet_master_aad, wrapped, wlen, &mlen);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (master == NULL || mlen != WALLET_KEYLEN) {
		errbuf_set(err, errlen,
		    "wrong passphrase: the wallet in %s does not open with "
		    "it; try again with the passphrase chosen at `set-wallet "
		    "init`",
		    w->dir);
		goto done;
	}
	memcpy(w->master, master, WALLET_KEYLEN);
	w->unlocked = 1;
	rc = 0;
done:
	if (master != NULL)
		freezero_buf(master, mlen + 1);
	free(salt);
	free(wrapped);
	return rc;
}

int
wallet_rekey(struct wallet *w, const char *pass, char *err, size_t errlen)
{
	if (!w->unlocked) {
		errbuf_set(err, errlen, "the wallet is locked");
		return -1;
	}
	if (store_begin(w->store) == -1) {
		errbuf_set(err, errlen, "%s: cannot write", w->path);
		return -1;
	}
	if (wallet_save_keyring(w, pass, 1, err, errlen) == -1) {
		store_rollback(w->store);
		return -1;
	}
	if (store_commit(w->store) == -1) {
		errbuf_set(err, errlen, "%s: cannot write", w->path);
		return -1;
	}
	return 0;
}

/* PEM text of certificates or CRLs, xmalloc'd. */
static char *
wallet_pem(STACK_OF(X509) *certs, X509 *one, STACK_OF(X509_CRL) *crls)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long len;
	int i;

	if (b == NULL)
		log_fatalx("wallet: cannot allocate a BIO");
	if (one != NULL)
		PEM_write_bio_X509(b, one);
	for (i = 0; certs != NULL && i < sk_X509_num(certs); i++)
		PEM_write_bio_X509(b, sk_X509_value(certs, i));
	for (i = 0; crls != NULL && i < sk_X509_CRL_num(crls); i++)
		PEM_write_bio_X509_CRL(b, sk_X509_CRL_value(crls, i));
	len = BIO_get_mem_data(b, &p);
	out = xstrndup(p, (size_t)len);
	BIO_free(b);
	return out;
}

static STACK_OF(X509) *
wallet_pem_certs(const char *text)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	BIO *b = BIO_new_mem_buf(text, -1);
	X509 *x;

	while (b != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
		sk_X509_push(sk, x);
	ERR_clear_error();
	BIO_free(b);
	return sk;
}

static STACK_OF(X509_CRL) *
wallet_pem_crls(const char *text)
{
	STACK_OF(X509_CRL) *sk = sk_X509_CRL_new_null();
	BIO *b = BIO_new_mem_buf(text, -1);
	X509_CRL *x;

	while (b != NULL && (x = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)))
		sk_X509_CRL_push(sk, x);
	ERR_clear_error();
	BIO_free(b);
	return sk;
}

/* Seals one secret of card id and binds it as parameter idx of st. */
static unsigned char *
wallet_seal_bind(struct wallet *w, sqlite3_stmt *st, int idx, long long id,
    const char *purpose, const void *data, size_t len)
{
	char *aad = wallet_aad(id, purpose);
	size_t outlen;
	unsigned char *out =
	    wallet_gcm_seal(w->master, aad, data, len, &outlen);

	free(aad);
	sqlite3_bind_blob(st, idx, out, (int)outlen, SQLITE_STATIC);
	return out;
}

/* The private key as PKCS#8 DER, xmalloc'd (wipe it). */
static unsigned char *
wallet_key_der(EVP_PKEY *key, size_t *len)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	unsigned char *der = NULL, *out;
	int n;

	if (p8 == NULL || (n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) <= 0)
		log_fatalx("wallet: cannot encode a private key");
	PKCS8_PRIV_KEY_INFO_free(p8);
	out = xmemdup(der, (size_t)n);
	OPENSSL_clear_free(der, (size_t)n);
	*len = (size_t)n;
	return out;
}

int
wallet_card_add(
    struct wallet *w, struct wallet_card *c, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	unsigned char *certder = NULL, *keyder = NULL, *s1 = NULL, *s2 = NULL;
	unsigned char *s3 = NULL;
	size_t certlen, keylen = 0;
	char *chain = NULL, *root = NULL, *crls = NULL;
	int rc = -1;

	if (!w->unlocked) {
		errbuf_set(err, errlen, "the wallet is locked");
		return -1;
	}
	if (store_begin(w->store) == -1) {
		errbuf_set(err, errlen, "%s: cannot write", w->path);
		return -1;
	}
	certder = setcert_der(c->cert, &certlen);
	chain = wallet_pem(c->chain, NULL, NULL);
	root = wallet_pem(NULL, c->root, NULL);
	crls = wallet_pem(NULL, NULL, c->crls);
	c->created = c->refreshed = time(NULL);
	/* The row first, to learn the id the secrets are bound to. */
	st = store_prepare(w->store,
	    "INSERT INTO cards (label, brand, pan_masked, expiry, issuer, ca, "
	    "pan, pan_secret, sig_key, cert, chain, root, crls, bci, "
	    "bci_number, created, refreshed) VALUES (?, ?, ?, ?, ?, ?, X'', "
	    "X'', X'', ?, ?, ?, ?, ?, ?, ?, ?)");
	if (st == NULL)
		goto done;
	sqlite3_bind_text(st, 1, c->label, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->brand, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->pan_masked, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->expiry, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->issuer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, c->ca, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, certder, (int)certlen, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, chain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, root, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, crls, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 11, c->bci, (int)c->bcilen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, c->bci_number);
	sqlite3_bind_int64(st, 13, (sqlite3_int64)c->created);
	sqlite3_bind_int64(st, 14, (sqlite3_int64)c->refreshed);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		goto done;
	}
	sqlite3_reset(st);
	c->id = sqlite3_last_insert_rowid(store_db(w->store));

	keyder = wallet_key_der(c->key, &keylen);
	st = store_prepare(w->store,
	    "UPDATE cards SET pan = ?, pan_secret = ?, sig_key = ? "
	    "WHERE id = ?");
	if (st == NULL)
		goto done;
	s1 = wallet_seal_bind(w, st, 1, c->id, "pan", c->pan, strlen(c->pan));
	s2 = wallet_seal_bind(
	    w, st, 2, c->id, "pan_secret", c->pan_secret, PAN_SECRET_LEN);
	s3 = wallet_seal_bind(w, st, 3, c->id, "sig_key", keyder, keylen);
	sqlite3_bind_int64(st, 4, c->id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		goto done;
	}
	sqlite3_reset(st);
	if (store_commit(w->store) == -1)
		goto done;
	rc = 0;
done:
	if (rc == -1) {
		errbuf_set(err, errlen, "%s: cannot store the card: %s",
		    w->path, sqlite3_errmsg(store_db(w->store)));
		store_rollback(w->store);
	}
	free(certder);
	free(chain);
	free(root);
	free(crls);
	free(s1);
	free(s2);
	free(s3);
	if (keyder != NULL)
		freezero_buf(keyder, keylen);
	return rc;
}

static char *
wallet_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return xstrdup(t ? (const char *)t : "");
}

struct wallet_card *
wallet_cards(struct wallet *w, size_t *n, char *err, size_t errlen)
{
	struct wallet_card *cards = NULL, *c;
	sqlite3_stmt *st;
	int step;

	*n = 0;
	st = store_prepare(w->store,
	    "SELECT id, label, brand, pan_masked, expiry, issuer, ca, cert, "
	    "chain, root, crls, bci, bci_number, created, refreshed FROM "
	    "cards ORDER BY id");
	if (st == NULL) {
		errbuf_set(err, errlen, "%s: cannot read the cards", w->path);
		return NULL;
	}
	cards = xcalloc(1, sizeof(*cards));
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		cards = xrealloc(cards, (*n + 1) * sizeof(*cards));
		c = &cards[*n];
		memset(c, 0, sizeof(*c));
		c->id = sqlite3_column_int64(st, 0);
		c->index = (int)++*n;
		c->label = wallet_col_text(st, 1);
		c->brand = wallet_col_text(st, 2);
		c->pan_masked = wallet_col_text(st, 3);
		c->expiry = wallet_col_text(st, 4);
		c->issuer = wallet_col_text(st, 5);
		c->ca = wallet_col_text(st, 6);
		c->cert = setcert_from_der(sqlite3_column_blob(st, 7),
		    (size_t)sqlite3_column_bytes(st, 7));
		c->chain =
		    wallet_pem_certs((const char *)sqlite3_column_text(st, 8));
		c->root =
		    setcert_from_pem((const char *)sqlite3_column_text(st, 9),
		        (size_t)sqlite3_column_bytes(st, 9));
		c->crls =
		    wallet_pem_crls((const char *)sqlite3_column_text(st, 10));
		c->bcilen = (size_t)sqlite3_column_bytes(st, 11);
		c->bci = xmemdup(sqlite3_column_blob(st, 11), c->bcilen + 1);
		c->bci_number = sqlite3_column_int64(st, 12);
		c->created = (time_t)sqlite3_column_int64(st, 13);
		c->refreshed = (time_t)sqlite3_column_int64(st, 14);
		if (c->cert == NULL || c->root == NULL) {
			errbuf_set(err, errlen,
			    "%s: the certificate of card %s does not "
			    "parse: the wallet is damaged",
			    w->path, c->label);
			sqlite3_reset(st);
			wallet_cards_free(cards, *n);
			return NULL;
		}
	}
	sqlite3_reset(st);
	if (step != SQLITE_DONE) {
		errbuf_set(err, errlen, "%s: cannot read the cards: %s",
		    w->path, sqlite3_errmsg(store_db(w->store)));
		wallet_cards_free(cards, *n);
		return NULL;
	}
	return cards;
}

void
wallet_card_clear(struct wallet_card *c)
{
	free(c->label);
	free(c->brand);
	free(c->pan_masked);
	free(c->expiry);
	free(c->issuer);
	free(c->ca);
	X509_free(c->cert);
	sk_X509_pop_free(c->chain, X509_free);
	X509_free(c->root);
	sk_X509_CRL_pop_free(c->crls, X509_CRL_free);
	free(c->bci);
	if (c->pan != NULL)
		freezero_buf(c->pan, strlen(c->pan));
	EVP_PKEY_free(c->key);
	OPENSSL_cleanse(c, sizeof(*c));
}

void
wallet_cards_free(struct wallet_card *cards, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		wallet_card_clear(&cards[i]);
	free(cards);
}

static int
wallet_all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

struct wallet_card *
wallet_card_find(struct wallet_card *cards, size_t n, const char *name,
    char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(cards[i].label, name) == 0)
			return &cards[i];
	if (wallet_all_digits(name) && strlen(name) < 6) {
		i = (size_t)strtoul(name, NULL, 10);
		if (i >= 1 && i <= n)
			return &cards[i - 1];
	}
	if (n == 0)
		errbuf_set(err, errlen,
		    "there is no card \"%.64s\": this wallet holds no card "
		    "yet (add one with `set-wallet register`)",
		    name);
	else
		errbuf_set(err, errlen,
		    "there is no card \"%.64s\" in this wallet: name it by "
		    "its number or label as `set-wallet cards` lists them",
		    name);
	return NULL;
}

int
wallet_label_taken(struct wallet_card *cards, size_t n, const char *label)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(cards[i].label, label) == 0)
			return 1;
	return 0;
}

/* Opens one sealed column of card c; NULL if it does not open. */
static unsigned char *
wallet_unseal_col(struct wallet *w, const struct wallet_card *c,
    const char *purpose, size_t *len)
{
	sqlite3_stmt *st;
	char *sql, *aad;
	unsigned char *out = NULL;

	/* purpose is one of our column names, never input. */
	sql = xasprintf("SELECT %s FROM cards WHERE id = ?", purpose);
	st = store_prepare(w->store, sql);
	free(sql);
	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, c->id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		aad = wallet_aad(c->id, purpose);
		out =
		    wallet_gcm_open(w->master, aad, sqlite3_column_blob(st, 0),
		        (size_t)sqlite3_column_bytes(st, 0), len);
		free(aad);
	}
	sqlite3_reset(st);
	return out;
}

int
wallet_card_unseal(
    struct wallet *w, struct wallet_card *c, char *err, size_t errlen)
{
	unsigned char *pan = NULL, *secret = NULL, *key = NULL;
	const unsigned char *p;
	size_t panlen = 0, secretlen = 0, keylen = 0;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	int rc = -1;

	if (!w->unlocked) {
		errbuf_set(err, errlen, "the wallet is locked");
		return -1;
	}
	pan = wallet_unseal_col(w, c, "pan", &panlen);
	secret = wallet_unseal_col(w, c, "pan_secret", &secretlen);
	key = wallet_unseal_col(w, c, "sig_key", &keylen);
	if (pan == NULL || secret == NULL || key == NULL ||
	    secretlen != PAN_SECRET_LEN) {
		errbuf_set(err, errlen,
		    "the secrets of card %s do not open: the wallet was "
		    "altered or damaged",
		    c->label);
		goto done;
	}
	p = key;
	if ((p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)keylen)) == NULL ||
	    (c->key = EVP_PKCS82PKEY(p8)) == NULL) {
		errbuf_set(err, errlen,
		    "the private key of card %s does not parse", c->label);
		goto done;
	}
	c->pan = xstrdup((const char *)pan);
	memcpy(c->pan_secret, secret, PAN_SECRET_LEN);
	rc = 0;
done:
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (pan != NULL)
		freezero_buf(pan, panlen + 1);
	if (secret != NULL)
		freezero_buf(secret, secretlen + 1);
	if (key != NULL)
		freezero_buf(key, keylen + 1);
	return rc;
}

int
wallet_card_set_crls(
    struct wallet *w, struct wallet_card *c, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char *crls = wallet_pem(NULL, NULL, c->crls);
	int rc = -1;

	c->refreshed = time(NULL);
	st = store_prepare(w->store,
	    "UPDATE cards SET crls = ?, bci = ?, bci_number = ?, "
	    "refreshed = ? WHERE brand = ? AND ca = ? AND root = "
	    "(SELECT root FROM cards WHERE id = ?)");
	if (st != NULL) {
		sqlite3_bind_text(st, 1, crls, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, c->bci, (int)c->bcilen, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, c->bci_number);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)c->refreshed);
		sqlite3_bind_text(st, 5, c->brand, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, c->ca, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, c->id);
		if (sqlite3_step(st) == SQLITE_DONE)
			rc = 0;
		sqlite3_reset(st);
	}
	if (rc == -1)
		errbuf_set(err, errlen, "%s: cannot store the CRLs: %s",
		    w->path, sqlite3_errmsg(store_db(w->store)));
	free(crls);
	return rc;
}

/* The transaction log. */

int
wallet_purchase_save(
    struct wallet *w, const struct wallet_purchase *p, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	time_t now = time(NULL);
	int rc = -1;

	st = store_prepare(w->store,
	    "INSERT INTO purchases (xid, merchant, address, order_id, amount, "
	    "currency, card, status, detail, created, updated) VALUES (?, ?, "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (xid) DO UPDATE SET "
	    "status = excluded.status, detail = excluded.detail, updated = "
	    "excluded.updated");
	if (st == NULL) {
		errbuf_set(err, errlen, "%s: cannot write", w->path);
		return -1;
	}
	sqlite3_bind_text(st, 1, p->xid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->merchant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->order_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, p->amount);
	sqlite3_bind_text(st, 6, p->currency, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, p->card, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, p->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, p->detail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)now);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
	else
		errbuf_set(err, errlen, "%s: cannot record the purchase: %s",
		    w->path, sqlite3_errmsg(store_db(w->store)));
	sqlite3_reset(st);
	return rc;
}

struct wallet_purchase *
wallet_purchases(
    struct wallet *w, const char *xid, size_t *n, char *err, size_t errlen)
{
	struct wallet_purchase *ps, *p;
	sqlite3_stmt *st;
	int step;

	*n = 0;
	st = store_prepare(w->store,
	    "SELECT xid, merchant, address, order_id, amount, currency, card, "
	    "status, detail, created, updated FROM purchases WHERE ?1 IS NULL "
	    "OR xid = ?1 ORDER BY created, id");
	if (st == NULL) {
		errbuf_set(
		    err, errlen, "%s: cannot read the purchases", w->path);
		return NULL;
	}
	if (xid != NULL)
		sqlite3_bind_text(st, 1, xid, -1, SQLITE_STATIC);
	ps = xcalloc(1, sizeof(*ps));
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		ps = xrealloc(ps, (*n + 1) * sizeof(*ps));
		p = &ps[(*n)++];
		p->xid = wallet_col_text(st, 0);
		p->merchant = wallet_col_text(st, 1);
		p->address = wallet_col_text(st, 2);
		p->order_id = wallet_col_text(st, 3);
		p->amount = sqlite3_column_int64(st, 4);
		p->currency = wallet_col_text(st, 5);
		p->card = wallet_col_text(st, 6);
		p->status = wallet_col_text(st, 7);
		p->detail = wallet_col_text(st, 8);
		p->created = (time_t)sqlite3_column_int64(st, 9);
		p->updated = (time_t)sqlite3_column_int64(st, 10);
	}
	sqlite3_reset(st);
	if (step != SQLITE_DONE) {
		errbuf_set(err, errlen, "%s: cannot read the purchases: %s",
		    w->path, sqlite3_errmsg(store_db(w->store)));
		wallet_purchases_free(ps, *n);
		return NULL;
	}
	return ps;
}

void
wallet_purchases_free(struct wallet_purchase *ps, size_t n)
{
	size_t i;

	if (ps == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(ps[i].xid);
		free(ps[i].merchant);
		free(ps[i].address);
		free(ps[i].order_id);
		free(ps[i].currency);
		free(ps[i].card);
		free(ps[i].status);
		free(ps[i].detail);
	}
	free(ps);
}
