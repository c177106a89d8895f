/*
 * The commands bank staff run against a CA's state folder, while the daemon
 * runs or not: make enrollment tokens, list and show certificates and
 * requests, approve or reject pending requests, revoke certificates, print
 * CRLs, renew the root CRL with the offline root key. Every action that
 * changes something is recorded in the audit table with who did it (the
 * login name, or $SET_OPERATOR) and when.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca.h"
#include "hex.h"
#include "daemon.h"
#include "log.h"
#include "setcert.h"
#include "xmalloc.h"

struct command {
	const char *name;
	int (*fn)(struct ca *, int, char **);
	const char *usage;
};

static void
fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0) {
		snprintf(buf, len, "-");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
}

/* Parses "72h", "3d", "90m" or plain hours. -1 when unreadable. */
static long long
parse_duration(const char *s)
{
	char *end;
	long long n = strtoll(s, &end, 10);

	if (end == s || n <= 0)
		return -1;
	if (*end == '\0' || strcmp(end, "h") == 0)
		return n * 3600;
	if (strcmp(end, "d") == 0)
		return n * 86400;
	if (strcmp(end, "m") == 0)
		return n * 60;
	return -1;
}

static int
cmd_token(struct ca *ca, int argc, char **argv)
{
	static const struct option longopts[] = { { "role", 1, NULL, 'r' },
		{ "id", 1, NULL, 'i' }, { "brand", 1, NULL, 'b' },
		{ "valid", 1, NULL, 'V' }, { NULL, 0, NULL, 0 } };
	const char *role = NULL, *id = NULL, *brand = NULL;
	long long valid = ca->set.token_hours * 3600;
	const struct ca_role *r;
	struct ca_authority *a;
	sqlite3_stmt *st;
	char *token, *hash, when[32], *detail;
	time_t now = time(NULL);
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "r:i:b:V:", longopts, NULL)) != -1)
		switch (c) {
		case 'r':
			role = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'b':
			brand = optarg;
			break;
		case 'V':
			if ((valid = parse_duration(optarg)) == -1) {
				fprintf(stderr,
				    "set-ca token: --valid: use "
				    "hours (72h), days (3d) or minutes "
				    "(90m)\n");
				return 2;
			}
			break;
		default:
			return 2;
		}
	if (role == NULL || id == NULL || brand == NULL) {
		fprintf(stderr,
		    "set-ca token: --role, --id and --brand are "
		    "required\n");
		return 2;
	}
	if ((r = ca_role_find(role)) == NULL) {
		fprintf(stderr,
		    "set-ca token: --role must be merchant or "
		    "gateway\n");
		return 2;
	}
	if (strlen(id) == 0 || strlen(id) > 64 ||
	    strspn(id,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789._-") != strlen(id)) {
		fprintf(stderr,
		    "set-ca token: --id must be 1-64 characters "
		    "from A-Z a-z 0-9 . _ -\n");
		return 2;
	}
	if ((a = ca_find(ca, brand, r->ca_type)) == NULL) {
		fprintf(stderr, "set-ca token: this CA has no brand \"%s\"\n",
		    brand);
		return 1;
	}
	token = hex_random(16);
	hash = hex_sha256(token, strlen(token));
	if (store_begin(ca->store) == -1)
		goto done;
	st = store_prepare(ca->store,
	    "INSERT INTO tokens (hash, role, "
	    "entity_id, brand, created_at, created_by, expires_at) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?)");
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->brand, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
	sqlite3_bind_text(st, 6, ca->who, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)(now + valid));
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		goto fail;
	}
	sqlite3_reset(st);
	detail = xasprintf("%s %s (%s)", r->name, id, a->brand);
	if (ca_audit(ca, "token", hash, detail) == -1 ||
	    store_commit(ca->store) == -1) {
		free(detail);
		goto fail;
	}
	free(detail);
	fmt_time(now + (time_t)valid, when, sizeof(when));
	/* The token itself is shown once and never stored. */
	printf("%s\n", token);
	fprintf(stderr,
	    "enrollment token for %s %s (brand %s), valid until "
	    "%s; give it to the requester over a trusted channel\n",
	    r->name, id, a->brand, when);
	rc = 0;
	goto done;
