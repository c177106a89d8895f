/*
 * Unit tests for common/pki.c, the certificate checker: a whole hierarchy
 * (root, brand, cardholder/merchant/gateway CAs, end entities) is made in
 * memory, and each refusal a verifier must make is provoked: wrong role,
 * wrong usage, foreign root, expired, not yet valid, revoked, no CRL, CRL
 * rollback, wrong brand, CA as end entity, a certificate from the wrong kind
 * of CA, path length, bad signature; and the cache is shown to serve repeats
 * and to forget everything when a CRL arrives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "setcert.h"
#include "unit.h"
#include "xmalloc.h"

#define DAY (24 * 60 * 60)

enum {
	H_RCA,
	H_BCA,
	H_CCA,
	H_MCA,
	H_PCA,
	H_CARD,
	H_MER_SIG,
	H_MER_KEX,
	H_PG_SIG,
	H_PG_KEX,
	H_TLS,
	H_N
};
#define H_NCA (H_PCA + 1)

static const struct {
	const char *cn, *ou;
	int issuer; /* -1: self-signed */
	unsigned types, usage;
	int is_ca, pathlen;
} hspec[H_N] = {
	[H_RCA] = { "SET Root CA", NULL, -1, SETCERT_RCA, SETCERT_CA, 1, 2 },
	[H_BCA] = { "Brand CA", NULL, H_RCA, SETCERT_BCA, SETCERT_CA, 1, 1 },
	[H_CCA] = { "Cardholder CA", NULL, H_BCA, SETCERT_CCA, SETCERT_CA, 1,
	    0 },
	[H_MCA] = { "Merchant CA", NULL, H_BCA, SETCERT_MCA, SETCERT_CA, 1, 0 },
	[H_PCA] = { "Gateway CA", NULL, H_BCA, SETCERT_PCA, SETCERT_CA, 1, 0 },
	[H_CARD] = { "Alice Cardholder", NULL, H_CCA, SETCERT_CARD,
	    SETCERT_SIGN, 0, -1 },
	[H_MER_SIG] = { "Merchant One", "signature", H_MCA, SETCERT_MER,
	    SETCERT_SIGN, 0, -1 },
	[H_MER_KEX] = { "Merchant One", "key exchange", H_MCA, SETCERT_MER,
	    SETCERT_KEYEX, 0, -1 },
	[H_PG_SIG] = { "Gateway One", "signature", H_PCA, SETCERT_PGWY,
	    SETCERT_SIGN, 0, -1 },
	[H_PG_KEX] = { "Gateway One", "key exchange", H_PCA, SETCERT_PGWY,
	    SETCERT_KEYEX, 0, -1 },
	[H_TLS] = { "ca.example.test", NULL, H_BCA, 0,
	    SETCERT_SIGN | SETCERT_TLS_SERVER, 0, -1 },
};

struct hier {
	EVP_PKEY *key[H_N];
	X509 *cert[H_N];
	int shared_root; /* the root belongs to another hier */
};

static void
hier_free(struct hier *h)
{
	int i;

	for (i = h->shared_root ? 1 : 0; i < H_N; i++) {
		X509_free(h->cert[i]);
		EVP_PKEY_free(h->key[i]);
	}
}

static X509 *
issue(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *cn,
    const char *o, unsigned types, unsigned usage, int is_ca, int pathlen,
    time_t nb, time_t na)
{
	struct setcert_spec s;
	char err[256];
	X509 *cert;

	memset(&s, 0, sizeof(s));
	s.pubkey = key;
	s.issuer = issuer;
	s.issuer_key = issuer_key;
	s.cn = cn;
	s.o = o;
	s.types = types;
	s.usage = usage;
	s.is_ca = is_ca;
	s.pathlen = pathlen;
	s.not_before = nb;
	s.not_after = na;
	cert = setcert_issue(&s, err, sizeof(err));
	if (cert == NULL)
		unit_fail(__FILE__, __LINE__, "issuing %s: %s", cn, err);
	return cert;
}

/*
 * A hierarchy of one brand, valid from two days ago for a year. With
 * root != NULL the brand is made under that root instead of a new one.
 */
static void
hier_make(struct hier *h, const char *root_o, const char *brand,
    const struct hier *root)
{
	time_t now = time(NULL);
	int i, p;

	h->shared_root = root != NULL;
	for (i = 0; i < H_N; i++) {
		if (i == H_RCA && root != NULL) {
			h->key[i] = root->key[i];
			h->cert[i] = root->cert[i];
			continue;
		}
		p = hspec[i].issuer;
		h->key[i] = setcert_keygen();
		h->cert[i] = issue(h->key[i], p < 0 ? NULL : h->cert[p],
		    p < 0 ? h->key[i] : h->key[p], hspec[i].cn,
		    i == H_RCA ? root_o : brand, hspec[i].types, hspec[i].usage,
		    hspec[i].is_ca, hspec[i].pathlen, now - 2 * DAY,
		    now + 365 * DAY);
	}
}

