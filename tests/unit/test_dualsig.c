/*
 * Unit tests for common/dualsig.c: the merchant verifies the cardholder's
 * dual signature with OIData and H(PIData), the gateway with PIData and
 * H(OIData); a changed order, a changed or swapped payment instruction,
 * another merchant, another XID or another content type all fail on the
 * side that would notice. Keys and certificates are made at run time.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "cms.h"
#include "dualsig.h"
#include "hex.h"
#include "unit.h"

struct ident {
	EVP_PKEY *key;
	X509 *cert;
};

/* A throwaway P-256 key and a self-signed certificate for it. */
static struct ident
self_signed(const char *cn)
{
	struct ident id;
	X509_NAME *name;

	id.key = EVP_EC_gen("P-256");
	ASSERT_PTR_NOT_NULL(id.key);
	id.cert = X509_new();
	ASSERT_PTR_NOT_NULL(id.cert);
	X509_set_version(id.cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(id.cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(id.cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(id.cert), 86400);
	X509_set_pubkey(id.cert, id.key);
	name = X509_get_subject_name(id.cert);
	X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(id.cert, name);
	ASSERT_TRUE(X509_sign(id.cert, id.key, EVP_sha256()) > 0);
	return id;
}

static void
free_ident(struct ident *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
}

/* One purchase, as the cardholder's wallet would serialize it. */
struct purchase {
	char oi[256], pi[256];
	size_t oilen, pilen;
	unsigned char hoi[32], hpi[32];
};

static void
make_purchase(struct purchase *p, const char *xid, const char *pan)
{
	snprintf(p->oi, sizeof(p->oi),
	    "{\"chall_c\":\"c1\",\"chall_m\":\"m1\",\"hod\":\"%s-hod\","
	    "\"xid\":\"%s\"}",
	    xid, xid);
	snprintf(p->pi, sizeof(p->pi),
	    "{\"amount\":1999,\"currency\":\"EUR\",\"merchant\":\"M-0001\","
	    "\"pan\":\"%s\",\"xid\":\"%s\"}",
	    pan, xid);
	p->oilen = strlen(p->oi);
	p->pilen = strlen(p->pi);
	dualsig_hash(p->oi, p->oilen, p->hoi);
	dualsig_hash(p->pi, p->pilen, p->hpi);
}

static unsigned char *
sign_purchase(const struct purchase *p, const struct ident *ch,
    const char *merchant, const char *xid, size_t *siglen)
{
	unsigned char *sig;
	char err[256] = "";

	if (dualsig_sign(p->pi, p->pilen, p->oi, p->oilen, merchant, xid,
	        ch->cert, ch->key, NULL, &sig, siglen, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "dualsig_sign: %s", err);
	return sig;
}

static int
merchant_ok(const unsigned char *sig, size_t siglen, const void *oi,
    size_t oilen, const unsigned char hpi[32], const char *merchant,
    const char *xid)
{
	char err[256] = "";

	return dualsig_verify_oi(sig, siglen, oi, oilen, hpi, merchant, xid,
	           NULL, NULL, err, sizeof(err)) == 0;
}

static int
gateway_ok(const unsigned char *sig, size_t siglen, const void *pi,
    size_t pilen, const unsigned char hoi[32], const char *merchant,
    const char *xid)
{
	char err[256] = "";

	return dualsig_verify_pi(sig, siglen, pi, pilen, hoi, merchant, xid,
	           NULL, NULL, err, sizeof(err)) == 0;
}

static void
test_hash(void)
{
	unsigned char h[32];
	char *hex;

	dualsig_hash("abc", 3, h);
	hex = hex_encode(h, 32);
	ASSERT_STR_EQ(hex,
	    "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	free(hex);
}

static void
test_round_trip(void)
{
	struct ident ch = self_signed("cardholder");
	struct purchase p;
	STACK_OF(X509) *certs;
	unsigned char *sig;
	size_t siglen, i;
	X509 *signer;
	char err[256] = "";

	make_purchase(&p, "xid-1", "4242424242424242");
	sig = sign_purchase(&p, &ch, "M-0001", "xid-1", &siglen);

	/* Neither half travels inside the signature: only their hashes. */
	for (i = 0; i + 16 <= siglen; i++) {
		ASSERT_FALSE(memcmp(sig + i, "4242424242424242", 16) == 0);
		ASSERT_FALSE(memcmp(sig + i, p.oi, 16) == 0);
	}

	ASSERT_INT_EQ(dualsig_verify_oi(sig, siglen, p.oi, p.oilen, p.hpi,
	                  "M-0001", "xid-1", &signer, &certs, err, sizeof(err)),
	    0);
	ASSERT_INT_EQ(X509_cmp(signer, ch.cert), 0);
	ASSERT_INT_EQ(sk_X509_num(certs), 1);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);

	ASSERT_INT_EQ(dualsig_verify_pi(sig, siglen, p.pi, p.pilen, p.hoi,
	                  "M-0001", "xid-1", &signer, NULL, err, sizeof(err)),
	    0);
	ASSERT_INT_EQ(X509_cmp(signer, ch.cert), 0);
	X509_free(signer);
	free(sig);
	free_ident(&ch);
}

/* The signed bytes are exactly the documented PI-TBS JSON. */
static void
test_tbs_format(void)
{
	struct ident ch = self_signed("cardholder");
	struct purchase p;
	unsigned char *sig;
	size_t siglen;
	char tbs[512], *hoi, *hpi, err[256] = "";

	make_purchase(&p, "xid-1", "4242424242424242");
	sig = sign_purchase(&p, &ch, "M-0001", "xid-1", &siglen);
	hoi = hex_sha256(p.oi, p.oilen);
	hpi = hex_sha256(p.pi, p.pilen);
	snprintf(tbs, sizeof(tbs),
	    "{\"hoi\":\"%s\",\"hpi\":\"%s\",\"merchant\":\"M-0001\","
	    "\"xid\":\"xid-1\"}",
	    hoi, hpi);
	ASSERT_INT_EQ(
	    cms_verify(sig, siglen, NID_setct_PI_TBS, tbs, strlen(tbs), NULL,
	        NULL, NULL, NULL, err, sizeof(err)),
	    0);
	free(hoi);
	free(hpi);
	free(sig);
	free_ident(&ch);
}

static void
test_changed_oi(void)
{
	struct ident ch = self_signed("cardholder");
	struct purchase p;
	unsigned char *sig, hoi2[32];
	size_t siglen;

	make_purchase(&p, "xid-1", "4242424242424242");
	sig = sign_purchase(&p, &ch, "M-0001", "xid-1", &siglen);
	p.oi[10] ^= 0x01;
	ASSERT_FALSE(
	    merchant_ok(sig, siglen, p.oi, p.oilen, p.hpi, "M-0001", "xid-1"));
	/* A merchant passing on the hash of a changed order. */
	dualsig_hash(p.oi, p.oilen, hoi2);
	ASSERT_FALSE(
	    gateway_ok(sig, siglen, p.pi, p.pilen, hoi2, "M-0001", "xid-1"));
	/* One byte more or less. */
	p.oi[10] ^= 0x01;
	ASSERT_FALSE(merchant_ok(
	    sig, siglen, p.oi, p.oilen - 1, p.hpi, "M-0001", "xid-1"));
	ASSERT_TRUE(
	    merchant_ok(sig, siglen, p.oi, p.oilen, p.hpi, "M-0001", "xid-1"));
	free(sig);
	free_ident(&ch);
}

static void
test_changed_pi(void)
{
	struct ident ch = self_signed("cardholder");
	struct purchase p;
	unsigned char *sig, hpi2[32];
	size_t siglen;
	char *amount;

	make_purchase(&p, "xid-1", "4242424242424242");
	sig = sign_purchase(&p, &ch, "M-0001", "xid-1", &siglen);
	amount = strstr(p.pi, "1999");
	ASSERT_PTR_NOT_NULL(amount);
	amount[0] = '9';
	ASSERT_FALSE(
	    gateway_ok(sig, siglen, p.pi, p.pilen, p.hoi, "M-0001", "xid-1"));
	dualsig_hash(p.pi, p.pilen, hpi2);
	ASSERT_FALSE(
	    merchant_ok(sig, siglen, p.oi, p.oilen, hpi2, "M-0001", "xid-1"));
	amount[0] = '1';
	ASSERT_TRUE(
	    gateway_ok(sig, siglen, p.pi, p.pilen, p.hoi, "M-0001", "xid-1"));
	free(sig);
	free_ident(&ch);
}

/* A PI from another purchase of the same cardholder, same merchant. */
static void
test_swapped_pi(void)
{
	struct ident ch = self_signed("cardholder");
	struct purchase a, b;
	unsigned char *siga, *sigb;
	size_t siglena, siglenb;

	make_purchase(&a, "xid-A", "4242424242424242");
	make_purchase(&b, "xid-B", "5555555555554444");
	siga = sign_purchase(&a, &ch, "M-0001", "xid-A", &siglena);
	sigb = sign_purchase(&b, &ch, "M-0001", "xid-B", &siglenb);

	/* Gateway: B's PI with A's signature and H(OI_A). */
	ASSERT_FALSE(
	    gateway_ok(siga, siglena, b.pi, b.pilen, a.hoi, "M-0001", "xid-A"));
	/* Gateway: B's PI and B's signature, but under A's order. */
	ASSERT_FALSE(
	    gateway_ok(sigb, siglenb, b.pi, b.pilen, a.hoi, "M-0001", "xid-A"));
	ASSERT_FALSE(
	    gateway_ok(sigb, siglenb, b.pi, b.pilen, a.hoi, "M-0001", "xid-B"));
	/* Merchant: A's order with H(PI_B). */
	ASSERT_FALSE(merchant_ok(
	    siga, siglena, a.oi, a.oilen, b.hpi, "M-0001", "xid-A"));
	/* Each purchase still verifies on its own. */
	ASSERT_TRUE(
	    gateway_ok(sigb, siglenb, b.pi, b.pilen, b.hoi, "M-0001", "xid-B"));
	ASSERT_TRUE(merchant_ok(
	    siga, siglena, a.oi, a.oilen, a.hpi, "M-0001", "xid-A"));
	free(siga);
	free(sigb);
	free_ident(&ch);
}

static void
test_other_merchant_or_xid(void)
{
	struct ident ch = self_signed("cardholder");
	struct purchase p;
	unsigned char *sig;
	size_t siglen;

	make_purchase(&p, "xid-1", "4242424242424242");
	sig = sign_purchase(&p, &ch, "M-0001", "xid-1", &siglen);
	ASSERT_FALSE(
	    merchant_ok(sig, siglen, p.oi, p.oilen, p.hpi, "M-0002", "xid-1"));
	ASSERT_FALSE(
	    gateway_ok(sig, siglen, p.pi, p.pilen, p.hoi, "M-0002", "xid-1"));
	ASSERT_FALSE(
	    merchant_ok(sig, siglen, p.oi, p.oilen, p.hpi, "M-0001", "xid-2"));
	ASSERT_FALSE(
	    gateway_ok(sig, siglen, p.pi, p.pilen, p.hoi, "M-0001", "xid-2"));
	/* A prefix is not the same merchant. */
	ASSERT_FALSE(
	    merchant_ok(sig, siglen, p.oi, p.oilen, p.hpi, "M-000", "xid-1"));
	free(sig);
	free_ident(&ch);
}

/*
 * The same PI-TBS bytes signed under another SET content type are not a
 * dual signature: the signature names its purpose.
 */
static void
test_other_content_type(void)
{
	struct ident ch = self_signed("cardholder");
	struct purchase p;
	unsigned char *sig;
	size_t siglen;
	char tbs[512], *hoi, *hpi, err[256] = "";

	make_purchase(&p, "xid-1", "4242424242424242");
	hoi = hex_sha256(p.oi, p.oilen);
	hpi = hex_sha256(p.pi, p.pilen);
	snprintf(tbs, sizeof(tbs),
	    "{\"hoi\":\"%s\",\"hpi\":\"%s\",\"merchant\":\"M-0001\","
	    "\"xid\":\"xid-1\"}",
	    hoi, hpi);
	ASSERT_INT_EQ(cms_sign(tbs, strlen(tbs), NID_setct_CertReqTBS, ch.cert,
	                  ch.key, NULL, 1, &sig, &siglen, err, sizeof(err)),
	    0);
	ASSERT_INT_EQ(dualsig_verify_oi(sig, siglen, p.oi, p.oilen, p.hpi,
	                  "M-0001", "xid-1", NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "content type");
	free(sig);

	/* Under setct-PI-TBS the very same bytes verify. */
	ASSERT_INT_EQ(cms_sign(tbs, strlen(tbs), NID_setct_PI_TBS, ch.cert,
	                  ch.key, NULL, 1, &sig, &siglen, err, sizeof(err)),
	    0);
	ASSERT_TRUE(
	    merchant_ok(sig, siglen, p.oi, p.oilen, p.hpi, "M-0001", "xid-1"));
	free(sig);
	free(hoi);
	free(hpi);
	free_ident(&ch);
}

/* Another cardholder's key over the same purchase verifies as that key. */
static void
test_signer_reported(void)
{
	struct ident a = self_signed("alice"), b = self_signed("bob");
	struct purchase p;
	unsigned char *sig;
	size_t siglen;
	X509 *signer;
	char err[256] = "";

	make_purchase(&p, "xid-1", "4242424242424242");
	sig = sign_purchase(&p, &b, "M-0001", "xid-1", &siglen);
	ASSERT_INT_EQ(dualsig_verify_pi(sig, siglen, p.pi, p.pilen, p.hoi,
	                  "M-0001", "xid-1", &signer, NULL, err, sizeof(err)),
	    0);
	ASSERT_INT_NE(X509_cmp(signer, a.cert), 0);
	ASSERT_INT_EQ(X509_cmp(signer, b.cert), 0);
	X509_free(signer);
	free(sig);
	free_ident(&a);
	free_ident(&b);
}

static void
test_bad_ids(void)
{
	struct ident ch = self_signed("cardholder");
	struct purchase p;
	unsigned char *sig;
	size_t siglen;
	X509 *signer = (X509 *)&p;
	char err[256] = "";

	make_purchase(&p, "xid-1", "4242424242424242");
	ASSERT_INT_EQ(
	    dualsig_sign(p.pi, p.pilen, p.oi, p.oilen, "", "xid-1", ch.cert,
	        ch.key, NULL, &sig, &siglen, err, sizeof(err)),
	    -1);
	ASSERT_PTR_NULL(sig);
	ASSERT_INT_EQ(
	    dualsig_sign(p.pi, p.pilen, p.oi, p.oilen, "M-0001", NULL, ch.cert,
	        ch.key, NULL, &sig, &siglen, err, sizeof(err)),
	    -1);
	/* Not UTF-8. */
	ASSERT_INT_EQ(
	    dualsig_sign(p.pi, p.pilen, p.oi, p.oilen, "M-\xff", "xid-1",
	        ch.cert, ch.key, NULL, &sig, &siglen, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "UTF-8");

	sig = sign_purchase(&p, &ch, "M-0001", "xid-1", &siglen);
	ASSERT_INT_EQ(dualsig_verify_oi(sig, siglen, p.oi, p.oilen, p.hpi, "",
	                  "xid-1", &signer, NULL, err, sizeof(err)),
	    -1);
	ASSERT_PTR_NULL(signer);
	ASSERT_INT_EQ(dualsig_verify_pi(sig, siglen, p.pi, p.pilen, NULL,
	                  "M-0001", "xid-1", NULL, NULL, err, sizeof(err)),
	    -1);
	free(sig);
	free_ident(&ch);
}

/* A third party checks a dual signature with the stock command. */
static void
test_openssl_cli(void)
{
	struct ident ch = self_signed("cardholder");
	struct purchase p;
	unsigned char *sig;
	size_t siglen;
	char tbs[512], *hoi, *hpi, path[512], cmd[1024];
	const char *dir = unit_tmpdir();
	FILE *f;
	int rc;

	make_purchase(&p, "xid-1", "4242424242424242");
	sig = sign_purchase(&p, &ch, "M-0001", "xid-1", &siglen);
	hoi = hex_sha256(p.oi, p.oilen);
	hpi = hex_sha256(p.pi, p.pilen);
	snprintf(tbs, sizeof(tbs),
	    "{\"hoi\":\"%s\",\"hpi\":\"%s\",\"merchant\":\"M-0001\","
	    "\"xid\":\"xid-1\"}",
	    hoi, hpi);
	snprintf(path, sizeof(path), "%s/sig.der", dir);
	ASSERT_PTR_NOT_NULL(f = fopen(path, "wb"));
	ASSERT_INT_EQ(fwrite(sig, 1, siglen, f), siglen);
	fclose(f);
	snprintf(path, sizeof(path), "%s/pi-tbs.json", dir);
	ASSERT_PTR_NOT_NULL(f = fopen(path, "wb"));
	fputs(tbs, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	    "openssl cms -verify -inform DER -in %s/sig.der -noverify "
	    "-binary -content %s/pi-tbs.json -out /dev/null 2>%s/stderr",
	    dir, dir, dir);
	rc = system(cmd);
	ASSERT_TRUE(rc != -1);
	ASSERT_INT_EQ(WEXITSTATUS(rc), 0);
	free(hoi);
	free(hpi);
	free(sig);
	free_ident(&ch);
}

static void
test_garbage_sig(void)
{
	struct ident ch = self_signed("cardholder");
	struct purchase p;
	unsigned char *sig;
	size_t siglen, i;

	make_purchase(&p, "xid-1", "4242424242424242");
	sig = sign_purchase(&p, &ch, "M-0001", "xid-1", &siglen);
	for (i = 0; i < siglen; i++)
		if (merchant_ok(
		        sig, i, p.oi, p.oilen, p.hpi, "M-0001", "xid-1"))
			unit_fail(__FILE__, __LINE__,
			    "truncation to %zu accepted", i);
	ASSERT_FALSE(
	    merchant_ok(NULL, 0, p.oi, p.oilen, p.hpi, "M-0001", "xid-1"));
	free(sig);
	free_ident(&ch);
}

static const struct unit_case cases[] = {
	{ "SHA-256 helper", test_hash },
	{ "merchant and gateway verify the same signature", test_round_trip },
	{ "signed content is the documented PI-TBS JSON", test_tbs_format },
	{ "a changed OI byte fails", test_changed_oi },
	{ "a changed PI byte fails", test_changed_pi },
	{ "a PI swapped from another purchase fails", test_swapped_pi },
	{ "another merchant id or XID fails", test_other_merchant_or_xid },
	{ "the same bytes under another content type fail",
	    test_other_content_type },
	{ "the signer is reported", test_signer_reported },
	{ "empty or non-UTF-8 ids, missing hashes refused", test_bad_ids },
	{ "openssl cms -verify checks a dual signature", test_openssl_cli },
	{ "truncated signatures refused", test_garbage_sig },
};

int
main(void)
{
	return unit_main("dualsig", cases, UNIT_N(cases));
}
