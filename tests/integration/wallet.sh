#!/bin/bash
# The cardholder wallet, set-wallet: the encrypted store on its own (init,
# the passphrase from a terminal, a file or a descriptor, no plaintext in
# the database, help and usage errors), then cardholder registration end to
# end against the real CA and the real issuer simulator over TLS on
# loopback (certificates checked by the stock `openssl verify`, PAN
# blinding, the issuer's refusals, revocation seen through the CRLs).
. "$SET_TOP/tests/lib.sh"

PASS=$T/pass
BAD=$T/bad
echo "correct horse battery staple" >"$PASS"
echo "incorrect horse battery staple" >"$BAD"
W=$T/wallet
# Never touch the home folder of whoever runs the tests.
export SET_WALLET_DIR=$T/default-wallet
export HOME=$T/home
mkdir -p "$HOME"
wallet() { set-wallet -w "$W" --passphrase-file "$PASS" "$@"; }

# status "what" expected command...: the command's exit status.
status() {
	local what=$1 want=$2
	shift 2
	"$@" >"$T/last.out" 2>&1
	same "$what" "$?" "$want"
}

# on_tty OUT COMMAND [PROMPT ANSWER]...: runs COMMAND on a pseudo-terminal
# (script(1)), typing each ANSWER once its PROMPT has shown in OUT (the
# session's transcript). Returns the command's exit status.
on_tty() {
	local out=$1 cmd=$2 pid
	shift 2
	rm -f "$T/tty.in" "$out"
	mkfifo "$T/tty.in"
	script -qfec "$cmd" "$out" <"$T/tty.in" >/dev/null 2>&1 &
	pid=$!
	exec 7>"$T/tty.in"
	while [ $# -ge 2 ]; do
		for _ in $(seq 100); do
			grep -qF -- "$1" "$out" 2>/dev/null && break
			sleep 0.1
		done
		printf '%s\n' "$2" >&7
		shift 2
	done
	exec 7>&-
	wait "$pid"
}

# --- init ---------------------------------------------------------------------
check "init makes a wallet (passphrase from a file)" \
	set-wallet -w "$W" init --passphrase-file "$PASS"
same "the wallet folder is mode 0700" "$(stat -c %a "$W")" 700
same "the database is mode 0600" "$(stat -c %a "$W/wallet.db")" 600
status "init over an existing wallet is refused (exit 1)" 1 \
	set-wallet -w "$W" init --passphrase-file "$PASS"
contains "  ... saying a wallet is there already" "$T/last.out" "already holds a wallet"
check "  ... and the wallet still opens" wallet check
check "init makes the wallet in \$SET_WALLET_DIR by default" \
	set-wallet init --passphrase-file "$PASS"
check "  ... there" test -f "$SET_WALLET_DIR/wallet.db"
check "without \$SET_WALLET_DIR it is ~/.set-wallet" \
	env -u SET_WALLET_DIR set-wallet init --passphrase-file "$PASS"
check "  ... there" test -f "$HOME/.set-wallet/wallet.db"
mkdir -m 755 "$T/open-folder"
refuse "init refuses a folder other users can read" \
	set-wallet -w "$T/open-folder" init --passphrase-file "$PASS"
echo "short" >"$T/short"
refuse "init refuses a passphrase shorter than 8 characters" \
	set-wallet -w "$T/w-short" init --passphrase-file "$T/short"
check "  ... and leaves no wallet behind" test ! -e "$T/w-short/wallet.db"

on_tty "$T/tty-init.out" "set-wallet -w $T/w-tty init" \
	"Passphrase for the new wallet" "typed on the terminal" \
	"Type it again" "typed on the terminal"
same "init asks the passphrase twice on a terminal" "$?" 0
refuse "  ... and never echoes it" grep -q "typed on the terminal" "$T/tty-init.out"
check "  ... and that passphrase opens the wallet" \
	sh -c "echo 'typed on the terminal' | set-wallet -w $T/w-tty check --passphrase-fd 0"
on_tty "$T/tty-differ.out" "set-wallet -w $T/w-differ init" \
	"Passphrase for the new wallet" "first passphrase" \
	"Type it again" "second passphrase"
same "two different passphrases at init are refused (exit 1)" "$?" 1
contains "  ... saying they differ" "$T/tty-differ.out" "differ"
check "  ... and make no wallet" test ! -e "$T/w-differ/wallet.db"

# --- the passphrase ---------------------------------------------------------------
status "a wrong passphrase is refused (exit 1)" 1 \
	set-wallet -w "$W" check --passphrase-file "$BAD"
contains "  ... as a wrong passphrase" "$T/last.out" "wrong passphrase"
check "the passphrase from a file opens the wallet" wallet check
check "the passphrase from a descriptor opens the wallet" \
	sh -c "set-wallet -w '$W' check --passphrase-fd 3 3<'$PASS'"
check "the passphrase from standard input (--passphrase-fd 0)" \
	sh -c "set-wallet -w '$W' check --passphrase-fd 0 <'$PASS'"
printf 'correct horse battery staple' >"$T/pass-no-newline"
check "a passphrase file without a final newline works too" \
	set-wallet -w "$W" check --passphrase-file "$T/pass-no-newline"
status "without a terminal or a passphrase option: a usage error (exit 2)" 2 \
	set-wallet -w "$W" check </dev/null
contains "  ... naming the options to use" "$T/last.out" "passphrase-file"
status "--passphrase-file and --passphrase-fd together: exit 2" 2 \
	set-wallet -w "$W" check --passphrase-file "$PASS" --passphrase-fd 0
: >"$T/empty"
refuse "an empty passphrase file is refused" \
	set-wallet -w "$W" check --passphrase-file "$T/empty"
refuse "a missing passphrase file is refused" \
	set-wallet -w "$W" check --passphrase-file "$T/nonexistent"

cp -r "$W" "$T/w-passwd"
echo "a brand new passphrase" >"$T/newpass"
check "passwd changes the passphrase" set-wallet -w "$T/w-passwd" passwd \
	--passphrase-file "$PASS" --new-passphrase-file "$T/newpass"
refuse "  ... the old one no longer opens the wallet" \
	set-wallet -w "$T/w-passwd" check --passphrase-file "$PASS"
check "  ... the new one does" \
	set-wallet -w "$T/w-passwd" check --passphrase-file "$T/newpass"
refuse "passwd with a wrong current passphrase is refused" \
	set-wallet -w "$T/w-passwd" passwd --passphrase-file "$BAD" \
	--new-passphrase-file "$PASS"

refuse "the database never holds the passphrase" \
	grep -rqa "horse battery" "$W"
refuse "the database holds no PEM private key" grep -rqa "PRIVATE KEY" "$W"

# --- help and usage ----------------------------------------------------------------
check "set-wallet --help" set-wallet --help
contains "  ... lists the commands" "$T/last.out" "register"
check "set-wallet help register" set-wallet help register
contains "  ... describes register" "$T/last.out" "--ca HOST:PORT"
for cmd in init register cards show check passwd; do
	check "set-wallet $cmd --help" set-wallet "$cmd" --help
	contains "  ... prints its usage" "$T/last.out" "usage: set-wallet $cmd"
done
status "no command: exit 2" 2 set-wallet
status "an unknown command: exit 2" 2 set-wallet frobnicate
status "an unknown option: exit 2" 2 set-wallet -w "$W" cards --frobnicate
status "show without a card: exit 2" 2 set-wallet -w "$W" show
status "a bad --passphrase-fd: exit 2" 2 set-wallet -w "$W" check --passphrase-fd x
status "a bad --timeout: exit 2" 2 set-wallet -w "$W" cards --timeout 0
status "register without --ca: exit 2" 2 \
	wallet register --root "$T/x.pem" --brand Visa --pan 4242424242424242
contains "  ... naming --ca" "$T/last.out" "--ca"
status "register with a card number that fails the Luhn check: exit 2" 2 \
	wallet register --ca 127.0.0.1:1 --root "$T/x.pem" --brand Visa \
	--pan 4242424242424241
status "register with a malformed expiry: exit 2" 2 \
	wallet register --ca 127.0.0.1:1 --root "$T/x.pem" --brand Visa \
	--pan 4242424242424242 --expiry 13/28
status "register with a malformed CVV: exit 2" 2 \
	wallet register --ca 127.0.0.1:1 --root "$T/x.pem" --brand Visa \
	--pan 4242424242424242 --cvv 12a
status "register without a card number and no terminal: exit 2" 2 \
	wallet register --ca 127.0.0.1:1 --root "$T/x.pem" --brand Visa </dev/null
contains "  ... naming --pan" "$T/last.out" "--pan"
status "showing an unknown card: exit 1" 1 set-wallet -w "$W" show nosuchcard
contains "  ... saying there is no such card" "$T/last.out" "no card"
status "a folder without a wallet: exit 1" 1 set-wallet -w "$T/nowhere" cards
contains "  ... saying how to make one" "$T/last.out" "set-wallet init"
check "cards on an empty wallet" set-wallet -w "$W" cards
contains "  ... says there is none yet" "$T/last.out" "No cards"

# --- Registration: the CA, the issuer, the wallet ----------------------------------------
REG_TESTS="a card registers end to end over TLS|the certificate verifies with openssl verify -crl_check_all|the certificate holds no card number|the wallet's recomputed hash is the certificate's CN|wrong CVV refused|wrong expiry refused|blocked card refused|unknown card refused|no plaintext card number or private key in the wallet's or the CA's database|a revoked certificate is reported revoked after show --refresh"
reg_skip() {
	local IFS='|' t
	for t in $REG_TESTS; do
		skip "registration (CA or issuer not ready): $t"
	done
	exit 0
}

CA_DIR=$T/ca
ISS=$T/issuer
ca_init "$CA_DIR" Visa || { fail "set-ca init" "$(tail -n 5 "$CA_DIR.init.log")"; exit 1; }
command -v set-issuer >/dev/null 2>&1 || reg_skip

# The issuer's TLS certificate from our CA; the issuer; the CA's issuers
# table pointing at it; then the CA.
set-ca tls-cert -f "$CA_DIR/ca.json" --id issuer-1 --brand Visa \
	--out "$T/issuer-tls" >"$T/issuer-tls.log" 2>&1 || reg_skip
set-issuer init -D "$ISS" --name "First Visa Bank" --brand Visa --bin 424242 \
	--listen 127.0.0.1:0 --tls "$T/issuer-tls" >"$T/issuer-init.log" 2>&1 || reg_skip
set-issuer serve -d -f "$ISS/issuer.json" >>"$ISS/issuer.log" 2>&1 &
ISS_PID=$!
TEST_PIDS="$TEST_PIDS $ISS_PID"
wait_file "$ISS/issuer.port" || reg_skip
ISS_PORT=$(cat "$ISS/issuer.port")
jq --argjson port "$ISS_PORT" '.issuers = [{"name": "First Visa Bank",
	"brand": "Visa", "bins": ["424242"], "address": "127.0.0.1",
	"port": $port, "fields": ["name", "postcode", "expiry", "cvv"]}]' \
	"$CA_DIR/ca.json" >"$CA_DIR/ca.json.new" && mv "$CA_DIR/ca.json.new" "$CA_DIR/ca.json"