/* A CRL of one CA, valid from a day ago for a week. */
static X509_CRL *
make_crl(EVP_PKEY *key, X509 *ca, X509 *const *revoke, size_t n, long number)
{
	struct setcert_revoked rev[4];
	char *sn[4], err[256];
	time_t now = time(NULL);
	X509_CRL *crl;
	size_t i;

	for (i = 0; i < n && i < 4; i++) {
		sn[i] = setcert_serial_hex(revoke[i]);
		rev[i].serial_hex = sn[i];
		rev[i].when = now - 60;
		rev[i].reason = CRL_REASON_KEY_COMPROMISE;
	}
	crl = setcert_crl(ca, key, rev, n, number, now - DAY, now + 7 * DAY,
	    err, sizeof(err));
	for (i = 0; i < n && i < 4; i++)
		free(sn[i]);
	if (crl == NULL)
		unit_fail(__FILE__, __LINE__, "CRL: %s", err);
	return crl;
}

static void
install_crl(struct pki *pki, X509_CRL *crl)
{
	char err[256];

	if (pki_set_crl(pki, crl, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "pki_set_crl: %s", err);
	X509_CRL_free(crl);
}

/* A pki that knows the root and every CA of h, with an empty CRL each. */
static struct pki *
pki_for(struct hier *h)
{
	struct pki *pki = pki_new();
	int i;

	ASSERT_INT_EQ(pki_add_trusted(pki, h->cert[H_RCA]), 0);
	for (i = H_BCA; i < H_NCA; i++)
		ASSERT_INT_EQ(pki_add_ca(pki, h->cert[i]), 0);
	for (i = H_RCA; i < H_NCA; i++)
		install_crl(pki, make_crl(h->key[i], h->cert[i], NULL, 0, 1));
	return pki;
}

/* Verifies and checks the result; on a refusal the reason must name the
 * certificate. Returns nothing: a mismatch ends the case. */
#define EXPECT(pki, leaf, untrusted, types, usage, brand, want)                \
	do {                                                                   \
		char err_[512];                                                \
		enum pki_result r_ = pki_verify((pki), (leaf), (untrusted),    \
		    (types), (usage), (brand), NULL, err_, sizeof(err_));      \
		if (r_ != (want))                                              \
			unit_fail(__FILE__, __LINE__,                          \
			    "got %s, wanted %s (%s)", pki_result_code(r_),     \
			    pki_result_code(want), err_);                      \
		if ((want) != PKI_OK)                                          \
			ASSERT_STR_CONTAINS(err_, "CN=");                      \
	} while (0)

static void
test_good(void)
{
	static const struct {
		int leaf;
		unsigned types, usage;
	} ok[] = {
		{ H_CARD, SETCERT_CARD, SETCERT_SIGN },
		{ H_MER_SIG, SETCERT_MER, SETCERT_SIGN },
		{ H_MER_KEX, SETCERT_MER, SETCERT_KEYEX },
		{ H_PG_SIG, SETCERT_PGWY, SETCERT_SIGN },
		{ H_PG_KEX, SETCERT_PGWY, SETCERT_KEYEX },
		{ H_TLS, 0, SETCERT_TLS_SERVER },
		{ H_MCA, SETCERT_MCA, SETCERT_CA },
		{ H_BCA, SETCERT_BCA, SETCERT_SIGN },
	};
	struct hier h;
	struct pki *pki;
	char err[256], *brand = NULL;
	size_t i;

	hier_make(&h, "SET Root", "Visa", NULL);
	pki = pki_for(&h);
	ASSERT_INT_EQ(pki_verify(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER,
	                  SETCERT_SIGN, "Visa", &brand, err, sizeof(err)),
	    PKI_OK);
	ASSERT_STR_EQ(brand, "Visa");
	free(brand);
	for (i = 0; i < UNIT_N(ok); i++) {
		brand = NULL;
		if (pki_verify(pki, h.cert[ok[i].leaf], NULL, ok[i].types,
		        ok[i].usage, NULL, &brand, err, sizeof(err)) != PKI_OK)
			unit_fail(__FILE__, __LINE__, "%s refused: %s",
			    hspec[ok[i].leaf].cn, err);
		ASSERT_STR_EQ(brand, "Visa");
		free(brand);
	}
	/* The root itself has no brand above it. */
	ASSERT_INT_EQ(pki_verify(pki, h.cert[H_RCA], NULL, SETCERT_RCA,
	                  SETCERT_CA, NULL, &brand, err, sizeof(err)),
	    PKI_OK);
	ASSERT_PTR_NULL(brand);
	pki_free(pki);
	hier_free(&h);
}

static void
test_role_and_usage(void)
{
	struct hier h;
	struct pki *pki;

	hier_make(&h, "SET Root", "Visa", NULL);
	pki = pki_for(&h);
	/* A merchant signature certificate is not a gateway's, and cannot
	 * be used for key exchange. */
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_PGWY, SETCERT_SIGN, NULL,
	    PKI_ERR_ROLE);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_KEYEX, NULL,
	    PKI_ERR_USAGE);
	/* A key-exchange certificate can never sign. */
	EXPECT(pki, h.cert[H_MER_KEX], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_USAGE);
	EXPECT(pki, h.cert[H_PG_KEX], NULL, SETCERT_PGWY, SETCERT_SIGN, NULL,
	    PKI_ERR_USAGE);
	/* A cardholder is not a merchant, nor a gateway. */
	EXPECT(pki, h.cert[H_CARD], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_ROLE);
	EXPECT(pki, h.cert[H_CARD], NULL, SETCERT_PGWY, 0, NULL, PKI_ERR_ROLE);
	EXPECT(pki, h.cert[H_CARD], NULL, SETCERT_CARD, SETCERT_KEYEX, NULL,
	    PKI_ERR_USAGE);
	/* TLS: a server certificate is no client's, and no SET party's. */
	EXPECT(pki, h.cert[H_TLS], NULL, 0, SETCERT_TLS_CLIENT, NULL,
	    PKI_ERR_USAGE);
	EXPECT(pki, h.cert[H_TLS], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_ROLE);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, 0, SETCERT_TLS_SERVER, NULL,
	    PKI_ERR_USAGE);
	pki_free(pki);
	hier_free(&h);
}

