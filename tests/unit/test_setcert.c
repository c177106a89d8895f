/*
 * Unit tests for common/setcert.c: a whole SET hierarchy is made in memory,
 * every kind of certificate is checked by the stock `openssl verify` (and
 * refused by it once revoked), and the encodings, files and request checks
 * are exercised with good and hostile input.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "hex.h"
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
	[H_PG_KEX] = { "Gateway One", "key exchange", H_PCA,
	    SETCERT_PGWY | SETCERT_ACQ, SETCERT_KEYEX, 0, -1 },
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
    const char *o, const char *ou, unsigned types, unsigned usage, int is_ca,
    int pathlen, time_t nb, time_t na)
{
	static const char *dns[] = { "ca.example.test", "localhost", NULL };
	static const char *ips[] = { "127.0.0.1", "::1", NULL };
	struct setcert_spec s;
	char err[256];
	X509 *cert;

	memset(&s, 0, sizeof(s));
	s.pubkey = key;
	s.issuer = issuer;
	s.issuer_key = issuer_key;
	s.cn = cn;
	s.o = o;
	s.ou = ou;
	s.country = "US";
	s.types = types;
	s.usage = usage;
	s.is_ca = is_ca;
	s.pathlen = pathlen;
	s.not_before = nb;
	s.not_after = na;
	s.crl_url = "https://ca.example.test/crl?brand=x,y";
	if (usage & SETCERT_TLS_SERVER) {
		s.dns = dns;
		s.ips = ips;
	}
	cert = setcert_issue(&s, err, sizeof(err));
	if (cert == NULL)
		unit_fail(__FILE__, __LINE__, "issuing %s: %s", cn, err);
	return cert;
}

/* A complete hierarchy of one brand, valid from a day ago for a year. */
static void
hier_make(struct hier *h, const char *brand)
{
	time_t now = time(NULL);
	int i, p;

	h->shared_root = 0;
	for (i = 0; i < H_N; i++) {
		p = hspec[i].issuer;
		h->key[i] = setcert_keygen();
		h->cert[i] = issue(h->key[i], p < 0 ? NULL : h->cert[p],
		    p < 0 ? h->key[i] : h->key[p], hspec[i].cn,
		    i == H_RCA ? "SET Root" : brand, hspec[i].ou,
		    hspec[i].types, hspec[i].usage, hspec[i].is_ca,
		    hspec[i].pathlen, now - DAY, now + 365 * DAY);
	}
}

static X509_CRL *
make_crl(
    struct hier *h, int ca, const char *const *serials, size_t n, long number)
{
	struct setcert_revoked rev[8];
	time_t now = time(NULL);
	char err[256];
	X509_CRL *crl;
	size_t i;

	for (i = 0; i < n && i < 8; i++) {
		rev[i].serial_hex = serials[i];
		rev[i].when = now - 60;
		rev[i].reason = CRL_REASON_KEY_COMPROMISE;
	}
	crl = setcert_crl(h->cert[ca], h->key[ca], rev, n, number, now - DAY,
	    now + 7 * DAY, err, sizeof(err));
	if (crl == NULL)
		unit_fail(__FILE__, __LINE__, "CRL: %s", err);
	return crl;
}

static char *
tmpfile_path(const char *name)
{
	return xasprintf("%s/%s", unit_tmpdir(), name);
}

static void
write_certs(const char *name, X509 *const *certs, size_t n)
{
	char err[256], *path = tmpfile_path(name);

	if (setcert_write_pem(path, certs, n, err, sizeof(err)) == -1)
		unit_fail(__FILE__, __LINE__, "%s", err);
	free(path);
}

static void
write_crls(const char *name, X509_CRL *const *crls, size_t n)
{
	char *path = tmpfile_path(name);
	FILE *f = fopen(path, "w");
	size_t i;

	ASSERT_PTR_NOT_NULL(f);
	for (i = 0; i < n; i++)
		ASSERT_TRUE(PEM_write_X509_CRL(f, crls[i]));
	ASSERT_INT_EQ(fclose(f), 0);
	free(path);
}

/* Runs a shell command in the case's folder; its exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
run(const char *fmt, ...)
{
	char cmd[1024], *full;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	full = xasprintf("cd '%s' && %s >>out.txt 2>&1", unit_tmpdir(), cmd);
	rc = system(full);
	free(full);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* The first line of a command's output, in a static buffer. */
