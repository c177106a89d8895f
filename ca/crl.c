/*
 * Revocation: each issuing CA's CRL, the root's CRL, and each brand's signed
 * list of its current CRLs (SET's BrandCRLIdentifier, BCI), so a party can
 * tell a stale CRL from the current one. CRLs are rows in the database; the
 * daemon serves the newest and reissues each before it expires. Callers own
 * the transaction around crl_refresh() and bci_refresh(); crl_revoke() runs
 * its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/obj_mac.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "cms.h"
#include "hex.h"
#include "log.h"
#include "setcert.h"
#include "xmalloc.h"

/* RFC 5280 reason codes by name, as operators type them. */
static const struct {
	const char *name;
	int code;
} reasons[] = {
	{ "unspecified", CRL_REASON_UNSPECIFIED },
	{ "keyCompromise", CRL_REASON_KEY_COMPROMISE },
	{ "caCompromise", CRL_REASON_CA_COMPROMISE },
	{ "affiliationChanged", CRL_REASON_AFFILIATION_CHANGED },
	{ "superseded", CRL_REASON_SUPERSEDED },
	{ "cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION },
	{ "certificateHold", CRL_REASON_CERTIFICATE_HOLD },
	{ "privilegeWithdrawn", CRL_REASON_PRIVILEGE_WITHDRAWN },
};

int
crl_reason_code(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcasecmp(reasons[i].name, name) == 0)
			return reasons[i].code;
	return -1;
}

const char *
crl_reason_name(int code)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].name;
	return "unspecified";
}

/* Makes and stores the next CRL of the CA `name` (cert, key). */
static int
refresh(struct ca *ca, const char *name, X509 *cert, EVP_PKEY *key,
    time_t lifetime, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	struct setcert_revoked *rev = NULL;
	char **serials = NULL;
	size_t nrev = 0, i;
	long number = 1;
	time_t now = time(NULL);
	X509_CRL *crl = NULL;
	unsigned char *der = NULL;
	int derlen, rc = -1;

	st = store_prepare(ca->store,
	    "SELECT coalesce(max(number), 0) + 1 "
	    "FROM crls WHERE ca = ?");
	if (st == NULL)
		goto done;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		number = (long)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);

	st = store_prepare(ca->store,
	    "SELECT serial, revoked_at, "
	    "revoke_reason FROM certs WHERE issuer = ? AND revoked_at IS "
	    "NOT NULL ORDER BY revoked_at");
	if (st == NULL)
		goto done;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		rev = xrealloc(rev, (nrev + 1) * sizeof(*rev));
		serials = xrealloc(serials, (nrev + 1) * sizeof(*serials));
		serials[nrev] =
		    xstrdup((const char *)sqlite3_column_text(st, 0));
		rev[nrev].serial_hex = serials[nrev];
		rev[nrev].when = (time_t)sqlite3_column_int64(st, 1);
		rev[nrev].reason = sqlite3_column_int(st, 2);
		nrev++;
	}
	sqlite3_reset(st);

	crl = setcert_crl(
	    cert, key, rev, nrev, number, now, now + lifetime, err, errlen);
	if (crl == NULL)
		goto done;
	if ((derlen = i2d_X509_CRL(crl, &der)) <= 0) {
		snprintf(err, errlen, "cannot encode the CRL of %s", name);
		goto done;
	}
	st = store_prepare(ca->store,
	    "INSERT INTO crls (ca, number, "
	    "this_update, next_update, der) VALUES (?, ?, ?, ?, ?)");
	if (st == NULL)
		goto done;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, number);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)(now + lifetime));
	sqlite3_bind_blob(st, 5, der, derlen, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot store the CRL of %s: %s", name,
		    sqlite3_errmsg(store_db(ca->store)));
		sqlite3_reset(st);
		goto done;
	}
	sqlite3_reset(st);
	log_info("issued CRL %ld of %s listing %zu revoked certificate(s)",
	    number, name, nrev);
	rc = 0;
done:
	if (rc == -1 && err[0] == '\0')
		snprintf(err, errlen, "cannot make the CRL of %s: %s", name,
		    sqlite3_errmsg(store_db(ca->store)));
	for (i = 0; i < nrev; i++)
		free(serials[i]);
	free(serials);
	free(rev);
	X509_CRL_free(crl);
	OPENSSL_free(der);
	return rc;
}

int
crl_refresh(struct ca *ca, struct ca_authority *a, char *err, size_t errlen)
{
	err[0] = '\0';
	return refresh(ca, a->name, a->cert, a->key,
	    (time_t)ca->set.crl_hours * 3600, err, errlen);
}