static void
test_foreign_root(void)
{
	struct hier h, f, spoof;
	struct pki *pki;
	STACK_OF(X509) *chain = sk_X509_new_null();
	int i;

	hier_make(&h, "SET Root", "Visa", NULL);
	hier_make(&f, "Other Root", "Visa", NULL);
	/* Same names as ours, different keys. */
	hier_make(&spoof, "SET Root", "Visa", NULL);
	pki = pki_for(&h);
	EXPECT(pki, f.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_UNKNOWN_ISSUER);
	EXPECT(pki, spoof.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN,
	    NULL, PKI_ERR_UNKNOWN_ISSUER);
	/* Even with the whole foreign chain offered, root included. */
	for (i = H_RCA; i < H_NCA; i++)
		sk_X509_push(chain, spoof.cert[i]);
	EXPECT(pki, spoof.cert[H_MER_SIG], chain, SETCERT_MER, SETCERT_SIGN,
	    NULL, PKI_ERR_UNKNOWN_ISSUER);
	EXPECT(pki, spoof.cert[H_RCA], NULL, SETCERT_RCA, 0, NULL,
	    PKI_ERR_UNKNOWN_ISSUER);
	/* And ours still verifies with the foreign certs around. */
	EXPECT(pki, h.cert[H_MER_SIG], chain, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_OK);
	sk_X509_free(chain);
	pki_free(pki);
	hier_free(&spoof);
	hier_free(&f);
	hier_free(&h);
}

static void
test_validity(void)
{
	struct hier h;
	struct pki *pki;
	EVP_PKEY *k1 = setcert_keygen(), *k2 = setcert_keygen();
	time_t now = time(NULL);
	X509 *brief, *future;

	hier_make(&h, "SET Root", "Visa", NULL);
	pki = pki_for(&h);
	brief = issue(k1, h.cert[H_MCA], h.key[H_MCA], "Brief Merchant", "Visa",
	    SETCERT_MER, SETCERT_SIGN, 0, -1, now - 3600, now + 3600);
	future =
	    issue(k2, h.cert[H_MCA], h.key[H_MCA], "Future Merchant", "Visa",
	        SETCERT_MER, SETCERT_SIGN, 0, -1, now + 3600, now + 30 * DAY);
	EXPECT(pki, brief, NULL, SETCERT_MER, SETCERT_SIGN, NULL, PKI_OK);
	EXPECT(pki, future, NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_NOT_YET_VALID);
	/* Two hours on: the brief one has expired, the future one is due. */
	pki_set_time(pki, now + 2 * 3600);
	EXPECT(
	    pki, brief, NULL, SETCERT_MER, SETCERT_SIGN, NULL, PKI_ERR_EXPIRED);
	EXPECT(pki, future, NULL, SETCERT_MER, SETCERT_SIGN, NULL, PKI_OK);
	/* Two hours back: neither is valid yet. */
	pki_set_time(pki, now - 2 * 3600);
	EXPECT(pki, brief, NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_NOT_YET_VALID);
	/* Back to now. */
	pki_set_time(pki, 0);
	EXPECT(pki, brief, NULL, SETCERT_MER, SETCERT_SIGN, NULL, PKI_OK);
	/* Past the CRLs' nextUpdate: no current CRL, refused. */
	pki_set_time(pki, now + 8 * DAY);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_CRL);
	X509_free(brief);
	X509_free(future);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	pki_free(pki);
	hier_free(&h);
}

