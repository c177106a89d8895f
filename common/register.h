/*
 * The cardholder registration client: how a payment card gets its SET
 * signature certificate from the brand's Cardholder CA (SET Book 2). The
 * wallet's `register` command is built on it (cardholder/registration.c: the
 * options, the questions, the encrypted storage); test programs and other
 * parties call register_card(). The CA is reached and checked through
 * common/caclient.c, exactly as merchants and gateways check it when they
 * enroll (common/enroll.c).
 *
 *	CardCInitReq -> CardCInitRes	learn and check the brand's Cardholder
 *					CA: its chain to our root, its
 *					key-exchange certificate, the current
 *					CRLs named in the brand's signed BCI
 *	RegFormReq -> RegFormRes	the card number, sealed to the CA (and
 *					unsigned: we hold no key yet); the
 *					answer is the issuing bank's form: what
 *					it wants to know to recognise its
 *					cardholder
 *	CertReq -> CertRes		the filled form, a fresh signature key
 *					(PKCS#10) and CardSecret, signed with
 *					that key and sealed to the CA; the
 *					answer is the certificate and NonceCCA,
 *					or the bank's refusal
 *
 * PAN blinding: PANSecret = CardSecret XOR NonceCCA, and the certificate's
 * subject CN is pan_cert_hash(PANSecret, PAN, expiry), never the card
 * number. Everything the CA sends is checked before anything is handed to
 * the caller: the signer of every answer (the brand's Cardholder CA), the CA
 * material, and the issued certificate (chain, role, usage and brand, that
 * it carries our key, that its CN is the hash we compute, that its DER holds
 * no card number). Only a certificate issued at once is taken: an answer
 * "pending" is an error.
 *
 * Two ways in. An interactive caller (the wallet) goes step by step:
 *	register_session_new()	reads the trust anchor; nothing is sent
 *	register_start()	CardCInit, RegForm: what the bank's form asks
 *				(the caller then asks the cardholder)
 *	register_finish()	CertReq with the answers, and every check
 *	register_session_free()
 * register_card() is exactly these four calls, for a caller who gives every
 * answer in advance (test programs, drivers).
 *
 * Errors: a sentence in the err buffer (given to register_card or
 * register_session_new), ready to show; this module names the card only
 * masked (the CA's own words are quoted as they came). A session also tells
 * what kind of failure it was (register_failure), so that the caller may
 * explain in its own words an unreachable CA, the CA's Error codes
 * (unknown-card, issuer-unavailable, unknown-brand, ...) and an answer that
 * cannot be trusted.
 */
#ifndef REGISTER_H
#define REGISTER_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "caclient.h"
#include "pan.h"

/* Strings are borrowed, only for the duration of each call. */
struct register_params {
	const char *host; /* the Cardholder CA */
	int port;
	const char *root_file; /* trust anchor */
	const char *brand, *pan, *expiry /* YYYY-MM */, *cvv, *name, *postcode;
	int timeout; /* seconds per exchange */
};

/*
 * What a registration gives. Everything in it is the caller's (the chain is
 * a stack of its own): register_result_clear.
 */
struct register_result {
	X509 *cert; /* the cardholder's signature certificate */
	EVP_PKEY *key; /* its private key */
	STACK_OF(X509) *chain; /* the CA certificates (CCA, BCA) */
	unsigned char pan_secret[PAN_SECRET_LEN];
	char code[64]; /* on a refusal: the issuer's code, e.g. "wrong-cvv" */
	char reason[256]; /* and its reason ("" when none was given) */
};

/*
 * CardCInit + RegForm + CertReq, non-interactive: every field the form asks
 * must be in params (the expiry always: the certificate's hash covers it).
 * Everything is checked as described above. 0 issued (result filled), 2
 * refused by the issuer (code/reason; err says it too), -1 error (err says
 * why). result is filled or zeroed in every case: register_result_clear it.
 */
int register_card(const struct register_params *, struct register_result *,
    char *err, size_t errlen);
/* Frees and wipes. A zeroed result is fine. */
void register_result_clear(struct register_result *);

/* The fields a bank's form may ask for. */
enum {
	REGISTER_FIELD_NAME = 1, /* the cardholder's name, as on the card */
	REGISTER_FIELD_POSTCODE = 2, /* the billing address's postcode */
	REGISTER_FIELD_EXPIRY = 4, /* YYYY-MM; sent whether asked or not */
	REGISTER_FIELD_CVV = 8 /* the 3 or 4 digit security code */
};

/*
 * 1 if value is an acceptable answer to a form's field: a name of 1 to 64
 * and a postcode of 1 to 16 printable characters, an expiry YYYY-MM, a CVV
 * of 3 or 4 digits. register_finish checks every answer with it.
 */
int register_field_ok(unsigned field, const char *value);

/*
 * The bank's form (RegFormRes). The strings are the session's, as the CA
 * wrote them: make them safe before printing them.
 */
struct register_form {
	const char *issuer; /* the bank that issued the card */
	const char *policy; /* what it says of the registration, or NULL */
	unsigned fields; /* REGISTER_FIELD_* it asks for */
};

struct register_session;

/*
 * Reads the trust anchor and prepares the client; nothing is sent. Uses
 * host, port, root_file, brand, pan and timeout of p (copied). Failures
 * (of this and of every call on the session) are written into err, which
 * must outlive the session. NULL on failure.
 */
struct register_session *register_session_new(
    const struct register_params *p, char *err, size_t errlen);
void register_session_free(struct register_session *);

/*
 * CardCInitReq and RegFormReq: checks the CA and its material, then reads
 * the bank's form into *form. 0, or -1 (see register_failure).
 */
int register_start(struct register_session *, struct register_form *form);

/*
 * CertReq with the answers in filled (expiry, and name, postcode, cvv as
 * the form asks; the rest of filled is not read: the CA and the card are the
 * session's), then every check of the issued certificate. Returns as
 * register_card does; on 2 register_request_id names the refused request.
 * After register_start only, once.
 */
int register_finish(struct register_session *,
    const struct register_params *filled, struct register_result *);

/*
 * Why the last call failed: the caclient failure (*code then holds the CA's
 * Error code for CACLIENT_REFUSED, else ""), or CACLIENT_OK when err tells
 * it all (a local failure, or an answer well signed but not what this
 * client can take).
 */
enum caclient_failure register_failure(
    const struct register_session *, const char **code);

/*
 * The CA client, for the material the session has checked: ca_certs,
 * crls, bci (bcilen, bci_number), the trust anchor p.root. Read only; valid
 * until register_session_free.
 */
const struct caclient *register_ca(const struct register_session *);

/* The CA's id of our CertReq, once its CertRes arrived; "" before. */
const char *register_request_id(const struct register_session *);

#endif
