/*
 * Keeping a party's certificate checker current from the CA. A merchant must
 * check cardholder certificates, a gateway merchant and cardholder ones: both
 * need the brand's CA certificates and each CA's current CRL, which their own
 * enrollment did not give them. crlfetch_refresh() fetches them over TLS:
 *
 *	GET /certs/BRAND	the brand CA and its issuing CAs
 *	GET /bci/BRAND		the brand's signed list of current CRLs (BCI)
 *	GET /crl/NAME		each CRL the BCI names
 *
 * and installs them only once checked: the CA certificates must chain to the
 * party's trust anchor with their SET CA roles; the BCI must be signed by that
 * brand CA; each CRL's SHA-256 must be the one the BCI names (so a stale CRL
 * is noticed) and its signature must verify. Run it at start and on a timer;
 * it never removes what is installed, and a CRL older than the one installed
 * is refused by the pki.
 */
#ifndef CRLFETCH_H
#define CRLFETCH_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "pki.h"

/*
 * root is the party's trust anchor (also a trusted root of pki); ssl a
 * client context whose verify function accepts the CA's TLS certificate
 * (for example pki_verify with SETCERT_TLS_SERVER). Returns the number of
 * CRLs now current (>= 1), or -1 with a reason; on -1 the pki may have
 * gained verified CA certificates, but never an unverified CRL.
 */
int crlfetch_refresh(struct pki *pki, X509 *root, SSL_CTX *ssl,
    const char *host, int port, const char *brand, int timeout, char *err,
    size_t errlen);

#endif