static void
test_revoked(void)
{
	struct hier h;
	struct pki *pki;

	hier_make(&h, "SET Root", "Visa", NULL);
	pki = pki_for(&h);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_OK);
	install_crl(pki,
	    make_crl(h.key[H_MCA], h.cert[H_MCA], &h.cert[H_MER_SIG], 1, 2));
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_REVOKED);
	/* The other key of the same merchant is not listed. */
	EXPECT(pki, h.cert[H_MER_KEX], NULL, SETCERT_MER, SETCERT_KEYEX, NULL,
	    PKI_OK);
	/* A revoked CA takes everything below it. */
	install_crl(
	    pki, make_crl(h.key[H_BCA], h.cert[H_BCA], &h.cert[H_PCA], 1, 2));
	EXPECT(pki, h.cert[H_PG_SIG], NULL, SETCERT_PGWY, SETCERT_SIGN, NULL,
	    PKI_ERR_REVOKED);
	EXPECT(pki, h.cert[H_CARD], NULL, SETCERT_CARD, SETCERT_SIGN, NULL,
	    PKI_OK);
	pki_free(pki);
	hier_free(&h);
}

static void
test_missing_crl(void)
{
	struct hier h;
	struct pki *pki = pki_new();
	int i;

	hier_make(&h, "SET Root", "Visa", NULL);
	ASSERT_INT_EQ(pki_add_trusted(pki, h.cert[H_RCA]), 0);
	for (i = H_BCA; i < H_NCA; i++)
		ASSERT_INT_EQ(pki_add_ca(pki, h.cert[i]), 0);
	/* Every CA but the merchant CA has published. */
	for (i = H_RCA; i < H_NCA; i++)
		if (i != H_MCA)
			install_crl(
			    pki, make_crl(h.key[i], h.cert[i], NULL, 0, 1));
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_CRL);
	EXPECT(pki, h.cert[H_CARD], NULL, SETCERT_CARD, SETCERT_SIGN, NULL,
	    PKI_OK);
	install_crl(pki, make_crl(h.key[H_MCA], h.cert[H_MCA], NULL, 0, 1));
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_OK);
	pki_free(pki);

	/* Without the root's CRL, nothing below the brand verifies. */
	pki = pki_new();
	ASSERT_INT_EQ(pki_add_trusted(pki, h.cert[H_RCA]), 0);
	for (i = H_BCA; i < H_NCA; i++) {
		ASSERT_INT_EQ(pki_add_ca(pki, h.cert[i]), 0);
		install_crl(pki, make_crl(h.key[i], h.cert[i], NULL, 0, 1));
	}
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_CRL);
	pki_free(pki);
	hier_free(&h);
}

static void
test_crl_install(void)
{
	struct hier h, f;
	struct pki *pki;
	X509_CRL *c5, *c3, *c5b;
	char err[256], *path;
	unsigned char *der;
	size_t len;
	FILE *fp;

	hier_make(&h, "SET Root", "Visa", NULL);
	hier_make(&f, "SET Root", "Visa", NULL);
	pki = pki_for(&h);
	c5 = make_crl(h.key[H_MCA], h.cert[H_MCA], NULL, 0, 5);
	c3 = make_crl(h.key[H_MCA], h.cert[H_MCA], &h.cert[H_MER_SIG], 1, 3);
	c5b = make_crl(h.key[H_MCA], h.cert[H_MCA], &h.cert[H_MER_SIG], 1, 5);
	ASSERT_INT_EQ(pki_set_crl(pki, c5, err, sizeof(err)), 0);
	/* The same CRL again is fine (a reload). */
	ASSERT_INT_EQ(pki_set_crl(pki, c5, err, sizeof(err)), 0);
	/* Rollback to an older CRL that would hide nothing... refused. */
	ASSERT_INT_EQ(pki_set_crl(pki, c3, err, sizeof(err)), -1);
	ASSERT_STR_CONTAINS(err, "rollback");
	ASSERT_STR_CONTAINS(err, "CN=Merchant CA");
	/* A different CRL under the same number: refused. */
	ASSERT_INT_EQ(pki_set_crl(pki, c5b, err, sizeof(err)), -1);
	ASSERT_STR_CONTAINS(err, "same crlNumber");
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_OK);
	X509_CRL_free(c3);
	X509_CRL_free(c5);
	X509_CRL_free(c5b);

	/* A CRL with our merchant CA's name but a foreign key. */
	c5 = make_crl(f.key[H_MCA], f.cert[H_MCA], &h.cert[H_MER_SIG], 1, 9);
	ASSERT_INT_EQ(pki_set_crl(pki, c5, err, sizeof(err)), -1);
	ASSERT_STR_CONTAINS(err, "does not verify");
	X509_CRL_free(c5);
	/* A CRL from an end entity is no CRL. */
	c5 = make_crl(h.key[H_MER_SIG], h.cert[H_MER_SIG], NULL, 0, 1);
	ASSERT_INT_EQ(pki_set_crl(pki, c5, err, sizeof(err)), -1);
	X509_CRL_free(c5);

	/* Files: PEM and DER. */
	path = xasprintf("%s/mca.pem", unit_tmpdir());
	c5 = make_crl(h.key[H_MCA], h.cert[H_MCA], &h.cert[H_MER_SIG], 1, 6);
	ASSERT_INT_EQ(setcert_write_crl(path, c5, err, sizeof(err)), 0);
	ASSERT_INT_EQ(pki_load_crl(pki, path, err, sizeof(err)), 0);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_REVOKED);
	X509_CRL_free(c5);
	free(path);
	path = xasprintf("%s/mca.der", unit_tmpdir());
	c5 = make_crl(h.key[H_MCA], h.cert[H_MCA], NULL, 0, 7);
	der = setcert_crl_der(c5, &len);
	fp = fopen(path, "wb");
	fwrite(der, 1, len, fp);
	fclose(fp);
	ASSERT_INT_EQ(pki_load_crl(pki, path, err, sizeof(err)), 0);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_OK);
	X509_CRL_free(c5);
	free(der);
	free(path);
	ASSERT_INT_EQ(
	    pki_load_crl(pki, "/nonexistent.crl", err, sizeof(err)), -1);
	pki_free(pki);
	hier_free(&f);
	hier_free(&h);
}