/* The root's CRL is made with the offline key, so it lives long. */
#define ROOT_CRL_DAYS 365

int
crl_refresh_root(struct ca *ca, EVP_PKEY *rootkey, char *err, size_t errlen)
{
	err[0] = '\0';
	if (X509_check_private_key(ca->root, rootkey) != 1) {
		snprintf(err, errlen, "that key is not the root CA's key");
		return -1;
	}
	return refresh(ca, "root", ca->root, rootkey,
	    (time_t)ROOT_CRL_DAYS * 86400, err, errlen);
}

int
crl_latest(struct ca *ca, const char *name, unsigned char **der, size_t *len)
{
	sqlite3_stmt *st;
	int rc = -1;

	st = store_prepare(ca->store,
	    "SELECT der FROM crls WHERE ca = ? "
	    "ORDER BY number DESC LIMIT 1");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*len = (size_t)sqlite3_column_bytes(st, 0);
		*der = xmemdup(sqlite3_column_blob(st, 0), *len);
		rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}

/* One entry of a BCI: which CRL is current for a CA. */
static json_t *
bci_entry(struct ca *ca, const char *name)
{
	sqlite3_stmt *st;
	json_t *e = NULL;

	st = store_prepare(ca->store,
	    "SELECT number, next_update, der FROM "
	    "crls WHERE ca = ? ORDER BY number DESC LIMIT 1");
	if (st == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		char *h = hex_sha256(sqlite3_column_blob(st, 2),
		    (size_t)sqlite3_column_bytes(st, 2));

		e = json_pack("{s:s, s:I, s:I, s:s}", "ca", name, "number",
		    (json_int_t)sqlite3_column_int64(st, 0), "next_update",
		    (json_int_t)sqlite3_column_int64(st, 1), "sha256", h);
		free(h);
	}
	sqlite3_reset(st);
	return e;
}

/*
 * SET's BCI names the current CRL of every CA in a brand's paths. Ours is a
 * CMS SignedData by the brand CA (content type setct-BCIDistributionTBS)
 * over {"brand","number","crls":[{"ca","number","next_update","sha256"}]}.
 */
