/*
 * The cardholder's purchase client (SET Book 3): how a wallet buys from a
 * merchant. The wallet's `catalog`, `buy` and `order` commands are built on
 * it (cardholder/purchase.c: the options, the questions, the transaction
 * log); tests/tools/mer-drive plays the wallet with it, plus its attacks.
 *
 *	GET /catalog		the merchant's items and prices
 *	POST /orders		the basket priced by the merchant: the order
 *				description (OD) the HOD will cover; checked to
 *				add up before anyone is asked to pay it
 *	PInitReq -> PInitRes	signed by a merchant signature certificate
 *				(MER, SIGN) of the brand; our challenge, LID-C,
 *				the order and the brand echoed; the gateway's
 *				key-exchange certificate (PGWY, KEYEX) and its
 *				signature certificate, of one gateway of the
 *				brand; all with chain, validity and current
 *				CRLs (the brand's from the CA by crlfetch, and
 *				those the PInitRes carries)
 *	PReq -> PRes		OI and PI (payment_hod, payment_preq_new with
 *				the cardholder's certificate, key and
 *				PANSecret), the PI sealed to the gateway; the
 *				PRes signed by the same merchant, echoing the
 *				XID and our challenge
 *	InqReq -> InqRes	the state of a purchase, checked as a PRes
 *
 * A session goes step by step, so that a wallet can show the order and ask
 * before paying:
 *	purchase_session_new()	reads the trust anchor, prepares TLS; nothing
 *				is sent
 *	purchase_catalog()	optional
 *	purchase_order()	places the order: purchase_order_get() shows it
 *	purchase_init()		PInitReq for the order (or one given by id)
 *	purchase_pay()		PReq, PRes: the outcome
 *	purchase_session_free()
 * purchase_inquire() needs only purchase_session_new(). A driver may split
 * purchase_pay() into purchase_preq_body() and purchase_send(), alter the
 * body in between, and purchase_resend() the very same bytes.
 *
 * Errors: -1 with a sentence in the err buffer given to
 * purchase_session_new (which must outlive the session), and a short code
 * (purchase_error_code): "transport" (the merchant or the CA could not be
 * reached), "bad-reply" (an answer that cannot be trusted or used),
 * "local" (our own files or data), or the merchant's own Error code
 * ("already-paid", "duplicate-purchase", ...). Nothing here prints, and no
 * message of this module holds a card number.
 */
#ifndef PURCHASE_H
#define PURCHASE_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pan.h"

/* Strings are borrowed, only for the duration of purchase_session_new. */
struct purchase_params {
	const char *host; /* the merchant */
	int port;
	const char *root_file; /* trust anchor: a file, */
	X509 *root; /* or a certificate (borrowed) when root_file is NULL */
	const char *ca_host; /* the brand's CA, for its CRLs (purchase_init, */
	int ca_port; /* purchase_inquire); may be NULL for the catalog */
	const char *brand; /* the card's brand (NULL for the catalog only) */
	int timeout; /* seconds per exchange */
	/*
	 * Optional: a folder (made 0700) where order, xid, each answer
	 * (NAME.wire, NAME.body, NAME.sig.der for pinitres, pres, inqres),
	 * preq.wire, and the dual signature (preq.dualsig.der) with the PI-TBS
	 * bytes it covers (preq.tbs) are written, for `openssl cms -verify`.
	 */
	const char *save_dir;
};

/* The basket for POST /orders. Borrowed. */
struct purchase_item {
	const char *sku;
	long qty;
};

struct purchase_basket {
	const struct purchase_item *items;
	size_t nitems; /* 1-100 */
	const char *name, *address; /* delivery */
	const char *method; /* "standard" or "express" */
	const char *username, *password; /* a customer account, or NULL */
};