ca_start "$CA_DIR" || reg_skip

# Does the CA answer CardCInitReq yet?
rr=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
body=$(printf '{"brand":"Visa","date":"%s","msg":"CardCInitReq","rrpid":"%s"}' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$rr" | base64 -w0)
ca_curl -H 'Content-Type: application/json' --data-binary \
	"{\"set\":1,\"type\":\"CardCInitReq\",\"rrpid\":\"$rr\",\"body\":\"$body\"}" \
	"https://$CA_ADDR/set" 2>/dev/null | grep -q '"CardCInitRes"' || reg_skip
pass "the CA answers CardCInitReq and the issuer serves (port $ISS_PORT)"

# open_card NAME POSTCODE: a new card account; sets PAN, EXP, CVV.
open_card() {
	set-issuer open -f "$ISS/issuer.json" --name "$1" --postcode "$2" \
		--limit 50000 >"$T/card.out" 2>"$T/card.err"
	PAN=$(awk '$1 == "card" { print $2 }' "$T/card.out")
	EXP=$(awk '$1 == "expiry" { print $2 }' "$T/card.out")
	CVV=$(awk '$1 == "cvv" { print $2 }' "$T/card.out")
	rm -f "$T/card.out"
	[ -n "$PAN" ] && [ -n "$EXP" ] && [ -n "$CVV" ]
}
# reg ARGS...: register with the CA and root of this test.
reg() { wallet register --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --brand Visa "$@"; }
cards_count() { sqlite3 "$W/wallet.db" "select count(*) from cards"; }

check "the issuer opens a card account for Erin" open_card "Erin Example" 10115
ERIN_PAN=$PAN
MASKED="${PAN:0:6}\*\*\*\*\*\*${PAN: -4}" # as a pattern
check "a card registers end to end over TLS" \
	reg --pan "$PAN" --expiry "$EXP" --cvv "$CVV" --name "Erin Example" \
	--postcode 10115 --label erin
cp "$T/last.out" "$T/register.out"
contains "  ... naming the card masked" "$T/register.out" "registered Visa card $MASKED"
contains "  ... and the bank that issued it" "$T/register.out" "First Visa Bank"
refuse "  ... and never the full card number" grep -q "$PAN" "$T/register.out"
check "cards lists it" set-wallet -w "$W" cards
contains "  ... masked, with a valid certificate" "$T/last.out" "erin +Visa +$MASKED +$EXP +valid until"
refuse "  ... never with the full number" grep -q "$PAN" "$T/last.out"
check "show erin" set-wallet -w "$W" show erin
contains "  ... says the certificate is valid" "$T/last.out" "^status +valid$"
contains "  ... issued by the Visa Cardholder CA" "$T/last.out" "issuer +CN=Visa Cardholder CA"
check "show 1 shows the same card by its number" set-wallet -w "$W" show 1
contains "  ... erin" "$T/last.out" "label +erin"

# The certificate, chain, root and CRLs as the wallet keeps them.
q() { sqlite3 "$W/wallet.db" "$1"; }
q "select hex(cert) from cards where label = 'erin'" | xxd -r -p >"$T/erin.der"
openssl x509 -inform DER -in "$T/erin.der" -out "$T/erin.pem"
q "select chain from cards where label = 'erin'" >"$T/erin-chain.pem"
q "select root from cards where label = 'erin'" >"$T/erin-root.pem"
q "select crls from cards where label = 'erin'" >"$T/erin-crls.pem"
check "the certificate verifies with openssl verify -crl_check_all to the root" \
	openssl verify -CAfile "$CA_DIR/root.pem" -untrusted "$T/erin-chain.pem" \
	-crl_check_all -CRLfile "$T/erin-crls.pem" "$T/erin.pem"
check "  ... the wallet's root is the CA's" cmp -s \
	<(openssl x509 -in "$T/erin-root.pem" -outform DER) \
	<(openssl x509 -in "$CA_DIR/root.pem" -outform DER)
check "our own checker accepts it as a Visa cardholder's signature certificate" \
	set-verify --root "$CA_DIR/root.pem" --chain "$T/erin-chain.pem" \
	--crl "$T/erin-crls.pem" --role cardholder --usage sign --brand Visa "$T/erin.pem"
refuse "the certificate's DER holds no card number" grep -qa "$PAN" "$T/erin.der"
refuse "  ... nor does its text form" grep -q "$PAN" <(openssl x509 -in "$T/erin.pem" -noout -text)
CN=$(openssl x509 -in "$T/erin.pem" -noout -subject -nameopt RFC2253 |
	sed -n 's/^subject=CN=\([0-9a-f]*\),.*/\1/p')
same "the certificate's CN is a 64-hex-digit hash" "${#CN}" 64
check "the wallet recomputes the hash from its secrets" wallet check erin
contains "  ... and it is the certificate's CN" "$T/last.out" "CN $CN"

# --- The issuer's refusals -------------------------------------------------------------
before=$(cards_count)
status "a wrong CVV is refused (exit 1)" 1 \
	reg --pan "$PAN" --expiry "$EXP" --cvv 999 --name "Erin Example" --postcode 10115
contains "  ... with the reason" "$T/last.out" "wrong-cvv.*security code"
status "a wrong expiry is refused (exit 1)" 1 \
	reg --pan "$PAN" --expiry 2039-01 --cvv "$CVV" --name "Erin Example" --postcode 10115
contains "  ... with the reason" "$T/last.out" "wrong-expiry.*expiry date"
status "a wrong postcode is refused (exit 1)" 1 \
	reg --pan "$PAN" --expiry "$EXP" --cvv "$CVV" --name "Erin Example" --postcode 99999
contains "  ... with the reason" "$T/last.out" "details-mismatch"
check "the issuer opens a card for Gina, then blocks it" open_card "Gina Blocked" 20095
check "  ... blocked" set-issuer block -f "$ISS/issuer.json" "$PAN"
status "a blocked card is refused (exit 1)" 1 \
	reg --pan "$PAN" --expiry "$EXP" --cvv "$CVV" --name "Gina Blocked" --postcode 20095
contains "  ... with the reason" "$T/last.out" "card-blocked.*call your bank"
status "an unknown card is refused (exit 1)" 1 \
	reg --pan 5555555555554444 --expiry 2030-01 --cvv 123 --name X --postcode 1
contains "  ... with the reason" "$T/last.out" "unknown-card"
contains "  ... masked" "$T/last.out" "555555\*\*\*\*\*\*4444"
same "refused registrations stored nothing" "$(cards_count)" "$before"
status "a missing form field without a terminal is a usage error (exit 2)" 2 \
	reg --pan "$ERIN_PAN" --expiry "$EXP" --name "Erin Example" --postcode 10115 </dev/null
contains "  ... naming --cvv" "$T/last.out" "give --cvv"
status "a label already in the wallet is refused (exit 1)" 1 \
	reg --pan "$ERIN_PAN" --label erin
status "a wrong passphrase is refused before anything is sent (exit 1)" 1 \
	set-wallet -w "$W" --passphrase-file "$BAD" register --ca "$CA_ADDR" \
	--root "$CA_DIR/root.pem" --brand Visa --pan "$ERIN_PAN"
contains "  ... as a wrong passphrase" "$T/last.out" "wrong passphrase"

# The form asked on a terminal: the CVV is not echoed.
check "the issuer opens a card for Hugo" open_card "Hugo Typed" 80331
on_tty "$T/tty-reg.out" "set-wallet -w $W --passphrase-file $PASS register \
	--ca $CA_ADDR --root $CA_DIR/root.pem --brand Visa" \
	"Card number" "$PAN" "Cardholder name" "Hugo Typed" \
	"Postcode" "80331" "Expiry date" "${EXP:5:2}/${EXP:2:2}" \
	"Security code" "$CVV"
same "register asks the form's fields on a terminal" "$?" 0
contains "  ... registers the card with the default label" "$T/tty-reg.out" \
	"as \"visa-${PAN: -4}\""
refuse "  ... never echoing the CVV" grep -q "Security code.*$CVV" "$T/tty-reg.out"
HUGO_PAN=$PAN

# --- Nothing in clear -----------------------------------------------------------------
for p in "$ERIN_PAN" "$HUGO_PAN"; do
	refuse "the wallet's database holds no plaintext card number (${p:0:6}...)" \
		grep -rqa "$p" "$W"
	refuse "the CA's database holds no plaintext card number (${p:0:6}...)" \
		grep -qa "$p" "$CA_DIR"/ca.db*
done
refuse "the wallet's database holds no PEM private key" grep -rqa "PRIVATE KEY" "$W"
# A P-256 PKCS#8 key starts with version 0 and the EC and P-256 OIDs.
refuse "the wallet's database holds no DER private key" \
	grep -q "020100301306072a8648ce3d020106082a8648ce3d030107" \
	<(od -An -tx1 -v "$W"/wallet.db* | tr -d ' \n')
refuse "the CA's database holds no private key of a cardholder" \
	grep -q "020100301306072a8648ce3d020106082a8648ce3d030107" \
	<(od -An -tx1 -v "$CA_DIR"/ca.db* | tr -d ' \n')

# --- Revocation and expiry ---------------------------------------------------------------
SERIAL=$(openssl x509 -in "$T/erin.pem" -noout -serial | cut -d= -f2)
check "the CA operator revokes Erin's certificate" \
	set-ca revoke -f "$CA_DIR/ca.json" --reason keyCompromise "$SERIAL"
check "show --refresh fetches the brand's current CRLs" \
	set-wallet -w "$W" show erin --refresh
contains "  ... and reports the certificate revoked" "$T/last.out" "^status +revoked"
contains "  ... with the reason" "$T/last.out" "keyCompromise"
check "cards lists it as revoked" set-wallet -w "$W" cards
contains "  ... REVOKED" "$T/last.out" "^1 +erin .*REVOKED"
contains "  ... while Hugo's is still valid" "$T/last.out" "^2 +visa-.*valid until"
q "select crls from cards where label = 'erin'" >"$T/erin-crls2.pem"
refuse "openssl verify refuses it with the CRLs the wallet now holds" \
	openssl verify -CAfile "$CA_DIR/root.pem" -untrusted "$T/erin-chain.pem" \
	-crl_check_all -CRLfile "$T/erin-crls2.pem" "$T/erin.pem"
contains "  ... as revoked" "$T/last.out" "revoked"
check "show on a clock three years ahead" at_time "+3y" set-wallet -w "$W" show 2
contains "  ... reports the certificate expired" "$T/last.out" "^status +expired"

# --- Faults: the issuer, the CA, the root -------------------------------------------------
check "the issuer opens a card for Ivan" open_card "Ivan Later" 50667
kill -TERM "$ISS_PID" 2>/dev/null
wait "$ISS_PID" 2>/dev/null
status "with the issuer down, register fails (exit 1)" 1 \
	reg --pan "$PAN" --expiry "$EXP" --cvv "$CVV" --name "Ivan Later" --postcode 50667
contains "  ... telling to try again later" "$T/last.out" "try again later"
ca_init "$T/evil" Visa
status "a CA that does not chain to --root is refused (exit 1)" 1 \
	wallet register --ca "$CA_ADDR" --root "$T/evil/root.pem" --brand Visa \
	--pan "$PAN" --expiry "$EXP" --cvv "$CVV" --name "Ivan Later" --postcode 50667
ca_stop
status "an unreachable CA: register fails (exit 1)" 1 \
	reg --pan "$PAN" --expiry "$EXP" --cvv "$CVV" --name "Ivan Later" --postcode 50667
contains "  ... saying the CA cannot be reached" "$T/last.out" "cannot reach the CA"
status "an unreachable CA: show --refresh fails (exit 1)" 1 \
	set-wallet -w "$W" show erin --refresh
contains "  ... and keeps what the wallet knew" \
	<(set-wallet -w "$W" show erin) "^status +revoked"
same "after every fault the wallet still holds its two cards" "$(cards_count)" 2
check "  ... whose secrets all open and match" wallet check