static const char *run_line(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static const char *
run_line(const char *fmt, ...)
{
	static char line[512];
	char cmd[1024], *full;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	full = xasprintf("cd '%s' && %s 2>/dev/null", unit_tmpdir(), cmd);
	line[0] = '\0';
	if ((p = popen(full, "r")) != NULL) {
		if (fgets(line, sizeof(line), p) == NULL)
			line[0] = '\0';
		pclose(p);
	}
	line[strcspn(line, "\n")] = '\0';
	free(full);
	return line;
}

static void
test_openssl_verify(void)
{
	static const int leaves[] = { H_CARD, H_MER_SIG, H_MER_KEX, H_PG_SIG,
		H_PG_KEX, H_TLS };
	struct hier h;
	X509_CRL *crls[5], *revoked;
	X509 *chain[2];
	size_t i;
	int ca, j;

	hier_make(&h, "Visa");
	for (j = H_RCA; j <= H_PCA; j++)
		crls[j] = make_crl(&h, j, NULL, 0, 1);
	write_certs("root.pem", &h.cert[H_RCA], 1);
	write_crls("all-crls.pem", crls, 5);
	for (i = 0; i < UNIT_N(leaves); i++) {
		char *sn = setcert_serial_hex(h.cert[leaves[i]]);
		const char *serial[] = { sn };

		ca = hspec[leaves[i]].issuer;
		chain[0] = h.cert[H_BCA];
		chain[1] = h.cert[ca];
		write_certs("chain.pem", chain, ca == H_BCA ? 1 : 2);
		write_certs("leaf.pem", &h.cert[leaves[i]], 1);
		write_crls("crl.pem", &crls[ca], 1);
		if (run("openssl verify -CAfile root.pem -untrusted chain.pem "
		        "-crl_check -CRLfile crl.pem leaf.pem") != 0)
			unit_fail(__FILE__, __LINE__,
			    "openssl verify refused %s (see out.txt)",
			    hspec[leaves[i]].cn);
		if (run("openssl verify -x509_strict -CAfile root.pem "
		        "-untrusted chain.pem -crl_check_all "
		        "-CRLfile all-crls.pem leaf.pem") != 0)
			unit_fail(__FILE__, __LINE__,
			    "openssl verify -crl_check_all refused %s",
			    hspec[leaves[i]].cn);

		/* Now the issuer revokes it. */
		revoked = make_crl(&h, ca, serial, 1, 2);
		write_crls("crl.pem", &revoked, 1);
		if (run("openssl verify -CAfile root.pem -untrusted chain.pem "
		        "-crl_check -CRLfile crl.pem leaf.pem") == 0)
			unit_fail(__FILE__, __LINE__,
			    "openssl verify accepted revoked %s",
			    hspec[leaves[i]].cn);
		ASSERT_STR_CONTAINS(
		    run_line("openssl verify -CAfile root.pem -untrusted "
		             "chain.pem -crl_check -CRLfile crl.pem "
		             "leaf.pem 2>&1 | grep -i error"),
		    "revoked");
		X509_CRL_free(revoked);
		free(sn);
	}
	for (j = H_RCA; j <= H_PCA; j++)
		X509_CRL_free(crls[j]);
	hier_free(&h);
}

static void
test_types_roundtrip(void)
{
	static const unsigned types[] = {
		SETCERT_CARD, SETCERT_MER, SETCERT_PGWY, SETCERT_CCA,
		SETCERT_MCA, SETCERT_PCA, SETCERT_GCA, SETCERT_BCA, SETCERT_RCA,
		SETCERT_ACQ, SETCERT_PGWY | SETCERT_ACQ,
		SETCERT_CCA | SETCERT_MCA | SETCERT_PCA,
		0x3ff & ~(unsigned)(SETCERT_CARD | SETCERT_MER | SETCERT_PGWY)
	};
	struct hier h;
	EVP_PKEY *key = setcert_keygen();
	time_t now = time(NULL);
	unsigned char *der;
	size_t i, len;
	X509 *c, *back;
	int ca;

	hier_make(&h, "Visa");
	for (i = 0; i < UNIT_N(types); i++) {
		ca = (types[i] & SETCERT_CA_TYPES) &&
		    !(types[i] & (SETCERT_CARD | SETCERT_MER | SETCERT_PGWY));
		c = issue(key, h.cert[H_BCA], h.key[H_BCA], "t", NULL, NULL,
		    types[i], ca ? SETCERT_CA : SETCERT_SIGN, ca, 0, now,
		    now + DAY);
		der = setcert_der(c, &len);
		back = setcert_from_der(der, len);
		ASSERT_PTR_NOT_NULL(back);
		ASSERT_INT_EQ(setcert_types(c), types[i]);
		ASSERT_INT_EQ(setcert_types(back), types[i]);
		X509_free(c);
		X509_free(back);
		free(der);
	}
	/* And what the hierarchy carries. */
	for (i = 0; i < H_N; i++)
		ASSERT_INT_EQ(setcert_types(h.cert[i]), hspec[i].types);
	/* The extension is present, non-critical, with SET's OID. */
	ASSERT_INT_EQ(
	    X509_get_ext_by_NID(h.cert[H_TLS], NID_setCext_certType, -1), -1);
	ca = X509_get_ext_by_NID(h.cert[H_CARD], NID_setCext_certType, -1);
	ASSERT_TRUE(ca >= 0);
	ASSERT_INT_EQ(
	    X509_EXTENSION_get_critical(X509_get_ext(h.cert[H_CARD], ca)), 0);
	EVP_PKEY_free(key);
	hier_free(&h);
}

static void
test_usage_roundtrip(void)
{
	struct hier h;
	char buf[128];

	hier_make(&h, "Visa");
	ASSERT_INT_EQ(
	    setcert_usage_of(h.cert[H_RCA]), SETCERT_CA | SETCERT_SIGN);
	ASSERT_INT_EQ(
	    setcert_usage_of(h.cert[H_MCA]), SETCERT_CA | SETCERT_SIGN);
	ASSERT_INT_EQ(setcert_usage_of(h.cert[H_CARD]), SETCERT_SIGN);
	ASSERT_INT_EQ(setcert_usage_of(h.cert[H_MER_SIG]), SETCERT_SIGN);
	ASSERT_INT_EQ(setcert_usage_of(h.cert[H_MER_KEX]), SETCERT_KEYEX);
	ASSERT_INT_EQ(setcert_usage_of(h.cert[H_PG_KEX]), SETCERT_KEYEX);
	ASSERT_INT_EQ(
	    setcert_usage_of(h.cert[H_TLS]), SETCERT_SIGN | SETCERT_TLS_SERVER);
	/* keyUsage bits as OpenSSL reads them. */
	ASSERT_INT_EQ(X509_get_key_usage(h.cert[H_MER_KEX]), KU_KEY_AGREEMENT);
	ASSERT_INT_EQ(X509_get_key_usage(h.cert[H_MER_SIG]),
	    KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION);
	ASSERT_INT_EQ(X509_get_key_usage(h.cert[H_BCA]),
	    KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	ASSERT_INT_EQ(
	    X509_get_extended_key_usage(h.cert[H_TLS]), XKU_SSL_SERVER);
	setcert_types_string(SETCERT_MER | SETCERT_ACQ, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "merchant+acquirer");
	setcert_types_string(0, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "none");
	hier_free(&h);
}

static int
ext_critical(X509 *c, int nid)
{
	int i = X509_get_ext_by_NID(c, nid, -1);

	if (i < 0)
		unit_fail(__FILE__, __LINE__, "extension %s missing",
		    OBJ_nid2sn(nid));
	return X509_EXTENSION_get_critical(X509_get_ext(c, i));
}

static void
test_extensions(void)
{
	struct hier h;
	BASIC_CONSTRAINTS *bc;
	AUTHORITY_KEYID *akid;
	GENERAL_NAMES *san;
	CRL_DIST_POINTS *dps;
	const ASN1_INTEGER *serial;
	BIGNUM *bn;
	char *s1, *s2, *subj;
	int i;

	hier_make(&h, "Visa");
	for (i = 0; i < H_N; i++) {
		X509 *c = h.cert[i], *iss;

		ASSERT_INT_EQ(X509_get_version(c), X509_VERSION_3);
		ASSERT_INT_EQ(ext_critical(c, NID_key_usage), 1);
		ASSERT_INT_EQ(ext_critical(c, NID_basic_constraints), 1);
		ASSERT_INT_EQ(ext_critical(c, NID_subject_key_identifier), 0);
		bc = X509_get_ext_d2i(c, NID_basic_constraints, NULL, NULL);
		ASSERT_PTR_NOT_NULL(bc);
		ASSERT_INT_EQ(bc->ca != 0, hspec[i].is_ca);
		if (hspec[i].is_ca) {
			ASSERT_PTR_NOT_NULL(bc->pathlen);
			ASSERT_INT_EQ(
			    ASN1_INTEGER_get(bc->pathlen), hspec[i].pathlen);
		} else
			ASSERT_PTR_NULL(bc->pathlen);
		BASIC_CONSTRAINTS_free(bc);

		/* A positive serial of at most 128 bits. */
		serial = X509_get0_serialNumber(c);
		bn = ASN1_INTEGER_to_BN(serial, NULL);
		ASSERT_FALSE(BN_is_negative(bn));
		ASSERT_FALSE(BN_is_zero(bn));
		ASSERT_TRUE(BN_num_bits(bn) <= 128);
		BN_free(bn);

		/* Signed by its issuer; AKI names the issuer's SKI. */
		iss = hspec[i].issuer < 0 ? c : h.cert[hspec[i].issuer];
		ASSERT_INT_EQ(X509_verify(c, X509_get0_pubkey(iss)), 1);
		ASSERT_INT_EQ(X509_check_issued(iss, c), X509_V_OK);
		akid = X509_get_ext_d2i(
		    c, NID_authority_key_identifier, NULL, NULL);
		if (hspec[i].issuer < 0)
			ASSERT_PTR_NULL(akid);
		else {
			ASSERT_PTR_NOT_NULL(akid);
			ASSERT_INT_EQ(ASN1_OCTET_STRING_cmp(akid->keyid,
			                  X509_get0_subject_key_id(iss)),
			    0);
		}
		AUTHORITY_KEYID_free(akid);

		/* The URL went in as it is, commas and all. */
		dps = X509_get_ext_d2i(
		    c, NID_crl_distribution_points, NULL, NULL);
		ASSERT_PTR_NOT_NULL(dps);
		ASSERT_INT_EQ(sk_DIST_POINT_num(dps), 1);
		{
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(
			    sk_DIST_POINT_value(dps, 0)
			        ->distpoint->name.fullname,
			    0);
			ASSERT_INT_EQ(gn->type, GEN_URI);
			ASSERT_STR_EQ((const char *)ASN1_STRING_get0_data(
			                  gn->d.uniformResourceIdentifier),
			    "https://ca.example.test/crl?brand=x,y");
		}
		CRL_DIST_POINTS_free(dps);
	}

	/* subjectAltName of the TLS certificate. */
	san = X509_get_ext_d2i(h.cert[H_TLS], NID_subject_alt_name, NULL, NULL);
	ASSERT_PTR_NOT_NULL(san);
	ASSERT_INT_EQ(sk_GENERAL_NAME_num(san), 4);
	ASSERT_INT_EQ(
	    X509_check_host(h.cert[H_TLS], "localhost", 0, 0, NULL), 1);
	ASSERT_INT_EQ(X509_check_ip_asc(h.cert[H_TLS], "127.0.0.1", 0), 1);
	ASSERT_INT_EQ(X509_check_ip_asc(h.cert[H_TLS], "::1", 0), 1);
	ASSERT_INT_EQ(
	    X509_check_host(h.cert[H_TLS], "evil.test", 0, 0, NULL), 0);
	GENERAL_NAMES_free(san);
	ASSERT_INT_EQ(
	    X509_get_ext_by_NID(h.cert[H_CARD], NID_subject_alt_name, -1), -1);

	/* Serials differ; subjects print as RFC 2253. */
	s1 = setcert_serial_hex(h.cert[H_MER_SIG]);
	s2 = setcert_serial_hex(h.cert[H_MER_KEX]);
	ASSERT_INT_NE(strcmp(s1, s2), 0);
	free(s1);
	free(s2);
	subj = setcert_subject(h.cert[H_MER_SIG]);
	ASSERT_STR_EQ(subj, "CN=Merchant One,OU=signature,O=Visa,C=US");
	free(subj);
	hier_free(&h);
}

static void
test_issue_refusals(void)
{
	struct hier h;
	struct setcert_spec s, bad;
	EVP_PKEY *key = setcert_keygen(), *other = setcert_keygen();
	static const char *badip[] = { "300.1.2.3", NULL };
	static const char *baddns[] = { "ok.test", "bad\nname", NULL };
	char err[256];
	time_t now = time(NULL);
	X509 *c;

	hier_make(&h, "Visa");
	memset(&s, 0, sizeof(s));
	s.pubkey = key;
	s.issuer = h.cert[H_MCA];
	s.issuer_key = h.key[H_MCA];
	s.cn = "Merchant Two";
	s.types = SETCERT_MER;
	s.usage = SETCERT_SIGN;
	s.pathlen = -1;
	s.not_before = now;
	s.not_after = now + DAY;
	c = setcert_issue(&s, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(c);
	X509_free(c);

#define REFUSED(field, value, needle)                                          \
	do {                                                                   \
		bad = s;                                                       \
		bad.field = value;                                             \
		err[0] = '\0';                                                 \
		c = setcert_issue(&bad, err, sizeof(err));                     \
		if (c != NULL)                                                 \
			unit_fail(__FILE__, __LINE__,                          \
			    "accepted " #field " = " #value);                  \
		ASSERT_STR_CONTAINS(err, needle);                              \
	} while (0)

	REFUSED(cn, NULL, "common name");
	REFUSED(issuer_key, h.key[H_CCA], "issuer key does not match");
	REFUSED(issuer, NULL, "own key");
	REFUSED(not_after, now - 1, "not_after");
	REFUSED(is_ca, 1, "is_ca");
	REFUSED(usage, SETCERT_CA, "is_ca");
	REFUSED(usage, SETCERT_SIGN | SETCERT_KEYEX, "key-exchange");
	REFUSED(usage, SETCERT_KEYEX | SETCERT_TLS_CLIENT, "key-exchange");
	REFUSED(usage, 0, "usage");
	REFUSED(country, "USA", "country");
	REFUSED(ips, badip, "300.1.2.3");
	REFUSED(dns, baddns, "DNS name");
	REFUSED(crl_url, "http://x/a b", "CRL URL");
	bad = s;
	bad.is_ca = 1;
	bad.usage = SETCERT_CA;
	bad.types = SETCERT_MER;
	ASSERT_PTR_NULL(setcert_issue(&bad, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "CA cannot be");
	/* Self-signed with a key that is not the subject's. */
	bad = s;
	bad.issuer = NULL;
	bad.issuer_key = other;
	ASSERT_PTR_NULL(setcert_issue(&bad, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "own key");
#undef REFUSED
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	hier_free(&h);
}

static int
count_files(void)
{
	DIR *d = opendir(unit_tmpdir());
	struct dirent *e;
	int n = 0;

	ASSERT_PTR_NOT_NULL(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
test_keys(void)
{
	EVP_PKEY *key = setcert_keygen(), *other = setcert_keygen(), *back;
	char err[256], *path = tmpfile_path("merchant.key"), first[64];
	struct stat st1, st2;
	FILE *f;

	ASSERT_INT_EQ(setcert_write_key(path, key, err, sizeof(err)), 0);
	ASSERT_INT_EQ(stat(path, &st1), 0);
	ASSERT_INT_EQ(st1.st_mode & 0777, 0600);
	f = fopen(path, "r");
	ASSERT_PTR_NOT_NULL(f);
	ASSERT_PTR_NOT_NULL(fgets(first, sizeof(first), f));
	fclose(f);
	ASSERT_STR_EQ(first, "-----BEGIN PRIVATE KEY-----\n");
	back = setcert_read_key(path, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(back);
	ASSERT_INT_EQ(EVP_PKEY_eq(key, back), 1);
	EVP_PKEY_free(back);

	/* Never overwritten, and nothing left behind. */
	ASSERT_INT_EQ(setcert_write_key(path, other, err, sizeof(err)), -1);
	ASSERT_STR_CONTAINS(err, "already exists");
	back = setcert_read_key(path, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(back);
	ASSERT_INT_EQ(EVP_PKEY_eq(key, back), 1);
	ASSERT_INT_EQ(EVP_PKEY_eq(other, back), 0);
	EVP_PKEY_free(back);
	ASSERT_INT_EQ(stat(path, &st2), 0);
	ASSERT_INT_EQ(st2.st_ino, st1.st_ino);
	ASSERT_INT_EQ(count_files(), 1);

	/* A key the rest of the world can read: `openssl pkey` agrees. */
	ASSERT_INT_EQ(run("openssl pkey -in merchant.key -noout"), 0);

	/* Missing and broken files. */
	ASSERT_PTR_NULL(
	    setcert_read_key("/nonexistent/x.key", err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "No such file");
	free(path);
	path = tmpfile_path("garbage.key");
	f = fopen(path, "w");
	fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	    f);
	fclose(f);
	ASSERT_PTR_NULL(setcert_read_key(path, err, sizeof(err)));
	free(path);
	/* An encrypted key is refused, never prompted for. */
	path = tmpfile_path("enc.key");
	f = fopen(path, "w");
	ASSERT_TRUE(PEM_write_PKCS8PrivateKey(f, key, EVP_aes_256_cbc(), NULL,
	    0, NULL, (void *)(uintptr_t) "secret"));
	fclose(f);
	ASSERT_PTR_NULL(setcert_read_key(path, err, sizeof(err)));
	free(path);
	/* A key file in a folder that does not exist. */
	ASSERT_INT_EQ(
	    setcert_write_key("/nonexistent/dir/k.key", key, err, sizeof(err)),
	    -1);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void
test_pem_files(void)
{
	struct hier h;
	STACK_OF(X509) *certs;
	X509 *c, *back;
	char err[256], *path = tmpfile_path("chain.pem"), *pem, *tp, *sh;
	char want[256], *p;
	const char *line;
	struct stat st;
	size_t i, j;

	hier_make(&h, "Visa");
	ASSERT_INT_EQ(
	    setcert_write_pem(path, &h.cert[H_RCA], 3, err, sizeof(err)), 0);
	ASSERT_INT_EQ(stat(path, &st), 0);
	ASSERT_INT_EQ(st.st_mode & 0777, 0644);
	certs = setcert_read_certs(path, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(certs);
	ASSERT_INT_EQ(sk_X509_num(certs), 3);
	for (i = 0; i < 3; i++)
		ASSERT_INT_EQ(
		    X509_cmp(sk_X509_value(certs, (int)i), h.cert[H_RCA + i]),
		    0);
	sk_X509_pop_free(certs, X509_free);
	c = setcert_read_cert(path, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(c);
	ASSERT_INT_EQ(X509_cmp(c, h.cert[H_RCA]), 0);
	X509_free(c);

	/* Rewriting replaces atomically; no temporary file stays. */
	ASSERT_INT_EQ(
	    setcert_write_pem(path, &h.cert[H_CARD], 1, err, sizeof(err)), 0);
	c = setcert_read_cert(path, err, sizeof(err));
	ASSERT_INT_EQ(X509_cmp(c, h.cert[H_CARD]), 0);
	X509_free(c);
	ASSERT_INT_EQ(count_files(), 1);

	/* Thumbprint and serial as the openssl command sees them. */
	tp = setcert_thumbprint(h.cert[H_CARD]);
	ASSERT_INT_EQ(strlen(tp), 64);
	line = run_line(
	    "openssl x509 -in %s -noout -fingerprint -sha256", "chain.pem");
	for (i = 0, j = 0; tp[i] != '\0'; i++) {
		want[j++] = (char)(tp[i] >= 'a' ? tp[i] - 'a' + 'A' : tp[i]);
		if (i % 2 == 1 && tp[i + 1] != '\0')
			want[j++] = ':';
	}
	want[j] = '\0';
	ASSERT_STR_CONTAINS(line, want);
	sh = setcert_serial_hex(h.cert[H_CARD]);
	for (p = sh; *p; p++)
		ASSERT_TRUE(
		    (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
	line = run_line("openssl x509 -in %s -noout -serial", "chain.pem");
	snprintf(want, sizeof(want), "serial=%s", sh);
	ASSERT_INT_EQ(strcasecmp(line, want), 0);
	free(tp);
	free(sh);

	/* PEM text round trip; garbage refused. */
	pem = setcert_pem(h.cert[H_MER_SIG]);
	ASSERT_STR_CONTAINS(pem, "-----BEGIN CERTIFICATE-----");
	back = setcert_from_pem(pem, strlen(pem));
	ASSERT_PTR_NOT_NULL(back);
	ASSERT_INT_EQ(X509_cmp(back, h.cert[H_MER_SIG]), 0);
	X509_free(back);
	ASSERT_PTR_NULL(setcert_from_pem(pem, strlen(pem) / 2));
	ASSERT_PTR_NULL(setcert_from_pem("hello", 5));
	ASSERT_PTR_NULL(setcert_from_pem("", 0));
	free(pem);

	/* Broken files. */
	free(path);
	path = tmpfile_path("broken.pem");
	pem = setcert_pem(h.cert[H_BCA]);
	{
		FILE *f = fopen(path, "w");
		char *half = xstrndup(pem, strlen(pem) / 2);

		fputs(pem, f);
		fputs(half, f);
		fclose(f);
		free(half);
	}
	ASSERT_PTR_NULL(setcert_read_certs(path, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "broken");
	free(pem);
	free(path);
	path = tmpfile_path("empty.pem");
	fclose(fopen(path, "w"));
	ASSERT_PTR_NULL(setcert_read_certs(path, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "no certificate");
	ASSERT_PTR_NULL(
	    setcert_read_cert("/nonexistent.pem", err, sizeof(err)));
	ASSERT_INT_EQ(setcert_write_pem(path, NULL, 0, err, sizeof(err)), -1);
	free(path);
	ERR_clear_error();
	hier_free(&h);
}

/* A signed request carrying one extension, built with OpenSSL directly. */
static X509_REQ *
csr_with(EVP_PKEY *key, X509_EXTENSION *ext)
{
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_REQ *req;
	char err[256];

	req = setcert_csr_new(key, "Mallory", err, sizeof(err));
	ASSERT_PTR_NOT_NULL(req);
	ASSERT_PTR_NOT_NULL(ext);
	sk_X509_EXTENSION_push(exts, ext);
	ASSERT_TRUE(X509_REQ_add_extensions(req, exts));
	ASSERT_TRUE(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return req;
}

static X509_EXTENSION *
conf_ext(int nid, const char *value)
{
	return X509V3_EXT_nconf_nid(NULL, NULL, nid, value);
}

static X509_EXTENSION *
certtype_ext(unsigned bits)
{
	ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	unsigned char *der = NULL;
	X509_EXTENSION *ext;
	int i, len;

	for (i = 0; i < 10; i++)
		if (bits & (1u << i))
			ASN1_BIT_STRING_set_bit(bs, i, 1);
	len = i2d_ASN1_BIT_STRING(bs, &der);
	ASN1_OCTET_STRING_set(os, der, len);
	ext = X509_EXTENSION_create_by_NID(NULL, NID_setCext_certType, 0, os);
	OPENSSL_free(der);
	ASN1_OCTET_STRING_free(os);
	ASN1_BIT_STRING_free(bs);
	return ext;
}

static void
expect_csr_refused(X509_REQ *req, const char *needle)
{
	char err[256];

	err[0] = '\0';
	if (setcert_csr_check(req, err, sizeof(err)) != -1)
		unit_fail(__FILE__, __LINE__, "request accepted, wanted \"%s\"",
		    needle);
	ASSERT_STR_CONTAINS(err, needle);
	X509_REQ_free(req);
}

static void
test_csr(void)
{
	EVP_PKEY *key = setcert_keygen(), *rsa, *p384;
	unsigned char *der, *hit;
	X509_REQ *req, *back;
	char err[256];
	size_t len, i;

	/* A good request, also through DER. */
	req = setcert_csr_new(key, "tamper-me-please", err, sizeof(err));
	ASSERT_PTR_NOT_NULL(req);
	ASSERT_INT_EQ(setcert_csr_check(req, err, sizeof(err)), 0);
	der = setcert_csr_der(req, &len);
	back = setcert_csr_from_der(der, len);
	ASSERT_PTR_NOT_NULL(back);
	ASSERT_INT_EQ(setcert_csr_check(back, err, sizeof(err)), 0);
	X509_REQ_free(back);
	ASSERT_PTR_NULL(setcert_csr_from_der(der, len - 1));

	/* One byte of the signed name changed: no proof of possession. */
	hit = NULL;
	for (i = 0; i + 6 <= len; i++)
		if (memcmp(der + i, "tamper", 6) == 0)
			hit = der + i;
	ASSERT_PTR_NOT_NULL(hit);
	hit[0] = 'T';
	back = setcert_csr_from_der(der, len);
	ASSERT_PTR_NOT_NULL(back);
	expect_csr_refused(back, "signature");
	free(der);
	X509_REQ_free(req);

	/* A harmless non-critical request (subjectAltName) is fine. */
	req = csr_with(key, conf_ext(NID_subject_alt_name, "DNS:shop.test"));
	ASSERT_INT_EQ(setcert_csr_check(req, err, sizeof(err)), 0);
	X509_REQ_free(req);

	expect_csr_refused(
	    csr_with(key, conf_ext(NID_basic_constraints, "CA:TRUE")),
	    "CA:TRUE");
	expect_csr_refused(
	    csr_with(
	        key, conf_ext(NID_subject_alt_name, "critical,DNS:shop.test")),
	    "critical");
	expect_csr_refused(
	    csr_with(key, conf_ext(NID_basic_constraints, "critical,CA:FALSE")),
	    "critical");
	expect_csr_refused(
	    csr_with(key, conf_ext(NID_key_usage, "digitalSignature")),
	    "keyUsage");
	expect_csr_refused(
	    csr_with(key, certtype_ext(SETCERT_MCA)), "certificateType");

	/* Keys that are not P-256. */
	rsa = EVP_RSA_gen(2048);
	ASSERT_PTR_NOT_NULL(rsa);
	req = setcert_csr_new(rsa, "rsa", err, sizeof(err));
	ASSERT_PTR_NOT_NULL(req);
	expect_csr_refused(req, "not EC P-256");
	p384 = EVP_EC_gen("P-384");
	req = setcert_csr_new(p384, "p384", err, sizeof(err));
	ASSERT_PTR_NOT_NULL(req);
	expect_csr_refused(req, "not EC P-256");
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(key);
}

static void
test_der_garbage(void)
{
	struct hier h;
	unsigned char *der, *buf, rnd[600];
	size_t len, i;
	X509 *c;
	char *s;

	hier_make(&h, "Visa");
	der = setcert_der(h.cert[H_TLS], &len);
	c = setcert_from_der(der, len);
	ASSERT_PTR_NOT_NULL(c);
	ASSERT_INT_EQ(X509_cmp(c, h.cert[H_TLS]), 0);
	X509_free(c);

	/* Every truncation, and a trailing byte. */
	for (i = 0; i < len; i++)
		if ((c = setcert_from_der(der, i)) != NULL)
			unit_fail(__FILE__, __LINE__,
			    "accepted a truncation to %zu of %zu bytes", i,
			    len);
	buf = xmalloc(len + 1);
	memcpy(buf, der, len);
	buf[len] = 0;
	ASSERT_PTR_NULL(setcert_from_der(buf, len + 1));
	ASSERT_PTR_NULL(setcert_from_der(NULL, 10));

	/* Every byte flipped: never a crash; what parses stays readable. */
	for (i = 0; i < len; i++) {
		memcpy(buf, der, len);
		buf[i] ^= 0x5a;
		if ((c = setcert_from_der(buf, len)) == NULL)
			continue;
		(void)setcert_types(c);
		(void)setcert_usage_of(c);
		free(setcert_subject(c));
		free(setcert_serial_hex(c));
		free(setcert_thumbprint(c));
		X509_free(c);
	}
	/* Random bytes, some starting like a certificate. */
	for (i = 0; i < 200; i++) {
		ASSERT_TRUE(RAND_bytes(rnd, sizeof(rnd)));
		if (i % 2) {
			rnd[0] = 0x30;
			rnd[1] = 0x82;
		}
		if ((c = setcert_from_der(rnd, sizeof(rnd))) != NULL) {
			s = setcert_subject(c);
			free(s);
			X509_free(c);
		}
	}
	free(buf);
	free(der);
	ERR_clear_error();
	hier_free(&h);
}

static void
test_crl(void)
{
	struct hier h;
	struct setcert_revoked rev[3];
	char err[256], *sn[3], *path;
	X509_CRL *crl, *back;
	STACK_OF(X509_REVOKED) *entries;
	ASN1_INTEGER *num;
	AUTHORITY_KEYID *akid;
	ASN1_ENUMERATED *reason;
	X509_REVOKED *r;
	unsigned char *der;
	size_t len;
	time_t now = time(NULL);
	int i, crit;

	hier_make(&h, "Visa");
	sn[0] = setcert_serial_hex(h.cert[H_MER_SIG]);
	sn[1] = setcert_serial_hex(h.cert[H_MER_KEX]);
	sn[2] = xstrdup("0A0b");
	for (i = 0; i < 3; i++) {
		rev[i].serial_hex = sn[i];
		rev[i].when = now - 100;
	}
	rev[0].reason = CRL_REASON_KEY_COMPROMISE;
	rev[1].reason = CRL_REASON_SUPERSEDED;
	rev[2].reason = CRL_REASON_UNSPECIFIED;
	crl = setcert_crl(h.cert[H_MCA], h.key[H_MCA], rev, 3, 42, now,
	    now + DAY, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(crl);
	ASSERT_INT_EQ(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	ASSERT_INT_EQ(X509_CRL_verify(crl, X509_get0_pubkey(h.cert[H_MCA])), 1);
	ASSERT_INT_EQ(X509_CRL_verify(crl, X509_get0_pubkey(h.cert[H_CCA])), 0);
	ERR_clear_error();
	ASSERT_INT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl),
	                  X509_get_subject_name(h.cert[H_MCA])),
	    0);
	ASSERT_INT_EQ(
	    ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(crl), now), 0);
	ASSERT_INT_EQ(
	    ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(crl), now + DAY), 0);
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	ASSERT_PTR_NOT_NULL(num);
	ASSERT_INT_EQ(ASN1_INTEGER_get(num), 42);
	ASN1_INTEGER_free(num);
	akid = X509_CRL_get_ext_d2i(
	    crl, NID_authority_key_identifier, &crit, NULL);
	ASSERT_PTR_NOT_NULL(akid);
	ASSERT_INT_EQ(ASN1_OCTET_STRING_cmp(
	                  akid->keyid, X509_get0_subject_key_id(h.cert[H_MCA])),
	    0);
	AUTHORITY_KEYID_free(akid);

	/* Every listed certificate is found, with its reason. */
	ASSERT_INT_EQ(X509_CRL_get0_by_cert(crl, &r, h.cert[H_MER_SIG]), 1);
	reason = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
	ASSERT_PTR_NOT_NULL(reason);
	ASSERT_INT_EQ(ASN1_ENUMERATED_get(reason), CRL_REASON_KEY_COMPROMISE);
	ASN1_ENUMERATED_free(reason);
	ASSERT_INT_EQ(X509_CRL_get0_by_cert(crl, &r, h.cert[H_MER_KEX]), 1);
	reason = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
	ASSERT_INT_EQ(ASN1_ENUMERATED_get(reason), CRL_REASON_SUPERSEDED);
	ASN1_ENUMERATED_free(reason);
	ASSERT_INT_EQ(X509_CRL_get0_by_cert(crl, &r, h.cert[H_CARD]), 0);
	entries = X509_CRL_get_REVOKED(crl);
	ASSERT_INT_EQ(sk_X509_REVOKED_num(entries), 3);

	/* PEM and DER files; the openssl command reads them. */
	path = tmpfile_path("mca.crl");
	ASSERT_INT_EQ(setcert_write_crl(path, crl, err, sizeof(err)), 0);
	back = setcert_read_crl(path, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(back);
	ASSERT_INT_EQ(X509_CRL_match(back, crl), 0);
	X509_CRL_free(back);
	ASSERT_STR_CONTAINS(run_line("openssl crl -in %s -noout -text | grep "
	                             "-A1 'CRL Number'| tail -1",
	                        "mca.crl"),
	    "42");
	ASSERT_STR_CONTAINS(run_line("openssl crl -in %s -noout -text | grep "
	                             "-c 'Key Compromise'",
	                        "mca.crl"),
	    "1");
	free(path);
	der = setcert_crl_der(crl, &len);
	path = tmpfile_path("mca.der");
	{
		FILE *f = fopen(path, "wb");

		fwrite(der, 1, len, f);
		fclose(f);
	}
	back = setcert_read_crl(path, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(back);
	ASSERT_INT_EQ(X509_CRL_match(back, crl), 0);
	X509_CRL_free(back);
	ASSERT_PTR_NULL(setcert_crl_from_der(der, len - 1));
	free(path);
	free(der);

	/* Refusals. */
	ASSERT_PTR_NULL(setcert_crl(h.cert[H_MCA], h.key[H_CCA], NULL, 0, 1,
	    now, now + DAY, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "does not match");
	rev[0].serial_hex = "-12";
	ASSERT_PTR_NULL(setcert_crl(h.cert[H_MCA], h.key[H_MCA], rev, 1, 1, now,
	    now + DAY, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "serial");
	rev[0].serial_hex = "12zz";
	ASSERT_PTR_NULL(setcert_crl(h.cert[H_MCA], h.key[H_MCA], rev, 1, 1, now,
	    now + DAY, err, sizeof(err)));
	rev[0].serial_hex = sn[0];
	rev[0].reason = 7;
	ASSERT_PTR_NULL(setcert_crl(h.cert[H_MCA], h.key[H_MCA], rev, 1, 1, now,
	    now + DAY, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "reason");
	ASSERT_PTR_NULL(setcert_crl(h.cert[H_MCA], h.key[H_MCA], NULL, 0, 1,
	    now, now, err, sizeof(err)));
	X509_CRL_free(crl);
	for (i = 0; i < 3; i++)
		free(sn[i]);
	hier_free(&h);
}

static const struct unit_case cases[] = {
	{ "every kind of certificate passes openssl verify, fails revoked",
	    test_openssl_verify },
	{ "certificateType round-trips", test_types_roundtrip },
	{ "keyUsage and extendedKeyUsage as requested", test_usage_roundtrip },
	{ "extensions, serials, key identifiers, names", test_extensions },
	{ "issuing refuses specs that make no sense", test_issue_refusals },
	{ "keys: PKCS#8, mode 0600, never overwritten", test_keys },
	{ "PEM files, thumbprint and serial agree with openssl",
	    test_pem_files },
	{ "CSR check: proof of possession, P-256, no CA/critical/type",
	    test_csr },
	{ "setcert_from_der refuses garbage and truncations",
	    test_der_garbage },
	{ "CRLs: v2, number, AKI, reasons; openssl reads them", test_crl },
};

int
main(void)
{
	return unit_main("setcert", cases, UNIT_N(cases));
}
