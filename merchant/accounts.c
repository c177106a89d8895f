/*
 * Optional customer accounts: a username and a password, so a customer can
 * find their orders again. Passwords are never stored: only a salted scrypt
 * hash (EVP_PBE_scrypt, N=2^14, r=8, p=1, 32 bytes), "scrypt$N$r$p$salt$hash"
 * in hex, compared in constant time. A wrong username costs as much as a
 * wrong password, so the answer's timing does not tell which it was.
 *
 *	POST /accounts		{"username","password"} -> 201 {"username"}
 *	POST /accounts/orders	{"username","password"} -> the orders
 *	GET /orders		the same with HTTP Basic (orders.c)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base64.h"
#include "hex.h"
#include "log.h"
#include "merchant.h"
#include "xmalloc.h"

#define ACCOUNTS_N 16384ULL
#define ACCOUNTS_R 8ULL
#define ACCOUNTS_P 1ULL
#define ACCOUNTS_MAXMEM (64ULL * 1024 * 1024)
#define ACCOUNTS_SALT 16
#define ACCOUNTS_KEY 32
#define ACCOUNTS_PASS_MIN 8
#define ACCOUNTS_PASS_MAX 256

static int
accounts_scrypt(const char *password, const unsigned char *salt,
    unsigned long long n, unsigned long long r, unsigned long long p,
    unsigned char out[ACCOUNTS_KEY])
{
	if (EVP_PBE_scrypt(password, strlen(password), salt, ACCOUNTS_SALT, n,
	        r, p, ACCOUNTS_MAXMEM, out, ACCOUNTS_KEY) != 1) {
		log_openssl("scrypt", NULL, 0);
		return -1;
	}
	return 0;
}

/* A new stored form of a password. */
static char *
accounts_hash(const char *password)
{
	unsigned char salt[ACCOUNTS_SALT], key[ACCOUNTS_KEY];
	char *s, *k, *out;

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    accounts_scrypt(
	        password, salt, ACCOUNTS_N, ACCOUNTS_R, ACCOUNTS_P, key) == -1)
		return NULL;
	s = hex_encode(salt, sizeof(salt));
	k = hex_encode(key, sizeof(key));
	out = xasprintf("scrypt$%llu$%llu$%llu$%s$%s", ACCOUNTS_N, ACCOUNTS_R,
	    ACCOUNTS_P, s, k);
	OPENSSL_cleanse(key, sizeof(key));
	free(s);
	free(k);
	return out;
}

/* 0 the password matches the stored form, 1 it does not, -1 error. */
static int
accounts_verify(const char *stored, const char *password)
{
	unsigned long long n, r, p;
	char salthex[2 * ACCOUNTS_SALT + 1], keyhex[2 * ACCOUNTS_KEY + 1];
	unsigned char salt[ACCOUNTS_SALT], want[ACCOUNTS_KEY],
	    got[ACCOUNTS_KEY];
	int rc = -1;

	if (sscanf(stored, "scrypt$%llu$%llu$%llu$%32[0-9a-f]$%64[0-9a-f]", &n,
	        &r, &p, salthex, keyhex) != 5 ||
	    hex_decode(salthex, salt, sizeof(salt)) == -1 ||
	    hex_decode(keyhex, want, sizeof(want)) == -1 || n > (1ULL << 20) ||
	    r > 32 || p > 4) {
		log_warnx("accounts: a stored password hash is unreadable");
		return -1;
	}
	if (accounts_scrypt(password, salt, n, r, p, got) == 0)
		rc = CRYPTO_memcmp(got, want, sizeof(want)) == 0 ? 0 : 1;
	OPENSSL_cleanse(got, sizeof(got));
	return rc;
}

int
accounts_check(struct merchant *m, const char *username, const char *password)
{
	/* Compared against when the user is unknown: the same cost. */
	static const char dummy[] = "scrypt$16384$8$1$"
	                            "00000000000000000000000000000000$"
	                            "0000000000000000000000000000000000000000"
	                            "000000000000000000000000";
	sqlite3_stmt *st;
	char *stored = NULL;
	int rc;

	st = store_prepare(
	    m->store, "SELECT hash FROM accounts WHERE username = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		stored = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (stored == NULL) {
		accounts_verify(dummy, password);
		return 1;
	}
	rc = accounts_verify(stored, password);
	free(stored);
	return rc;
}