static void
test_brand(void)
{
	struct hier h, mc;
	struct pki *pki;
	char err[256], *brand = NULL;
	int i;

	hier_make(&h, "SET Root", "Visa", NULL);
	hier_make(&mc, "SET Root", "MasterCard", &h);
	pki = pki_for(&h);
	for (i = H_BCA; i < H_NCA; i++) {
		ASSERT_INT_EQ(pki_add_ca(pki, mc.cert[i]), 0);
		install_crl(pki, make_crl(mc.key[i], mc.cert[i], NULL, 0, 1));
	}
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN,
	    "MasterCard", PKI_ERR_BRAND);
	EXPECT(pki, mc.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, "Visa",
	    PKI_ERR_BRAND);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, "visa",
	    PKI_ERR_BRAND);
	ASSERT_INT_EQ(pki_verify(pki, mc.cert[H_MER_SIG], NULL, SETCERT_MER,
	                  SETCERT_SIGN, "MasterCard", &brand, err, sizeof(err)),
	    PKI_OK);
	ASSERT_STR_EQ(brand, "MasterCard");
	free(brand);
	/* The root has no brand: a brand asked of it is refused. */
	EXPECT(pki, h.cert[H_RCA], NULL, SETCERT_RCA, 0, "Visa", PKI_ERR_BRAND);
	pki_free(pki);
	hier_free(&mc);
	hier_free(&h);
}

static void
test_ca_as_end_entity(void)
{
	struct hier h;
	struct pki *pki;

	hier_make(&h, "SET Root", "Visa", NULL);
	pki = pki_for(&h);
	EXPECT(pki, h.cert[H_MCA], NULL, 0, 0, NULL, PKI_ERR_ROLE);
	EXPECT(pki, h.cert[H_MCA], NULL, 0, SETCERT_SIGN, NULL, PKI_ERR_ROLE);
	EXPECT(pki, h.cert[H_MCA], NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_ROLE);
	EXPECT(pki, h.cert[H_BCA], NULL, 0, SETCERT_TLS_SERVER, NULL,
	    PKI_ERR_ROLE);
	EXPECT(
	    pki, h.cert[H_MCA], NULL, SETCERT_MCA, SETCERT_SIGN, NULL, PKI_OK);
	pki_free(pki);
	hier_free(&h);
}

