/*
 * The card a test driver pays with (gw-drive, mer-drive). Registering a card
 * is a whole exchange with the CA and the issuer, so a test registers one
 * once and keeps it in a folder between runs; the tests also read its files
 * (card.pem) to revoke it. Test tooling only: the folder holds the card's key
 * and PANSecret in the clear (mode 0600), which no real party would do.
 */
#ifndef TESTCARD_H
#define TESTCARD_H

#include <stddef.h>

#include "register.h"

/*
 * Loads the card kept in dir (card.pem, card.key, card-chain.pem,
 * pan-secret) when there is one; otherwise registers it with register_card
 * (rp->host must be set) and, when dir != NULL, keeps it there. Fills card
 * (cert, key, chain, pan_secret; the caller's: register_result_clear).
 * 0, or -1 with a reason in err.
 */
int testcard_get(const struct register_params *rp, const char *dir,
    struct register_result *card, char *err, size_t errlen);

#endif