fail:
	store_rollback(ca->store);
	fprintf(stderr, "set-ca token: cannot record the token: %s\n",
	    sqlite3_errmsg(store_db(ca->store)));
done:
	freezero_buf(token, strlen(token));
	free(hash);
	return rc;
}

static int
list_certs(struct ca *ca, const char *status)
{
	sqlite3_stmt *st;
	char nb[32];

	st = store_prepare(ca->store,
	    "SELECT serial, role, usage, "
	    "coalesce(entity_id, '-'), issuer, not_after, revoked_at IS NOT "
	    "NULL, subject FROM certs WHERE (?1 IS NULL) OR (?1 = 'revoked' "
	    "AND revoked_at IS NOT NULL) OR (?1 = 'valid' AND revoked_at IS "
	    "NULL) ORDER BY rowid");
	if (st == NULL)
		return 1;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	printf("%-32s  %-8s  %-5s  %-16s  %-10s  %-20s  %s\n", "SERIAL", "ROLE",
	    "USAGE", "ID", "ISSUER", "NOT AFTER", "STATUS");
	while (sqlite3_step(st) == SQLITE_ROW) {
		fmt_time((time_t)sqlite3_column_int64(st, 5), nb, sizeof(nb));
		printf("%-32s  %-8s  %-5s  %-16s  %-10s  %-20s  %s\n",
		    sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
		    sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
		    sqlite3_column_text(st, 4), nb,
		    sqlite3_column_int(st, 6) ? "revoked" : "valid");
	}
	sqlite3_reset(st);
	return 0;
}

static int
list_requests(struct ca *ca, const char *status)
{
	sqlite3_stmt *st;
	char at[32];

	st = store_prepare(ca->store,
	    "SELECT id, role, entity_id, brand, "
	    "name, status, created_at FROM requests WHERE ?1 IS NULL OR "
	    "status = ?1 ORDER BY created_at, rowid");
	if (st == NULL)
		return 1;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	printf("%-32s  %-8s  %-16s  %-8s  %-8s  %-20s  %s\n", "REQUEST", "ROLE",
	    "ID", "BRAND", "STATUS", "RECEIVED", "NAME");
	while (sqlite3_step(st) == SQLITE_ROW) {
		fmt_time((time_t)sqlite3_column_int64(st, 6), at, sizeof(at));
		printf("%-32s  %-8s  %-16s  %-8s  %-8s  %-20s  %s\n",
		    sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
		    sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
		    sqlite3_column_text(st, 5), at, sqlite3_column_text(st, 4));
	}
	sqlite3_reset(st);
	return 0;
}

static int
list_tokens(struct ca *ca)
{
	sqlite3_stmt *st;
	char exp[32];
	time_t now = time(NULL);

	st = store_prepare(ca->store,
	    "SELECT substr(hash, 1, 12), role, "
	    "entity_id, brand, expires_at, used_at IS NOT NULL, created_by "
	    "FROM tokens ORDER BY created_at, rowid");
	if (st == NULL)
		return 1;
	printf("%-12s  %-8s  %-16s  %-8s  %-20s  %-7s  %s\n", "TOKEN HASH",
	    "ROLE", "ID", "BRAND", "EXPIRES", "STATE", "MADE BY");
	while (sqlite3_step(st) == SQLITE_ROW) {
		time_t e = (time_t)sqlite3_column_int64(st, 4);

		fmt_time(e, exp, sizeof(exp));
		printf("%-12s  %-8s  %-16s  %-8s  %-20s  %-7s  %s\n",
		    sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
		    sqlite3_column_text(st, 2), sqlite3_column_text(st, 3), exp,
		    sqlite3_column_int(st, 5) ? "used"
		        : e < now             ? "expired"
		                              : "unused",
		    sqlite3_column_text(st, 6));
	}
	sqlite3_reset(st);
	return 0;
}

static int
list_audit(struct ca *ca)
{
	sqlite3_stmt *st;
	char at[32];

	st = store_prepare(ca->store,
	    "SELECT at, who, action, "
	    "coalesce(target, '-'), coalesce(detail, '') FROM audit ORDER BY "
	    "id");
	if (st == NULL)
		return 1;
	printf("%-20s  %-12s  %-12s  %-32s  %s\n", "WHEN", "WHO", "ACTION",
	    "TARGET", "DETAIL");
	while (sqlite3_step(st) == SQLITE_ROW) {
		fmt_time((time_t)sqlite3_column_int64(st, 0), at, sizeof(at));
		printf("%-20s  %-12s  %-12s  %-32s  %s\n", at,
		    sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
		    sqlite3_column_text(st, 3), sqlite3_column_text(st, 4));
	}
	sqlite3_reset(st);
	return 0;
}