int
bci_refresh(struct ca *ca, const char *brand, char *err, size_t errlen)
{
	struct ca_authority *bca = ca_find(ca, brand, SETCERT_BCA);
	sqlite3_stmt *st;
	json_t *body = NULL, *list, *e;
	char *bytes = NULL;
	unsigned char *der = NULL;
	size_t derlen, i;
	long long number = 1;
	int rc = -1;

	if (bca == NULL) {
		snprintf(err, errlen, "no brand CA for %s", brand);
		return -1;
	}
	st = store_prepare(ca->store,
	    "SELECT coalesce(max(number), 0) + 1 "
	    "FROM bcis WHERE brand = ?");
	if (st == NULL)
		goto done;
	sqlite3_bind_text(st, 1, bca->brand, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		number = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);

	list = json_array();
	if ((e = bci_entry(ca, "root")) != NULL)
		json_array_append_new(list, e);
	for (i = 0; i < ca->nauth; i++)
		if (strcasecmp(ca->auth[i].brand, brand) == 0 &&
		    (e = bci_entry(ca, ca->auth[i].name)) != NULL)
			json_array_append_new(list, e);
	body = json_pack("{s:s, s:I, s:o}", "brand", bca->brand, "number",
	    (json_int_t)number, "crls", list);
	bytes = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	if (bytes == NULL ||
	    cms_sign(bytes, strlen(bytes), NID_setct_BCIDistributionTBS,
	        bca->cert, bca->key, bca->chain, 0, &der, &derlen, err,
	        errlen) == -1)
		goto done;
	st = store_prepare(ca->store,
	    "INSERT INTO bcis (brand, number, der) "
	    "VALUES (?, ?, ?)");
	if (st == NULL)
		goto done;
	sqlite3_bind_text(st, 1, bca->brand, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, number);
	sqlite3_bind_blob(st, 3, der, (int)derlen, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	if (rc == -1)
		snprintf(err, errlen, "cannot store the BCI of %s", brand);
done:
	json_decref(body);
	free(bytes);
	free(der);
	return rc;
}

int
bci_latest(struct ca *ca, const char *brand, unsigned char **der, size_t *len)
{
	sqlite3_stmt *st;
	int rc = -1;

	st = store_prepare(ca->store,
	    "SELECT der FROM bcis WHERE brand = ? "
	    "COLLATE NOCASE ORDER BY number DESC LIMIT 1");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, brand, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*len = (size_t)sqlite3_column_bytes(st, 0);
		*der = xmemdup(sqlite3_column_blob(st, 0), *len);
		rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}

/* When the newest CRL of `name` expires (0 when it has none). */
static time_t
next_update(struct ca *ca, const char *name)
{
	sqlite3_stmt *st;
	time_t t = 0;

	st = store_prepare(ca->store,
	    "SELECT max(next_update) FROM crls "
	    "WHERE ca = ?");
	if (st == NULL)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		t = (time_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return t;
}

int
crl_refresh_due(struct ca *ca, char *err, size_t errlen)
{
	time_t horizon = time(NULL) + (time_t)ca->set.crl_refresh_hours * 3600;
	size_t i, j, nbrands;
	char **brands;
	int rc = 0, any = 0;

	if (next_update(ca, "root") < horizon)
		log_warnx(
		    "the root CRL expires soon: renew it with "
		    "`set-ca root-crl --root-key FILE` (the key is offline)");
	if (store_begin(ca->store) == -1) {
		snprintf(err, errlen, "cannot begin a transaction");
		return -1;
	}
	brands = ca_brands(ca, &nbrands);
	for (j = 0; j < nbrands && rc == 0; j++) {
		int brand_changed = 0;

		for (i = 0; i < ca->nauth && rc == 0; i++) {
			struct ca_authority *a = &ca->auth[i];

			if (strcasecmp(a->brand, brands[j]) != 0 ||
			    next_update(ca, a->name) >= horizon)
				continue;
			rc = crl_refresh(ca, a, err, errlen);
			brand_changed = 1;
		}
		if (rc == 0 && brand_changed) {
			rc = bci_refresh(ca, brands[j], err, errlen);
			any = 1;
		}
	}
	for (j = 0; j < nbrands; j++)
		free(brands[j]);
	free(brands);
	if (rc == 0 && any)
		rc = ca_audit(ca, "crl-refresh", NULL, "scheduled reissue");
	if (rc == 0)
		rc = store_commit(ca->store);
	if (rc == -1)
		store_rollback(ca->store);
	return rc;
}

int
crl_revoke(
    struct ca *ca, const char *serial, int reason, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char *issuer = NULL, *detail = NULL;
	struct ca_authority *a;
	int revoked = 0, found = 0, rc = -1;

	err[0] = '\0';
	if (store_begin(ca->store) == -1) {
		snprintf(err, errlen, "cannot begin a transaction");
		return -1;
	}
	st = store_prepare(ca->store,
	    "SELECT issuer, revoked_at IS NOT NULL "
	    "FROM certs WHERE serial = ?");
	if (st == NULL)
		goto done;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = 1;
		issuer = xstrdup((const char *)sqlite3_column_text(st, 0));
		revoked = sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	if (!found) {
		snprintf(err, errlen, "no certificate has serial %s", serial);
		goto done;
	}
	if (revoked) {
		snprintf(
		    err, errlen, "certificate %s is already revoked", serial);
		goto done;
	}
	if ((a = ca_find_name(ca, issuer)) == NULL) {
		snprintf(err, errlen,
		    "certificate %s was issued by the root, "
		    "whose key is offline: revoke it with `set-ca root-crl "
		    "--root-key FILE --revoke %s`",
		    serial, serial);
		goto done;
	}
	st = store_prepare(ca->store,
	    "UPDATE certs SET revoked_at = ?, "
	    "revoke_reason = ? WHERE serial = ?");
	if (st == NULL)
		goto done;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_int(st, 2, reason);
	sqlite3_bind_text(st, 3, serial, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		goto done;
	}
	sqlite3_reset(st);
	detail =
	    xasprintf("reason %s, issuer %s", crl_reason_name(reason), issuer);
	if (crl_refresh(ca, a, err, errlen) == -1 ||
	    bci_refresh(ca, a->brand, err, errlen) == -1 ||
	    ca_audit(ca, "revoke", serial, detail) == -1)
		goto done;
	rc = store_commit(ca->store);
done:
	if (rc == -1) {
		store_rollback(ca->store);
		if (err[0] == '\0')
			snprintf(err, errlen, "cannot revoke %s: %s", serial,
			    sqlite3_errmsg(store_db(ca->store)));
	}
	free(issuer);
	free(detail);
	return rc;
}