static void
test_wrong_issuer(void)
{
	struct hier h;
	struct pki *pki;
	EVP_PKEY *k = setcert_keygen();
	STACK_OF(X509) *chain = sk_X509_new_null();
	time_t now = time(NULL);
	X509 *x;

	hier_make(&h, "SET Root", "Visa", NULL);
	pki = pki_for(&h);
	/* A merchant certificate from the cardholder CA. */
	x = issue(k, h.cert[H_CCA], h.key[H_CCA], "Sneaky Merchant", "Visa",
	    SETCERT_MER, SETCERT_SIGN, 0, -1, now - 60, now + DAY);
	EXPECT(pki, x, NULL, SETCERT_MER, SETCERT_SIGN, NULL, PKI_ERR_ROLE);
	EXPECT(pki, x, NULL, 0, 0, NULL, PKI_ERR_ROLE);
	X509_free(x);
	/* A cardholder certificate from the merchant CA. */
	x = issue(k, h.cert[H_MCA], h.key[H_MCA], "Sneaky Card", "Visa",
	    SETCERT_CARD, SETCERT_SIGN, 0, -1, now - 60, now + DAY);
	EXPECT(pki, x, NULL, SETCERT_CARD, SETCERT_SIGN, NULL, PKI_ERR_ROLE);
	X509_free(x);
	/* A TLS certificate from the merchant CA. */
	x = issue(k, h.cert[H_MCA], h.key[H_MCA], "tls.test", "Visa", 0,
	    SETCERT_TLS_SERVER, 0, -1, now - 60, now + DAY);
	EXPECT(pki, x, NULL, 0, SETCERT_TLS_SERVER, NULL, PKI_ERR_ROLE);
	X509_free(x);
	/* A merchant CA made by the root, skipping the brand. */
	x = issue(k, h.cert[H_RCA], h.key[H_RCA], "Rogue Merchant CA", "Visa",
	    SETCERT_MCA, SETCERT_CA, 1, 0, now - 60, now + DAY);
	EXPECT(pki, x, NULL, SETCERT_MCA, SETCERT_CA, NULL, PKI_ERR_ROLE);
	X509_free(x);
	/* A merchant certificate made by the brand CA directly. */
	x = issue(k, h.cert[H_BCA], h.key[H_BCA], "Direct Merchant", "Visa",
	    SETCERT_MER, SETCERT_SIGN, 0, -1, now - 60, now + DAY);
	EXPECT(pki, x, NULL, SETCERT_MER, SETCERT_SIGN, NULL, PKI_ERR_ROLE);
	X509_free(x);
	/* A certificate issued by an end entity. */
	x = issue(k, h.cert[H_MER_SIG], h.key[H_MER_SIG], "Sub Merchant",
	    "Visa", SETCERT_MER, SETCERT_SIGN, 0, -1, now - 60, now + DAY);
	EXPECT(pki, x, NULL, SETCERT_MER, SETCERT_SIGN, NULL,
	    PKI_ERR_UNKNOWN_ISSUER);
	sk_X509_push(chain, h.cert[H_MER_SIG]);
	EXPECT(pki, x, chain, SETCERT_MER, SETCERT_SIGN, NULL, PKI_ERR_ROLE);
	sk_X509_free(chain);
	X509_free(x);
	EVP_PKEY_free(k);
	pki_free(pki);
	hier_free(&h);
}

static void
test_pathlen(void)
{
	struct hier h;
	struct pki *pki;
	EVP_PKEY *ksub = setcert_keygen(), *k = setcert_keygen();
	time_t now = time(NULL);
	X509 *sub, *x;

	hier_make(&h, "SET Root", "Visa", NULL);
	pki = pki_for(&h);
	/* The merchant CA (pathlen 0) makes a sub-CA, which makes a
	 * merchant. */
	sub = issue(ksub, h.cert[H_MCA], h.key[H_MCA], "Sub Merchant CA",
	    "Visa", SETCERT_MCA, SETCERT_CA, 1, -1, now - 60, now + DAY);
	x = issue(k, sub, ksub, "Deep Merchant", "Visa", SETCERT_MER,
	    SETCERT_SIGN, 0, -1, now - 60, now + DAY);
	ASSERT_INT_EQ(pki_add_ca(pki, sub), 0);
	install_crl(pki, make_crl(ksub, sub, NULL, 0, 1));
	EXPECT(pki, x, NULL, SETCERT_MER, SETCERT_SIGN, NULL, PKI_ERR_PATHLEN);
	X509_free(x);
	X509_free(sub);
	EVP_PKEY_free(ksub);
	EVP_PKEY_free(k);
	pki_free(pki);
	hier_free(&h);
}

static void
test_bad_signature(void)
{
	struct hier h;
	struct pki *pki;
	unsigned char *der;
	size_t len;
	X509 *x;

	hier_make(&h, "SET Root", "Visa", NULL);
	pki = pki_for(&h);
	der = setcert_der(h.cert[H_MER_SIG], &len);
	/* The last byte is inside the ECDSA signature's s. */
	der[len - 1] ^= 0x01;
	x = setcert_from_der(der, len);
	ASSERT_PTR_NOT_NULL(x);
	EXPECT(
	    pki, x, NULL, SETCERT_MER, SETCERT_SIGN, NULL, PKI_ERR_SIGNATURE);
	X509_free(x);
	free(der);
	pki_free(pki);
	hier_free(&h);
}