static int
cmd_list(struct ca *ca, int argc, char **argv)
{
	static const struct option longopts[] = { { "status", 1, NULL, 's' },
		{ NULL, 0, NULL, 0 } };
	const char *what, *status = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "s:", longopts, NULL)) != -1)
		if (c == 's')
			status = optarg;
		else
			return 2;
	what = optind < argc ? argv[optind] : "certs";
	if (strcmp(what, "certs") == 0)
		return list_certs(ca, status);
	if (strcmp(what, "requests") == 0)
		return list_requests(ca, status);
	if (strcmp(what, "tokens") == 0)
		return list_tokens(ca);
	if (strcmp(what, "audit") == 0)
		return list_audit(ca);
	fprintf(stderr,
	    "set-ca list: list certs, requests, tokens or "
	    "audit\n");
	return 2;
}

static int
show_cert(struct ca *ca, const char *serial, int pem)
{
	sqlite3_stmt *st;
	X509 *x = NULL;
	char nb[32], na[32], rv[32];
	int rc = 1;

	st = store_prepare(ca->store,
	    "SELECT der, role, usage, "
	    "coalesce(entity_id, '-'), issuer, not_before, not_after, "
	    "revoked_at, revoke_reason, coalesce(request_id, '-'), subject "
	    "FROM certs WHERE serial = ?");
	if (st == NULL)
		return 1;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		x = setcert_from_der(sqlite3_column_blob(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0));
		fmt_time((time_t)sqlite3_column_int64(st, 5), nb, sizeof(nb));
		fmt_time((time_t)sqlite3_column_int64(st, 6), na, sizeof(na));
		fmt_time((time_t)sqlite3_column_int64(st, 7), rv, sizeof(rv));
		printf("certificate  %s\n", serial);
		printf("subject      %s\n", sqlite3_column_text(st, 10));
		printf("role         %s (%s)\n", sqlite3_column_text(st, 1),
		    sqlite3_column_text(st, 2));
		printf("id           %s\n", sqlite3_column_text(st, 3));
		printf("issuer       %s\n", sqlite3_column_text(st, 4));
		printf("valid        %s to %s\n", nb, na);
		printf("request      %s\n", sqlite3_column_text(st, 9));
		if (sqlite3_column_type(st, 7) != SQLITE_NULL)
			printf("status       revoked at %s (%s)\n", rv,
			    crl_reason_name(sqlite3_column_int(st, 8)));
		else
			printf("status       valid\n");
		if (x != NULL) {
			char *t = setcert_thumbprint(x);

			printf("sha256       %s\n", t);
			free(t);
			if (pem)
				PEM_write_X509(stdout, x);
		}
		rc = 0;
	}
	sqlite3_reset(st);
	X509_free(x);
	return rc;
}

static int
show_request(struct ca *ca, const char *id)
{
	sqlite3_stmt *st;
	char at[32], dec[32];
	int rc = 1;

	st = store_prepare(ca->store,
	    "SELECT role, entity_id, brand, name, "
	    "status, coalesce(reason, ''), created_at, decided_at, "
	    "coalesce(decided_by, '-'), token IS NOT NULL FROM requests "
	    "WHERE id = ?");
	if (st == NULL)
		return 1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		fmt_time((time_t)sqlite3_column_int64(st, 6), at, sizeof(at));
		fmt_time((time_t)sqlite3_column_int64(st, 7), dec, sizeof(dec));
		printf("request      %s\n", id);
		printf("role         %s\n", sqlite3_column_text(st, 0));
		printf("id           %s\n", sqlite3_column_text(st, 1));
		printf("brand        %s\n", sqlite3_column_text(st, 2));
		printf("name         %s\n", sqlite3_column_text(st, 3));
		printf("status       %s %s\n", sqlite3_column_text(st, 4),
		    sqlite3_column_text(st, 5));
		printf("received     %s%s\n", at,
		    sqlite3_column_int(st, 9) ? " (with a token)" : "");
		printf(
		    "decided      %s by %s\n", dec, sqlite3_column_text(st, 8));
		rc = 0;
	}
	sqlite3_reset(st);
	if (rc == 0) {
		st = store_prepare(ca->store,
		    "SELECT serial, usage FROM certs "
		    "WHERE request_id = ?");
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW)
			printf("certificate  %s (%s)\n",
			    sqlite3_column_text(st, 0),
			    sqlite3_column_text(st, 1));
		sqlite3_reset(st);
	}
	return rc;
}

