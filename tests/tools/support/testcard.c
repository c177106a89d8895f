/* A registered card for the test drivers, kept in a folder: testcard.h. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "errbuf.h"
#include "hex.h"
#include "setcert.h"
#include "testcard.h"
#include "xmalloc.h"

/* 1 loaded, 0 no card kept in dir, -1 a broken one. */
static int
load(const char *dir, struct register_result *c, char *err, size_t errlen)
{
	char *p, buf[2 * PAN_SECRET_LEN + 2];
	FILE *f = NULL;
	int rc = -1;

	p = xasprintf("%s/card.pem", dir);
	if (access(p, F_OK) != 0) {
		free(p);
		return 0;
	}
	if ((c->cert = setcert_read_cert(p, err, errlen)) == NULL)
		goto done;
	free(p);
	p = xasprintf("%s/card.key", dir);
	if ((c->key = setcert_read_key(p, err, errlen)) == NULL)
		goto done;
	free(p);
	p = xasprintf("%s/card-chain.pem", dir);
	if ((c->chain = setcert_read_certs(p, err, errlen)) == NULL)
		goto done;
	free(p);
	p = xasprintf("%s/pan-secret", dir);
	if ((f = fopen(p, "r")) == NULL || fgets(buf, sizeof(buf), f) == NULL ||
	    hex_decode(buf, c->pan_secret, PAN_SECRET_LEN) == -1) {
		errbuf_set(err, errlen, "%s: cannot read", p);
		goto done;
	}
	rc = 1;
done:
	if (f != NULL)
		fclose(f);
	free(p);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc == -1)
		register_result_clear(c);
	return rc;
}

static int
save(const char *dir, struct register_result *c, char *err, size_t errlen)
{
	char *p, *hex = NULL;
	X509 **certs;
	size_t n, i;
	int fd, rc = -1;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		errbuf_set(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	n = (size_t)sk_X509_num(c->chain);
	certs = xcalloc(n + 1, sizeof(*certs));
	for (i = 0; i < n; i++)
		certs[i] = sk_X509_value(c->chain, (int)i);
	p = xasprintf("%s/card.key", dir);
	if (setcert_write_key(p, c->key, err, errlen) == -1)
		goto done;
	free(p);
	p = xasprintf("%s/card.pem", dir);
	if (setcert_write_pem(p, &c->cert, 1, err, errlen) == -1)
		goto done;
	free(p);
	p = xasprintf("%s/card-chain.pem", dir);
	if (setcert_write_pem(p, certs, n, err, errlen) == -1)
		goto done;
	free(p);
	p = xasprintf("%s/pan-secret", dir);
	hex = hex_encode(c->pan_secret, PAN_SECRET_LEN);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1 ||
	    write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) ||
	    close(fd) == -1) {
		errbuf_set(err, errlen, "%s: cannot write", p);
		goto done;
	}
	rc = 0;
done:
	if (hex != NULL)
		freezero_buf(hex, strlen(hex));
	free(p);
	free(certs);
	return rc;
}

int
testcard_get(const struct register_params *rp, const char *dir,
    struct register_result *card, char *err, size_t errlen)
{
	int rc;

	memset(card, 0, sizeof(*card));
	if (dir != NULL && (rc = load(dir, card, err, errlen)) != 0)
		return rc == 1 ? 0 : -1;
	if (rp->host == NULL) {
		errbuf_set(
		    err, errlen, "--ca is required to register the card");
		return -1;
	}
	rc = register_card(rp, card, err, errlen);
	if (rc == 2) {
		errbuf_set(err, errlen,
		    "the card registration was rejected: "
		    "%s: %s",
		    card->code, card->reason);
		register_result_clear(card);
		return -1;
	}
	if (rc != 0) {
		register_result_clear(card);
		return -1;
	}
	if (dir != NULL && save(dir, card, err, errlen) == -1) {
		register_result_clear(card);
		return -1;
	}
	return 0;
}