static void
test_untrusted_and_files(void)
{
	struct hier h;
	struct pki *pki = pki_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_CRL *crl;
	char err[256], *root, *chain;
	int i;

	hier_make(&h, "SET Root", "Visa", NULL);
	root = xasprintf("%s/root.pem", unit_tmpdir());
	chain = xasprintf("%s/chain.pem", unit_tmpdir());
	ASSERT_INT_EQ(
	    setcert_write_pem(root, &h.cert[H_RCA], 1, err, sizeof(err)), 0);
	ASSERT_INT_EQ(
	    setcert_write_pem(chain, &h.cert[H_BCA], 3, err, sizeof(err)), 0);
	ASSERT_INT_EQ(pki_load_certs(pki, root, 1, err, sizeof(err)), 0);
	ASSERT_INT_EQ(pki_load_certs(pki, chain, 0, err, sizeof(err)), 0);
	ASSERT_INT_EQ(
	    pki_load_certs(pki, "/nonexistent.pem", 0, err, sizeof(err)), -1);
	for (i = H_RCA; i <= H_MCA; i++)
		install_crl(pki, make_crl(h.key[i], h.cert[i], NULL, 0, 1));
	/* The gateway CA is unknown: its CRL cannot be checked... */
	crl = make_crl(h.key[H_PCA], h.cert[H_PCA], NULL, 0, 1);
	ASSERT_INT_EQ(pki_set_crl(pki, crl, err, sizeof(err)), -1);
	X509_CRL_free(crl);
	ASSERT_STR_CONTAINS(err, "CN=Gateway CA");
	EXPECT(pki, h.cert[H_PG_SIG], NULL, SETCERT_PGWY, SETCERT_SIGN, NULL,
	    PKI_ERR_UNKNOWN_ISSUER);
	/* ...offered as untrusted, the path builds but has no CRL. */
	sk_X509_push(untrusted, h.cert[H_PCA]);
	EXPECT(pki, h.cert[H_PG_SIG], untrusted, SETCERT_PGWY, SETCERT_SIGN,
	    NULL, PKI_ERR_CRL);
	ASSERT_INT_EQ(pki_add_ca(pki, h.cert[H_PCA]), 0);
	install_crl(pki, make_crl(h.key[H_PCA], h.cert[H_PCA], NULL, 0, 1));
	EXPECT(pki, h.cert[H_PG_SIG], NULL, SETCERT_PGWY, SETCERT_SIGN, NULL,
	    PKI_OK);
	EXPECT(pki, h.cert[H_PG_SIG], untrusted, SETCERT_PGWY, SETCERT_SIGN,
	    NULL, PKI_OK);
	/* Untrusted certificates never become anchors. */
	sk_X509_push(untrusted, h.cert[H_RCA]);
	{
		struct pki *bare = pki_new();

		EXPECT(bare, h.cert[H_PG_SIG], untrusted, SETCERT_PGWY,
		    SETCERT_SIGN, NULL, PKI_ERR_UNKNOWN_ISSUER);
		pki_free(bare);
	}
	sk_X509_free(untrusted);
	free(root);
	free(chain);
	pki_free(pki);
	hier_free(&h);
}

static void
test_cache(void)
{
	struct hier h;
	struct pki *pki;
	unsigned long hits;
	X509_CRL *crl;
	char err[256], *brand;

	hier_make(&h, "SET Root", "Visa", NULL);
	pki = pki_for(&h);
	crl = make_crl(h.key[H_MCA], h.cert[H_MCA], NULL, 0, 2);
	ASSERT_INT_EQ(pki_set_crl(pki, crl, err, sizeof(err)), 0);
	ASSERT_INT_EQ(pki_cache_hits(pki), 0);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, "Visa",
	    PKI_OK);
	ASSERT_INT_EQ(pki_cache_hits(pki), 0);
	brand = NULL;
	ASSERT_INT_EQ(pki_verify(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER,
	                  SETCERT_SIGN, "Visa", &brand, err, sizeof(err)),
	    PKI_OK);
	ASSERT_INT_EQ(pki_cache_hits(pki), 1);
	ASSERT_STR_EQ(brand, "Visa");
	free(brand);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, "Visa",
	    PKI_OK);
	ASSERT_INT_EQ(pki_cache_hits(pki), 2);
	/* Reloading the very same CRL changes nothing: still cached. */
	ASSERT_INT_EQ(pki_set_crl(pki, crl, err, sizeof(err)), 0);
	X509_CRL_free(crl);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, "Visa",
	    PKI_OK);
	ASSERT_INT_EQ(pki_cache_hits(pki), 3);

	/* A cached success is no answer to another question. */
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_PGWY, SETCERT_SIGN, "Visa",
	    PKI_ERR_ROLE);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_KEYEX, "Visa",
	    PKI_ERR_USAGE);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN,
	    "MasterCard", PKI_ERR_BRAND);
	ASSERT_INT_EQ(pki_cache_hits(pki), 3);
	/* Failures are not cached. */
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_PGWY, SETCERT_SIGN, "Visa",
	    PKI_ERR_ROLE);
	ASSERT_INT_EQ(pki_cache_hits(pki), 3);

	/* The merchant is revoked: the next verification sees it. */
	install_crl(pki,
	    make_crl(h.key[H_MCA], h.cert[H_MCA], &h.cert[H_MER_SIG], 1, 3));
	hits = pki_cache_hits(pki);
	EXPECT(pki, h.cert[H_MER_SIG], NULL, SETCERT_MER, SETCERT_SIGN, "Visa",
	    PKI_ERR_REVOKED);
	ASSERT_INT_EQ(pki_cache_hits(pki), hits);

	/* Setting the time drops the cache too. */
	EXPECT(pki, h.cert[H_CARD], NULL, SETCERT_CARD, SETCERT_SIGN, NULL,
	    PKI_OK);
	EXPECT(pki, h.cert[H_CARD], NULL, SETCERT_CARD, SETCERT_SIGN, NULL,
	    PKI_OK);
	hits = pki_cache_hits(pki);
	pki_set_time(pki, time(NULL) + 400 * DAY);
	EXPECT(pki, h.cert[H_CARD], NULL, SETCERT_CARD, SETCERT_SIGN, NULL,
	    PKI_ERR_CRL);
	ASSERT_INT_EQ(pki_cache_hits(pki), hits);
	pki_free(pki);
	hier_free(&h);
}