static int
cmd_show(struct ca *ca, int argc, char **argv)
{
	static const struct option longopts[] = { { "pem", 0, NULL, 'p' },
		{ NULL, 0, NULL, 0 } };
	int c, pem = 0, found;
	char *serial;

	while ((c = getopt_long(argc, argv, "p", longopts, NULL)) != -1)
		if (c == 'p')
			pem = 1;
		else
			return 2;
	if (optind >= argc) {
		fprintf(stderr,
		    "set-ca show: name a certificate serial or a "
		    "request id\n");
		return 2;
	}
	serial = ca_serial_normalize(argv[optind]);
	found = (serial != NULL && show_cert(ca, serial, pem) == 0) ||
	    show_request(ca, argv[optind]) == 0;
	free(serial);
	if (found)
		return 0;
	fprintf(stderr,
	    "set-ca show: no certificate or request is called "
	    "%s\n",
	    argv[optind]);
	return 1;
}

static int
cmd_approve(struct ca *ca, int argc, char **argv)
{
	char err[256];

	if (argc < 2) {
		fprintf(stderr, "set-ca approve: name the request id\n");
		return 2;
	}
	if (store_begin(ca->store) == -1)
		return 1;
	if (issue_request(ca, argv[1], err, sizeof(err)) == -1 ||
	    ca_audit(ca, "approve", argv[1], NULL) == -1 ||
	    store_commit(ca->store) == -1) {
		store_rollback(ca->store);
		fprintf(stderr, "set-ca approve: %s\n", err);
		return 1;
	}
	printf("request %s approved; its certificates are issued and the "
	       "requester receives them at its next inquiry\n",
	    argv[1]);
	return 0;
}

