#!/bin/bash
# The README's demo command must keep working: run it from nothing and check
# what a person watching it would see.
. "$SET_TOP/tests/lib.sh"

"$SET_TOP/tests/demo.sh" "$SET_BUILD" "$T/demo" >"$T/demo.log" 2>&1
same "the demo runs to the end (exit 0)" "$?" 0
contains "merchant and gateway enroll" "$T/demo.log" "issued: certificates written to .*/gateway"
contains "a pending request is approved and collected" "$T/demo.log" "issued: certificates written to .*/corner"
contains "a mistyped CVV is refused with the bank's reason" "$T/demo.log" "refused to register card .*wrong-cvv"
contains "the card registers" "$T/demo.log" "registered Visa card 424242\*\*\*\*\*\*[0-9]{4}"
contains "a purchase is authorized" "$T/demo.log" "authorized: 279.97 EUR paid to demo-shop"
contains "a purchase beyond the limit is declined, not an error" "$T/demo.log" \
	"declined by the bank that issued alice-visa: insufficient funds"
contains "the bank holds exactly the approved amount" "$T/demo.log" "held 27997 \(279.97 EUR\)"
contains "openssl refuses the revoked certificate" "$T/demo.log" "certificate revoked"
same "all four daemons stop with status 0" "$(grep -c "exited with status 0" "$T/demo.log")" 4
refuse "the demo found no card number where it must not be" grep -q "^   !!" "$T/demo.log"