static void
test_crl_check_off(void)
{
	struct hier h;
	struct pki *pki = pki_new();

	hier_make(&h, "SET Root", "Visa", NULL);
	ASSERT_INT_EQ(pki_add_trusted(pki, h.cert[H_RCA]), 0);
	ASSERT_INT_EQ(pki_add_ca(pki, h.cert[H_BCA]), 0);
	EXPECT(
	    pki, h.cert[H_TLS], NULL, 0, SETCERT_TLS_SERVER, NULL, PKI_ERR_CRL);
	pki_set_crl_check(pki, 0);
	EXPECT(pki, h.cert[H_TLS], NULL, 0, SETCERT_TLS_SERVER, NULL, PKI_OK);
	EXPECT(pki, h.cert[H_TLS], NULL, 0, SETCERT_TLS_SERVER, NULL, PKI_OK);
	ASSERT_INT_EQ(pki_cache_hits(pki), 1);
	/* Turned on again, the cached answer is forgotten. */
	pki_set_crl_check(pki, 1);
	EXPECT(
	    pki, h.cert[H_TLS], NULL, 0, SETCERT_TLS_SERVER, NULL, PKI_ERR_CRL);
	ASSERT_INT_EQ(pki_cache_hits(pki), 1);
	pki_free(pki);
	hier_free(&h);
}

static void
test_codes(void)
{
	static const struct {
		enum pki_result r;
		const char *code;
	} v[] = { { PKI_ERR_UNKNOWN_ISSUER, "unknown-issuer" },
		{ PKI_ERR_SIGNATURE, "bad-signature" },
		{ PKI_ERR_EXPIRED, "expired" },
		{ PKI_ERR_NOT_YET_VALID, "not-yet-valid" },
		{ PKI_ERR_REVOKED, "revoked" }, { PKI_ERR_ROLE, "wrong-role" },
		{ PKI_ERR_USAGE, "wrong-usage" },
		{ PKI_ERR_PATHLEN, "path-length" },
		{ PKI_ERR_CRL, "crl-unavailable" },
		{ PKI_ERR_BRAND, "wrong-brand" },
		{ PKI_ERR_OTHER, "invalid-certificate" } };
	struct pki *pki = pki_new();
	char err[128];
	size_t i;

	for (i = 0; i < UNIT_N(v); i++)
		ASSERT_STR_EQ(pki_result_code(v[i].r), v[i].code);
	ASSERT_INT_EQ(
	    pki_verify(pki, NULL, NULL, 0, 0, NULL, NULL, err, sizeof(err)),
	    PKI_ERR_OTHER);
	pki_free(pki);
	pki_free(NULL);
}

static const struct unit_case cases[] = {
	{ "every kind of certificate verifies in its role", test_good },
	{ "wrong role and wrong usage refused", test_role_and_usage },
	{ "a foreign or look-alike hierarchy is an unknown issuer",
	    test_foreign_root },
	{ "expired and not-yet-valid refused (pki_set_time)", test_validity },
	{ "revoked leaf and revoked CA refused", test_revoked },
	{ "a missing CRL is refused", test_missing_crl },
	{ "CRL rollback, forgery and files", test_crl_install },
	{ "wrong brand refused; two brands under one root", test_brand },
	{ "a CA certificate is no end entity", test_ca_as_end_entity },
	{ "certificates from the wrong kind of CA refused", test_wrong_issuer },
	{ "path length constraint enforced", test_pathlen },
	{ "a tampered signature is refused", test_bad_signature },
	{ "untrusted intermediates and certificate files",
	    test_untrusted_and_files },
	{ "cache: repeats hit, a new CRL or time forgets", test_cache },
	{ "CRL checking off for bootstrap, and on again", test_crl_check_off },
	{ "result codes", test_codes },
};

int
main(void)
{
	return unit_main("pki", cases, UNIT_N(cases));
}