static int
cmd_reject(struct ca *ca, int argc, char **argv)
{
	static const struct option longopts[] = { { "reason", 1, NULL, 'r' },
		{ NULL, 0, NULL, 0 } };
	const char *reason = "rejected by the CA operator";
	sqlite3_stmt *st;
	int c, changed;

	while ((c = getopt_long(argc, argv, "r:", longopts, NULL)) != -1)
		if (c == 'r')
			reason = optarg;
		else
			return 2;
	if (optind >= argc) {
		fprintf(stderr, "set-ca reject: name the request id\n");
		return 2;
	}
	if (store_begin(ca->store) == -1)
		return 1;
	st = store_prepare(ca->store,
	    "UPDATE requests SET status = "
	    "'rejected', reason = ?, decided_at = ?, decided_by = ? WHERE "
	    "id = ? AND status = 'pending'");
	sqlite3_bind_text(st, 1, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 3, ca->who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, argv[optind], -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_reset(st);
	changed = sqlite3_changes(store_db(ca->store));
	if (changed != 1) {
		store_rollback(ca->store);
		fprintf(stderr,
		    "set-ca reject: no pending request has id "
		    "%s\n",
		    argv[optind]);
		return 1;
	}
	if (ca_audit(ca, "reject", argv[optind], reason) == -1 ||
	    store_commit(ca->store) == -1) {
		store_rollback(ca->store);
		fprintf(stderr, "set-ca reject: cannot record the decision\n");
		return 1;
	}
	printf("request %s rejected\n", argv[optind]);
	return 0;
}

static int
cmd_revoke(struct ca *ca, int argc, char **argv)
{
	static const struct option longopts[] = { { "reason", 1, NULL, 'r' },
		{ NULL, 0, NULL, 0 } };
	int c, reason = CRL_REASON_UNSPECIFIED;
	char err[256], *serial;

	while ((c = getopt_long(argc, argv, "r:", longopts, NULL)) != -1)
		if (c == 'r') {
			if ((reason = crl_reason_code(optarg)) == -1) {
				fprintf(stderr,
				    "set-ca revoke: unknown reason "
				    "\"%s\"; use keyCompromise, "
				    "affiliationChanged, superseded, "
				    "cessationOfOperation, privilegeWithdrawn, "
				    "caCompromise or unspecified\n",
				    optarg);
				return 2;
			}
		} else
			return 2;
	if (optind >= argc) {
		fprintf(stderr, "set-ca revoke: name the certificate serial\n");
		return 2;
	}
	if ((serial = ca_serial_normalize(argv[optind])) == NULL) {
		fprintf(stderr,
		    "set-ca revoke: \"%s\" is not a serial number "
		    "(hex digits)\n",
		    argv[optind]);
		return 2;
	}
	if (crl_revoke(ca, serial, reason, err, sizeof(err)) == -1) {
		fprintf(stderr, "set-ca revoke: %s\n", err);
		free(serial);
		return 1;
	}
	printf("certificate %s revoked (%s); the new CRL lists it\n", serial,
	    crl_reason_name(reason));
	free(serial);
	return 0;
}

static int
cmd_crl(struct ca *ca, int argc, char **argv)
{
	static const struct option longopts[] = { { "text", 0, NULL, 't' },
		{ NULL, 0, NULL, 0 } };
	unsigned char *der;
	const unsigned char *p;
	size_t len, i;
	X509_CRL *crl;
	int c, text = 0;

	while ((c = getopt_long(argc, argv, "t", longopts, NULL)) != -1)
		if (c == 't')
			text = 1;
		else
			return 2;
	if (optind >= argc) {
		fprintf(stderr, "set-ca crl: name a CA: root");
		for (i = 0; i < ca->nauth; i++)
			fprintf(stderr, ", %s", ca->auth[i].name);
		fprintf(stderr, "\n");
		return 2;
	}
	if (crl_latest(ca, argv[optind], &der, &len) == -1) {
		fprintf(
		    stderr, "set-ca crl: no CRL for \"%s\"\n", argv[optind]);
		return 1;
	}
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	free(der);
	if (crl == NULL) {
		fprintf(stderr, "set-ca crl: the stored CRL does not parse\n");
		return 1;
	}
	if (text) {
		BIO *out = BIO_new_fp(stdout, BIO_NOCLOSE);

		X509_CRL_print(out, crl);
		BIO_free(out);
	} else
		PEM_write_X509_CRL(stdout, crl);
	X509_CRL_free(crl);
	return 0;
}

static int
cmd_root_crl(struct ca *ca, int argc, char **argv)
{
	static const struct option longopts[] = { { "root-key", 1, NULL, 'k' },
		{ "revoke", 1, NULL, 'r' }, { NULL, 0, NULL, 0 } };
	const char *keyfile = NULL;
	char *revoke = NULL;
	EVP_PKEY *key;
	sqlite3_stmt *st;
	char err[256];
	size_t i, n;
	char **brands;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "k:r:", longopts, NULL)) != -1)
		if (c == 'k')
			keyfile = optarg;
		else if (c == 'r') {
			free(revoke);
			if ((revoke = ca_serial_normalize(optarg)) == NULL) {
				fprintf(stderr,
				    "set-ca root-crl: \"%s\" is not "
				    "a serial number\n",
				    optarg);
				return 2;
			}
		} else
			return 2;
	if (keyfile == NULL) {
		free(revoke);
		fprintf(stderr,
		    "set-ca root-crl: --root-key FILE is required "
		    "(the root key is kept offline)\n");
		return 2;
	}
	if ((key = setcert_read_key(keyfile, err, sizeof(err))) == NULL) {
		fprintf(stderr, "set-ca root-crl: %s\n", err);
		free(revoke);
		return 1;
	}
	if (store_begin(ca->store) == -1)
		goto done;
	if (revoke != NULL) {
		st = store_prepare(ca->store,
		    "UPDATE certs SET revoked_at = "
		    "?, revoke_reason = ? WHERE serial = ? AND issuer = 'root' "
		    "AND revoked_at IS NULL");
		sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
		sqlite3_bind_int(st, 2, CRL_REASON_CA_COMPROMISE);
		sqlite3_bind_text(st, 3, revoke, -1, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_reset(st);
		if (sqlite3_changes(store_db(ca->store)) != 1) {
			snprintf(err, sizeof(err),
			    "no unrevoked certificate "
			    "issued by the root has serial %s",
			    revoke);
			goto fail;
		}
	}
	if (crl_refresh_root(ca, key, err, sizeof(err)) == -1)
		goto fail;
	brands = ca_brands(ca, &n);
	for (i = 0; i < n; i++) {
		if (rc == 1 && bci_refresh(ca, brands[i], err, sizeof(err)))
			rc = 2;
		free(brands[i]);
	}
	free(brands);
	if (rc == 2)
		goto fail;
	if (ca_audit(ca, revoke ? "revoke" : "root-crl", revoke,
	        "root CRL reissued with the offline key") == -1 ||
	    store_commit(ca->store) == -1)
		goto fail;
	printf("root CRL reissued%s%s\n", revoke ? "; revoked " : "",
	    revoke ? revoke : "");
	rc = 0;
	goto done;
fail:
	rc = 1;
	store_rollback(ca->store);
	fprintf(stderr, "set-ca root-crl: %s\n", err);
done:
	EVP_PKEY_free(key);
	free(revoke);
	return rc;
}