/* The card that pays. Borrowed; pan, pan_secret and cvv are secrets. */
struct purchase_card {
	X509 *cert; /* the cardholder's signature certificate */
	EVP_PKEY *key;
	STACK_OF(X509) *chain; /* its CAs; may be NULL */
	const char *pan, *expiry; /* YYYY-MM */
	const char *cvv; /* or NULL: never stored by a wallet */
	unsigned char pan_secret[PAN_SECRET_LEN];
};

/* What a PRes or an InqRes says, once checked. */
struct purchase_result {
	char xid[41];
	char merchant[65]; /* the merchant that signed it */
	char status[32]; /* "authorized", "declined", "unresolved", ... */
	char auth_code[64]; /* authorized: the issuer's code */
	char reason[256]; /* declined, unresolved: why (as the merchant said) */
};

struct purchase_session;

/* NULL on failure (err says why). */
struct purchase_session *purchase_session_new(
    const struct purchase_params *, char *err, size_t errlen);
void purchase_session_free(struct purchase_session *);

/* The short code of the last failure (see above); "" when none. */
const char *purchase_error_code(const struct purchase_session *);

/*
 * GET /catalog: {"merchant","name","currency","items":[{"sku","name",
 * "price","stock"}],...}, at least one item with those fields. A new
 * reference (json_decref it), or NULL.
 */
json_t *purchase_catalog(struct purchase_session *);

/*
 * POST /orders. The answer is checked: an order id, an OD, the currency,
 * and prices that add up (qty x unit_price = line_total, the lines and the
 * delivery make the amount). 0 or -1.
 */
int purchase_order(struct purchase_session *, const struct purchase_basket *);

/*
 * The order placed: {"order_id","od","items":[{"sku","name","qty",
 * "unit_price","line_total"}],"delivery":{"name","address","method",
 * "price"},"amount","currency","brand"}, checked as above. Borrowed from the
 * session; NULL before purchase_order.
 */
const json_t *purchase_order_get(const struct purchase_session *);

/*
 * PInitReq for order_id (NULL: the order placed by purchase_order), and
 * every check of the PInitRes; fetches the brand's CRLs from the CA first.
 * 0 or -1.
 */
int purchase_init(struct purchase_session *, const char *order_id);

/* After purchase_init: the XID, and the merchant's id. */
const char *purchase_xid(const struct purchase_session *);
const char *purchase_merchant(const struct purchase_session *);

/*
 * PReq for the order placed and initiated, then every check of the PRes.
 * 0 with *res filled (whatever the status: declined is an answer, not an
 * error), or -1.
 */
int purchase_pay(struct purchase_session *, const struct purchase_card *,
    struct purchase_result *res);

/* Variants of a PReq, for test drivers only (0 for a wallet). */
enum {
	PURCHASE_WRONG_CHALL = 1, /* an OI with another merchant challenge */
	PURCHASE_WRONG_AMOUNT = 2 /* a HOD (and PI) for 1.00 more */
};

/*
 * The PReq body purchase_pay sends (a new object: json_decref it), or NULL.
 * Each call makes a new PReq (new salt, nonce) for the same XID.
 */
json_t *purchase_preq_body(
    struct purchase_session *, const struct purchase_card *, unsigned variant);

/* Sends a PReq body as a new message and checks the PRes: as purchase_pay. */
int purchase_send(
    struct purchase_session *, json_t *body, struct purchase_result *res);

/*
 * Sends the last message of purchase_send again, byte for byte; saved as
 * pres2. As purchase_pay.
 */
int purchase_resend(struct purchase_session *, struct purchase_result *res);

/* The bytes of the last answer received (the session's), *len of them. */
const unsigned char *purchase_reply(
    const struct purchase_session *, size_t *len);

/*
 * InqReq for xid; the InqRes checked: signed by a merchant of the brand
 * (merchant, when not NULL, that merchant), echoing the XID and our
 * challenge. 0 with *res filled, or -1.
 */
int purchase_inquire(struct purchase_session *, const char *xid,
    const char *merchant, struct purchase_result *res);

#endif
