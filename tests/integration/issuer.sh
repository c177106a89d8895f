#!/bin/bash
# The issuer simulator end to end, against two real issuer daemons side by
# side (Visa and MasterCard) over mutual TLS on loopback, with certificates
# from a real CA: accounts and card numbers, card verification for the CA,
# authorizations with holds, reversals, idempotency, test amounts, hostile
# input, client certificates, card data at rest and in logs, the ledger,
# restarts and kill -9.
. "$SET_TOP/tests/lib.sh"

export SET_OPERATOR=bob-the-banker
CA_DIR=$T/ca
V=$T/visa
M=$T/mc

# luhn_ok DIGITS: the Luhn check.
luhn_ok() {
	local s=$1 sum=0 i d n=${#1}
	[[ $s =~ ^[0-9]{13,19}$ ]] || return 1
	for ((i = 0; i < n; i++)); do
		d=${s:n-1-i:1}
		if ((i % 2 == 1)); then
			d=$((d * 2))
			((d > 9)) && d=$((d - 9))
		fi
		sum=$((sum + d))
	done
	((sum % 10 == 0))
}

# issuer_start DIR: the daemon as an operator starts it, logs in
# DIR/issuer.log. Sets ISS_PID and ISS_PORT.
issuer_start() {
	local dir=$1
	rm -f "$dir/issuer.port"
	set-issuer serve -d -f "$dir/issuer.json" >>"$dir/issuer.log" 2>&1 &
	ISS_PID=$!
	TEST_PIDS="$TEST_PIDS $ISS_PID"
	if ! wait_file "$dir/issuer.port"; then
		fail "issuer daemon in $dir starts" "$(tail -n 5 "$dir/issuer.log")"
		return 1
	fi
	ISS_PORT=$(cat "$dir/issuer.port")
}

# issuer_stop PID: TERM, then the exit status.
issuer_stop() {
	kill -TERM "$1" 2>/dev/null
	wait "$1"
	local rc=$?
	TEST_PIDS=$(echo "$TEST_PIDS" | sed "s/ $1//")
	return $rc
}

# call PORT CLIENT METHOD PATH [BODY [curl args]]: an HTTPS request with the
# client certificate in $T/CLIENT; the body lands in $T/resp, the HTTP
# status is printed (000 when there was no answer).
call() {
	local port=$1 who=$2 method=$3 path=$4 body=${5:-}
	shift 5 2>/dev/null || shift $#
	local args=(-sS --max-time 10 --cacert "$CA_DIR/root.pem" -o "$T/resp"
		-w '%{http_code}' -X "$method")
	[ -n "$who" ] && args+=(--cert "$T/$who/tls.pem" --key "$T/$who/tls.key")
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	: >"$T/resp"
	curl "${args[@]}" "$@" "https://127.0.0.1:$port$path" 2>"$T/curl.err"
}
post() { call "$1" set-ca POST "$2" "$3"; }
field() { jq -r ".$1" "$T/resp"; }
rid() { openssl rand -hex 16; }

# auth PORT PAN EXPIRY AMOUNT [CURRENCY [CVV]]: an authorization with a
# fresh request id; prints "STATUS RESULT REASON".
auth() {
	local cur=${5:-EUR} cvv=${6:-}
	local body="{\"request_id\":\"$(rid)\",\"pan\":\"$2\",\"expiry\":\"$3\",\"amount\":$4,\"currency\":\"$cur\",\"merchant_id\":\"shop-1\""
	[ -n "$cvv" ] && body="$body,\"cvv\":\"$cvv\""
	local code
	code=$(post "$1" /v1/authorize "$body}")
	echo "$code $(field result) $(field reason)"
}

# verify PORT PAN EXPIRY CVV NAME POSTCODE: prints "STATUS RESULT REASON".
verify() {
	local code
	code=$(post "$1" /v1/verify-card "{\"request_id\":\"$(rid)\",\"pan\":\"$2\",\"expiry\":\"$3\",\"cvv\":\"$4\",\"name\":\"$5\",\"postcode\":\"$6\"}")
	echo "$code $(field result) $(field reason)"
}

# hup DIR PID: HUP, then wait until the daemon has begun the reload (it
# finishes it before it serves the next connection).
hup() {
	local n
	n=$(grep -c "reloading the CRLs" "$1/issuer.log")
	kill -HUP "$2"
	for _ in $(seq 100); do
		[ "$(grep -c "reloading the CRLs" "$1/issuer.log")" -gt "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

vdb() { sqlite3 "$V/issuer.db" "$1"; }
# shown CARD: `show` into a file (kept when a check fails); prints its path.
shown() {
	set-issuer show -f "$V/issuer.json" "$1" >"$T/shown.out" 2>&1
	echo "$T/shown.out"
}
iss() { set-issuer "$1" -f "$V/issuer.json" "${@:2}"; }

# --- Setting up: a CA, two issuers, their TLS certificates ------------------
ca_init "$CA_DIR" Visa MasterCard
check "a CA with two brands issues the bank services' certificates" test -s "$CA_DIR/root.pem"
check "set-issuer --help describes the commands" bash -c "set-issuer --help | grep -q ledger-check"
check "set-issuer open --help describes one command" bash -c "set-issuer open --help | grep -q -- --postcode"
check "init makes a Visa issuer with the demo cards and the test amounts" \
	set-issuer init -D "$V" --name "First Visa Bank" --brand Visa --bin 424242 \
	--listen 127.0.0.1:0 --demo-cards --magic-amounts
contains "  ... and prints the demo cards" "$T/last.out" "4242424242424242 +2034-12 +Alice Smith"
check "init makes a MasterCard issuer with two BINs in USD" \
	set-issuer init -D "$M" --name "Second MC Bank" --brand MasterCard --bin 555555 \
	--bin 222100 --listen 127.0.0.1:0 --currency USD --client set-ca --client gateway-1
same "the card key is written with mode 0600" "$(stat -c %a "$V/keys/card.key")" 600
refuse "init refuses a folder that already holds an issuer" \
	set-issuer init -D "$V" --name X --brand Visa --bin 424242
refuse "init refuses a BIN that is not digits" \
	set-issuer init -D "$T/bad" --name X --brand Visa --bin 42x242
refuse "init refuses a currency that is not ISO 4217" \
	set-issuer init -D "$T/bad2" --name X --brand Visa --bin 424242 --currency euro

for c in "issuer-visa-1 Visa $V/tls" "issuer-mc-1 MasterCard $M/tls" \
	"set-ca Visa $T/set-ca" "stranger Visa $T/stranger" \
	"gateway-1 MasterCard $T/gateway-1" "set-ca Visa $T/revoked"; do
	set -- $c
	set-ca tls-cert -f "$CA_DIR/ca.json" --id "$1" --brand "$2" --out "$3" >/dev/null 2>&1 ||
		fail "set-ca tls-cert --id $1 --brand $2"
done
# The MasterCard issuer also trusts clients of the Visa brand CA (the CA's
# own certificate is a Visa one): its CA and CRL files name both.
cat "$M/tls/chain.pem" "$T/set-ca/chain.pem" >"$M/tls/clients.pem"
cat "$M/tls/crl.pem" "$T/set-ca/crl.pem" >"$M/tls/crls.pem"
jq '.tls.client_cas = "tls/clients.pem" | .tls.crl = "tls/crls.pem"' \
	"$M/issuer.json" >"$M/issuer.json.new" && mv "$M/issuer.json.new" "$M/issuer.json"
# The Visa issuer keeps its CRLs current from the CA daemon; the MasterCard
# one reads its CRL file.
ca_start "$CA_DIR" || exit 1
jq ".ca = {\"address\": \"127.0.0.1\", \"port\": $CA_PORT, \"brands\": [\"Visa\"]}" \
	"$V/issuer.json" >"$V/issuer.json.new" && mv "$V/issuer.json.new" "$V/issuer.json"
check "serve -n checks the configuration and the TLS files" \
	set-issuer serve -n -f "$V/issuer.json"
cp "$V/issuer.json" "$T/typo.json"
jq '.holdz = 1' "$V/issuer.json" >"$T/typo.json"
refuse "a config with an unknown key is refused" set-issuer serve -n -f "$T/typo.json"
contains "  ... naming the key" "$T/last.out" "holdz: unknown key"

issuer_start "$V" || exit 1
VPID=$ISS_PID
VP=$ISS_PORT
issuer_start "$M" || exit 1
MPID=$ISS_PID
MP=$ISS_PORT
pass "two issuers serve side by side on ephemeral ports ($VP, $MP)"
contains "the Visa issuer fetched the current CRLs from the CA at start" \
	"$V/issuer.log" "CRLs of Visa: [0-9]+ current, from the CA"
same "the Visa issuer answers its health check" "$(call "$VP" set-ca GET /v1/health) $(field brand)" "200 Visa"
same "the MasterCard issuer answers with its own name" \
	"$(call "$MP" set-ca GET /v1/health) $(field issuer)" "200 Second MC Bank"

# --- Accounts and card numbers ---------------------------------------------
iss open --name "Alice Martin" --postcode 75011 --limit 10000 >"$T/open.out" 2>"$T/open.err"
same "open prints a card number, an expiry and a CVV" \
	"$(awk '{print $1}' "$T/open.out" | tr '\n' ' ')" "card expiry cvv "
PAN=$(awk '$1 == "card" {print $2}' "$T/open.out")
EXP=$(awk '$1 == "expiry" {print $2}' "$T/open.out")
CVV=$(awk '$1 == "cvv" {print $2}' "$T/open.out")
check "the new card number is Luhn-valid" luhn_ok "$PAN"
same "  ... 16 digits in the issuer's BIN 424242" "$(echo "$PAN" | grep -Ec '^424242[0-9]{10}$')" 1
same "  ... with an expiry YYYY-MM and a 3-digit CVV" \
	"$(echo "$EXP $CVV" | grep -Ec '^20[0-9]{2}-(0[1-9]|1[0-2]) [0-9]{3}$')" 1
set-issuer open -f "$M/issuer.json" --name "Mona Lee" --postcode 10001 --limit 50000 \
	--bin 222100 >"$T/mopen.out" 2>/dev/null
MPAN=$(awk '$1 == "card" {print $2}' "$T/mopen.out")
MEXP=$(awk '$1 == "expiry" {print $2}' "$T/mopen.out")
MCVV=$(awk '$1 == "cvv" {print $2}' "$T/mopen.out")
same "the MasterCard issuer opens cards in its second BIN" "$(echo "$MPAN" | cut -c1-6)" 222100
check "  ... Luhn-valid too" luhn_ok "$MPAN"
refuse "open refuses a BIN the issuer does not own" \
	iss open --name X --postcode 1 --limit 100 --bin 555555
refuse "open refuses a decimal limit" iss open --name X --postcode 1 --limit 19.99
iss show "$PAN" >"$T/show.out"
contains "show prints the masked number only" "$T/show.out" "^card 424242\*{6}[0-9]{4}$"
refuse "  ... and never the full number" grep -q "$PAN" "$T/show.out"
contains "  ... with the limit and the available credit" "$T/show.out" "^available 10000 "
refuse "show refuses a masked number" iss show "424242******${PAN:12:4}"
contains "  ... saying the full number is needed" "$T/last.out" "full card number"
check "show reads the card number from standard input with -" \
	bash -c "echo '$PAN' | set-issuer show -f '$V/issuer.json' - | grep -q '^holder Alice Martin'"
check "list shows every card, masked" bash -c "set-issuer list -f '$V/issuer.json' | grep -q '424242\*\*\*\*\*\*${PAN:12:4}'"
refuse "  ... and no full card number" bash -c "set-issuer list -f '$V/issuer.json' | grep -Eq '[0-9]{13}'"

# --- Card verification (for the CA) ---------------------------------------------
same "verify-card: the right details are verified" \
	"$(verify "$VP" "$PAN" "$EXP" "$CVV" "Alice Martin" 75011)" "200 verified null"
same "  ... the name in another case with spaces around it still matches" \
	"$(verify "$VP" "$PAN" "$EXP" "$CVV" "  alice MARTIN " " 75011 ")" "200 verified null"
same "verify-card: a wrong CVV is refused as wrong-cvv" \
	"$(verify "$VP" "$PAN" "$EXP" 999 "Alice Martin" 75011)" "200 refused wrong-cvv"
same "verify-card: a wrong expiry is refused as wrong-expiry" \
	"$(verify "$VP" "$PAN" 2031-01 "$CVV" "Alice Martin" 75011)" "200 refused wrong-expiry"
same "verify-card: a wrong postcode is refused as details-mismatch" \
	"$(verify "$VP" "$PAN" "$EXP" "$CVV" "Alice Martin" 75012)" "200 refused details-mismatch"
same "verify-card: an unknown card is refused as unknown-card" \
	"$(verify "$VP" 4242424242424259 2034-12 123 "Alice Martin" 75011)" "200 refused unknown-card"
same "verify-card: a Visa card is unknown at the MasterCard issuer" \
	"$(verify "$MP" "$PAN" "$EXP" "$CVV" "Alice Martin" 75011)" "200 refused unknown-card"
check "the operator blocks the card" iss block "$PAN"
same "verify-card: a blocked card is refused as card-blocked" \
	"$(verify "$VP" "$PAN" "$EXP" "$CVV" "Alice Martin" 75011)" "200 refused card-blocked"
check "the operator unblocks it" iss unblock "$PAN"
same "  ... and it verifies again" "$(verify "$VP" "$PAN" "$EXP" "$CVV" "Alice Martin" 75011)" \
	"200 verified null"
same "verify-card: the demo lost card is refused as card-lost" \
	"$(verify "$VP" 4242420000000034 2034-12 123 "Dave Brown" 13001)" "200 refused card-lost"
same "verify-card: the demo stolen card is refused as card-stolen" \
	"$(verify "$VP" 4242420000000042 2034-12 123 "Erin White" 31000)" "200 refused card-stolen"
same "verify-card: the demo expired card is refused as card-expired" \
	"$(verify "$VP" 4242420000000059 2021-01 123 "Frank Green" 33000)" "200 refused card-expired"
same "verify-card: the MasterCard issuer verifies its own card" \
	"$(verify "$MP" "$MPAN" "$MEXP" "$MCVV" "MONA LEE" 10001) $(field issuer)" \
	"200 verified null Second MC Bank"

# --- Authorizations, holds and reversals --------------------------------------
R1=$(rid)
A1="{\"request_id\":\"$R1\",\"pan\":\"$PAN\",\"expiry\":\"$EXP\",\"cvv\":\"$CVV\",\"amount\":6000,\"currency\":\"EUR\",\"merchant_id\":\"shop-1\"}"
same "authorize within the limit is approved" "$(post "$VP" /v1/authorize "$A1") $(field result)" "200 approved"
cp "$T/resp" "$T/a1.json"
same "  ... with a 6-character authorization code" "$(field auth_code | grep -Ec '^[A-Z0-9]{6}$')" 1
HOLD1=$(field hold_id)
same "  ... a hold id, the amount and currency, and when the hold expires" \
	"$(jq -r '[.hold_id != null, .amount, .currency, .expires_at > now] | @tsv' "$T/a1.json")" \
	"$(printf 'true\t6000\tEUR\ttrue')"
contains "the hold reduces the available credit" "$(shown "$PAN")" "^available 4000 "
same "a second authorization over the remaining credit is declined insufficient-funds" \
	"$(auth "$VP" "$PAN" "$EXP" 5000)" "200 declined insufficient-funds"
same "the same request_id and bytes again get the identical answer" "$(post "$VP" /v1/authorize "$A1")" 200
check "  ... byte for byte" cmp "$T/resp" "$T/a1.json"
same "  ... and only one hold exists for it" "$(vdb "select count(*) from holds where request_id = '$R1'")" 1
same "the same request_id with different bytes is refused with 409" \
	"$(post "$VP" /v1/authorize "${A1/6000/6001}") $(field error)" "409 request-id-conflict"
contains "  ... and changed nothing" "$(shown "$PAN")" "^available 4000 "
same "a partial reversal releases part of the hold" \
	"$(post "$VP" /v1/reverse "{\"request_id\":\"$(rid)\",\"hold_id\":\"$HOLD1\",\"amount\":1000}") $(field remaining)" \
	"200 5000"
contains "  ... and the credit comes back" "$(shown "$PAN")" "^available 5000 "
same "reversing more than the hold still holds is refused" \
	"$(post "$VP" /v1/reverse "{\"request_id\":\"$(rid)\",\"hold_id\":\"$HOLD1\",\"amount\":5001}") $(field error)" \
	"422 exceeds-hold"
same "a full reversal releases the rest" \
	"$(post "$VP" /v1/reverse "{\"request_id\":\"$(rid)\",\"hold_id\":\"$HOLD1\"}") $(field result) $(field remaining)" \
	"200 reversed 0"
contains "  ... and the whole limit is available again" "$(shown "$PAN")" "^available 10000 "
same "reversing an unknown hold is 404" \
	"$(post "$VP" /v1/reverse "{\"request_id\":\"$(rid)\",\"hold_id\":\"00112233445566778899aabbccddeeff\"}") $(field error)" \
	"404 not-found"
same "authorize: a wrong CVV is declined wrong-cvv" "$(auth "$VP" "$PAN" "$EXP" 100 EUR 999)" "200 declined wrong-cvv"
same "authorize: a wrong expiry is declined wrong-expiry" "$(auth "$VP" "$PAN" 2031-01 100)" "200 declined wrong-expiry"
same "authorize: the demo blocked card is declined blocked" \
	"$(auth "$VP" 4242420000000026 2034-12 100)" "200 declined blocked"
same "authorize: the demo lost card is declined lost-or-stolen" \
	"$(auth "$VP" 4242420000000034 2034-12 100)" "200 declined lost-or-stolen"
same "authorize: the demo stolen card is declined lost-or-stolen" \
	"$(auth "$VP" 4242420000000042 2034-12 100)" "200 declined lost-or-stolen"
same "authorize: the demo expired card is declined expired-card" \
	"$(auth "$VP" 4242420000000059 2021-01 100)" "200 declined expired-card"
same "authorize: an unknown card is declined unknown-card" \
	"$(auth "$VP" 4000000000000002 2034-12 100)" "200 declined unknown-card"
same "authorize: over the per-transaction limit is declined over-limit" \
	"$(auth "$VP" 4242420000000067 2034-12 5001)" "200 declined over-limit"
same "authorize: the demo tiny-limit card is declined insufficient-funds" \
	"$(auth "$VP" 4242420000000018 2034-12 1001)" "200 declined insufficient-funds"
same "authorize: another currency than the account's is declined currency-mismatch" \
	"$(auth "$VP" "$PAN" "$EXP" 100 USD)" "200 declined currency-mismatch"
same "the demo card 4242424242424242 approves" "$(auth "$VP" 4242424242424242 2034-12 1999 EUR 123)" \
	"200 approved null"
set-issuer open -f "$V/issuer.json" --name "Closing Soon" --postcode 1000 --limit 5000 >"$T/c.out" 2>/dev/null
CPAN=$(awk '$1 == "card" {print $2}' "$T/c.out")
CEXP=$(awk '$1 == "expiry" {print $2}' "$T/c.out")
CCVV=$(awk '$1 == "cvv" {print $2}' "$T/c.out")
check "the operator closes an account" iss close "$CPAN"
same "authorize: a closed account is declined closed" "$(auth "$VP" "$CPAN" "$CEXP" 100)" "200 declined closed"
same "verify-card: a closed account is refused card-closed" \
	"$(verify "$VP" "$CPAN" "$CEXP" "$CCVV" "Closing Soon" 1000)" "200 refused card-closed"
refuse "a lost card cannot be unblocked" iss unblock 4242420000000034
refuse "a closed card cannot be reopened" iss unblock "$CPAN"

# --- Test amounts -----------------------------------------------------------------
same "test amount 5101 is declined insufficient-funds on a good card" \
	"$(auth "$VP" 4242424242424242 2034-12 5101)" "200 declined insufficient-funds"
same "test amount 5102 is declined lost-or-stolen" \
	"$(auth "$VP" 4242424242424242 2034-12 5102)" "200 declined lost-or-stolen"
same "the MasterCard issuer has no test section: 5101 is an ordinary amount" \
	"$(auth "$MP" "$MPAN" "$MEXP" 5101 USD)" "200 approved null"
SLOWID=$(rid)
curl -sS --max-time 15 --cacert "$CA_DIR/root.pem" --cert "$T/set-ca/tls.pem" \
	--key "$T/set-ca/tls.key" -o "$T/slow.json" -w '%{http_code}' \
	--data-binary "{\"request_id\":\"$SLOWID\",\"pan\":\"4242424242424242\",\"expiry\":\"2034-12\",\"amount\":5201,\"currency\":\"EUR\",\"merchant_id\":\"shop-1\"}" \
	"https://127.0.0.1:$VP/v1/authorize" >"$T/slow.code" 2>&1 &
SLOW=$!
for _ in $(seq 100); do
	grep -q "test amount 5201: answering" "$V/issuer.log" && break
	sleep 0.1
done
same "while the slow answer (5201) is pending, the daemon answers others" \
	"$(call "$VP" set-ca GET /v1/health)" 200
same "  ... and the slow answer has not come yet" "$(cat "$T/slow.code")" ""
wait $SLOW
same "the slow answer arrives late, but arrives" \
	"$(cat "$T/slow.code") $(jq -r .result "$T/slow.json")" "200 approved"
NOID=$(rid)
curl -sS --max-time 2 --cacert "$CA_DIR/root.pem" --cert "$T/set-ca/tls.pem" \
	--key "$T/set-ca/tls.key" -o /dev/null \
	--data-binary "{\"request_id\":\"$NOID\",\"pan\":\"4242424242424242\",\"expiry\":\"2034-12\",\"amount\":5301,\"currency\":\"EUR\",\"merchant_id\":\"shop-1\"}" \
	"https://127.0.0.1:$VP/v1/authorize" >/dev/null 2>&1 &
NOANS=$!
for _ in $(seq 100); do
	grep -q "test amount 5301: no answer" "$V/issuer.log" && break
	sleep 0.1
done
same "while a request (5301) goes unanswered, the daemon answers others" \
	"$(call "$VP" set-ca GET /v1/health)" 200
wait $NOANS
same "the unanswered request times out at the caller (curl --max-time 2)" "$?" 28
same "  ... and placed no hold" "$(vdb "select count(*) from holds where request_id = '$NOID'")" 0

# --- Malformed input ------------------------------------------------------------
GOOD="\"request_id\":\"$(rid)\",\"pan\":\"4242424242424242\",\"expiry\":\"2034-12\",\"currency\":\"EUR\",\"merchant_id\":\"shop-1\""
before_holds=$(vdb "select count(*) from holds")
for c in "not JSON|this is not json" \
	"a JSON array|[1,2,3]" \
	"a float amount 19.99|{$GOOD,\"amount\":19.99}" \
	"a negative amount|{$GOOD,\"amount\":-5}" \
	"a zero amount|{$GOOD,\"amount\":0}" \
	"an amount over 10^12|{$GOOD,\"amount\":1000000000001}" \
	"an amount as a string|{$GOOD,\"amount\":\"1999\"}" \
	"a missing field|{\"request_id\":\"$(rid)\",\"pan\":\"4242424242424242\",\"expiry\":\"2034-12\",\"amount\":5}" \
	"an unknown field|{$GOOD,\"amount\":5,\"amout\":5}" \
	"a duplicate field|{$GOOD,\"amount\":5,\"amount\":6}" \
	"a lower-case currency|{\"request_id\":\"$(rid)\",\"pan\":\"4242424242424242\",\"expiry\":\"2034-12\",\"currency\":\"eur\",\"merchant_id\":\"m\",\"amount\":5}" \
	"a request_id that is not hex|{\"request_id\":\"not-hex!\",\"pan\":\"4242424242424242\",\"expiry\":\"2034-12\",\"currency\":\"EUR\",\"merchant_id\":\"m\",\"amount\":5}" \
	"a card number with letters|{\"request_id\":\"$(rid)\",\"pan\":\"4242x\",\"expiry\":\"2034-12\",\"currency\":\"EUR\",\"merchant_id\":\"m\",\"amount\":5}" \
	"a month 13|{\"request_id\":\"$(rid)\",\"pan\":\"4242424242424242\",\"expiry\":\"2034-13\",\"currency\":\"EUR\",\"merchant_id\":\"m\",\"amount\":5}"; do
	what=${c%%|*}
	body=${c#*|}
	same "malformed: $what gets 400 malformed" "$(post "$VP" /v1/authorize "$body") $(field error)" \
		"400 malformed"
done
contains "  ... with a message that says what is wrong" "$T/resp" "expiry: expected a string of the form YYYY-MM"
same "verify-card without a CVV (required by default) is malformed" \
	"$(post "$VP" /v1/verify-card "{\"request_id\":\"$(rid)\",\"pan\":\"4242424242424242\",\"expiry\":\"2034-12\",\"name\":\"A\",\"postcode\":\"1\"}") $(field message)" \
	"400 missing field \"cvv\""
same "a body over the size limit gets 413" \
	"$(call "$VP" set-ca POST /v1/authorize "@$(head -c 200000 /dev/zero | tr '\0' 'a' >"$T/big"; echo "$T/big")")" 413
same "GET on an API that wants POST gets 405" "$(call "$VP" set-ca GET /v1/authorize)" 405
same "an unknown path gets 404" "$(call "$VP" set-ca GET /v1/nothing)" 404
same "malformed requests placed no hold" "$(vdb "select count(*) from holds")" "$before_holds"
same "after all that the daemon still serves" "$(call "$VP" set-ca GET /v1/health)" 200

# --- Who may call ----------------------------------------------------------------
same "without a client certificate the TLS handshake is refused" "$(call "$VP" "" GET /v1/health)" 000
ca_init "$T/evil" Visa
set-ca tls-cert -f "$T/evil/ca.json" --id set-ca --brand Visa --out "$T/evil-client" >/dev/null 2>&1
same "a client certificate named set-ca from a foreign hierarchy is refused" \
	"$(call "$VP" evil-client GET /v1/health)" 000
same "a client of our hierarchy that is not on the clients list gets 403" \
	"$(call "$VP" stranger POST /v1/authorize "{$GOOD,\"amount\":5}") $(field error)" "403 forbidden"
same "the MasterCard issuer accepts the CA's Visa-brand certificate (set-ca)" \
	"$(call "$MP" set-ca GET /v1/health)" 200
same "the MasterCard issuer accepts gateway-1, on its list" "$(call "$MP" gateway-1 GET /v1/health)" 200
same "gateway-1 is refused by the Visa issuer (another brand's CA, not on its list)" \
	"$(call "$VP" gateway-1 GET /v1/health)" 000
same "a second set-ca certificate works before it is revoked" "$(call "$VP" revoked GET /v1/health)" 200
SERIAL=$(openssl x509 -in "$T/revoked/tls.pem" -noout -serial | cut -d= -f2)
same "  ... at the MasterCard issuer too" "$(call "$MP" revoked GET /v1/health)" 200
check "the CA revokes it" set-ca revoke -f "$CA_DIR/ca.json" --reason keyCompromise "$SERIAL"
jq '.clients += ["stranger"]' "$V/issuer.json" >"$V/issuer.json.new" && mv "$V/issuer.json.new" "$V/issuer.json"
hup "$V" "$VPID"
same "after a HUP the Visa issuer fetched the new CRL from the CA and refuses it" \
	"$(call "$VP" revoked GET /v1/health)" 000
cat "$M/tls/crl.pem" <(set-ca crl -f "$CA_DIR/ca.json" visa-bca) >"$M/tls/crls.pem"
hup "$M" "$MPID"
same "the MasterCard issuer refuses it after its CRL file is updated and a HUP" \
	"$(call "$MP" revoked GET /v1/health)" 000
same "  ... while the other set-ca certificate still works" "$(call "$VP" set-ca GET /v1/health)" 200
same "after HUP the reloaded clients list lets stranger in" "$(call "$VP" stranger GET /v1/health)" 200

# --- The ledger ---------------------------------------------------------------------
check "a payment credits the card account" iss payment "$PAN" 2500
contains "  ... and shows in the balance" "$(shown "$PAN")" "^balance -2500 "
check "a second payment" iss payment 4242424242424242 100
refuse "a payment of a decimal amount is refused" iss payment "$PAN" 12.50
refuse "a payment of zero is refused" iss payment "$PAN" 0
iss statement "$PAN" >"$T/statement.out"
contains "the statement lists the payment" "$T/statement.out" "payment +payment by the cardholder +-25.00"
contains "  ... and the released hold" "$T/statement.out" "$HOLD1 .* reversed"
check "ledger-check passes after payments" iss ledger-check
contains "  ... and says how many transactions and entries" "$T/last.out" \
	"^ledger balanced: 2 transactions, 4 entries$"
refuse "ledger entries cannot be edited (append-only)" \
	vdb "update ledger_entries set amount = 1 where id = 1"
mkdir "$T/vcopy"
cp "$V/issuer.json" "$T/vcopy/"
cp -r "$V/keys" "$T/vcopy/"
sqlite3 "$V/issuer.db" ".backup '$T/vcopy/issuer.db'"
sqlite3 "$T/vcopy/issuer.db" "insert into ledger_entries (txn_id, account_id, amount) values (2, 1, 7)"
refuse "ledger-check fails on a ledger someone tampered with" \
	set-issuer ledger-check -f "$T/vcopy/issuer.json"
contains "  ... naming the transaction that does not sum to zero" "$T/last.out" \
	"transaction 2 \(payment\) does not sum to zero"
set-issuer audit -f "$V/issuer.json" >"$T/audit.out"
contains "the audit log records who opened an account" "$T/audit.out" "bob-the-banker +open +424242\*+"
contains "  ... blocked it" "$T/audit.out" "bob-the-banker +block"
contains "  ... and took a payment" "$T/audit.out" "bob-the-banker +payment"

# --- Holds expire -------------------------------------------------------------------
R2=$(rid)
same "a new authorization holds 3000" \
	"$(post "$VP" /v1/authorize "{\"request_id\":\"$R2\",\"pan\":\"$PAN\",\"expiry\":\"$EXP\",\"amount\":3000,\"currency\":\"EUR\",\"merchant_id\":\"shop-2\"}") $(field result)" \
	"200 approved"
cp "$T/resp" "$T/a2.json"
HOLD2=$(jq -r .hold_id "$T/a2.json")
contains "  ... which counts against the credit now" "$(shown "$PAN")" "^held 3000 "
at_time "+8d" set-issuer show -f "$V/issuer.json" "$PAN" >"$T/late.out" 2>&1
contains "eight days later (faketime) the hold has expired and no longer counts" \
	"$T/late.out" "^held 0 "

# --- Card data at rest and in the logs -----------------------------------------------
# Each scan first finds what it should (a control), so an empty or missing
# file cannot make it pass.
dbscan() { cat "$V"/issuer.db* | grep -ac -- "$1"; }
check "the database files can be scanned (control: the holder's name is there)" \
	test "$(dbscan "Alice Martin")" -ge 1
same "the issuer's database holds no card number in plaintext" "$(dbscan "$PAN")" 0
same "  ... not even the demo card numbers" "$(dbscan 4242424242424242)" 0
same "  ... and no CVV as a stored value" \
	"$(sqlite3 "$V/issuer.db" .dump | grep -c -e "'$CVV'" -e "'$CCVV'")" 0
check "the logs can be scanned (control: masked numbers are there)" \
	grep -q "424242\*\*\*\*\*\*${PAN:12:4}" "$V/issuer.log"
same "no log line holds a full card number" \
	"$(cat "$V/issuer.log" "$M/issuer.log" | grep -c -e "$PAN" -e 4242424242424242 -e "$MPAN")" 0
luhn_in_logs=$(grep -ohE '[0-9]+' "$V/issuer.log" "$M/issuer.log" | awk 'length >= 13 && length <= 19' | while read -r n; do
	luhn_ok "$n" && echo "$n"
done)
same "no log line holds any Luhn-valid 13-19 digit number" "$luhn_in_logs" ""

# --- Restarts ---------------------------------------------------------------------------
snapshot() {
	for t in accounts ledger_accounts ledger_transactions ledger_entries holds audit store_replies; do
		vdb "select * from $t order by rowid" | sha256sum
	done
}
snapshot >"$T/before"
issuer_stop "$VPID"
same "TERM stops the daemon cleanly (exit 0)" "$?" 0
refuse "the pidfile is removed on a clean stop" test -e "$V/issuer.pid"
issuer_start "$V" || exit 1
VPID=$ISS_PID
VP=$ISS_PORT
snapshot >"$T/after"
check "after a restart every account, ledger entry, hold and stored reply is kept" \
	cmp "$T/before" "$T/after"
contains "  ... the hold still counts" "$(shown "$PAN")" "^held 3000 "
same "  ... a repeated request gets the answer stored before the restart" \
	"$(post "$VP" /v1/authorize "{\"request_id\":\"$R2\",\"pan\":\"$PAN\",\"expiry\":\"$EXP\",\"amount\":3000,\"currency\":\"EUR\",\"merchant_id\":\"shop-2\"}")" 200
check "  ... byte for byte" cmp "$T/resp" "$T/a2.json"
same "  ... and the hold made before the restart can be reversed" \
	"$(post "$VP" /v1/reverse "{\"request_id\":\"$(rid)\",\"hold_id\":\"$HOLD2\"}") $(field remaining)" "200 0"
post "$VP" /v1/authorize "{\"request_id\":\"$(rid)\",\"pan\":\"$PAN\",\"expiry\":\"$EXP\",\"amount\":700,\"currency\":\"EUR\",\"merchant_id\":\"shop-3\"}" >/dev/null
kill -KILL "$VPID"
wait "$VPID" 2>/dev/null
TEST_PIDS=$(echo "$TEST_PIDS" | sed "s/ $VPID//")
same "after kill -9 the database passes integrity_check" "$(vdb "pragma integrity_check")" ok
same "  ... and the committed hold survived" "$(vdb "select count(*) from holds where merchant_id = 'shop-3'")" 1
issuer_start "$V" || exit 1
VPID=$ISS_PID
VP=$ISS_PORT
same "after kill -9 the daemon starts again and serves" "$(call "$VP" set-ca GET /v1/health)" 200
check "the ledger is still balanced" iss ledger-check
issuer_stop "$VPID"
same "the Visa issuer stops cleanly" "$?" 0
issuer_stop "$MPID"
same "the MasterCard issuer stops cleanly" "$?" 0