/* Writes one PEM file of the current CRLs of the named CAs. */
static int
write_crls(struct ca *ca, const char *path, const char *const *names, size_t n,
    char *err, size_t errlen)
{
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f;
	size_t i;
	int rc = -1;

	if ((f = fopen(tmp, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char *der;
		const unsigned char *p;
		size_t len;
		X509_CRL *crl;

		if (crl_latest(ca, names[i], &der, &len) == -1)
			continue;
		p = der;
		if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) != NULL)
			PEM_write_X509_CRL(f, crl);
		X509_CRL_free(crl);
		free(der);
	}
	if (fflush(f) == 0 && fsync(fileno(f)) == 0 && fclose(f) == 0 &&
	    rename(tmp, path) == 0)
		rc = 0;
	else
		snprintf(err, errlen, "%s: cannot write", path);
	free(tmp);
	return rc;
}

static int
cmd_tls_cert(struct ca *ca, int argc, char **argv)
{
	static const struct option longopts[] = { { "id", 1, NULL, 'i' },
		{ "brand", 1, NULL, 'b' }, { "name", 1, NULL, 'n' },
		{ "out", 1, NULL, 'o' }, { "days", 1, NULL, 'd' },
		{ NULL, 0, NULL, 0 } };
	static const char *const default_names[] = { "localhost", "127.0.0.1" };
	const char *id = NULL, *brand = NULL, *out = NULL, *crls[2];
	const char **names = xcalloc((size_t)argc + 1, sizeof(*names));
	size_t nnames = 0;
	long days = 365;
	struct ca_authority *bca;
	EVP_PKEY *key = NULL;
	X509 *x = NULL, *one[1];
	char err[256], *path = NULL, *org = NULL, *end;
	int c, rc = 1;

	while (
	    (c = getopt_long(argc, argv, "i:b:n:o:d:", longopts, NULL)) != -1)
		switch (c) {
		case 'i':
			id = optarg;
			break;
		case 'b':
			brand = optarg;
			break;
		case 'n':
			names[nnames++] = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'd':
			days = strtol(optarg, &end, 10);
			if (*end != '\0' || days < 1 || days > 3650) {
				fprintf(stderr,
				    "set-ca tls-cert: --days wants "
				    "1-3650\n");
				rc = 2;
				goto done;
			}
			break;
		default:
			rc = 2;
			goto done;
		}
	if (id == NULL || brand == NULL || out == NULL) {
		fprintf(stderr,
		    "set-ca tls-cert: --id, --brand and --out are "
		    "required\n");
		rc = 2;
		goto done;
	}
	if (strlen(id) == 0 || strlen(id) > 64) {
		fprintf(stderr,
		    "set-ca tls-cert: --id must be 1-64 "
		    "characters\n");
		rc = 2;
		goto done;
	}
	if ((bca = ca_find(ca, brand, SETCERT_BCA)) == NULL) {
		fprintf(stderr,
		    "set-ca tls-cert: this CA has no brand "
		    "\"%s\"\n",
		    brand);
		goto done;
	}
	if (nnames == 0) {
		names[0] = default_names[0];
		names[1] = default_names[1];
		nnames = 2;
	}
	if (mkdir(out, 0700) == -1 && errno != EEXIST) {
		fprintf(
		    stderr, "set-ca tls-cert: %s: %s\n", out, strerror(errno));
		goto done;
	}
	path = xasprintf("%s/tls.key", out);
	key = setcert_keygen();
	if (setcert_write_key(path, key, err, sizeof(err)) == -1)
		goto fail;
	org = xasprintf("%s bank service", bca->brand);
	if ((x = issue_tls(bca->cert, bca->key, key, id, org, names, nnames,
	         days, err, sizeof(err))) == NULL)
		goto fail;
	if (store_begin(ca->store) == -1)
		goto fail;
	if (ca_put_cert(ca->store, x, bca->name, "tls", "tls", id, NULL, err,
	        sizeof(err)) == -1 ||
	    ca_audit(ca, "tls-cert", id, org) == -1 ||
	    store_commit(ca->store) == -1) {
		store_rollback(ca->store);
		goto fail;
	}
	free(path);
	path = xasprintf("%s/tls.pem", out);
	one[0] = x;
	if (setcert_write_pem(path, one, 1, err, sizeof(err)) == -1)
		goto fail;
	free(path);
	path = xasprintf("%s/chain.pem", out);
	one[0] = bca->cert;
	if (setcert_write_pem(path, one, 1, err, sizeof(err)) == -1)
		goto fail;
	free(path);
	path = xasprintf("%s/root.pem", out);
	one[0] = ca->root;
	if (setcert_write_pem(path, one, 1, err, sizeof(err)) == -1)
		goto fail;
	free(path);
	path = xasprintf("%s/crl.pem", out);
	crls[0] = "root";
	crls[1] = bca->name;
	if (write_crls(ca, path, crls, 2, err, sizeof(err)) == -1)
		goto fail;
	printf("TLS certificate for %s written to %s (tls.key, tls.pem, "
	       "chain.pem, root.pem, crl.pem)\n",
	    id, out);
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "set-ca tls-cert: %s\n", err);
done:
	free(names);
	free(path);
	free(org);
	EVP_PKEY_free(key);
	X509_free(x);
	return rc;
}