int
accounts_basic_decode(const char *header, char **user, char **pass)
{
	unsigned char *raw;
	size_t len;
	char *colon;

	*user = *pass = NULL;
	if (strncasecmp(header, "Basic ", 6) != 0)
		return -1;
	header += 6;
	if ((raw = base64_decode(header, strlen(header), &len)) == NULL)
		return -1;
	raw = xrealloc(raw, len + 1);
	raw[len] = '\0';
	if (strlen((char *)raw) != len ||
	    (colon = strchr((char *)raw, ':')) == NULL) {
		freezero_buf(raw, len + 1);
		return -1;
	}
	*user = xstrndup((char *)raw, (size_t)(colon - (char *)raw));
	*pass = xstrdup(colon + 1);
	freezero_buf(raw, len + 1);
	return 0;
}

/* The {"username","password"} of a request body. */
static int
accounts_read(struct merchant *m, struct http_req *req, json_t *in,
    const char **user, const char **pass)
{
	const char *key;
	json_t *v;

	if (!m->set.accounts) {
		reply_json_error(req, 404, "no-accounts",
		    "this shop has no customer accounts");
		return -1;
	}
	json_object_foreach(in, key, v)
	{
		if (strcmp(key, "username") != 0 &&
		    strcmp(key, "password") != 0) {
			reply_json_error(req, 400, "malformed",
			    "only \"username\" and \"password\" are allowed");
			return -1;
		}
	}
	*user = json_string_value(json_object_get(in, "username"));
	*pass = json_string_value(json_object_get(in, "password"));
	if (*user == NULL || *pass == NULL) {
		reply_json_error(req, 400, "malformed",
		    "\"username\" and \"password\" are required strings");
		return -1;
	}
	return 0;
}

void
accounts_http_create(struct merchant *m, struct http_req *req)
{
	sqlite3_stmt *st;
	const char *user, *pass;
	char *hash = NULL;
	json_t *in;
	int rc;

	if (strcmp(req->method, "POST") != 0) {
		reply_json_error(
		    req, 405, "method", "use POST to open an account");
		return;
	}
	if ((in = reply_parse_body(req)) == NULL)
		return;
	if (accounts_read(m, req, in, &user, &pass) == -1)
		goto done;
	if (strlen(user) < 3 || !merchant_ident_ok(user, 64) ||
	    merchant_holds_pan(user)) {
		reply_json_error(req, 400, "bad-username",
		    "a username is 3-64 characters from A-Z a-z 0-9 . _ -");
		goto done;
	}
	if (strlen(pass) < ACCOUNTS_PASS_MIN ||
	    strlen(pass) > ACCOUNTS_PASS_MAX) {
		reply_json_error(req, 400, "bad-password",
		    "a password is %d to %d characters", ACCOUNTS_PASS_MIN,
		    ACCOUNTS_PASS_MAX);
		goto done;
	}
	if ((hash = accounts_hash(pass)) == NULL) {
		reply_json_error(
		    req, 500, "internal", "the shop cannot open accounts now");
		goto done;
	}
	st = store_prepare(m->store,
	    "INSERT INTO accounts (username, hash, created_at) VALUES (?, ?, "
	    "?) ON CONFLICT (username) DO NOTHING");
	if (st == NULL) {
		reply_json_error(
		    req, 500, "internal", "the shop cannot open accounts now");
		goto done;
	}
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		reply_json_error(
		    req, 500, "internal", "the shop cannot open accounts now");
	else if (sqlite3_changes(store_db(m->store)) == 0)
		reply_json_error(req, 409, "username-taken",
		    "the username %s is taken", user);
	else {
		log_info("customer account %s opened", user);
		reply_json(req, 201, json_pack("{s:s}", "username", user));
	}
done:
	free(hash);
	json_decref(in);
}

void
accounts_http_orders(struct merchant *m, struct http_req *req)
{
	const char *user, *pass;
	json_t *in;
	int r;

	if (strcmp(req->method, "POST") != 0) {
		reply_json_error(req, 405, "method",
		    "POST your {\"username\",\"password\"}");
		return;
	}
	if ((in = reply_parse_body(req)) == NULL)
		return;
	if (accounts_read(m, req, in, &user, &pass) == -1)
		goto done;
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
done:
	json_decref(in);
}