static const struct command commands[] = {
	{ "token", cmd_token,
	    "set-ca token [-f config] --role merchant|gateway --id ID "
	    "--brand BRAND [--valid 72h]" },
	{ "list", cmd_list,
	    "set-ca list [-f config] [certs|requests|tokens|audit] "
	    "[--status S]" },
	{ "show", cmd_show, "set-ca show [-f config] [--pem] SERIAL|REQUEST" },
	{ "approve", cmd_approve, "set-ca approve [-f config] REQUEST" },
	{ "reject", cmd_reject,
	    "set-ca reject [-f config] [--reason TEXT] REQUEST" },
	{ "revoke", cmd_revoke,
	    "set-ca revoke [-f config] [--reason REASON] SERIAL" },
	{ "crl", cmd_crl, "set-ca crl [-f config] [--text] CA-NAME" },
	{ "tls-cert", cmd_tls_cert,
	    "set-ca tls-cert [-f config] --id ID --brand BRAND --out DIR "
	    "[--name HOST ...] [--days N]" },
	{ "root-crl", cmd_root_crl,
	    "set-ca root-crl [-f config] --root-key FILE [--revoke SERIAL]" },
};

int
operator_main(const char *name, int argc, char **argv)
{
	const struct command *cmd = NULL;
	const char *config = NULL;
	struct ca *ca;
	char err[512];
	size_t i;
	int rc, help;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		return -1;
	config =
	    daemon_command_args(&argc, argv, "SET_CA_CONFIG", "ca.json", &help);
	if (help) {
		printf("usage: %s\n", cmd->usage);
		return 0;
	}
	log_init("set-ca", 1, 0);
	if ((ca = ca_open(config, err, sizeof(err))) == NULL) {
		fprintf(stderr, "set-ca %s: %s\n", name, err);
		return 1;
	}
	optind = 1;
	rc = cmd->fn(ca, argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: %s\n", cmd->usage);
	ca_close(ca);
	return rc;
}
