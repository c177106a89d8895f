#!/bin/bash
# The payment gateway end to end, against the real daemons over TLS on
# loopback: a CA with two brands, two issuer simulators, a gateway enrolled
# for both brands, merchants enrolled with set-enroll, and gw-drive playing
# the wallet and the merchant. Approvals, a decline, the second brand on the
# second issuer, every attack refused with its code and nothing held at the
# issuer, revoked cardholder and merchant certificates, idempotent repeats,
# an issuer that does not answer and the retry, third-party checks of the
# saved messages with `openssl cms`, no card number in the gateway's
# database or logs, hostile input, HUP, restarts.
. "$SET_TOP/tests/lib.sh"

export SET_OPERATOR=carol
CA_DIR=$T/ca
GW=$T/gw
V=$T/visa
M=$T/mc
VISA_PAN=4242424242424242

# gw_start: the daemon as an operator starts it, logs in $GW/gateway.log.
gw_start() {
	rm -f "$GW/gateway.port"
	set-gateway serve -d -f "$GW/gateway.json" >>"$GW/gateway.log" 2>&1 &
	GW_PID=$!
	TEST_PIDS="$TEST_PIDS $GW_PID"
	if ! wait_file "$GW/gateway.port"; then
		fail "the gateway daemon starts" "$(tail -n 5 "$GW/gateway.log")"
		return 1
	fi
	GW_ADDR="127.0.0.1:$(cat "$GW/gateway.port")"
}

gw_stop() {
	kill -TERM "$GW_PID" 2>/dev/null
	wait "$GW_PID"
	local rc=$?
	TEST_PIDS=$(echo "$TEST_PIDS" | sed "s/ $GW_PID//")
	return $rc
}

# gw_hup: reload, and wait until the reload (CRL refresh included) is done.
gw_hup() {
	local n
	n=$(grep -c "reloading the configuration" "$GW/gateway.log")
	kill -HUP "$GW_PID"
	for _ in $(seq 100); do
		[ "$(grep -c "reloading the configuration" "$GW/gateway.log")" -gt "$n" ] && break
		sleep 0.1
	done
	# The refresh runs in the same callback, after the log line: a request
	# made from now on is read once it is done.
}

# issuer_start DIR: sets ISS_PID, ISS_PORT.
issuer_start() {
	local dir=$1
	rm -f "$dir/issuer.port"
	set-issuer serve -d -f "$dir/issuer.json" >>"$dir/issuer.log" 2>&1 &
	ISS_PID=$!
	TEST_PIDS="$TEST_PIDS $ISS_PID"
	if ! wait_file "$dir/issuer.port"; then
		fail "the issuer daemon in $dir starts" "$(tail -n 5 "$dir/issuer.log")"
		return 1
	fi
	ISS_PORT=$(cat "$dir/issuer.port")
}

# drive ARGS...: gw-drive against our gateway; the outcome line in $T/out.
drive() {
	gw-drive --gateway "$GW_ADDR" --root "$CA_DIR/root.pem" --timeout 20 \
		"$@" >"$T/out" 2>"$T/drive.err"
	local rc=$?
	cat "$T/out" >>"$T/drives.log"
	cat "$T/drive.err" >>"$T/drives.log"
	return $rc
}
outcome() { head -n 1 "$T/out"; }
# The Visa purchase as the wallet (card kept in DIR) and merchant shop-1.
visa() {
	local dir=$1
	shift
	drive --merchant "$T/m-visa" --brand Visa --ca "$CA_ADDR" \
		--card "$VISA_PAN" --expiry 2034-12 --cvv 123 --name "Alice Smith" \
		--postcode 75001 --card-dir "$dir" "$@"
}
mc() {
	drive --merchant "$T/m-mc" --brand MasterCard --ca "$CA_ADDR" \
		--card "$MPAN" --expiry "$MEXP" --cvv "$MCVV" --name "Mona Lee" \
		--postcode 10001 --card-dir "$T/card-mc" "$@"
}
# held PAN: what the Visa issuer holds on the card.
held() { set-issuer show -f "$V/issuer.json" "$1" | awk '$1 == "held" {print $2}'; }
mheld() { set-issuer show -f "$M/issuer.json" "$1" | awk '$1 == "held" {print $2}'; }
gwdb() { sqlite3 "$GW/gateway.db" "$1"; }

# --- A CA with two brands ---------------------------------------------------
ca_init "$CA_DIR" Visa MasterCard
ca_start "$CA_DIR" || exit 1

# --- The gateway: init, enrollment for both brands, TLS ----------------------
check "set-gateway --help describes the commands" \
	bash -c "set-gateway --help | grep -q 'enroll'"
check "set-gateway init --help describes init" \
	bash -c "set-gateway init --help | grep -q -- '--root'"
check "init creates a gateway for two brands" \
	set-gateway init -D "$GW" --id gw-1 --brand Visa --brand MasterCard \
	--ca "$CA_ADDR" --root "$CA_DIR/root.pem" --listen 127.0.0.1:0
same "the card-number key is written with mode 0600" \
	"$(stat -c %a "$GW/keys/pan.key")" 600
refuse "init refuses a folder that already holds a gateway" \
	set-gateway init -D "$GW" --id gw-1 --brand Visa --ca "$CA_ADDR" \
	--root "$CA_DIR/root.pem"
refuse "init refuses a root that is not a root certificate" \
	set-gateway init -D "$T/bad" --id gw-1 --brand Visa --ca "$CA_ADDR" \
	--root "$CA_DIR/ca.json"
refuse "serve refuses to start before enrollment" \
	set-gateway serve -n -f "$GW/gateway.json"
contains "  ... saying which brand to enroll" "$T/last.out" "not enrolled"
for b in Visa MasterCard; do
	tok=$(set-ca token -f "$CA_DIR/ca.json" --role gateway --id gw-1 --brand $b 2>/dev/null)
	check "the gateway enrolls for $b with its token" \
		set-gateway enroll -f "$GW/gateway.json" --brand $b --token "$tok"
done
check "openssl verify: the gateway's Visa key-exchange certificate chains to the root" \
	openssl verify -CAfile "$CA_DIR/root.pem" -untrusted "$GW/certs/Visa/chain.pem" \
	-crl_check_all -CRLfile "$GW/certs/Visa/crl.pem" "$GW/certs/Visa/kex.pem"
refuse "enroll refuses a brand the config does not name" \
	set-gateway enroll -f "$GW/gateway.json" --brand Amex --token 00
refuse "enroll refuses to enroll a brand twice (keys exist)" \
	set-gateway enroll -f "$GW/gateway.json" --brand Visa --token 00
set-ca tls-cert -f "$CA_DIR/ca.json" --id gw-1 --brand Visa --out "$GW/tls" >/dev/null 2>&1 ||
	fail "set-ca tls-cert for the gateway"
check "serve -n checks the configuration, certificates and TLS files" \
	set-gateway serve -n -f "$GW/gateway.json"
jq '.listn = 1' "$GW/gateway.json" >"$T/typo.json"
refuse "a config with an unknown key is refused" set-gateway serve -n -f "$T/typo.json"
contains "  ... naming the key" "$T/last.out" "listn: unknown key"
jq '.issuers = [{"name":"X","brand":"Visa","bins":["42"],"address":"127.0.0.1","port":1}]' \
	"$GW/gateway.json" >"$T/typo.json"
refuse "a routing entry with a BIN shorter than 4 digits is refused" \
	set-gateway serve -n -f "$T/typo.json"
rm -f "$T/typo.json"

# --- Merchants ------------------------------------------------------------------
enroll_merchant() { # ID BRAND DIR
	local tok
	tok=$(set-ca token -f "$CA_DIR/ca.json" --role merchant --id "$1" --brand "$2" 2>/dev/null)
	set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role merchant \
		--id "$1" --brand "$2" --token "$tok" --out "$3" >/dev/null 2>&1
}
check "merchant shop-1 enrolls for Visa" enroll_merchant shop-1 Visa "$T/m-visa"
check "merchant shop-1 enrolls for MasterCard" enroll_merchant shop-1 MasterCard "$T/m-mc"
check "merchant shop-3 enrolls for Visa" enroll_merchant shop-3 Visa "$T/m3"

# --- Issuers --------------------------------------------------------------------
HAVE_ISSUER=1
if ! command -v set-issuer >/dev/null 2>&1; then
	HAVE_ISSUER=0
	skip "set-issuer (issuer-sim/) is not built yet: no authorization can be tested"
fi
if [ $HAVE_ISSUER = 1 ]; then
	set-issuer init -D "$V" --name "First Visa Bank" --brand Visa --bin 424242 \
		--listen 127.0.0.1:0 --client set-ca --client gw-1 --demo-cards \
		--magic-amounts >/dev/null 2>&1 || fail "set-issuer init (Visa)"
	set-issuer init -D "$M" --name "Second MC Bank" --brand MasterCard --bin 555555 \
		--listen 127.0.0.1:0 --client set-ca --client gw-1 >/dev/null 2>&1 ||
		fail "set-issuer init (MasterCard)"
	set-ca tls-cert -f "$CA_DIR/ca.json" --id issuer-visa-1 --brand Visa \
		--out "$V/tls" >/dev/null 2>&1 || fail "set-ca tls-cert (Visa issuer)"
	set-ca tls-cert -f "$CA_DIR/ca.json" --id issuer-mc-1 --brand MasterCard \
		--out "$M/tls" >/dev/null 2>&1 || fail "set-ca tls-cert (MasterCard issuer)"
	# The MasterCard issuer's clients (the CA, the gateway) hold TLS
	# certificates of the Visa brand CA: it trusts both brand CAs.
	cat "$M/tls/chain.pem" "$GW/tls/chain.pem" >"$M/tls/clients.pem"
	cat "$M/tls/crl.pem" "$GW/tls/crl.pem" >"$M/tls/crls.pem"
	jq '.tls.client_cas = "tls/clients.pem" | .tls.crl = "tls/crls.pem"' \
		"$M/issuer.json" >"$M/issuer.json.new" && mv "$M/issuer.json.new" "$M/issuer.json"
	issuer_start "$V" || exit 1
	VPID=$ISS_PID
	VP=$ISS_PORT
	issuer_start "$M" || exit 1
	MP=$ISS_PORT
	set-issuer open -f "$M/issuer.json" --name "Mona Lee" --postcode 10001 \
		--limit 50000 >"$T/mopen.out" 2>/dev/null
	MPAN=$(awk '$1 == "card" {print $2}' "$T/mopen.out")
	MEXP=$(awk '$1 == "expiry" {print $2}' "$T/mopen.out")
	MCVV=$(awk '$1 == "cvv" {print $2}' "$T/mopen.out")
	same "the MasterCard issuer opened a card for the second brand" \
		"$(echo "$MPAN" | cut -c1-6)" 555555
	# The CA asks the issuers at cardholder registration; the gateway
	# routes authorizations to them.
	table="[{\"name\":\"First Visa Bank\",\"brand\":\"Visa\",\"bins\":[\"424242\"],\"address\":\"127.0.0.1\",\"port\":$VP},
		{\"name\":\"Second MC Bank\",\"brand\":\"MasterCard\",\"bins\":[\"555555\"],\"address\":\"127.0.0.1\",\"port\":$MP}]"
	jq --argjson t "$table" '.issuers = [$t[] | .fields = ["name", "postcode", "expiry", "cvv"]]' \
		"$CA_DIR/ca.json" >"$CA_DIR/ca.json.new" &&
		mv "$CA_DIR/ca.json.new" "$CA_DIR/ca.json"
	kill -HUP "$CA_PID"
	jq --argjson t "$table" '.issuers = $t | .timeouts.issuer = 2' \
		"$GW/gateway.json" >"$GW/gateway.json.new" && mv "$GW/gateway.json.new" "$GW/gateway.json"
fi

# --- The daemon -------------------------------------------------------------------
gw_start || exit 1
pass "the gateway daemon serves on an ephemeral port ($GW_ADDR)"
contains "  ... after fetching the CA certificates and CRLs of both brands" \
	"$GW/gateway.log" "serving on .* for 2 brands"
check "a merchant fetches the gateway's Visa certificates (PCertReq)" \
	drive --merchant "$T/m-visa" --brand Visa --pcert-only
same "  ... checked: signed by the gateway's Visa signature certificate" "$(outcome)" "pcert Visa"
check "  ... and its MasterCard certificates" \
	drive --merchant "$T/m-mc" --brand MasterCard --pcert-only
refuse "a merchant of one brand cannot ask for another brand's certificates" \
	drive --merchant "$T/m-visa" --brand MasterCard --pcert-only
contains "  ... bad-merchant-certificate: wrong-brand" "$T/out" "bad-merchant-certificate.*wrong-brand"
refuse "a client without a certificate is refused at the TLS handshake" \
	curl -sS --max-time 5 --cacert "$CA_DIR/root.pem" -d '{}' "https://$GW_ADDR/set"
refuse "a gateway's own TLS certificate is no merchant's: refused at the handshake" \
	curl -sS --max-time 5 --cacert "$CA_DIR/root.pem" --cert "$GW/tls/tls.pem" \
	--key "$GW/tls/tls.key" -d '{}' "https://$GW_ADDR/set"
contains "  ... and the log says why" "$GW/gateway.log" "client certificate refused"
same "a merchant's HTTP GET on /set gets 405" \
	"$(curl -sS --max-time 5 --cacert "$CA_DIR/root.pem" --cert "$T/m-visa/sig.pem" \
		--key "$T/m-visa/sig.key" -o /dev/null -w '%{http_code}' "https://$GW_ADDR/set")" 405
head -c 300000 /dev/zero | tr '\0' 'a' >"$T/big"
# The daemon answers 413 and closes at once: a client still sending may
# see the connection reset before it reads the answer.
code=$(curl -sS --max-time 5 --cacert "$CA_DIR/root.pem" --cert "$T/m-visa/sig.pem" \
	--key "$T/m-visa/sig.key" -o /dev/null -w '%{http_code}' \
	--data-binary @"$T/big" "https://$GW_ADDR/set" 2>/dev/null)
case "$code" in
413 | 000) pass "a body over the size limit gets 413 or a closed connection ($code)" ;;
*) fail "a body over the size limit gets 413 or a closed connection" "HTTP $code" ;;
esac
check "  ... and the daemon still serves" drive --merchant "$T/m-visa" --brand Visa --pcert-only

if [ $HAVE_ISSUER = 1 ]; then
	# --- Authorizations ---------------------------------------------------
	check "an authorization is approved" visa "$T/card-visa" --amount 1999 --save "$T/s1"
	contains "  ... with the issuer's authorization code" "$T/out" "^approved [A-Za-z0-9]+$"
	same "  ... and the issuer holds the amount" "$(held $VISA_PAN)" 1999
	XID1=$(set-gateway list -f "$GW/gateway.json" | awk 'NR == 2 {print $1}')
	contains "list shows the transaction with the masked card" \
		<(set-gateway list -f "$GW/gateway.json") "^$XID1 +shop-1 +424242\*{6}4242 +19\.99 EUR +approved"
	contains "show prints it in full" <(set-gateway show -f "$GW/gateway.json" "$XID1") \
		"^issuer: +First Visa Bank$"
	refuse "show of an unknown XID fails" set-gateway show -f "$GW/gateway.json" 00
	same "the database holds one approved transaction" \
		"$(gwdb "select count(*), status from transactions group by status")" "1|approved"

	refuse "a decline is an AuthRes, not an Error" visa "$T/card-visa" --amount 5101
	same "  ... declined with the issuer's reason" "$(outcome)" "declined insufficient-funds"
	same "  ... nothing more is held" "$(held $VISA_PAN)" 1999
	contains "  ... and it is recorded as declined" \
		<(set-gateway list -f "$GW/gateway.json" --status declined) "insufficient-funds"

	check "a MasterCard card is authorized by the MasterCard issuer" mc --amount 2500
	same "  ... held there" "$(mheld "$MPAN")" 2500
	contains "  ... and recorded for brand MasterCard" \
		<(gwdb "select brand, issuer from transactions where status = 'approved'") \
		"MasterCard\|Second MC Bank"

	# --- Attacks: each refused with its code, nothing held at the issuer ---
	attack() { # WHAT CODE OPTIONS...
		local what=$1 code=$2 before
		shift 2
		before=$(held $VISA_PAN)
		visa "$T/card-visa" "$@"
		case "$(outcome)" in
		"error $code:"*) pass "$what: refused with $code" ;;
		*) fail "$what: refused with $code" "$(outcome)" ;;
		esac
		same "  ... and nothing was authorized at the issuer" "$(held $VISA_PAN)" "$before"
	}
	attack "the merchant asks for another amount" amount-mismatch --tamper-amount
	attack "the merchant changes the order (HOD)" hod-mismatch --tamper-order
	attack "the PI of another purchase" bad-dual-signature --swap-pi
	attack "a card number that is not the certificate's" pan-mismatch --pan 4000056655665556
	attack "an AuthReq dated 15 minutes ago" stale --stale
	before=$(held $VISA_PAN)
	visa "$T/card-visa" --replay-pi --amount 700
	case "$(outcome)" in
	"error pi-replay:"*) pass "the same PI in a new AuthReq: refused with pi-replay" ;;
	*) fail "the same PI in a new AuthReq: refused with pi-replay" "$(outcome)" ;;
	esac
	same "  ... only the honest first AuthReq was held" "$(held $VISA_PAN)" $((before + 700))

	before=$(held $VISA_PAN)
	visa "$T/card-visa" --double --amount 800
	case "$(outcome)" in
	"error xid-authorized:"*) pass "a second PI for an authorized XID: refused with xid-authorized" ;;
	*) fail "a second PI for an authorized XID: refused with xid-authorized" "$(outcome)" ;;
	esac
	same "  ... only the first payment was held" "$(held $VISA_PAN)" $((before + 800))

	before=$(held $VISA_PAN)
	check "the same AuthReq twice gets the same AuthRes" visa "$T/card-visa" --repeat --amount 300
	same "  ... and one hold only" "$(held $VISA_PAN)" $((before + 300))

	# --- Routing: a card no issuer of the table handles ---------------------
	cp "$GW/gateway.json" "$T/gateway.json.keep"
	jq '.issuers[0].bins = ["411111"]' "$T/gateway.json.keep" >"$GW/gateway.json"
	gw_hup
	refuse "after HUP without a route for the card: declined" visa "$T/card-visa" --amount 100
	same "  ... as unknown-card, a normal AuthRes" "$(outcome)" "declined unknown-card"
	echo '{ broken' >"$GW/gateway.json"
	gw_hup
	contains "a broken config on HUP is refused, the old one stays" \
		"$GW/gateway.log" "configuration not reloaded"
	refuse "  ... still without the route" visa "$T/card-visa" --amount 100
	jq '.timeouts.isuer = 5' "$T/gateway.json.keep" >"$GW/gateway.json"
	gw_hup
	same "a config with an unknown key on HUP is refused too" \
		"$(grep -c "configuration not reloaded.*isuer: unknown key" "$GW/gateway.log")" 1
	cp "$T/gateway.json.keep" "$GW/gateway.json"
	gw_hup
	check "with the route back after HUP, approved again" visa "$T/card-visa" --amount 100

	# --- An issuer that does not answer in time -----------------------------
	# Test amount 5201 makes the Visa issuer answer after 3 s, later than
	# the gateway waits (2 s). An issuer build that cannot defer its
	# replies answers it at once; the issuer is then frozen (SIGSTOP)
	# instead, which is the same to the gateway.
	before=$(held $VISA_PAN)
	late=5201
	if grep -q "need deferred replies" "$V/issuer.log"; then
		late=5202
		kill -STOP "$VPID"
	fi
	refuse "the issuer not answering in time: an Error" \
		visa "$T/card-visa" --amount $late --save "$T/s5"
	[ $late = 5202 ] && kill -CONT "$VPID"
	case "$(outcome)" in
	"error issuer-unavailable:"*) pass "  ... issuer-unavailable" ;;
	*) fail "  ... issuer-unavailable" "$(outcome)" ;;
	esac
	same "  ... and the gateway stored nothing" \
		"$(gwdb "select count(*) from transactions where amount = $late")" 0
	if [ $late = 5201 ]; then
		# The issuer's late answer comes, and holds the amount.
		for _ in $(seq 100); do
			[ "$(held $VISA_PAN)" = $((before + late)) ] && break
			sleep 0.1
		done
	fi
	check "the merchant's retry (same bytes, same RRPID) is approved" \
		drive --merchant "$T/m-visa" --brand Visa --resend "$T/s5/authreq.wire"
	same "  ... one transaction" "$(gwdb "select count(*) from transactions where amount = $late")" 1
	same "  ... and one hold at the issuer (it saw the same request id)" \
		"$(held $VISA_PAN)" $((before + late))
	check "a second retry gets the stored AuthRes" \
		drive --merchant "$T/m-visa" --brand Visa --resend "$T/s5/authreq.wire"
	same "  ... and still one hold" "$(held $VISA_PAN)" $((before + late))

	# --- Third-party checks with the stock openssl -------------------------
	opened() { # WIRE RECIPIENT-DIR OUTPREFIX
		jq -r .sealed "$1" | base64 -d >"$3.sealed.der" &&
			openssl cms -decrypt -inform DER -in "$3.sealed.der" \
				-recip "$2/kex.pem" -inkey "$2/kex.key" >"$3.inner" &&
			jq -r .body "$3.inner" | base64 -d >"$3.body" &&
			jq -r .sig "$3.inner" | base64 -d >"$3.sig.der"
	}
	check "openssl opens the saved AuthReq with the gateway's key-exchange key" \
		opened "$T/s1/authreq.wire" "$GW/certs/Visa" "$T/s1/req"
	check "openssl cms -verify: the AuthReq is signed by the merchant" \
		openssl cms -verify -inform DER -in "$T/s1/req.sig.der" -content "$T/s1/req.body" \
		-binary -CAfile "$CA_DIR/root.pem" -purpose any -out /dev/null
	contains "  ... as setct-AuthReqTBS" \
		<(openssl cms -cmsout -print -inform DER -in "$T/s1/req.sig.der") "setct-AuthReqTBS"
	check "openssl opens the saved AuthRes with the merchant's key-exchange key" \
		opened "$T/s1/authres.wire" "$T/m-visa" "$T/s1/res"
	check "openssl cms -verify: the AuthRes is signed by the gateway" \
		openssl cms -verify -inform DER -in "$T/s1/res.sig.der" -content "$T/s1/res.body" \
		-binary -CAfile "$CA_DIR/root.pem" -purpose any -out /dev/null
	contains "  ... as setct-AuthResTBS" \
		<(openssl cms -cmsout -print -inform DER -in "$T/s1/res.sig.der") "setct-AuthResTBS"
	contains "  ... by gw-1" <(openssl cms -cmsout -print -inform DER -in "$T/s1/res.sig.der") "CN=gw-1"
	refuse "the capture token is opaque to the merchant" \
		bash -c "jq -r .capture_token '$T/s1/res.body' | base64 -d | grep -aq '$XID1'"
	refuse "the merchant's key does not open the gateway's capture token" \
		bash -c "jq -r .capture_token '$T/s1/res.body' | base64 -d >'$T/s1/token.der' &&
			openssl cms -decrypt -inform DER -in '$T/s1/token.der' \
			-recip '$T/m-visa/kex.pem' -inkey '$T/m-visa/kex.key'"

	# --- Revocation ------------------------------------------------------------
	check "a second card certificate is registered for the revocation test" \
		visa "$T/card-rev" --amount 100
	serial=$(openssl x509 -in "$T/card-rev/card.pem" -noout -serial | cut -d= -f2)
	check "the CA revokes that cardholder certificate" \
		set-ca revoke -f "$CA_DIR/ca.json" --reason keyCompromise "$serial"
	gw_hup
	before=$(held $VISA_PAN)
	refuse "after HUP the gateway refuses the revoked cardholder certificate" \
		visa "$T/card-rev" --amount 100
	contains "  ... bad-cardholder-certificate: revoked" "$T/out" \
		"^error bad-cardholder-certificate: .*revoked"
	same "  ... and nothing was held" "$(held $VISA_PAN)" "$before"

	check "merchant shop-3 is approved before its revocation" \
		drive --merchant "$T/m3" --brand Visa --ca "$CA_ADDR" --card "$VISA_PAN" \
		--expiry 2034-12 --cvv 123 --name "Alice Smith" --postcode 75001 \
		--card-dir "$T/card-visa" --amount 100
	mserial=$(openssl x509 -in "$T/m3/sig.pem" -noout -serial | cut -d= -f2)
	check "the CA revokes shop-3's signature certificate" \
		set-ca revoke -f "$CA_DIR/ca.json" "$mserial"
	gw_stop
	gw_start || exit 1
	before=$(held $VISA_PAN)
	m3() {
		drive --merchant "$T/m3" --brand Visa --ca "$CA_ADDR" --card "$VISA_PAN" \
			--expiry 2034-12 --cvv 123 --name "Alice Smith" --postcode 75001 \
			--card-dir "$T/card-visa" --amount 100 "$@"
	}
	refuse "after a restart the revoked merchant is refused at the TLS handshake" m3
	refuse "the revoked merchant's AuthReq over another merchant's TLS is refused" \
		m3 --tls-merchant "$T/m-visa"
	contains "  ... bad-merchant-certificate: revoked" "$T/out" \
		"^error bad-merchant-certificate: .*revoked"
	same "  ... and nothing was held" "$(held $VISA_PAN)" "$before"

	# --- Hostile input ----------------------------------------------------------
	visa "$T/card-visa" --malformed
	cat "$T/out"
	check "after hostile input the daemon still serves" visa "$T/card-visa" --amount 100

	# --- Restart keeps everything ---------------------------------------------
	before=$(gwdb "select count(*) from transactions")
	gw_stop
	same "TERM stops the daemon with status 0" "$?" 0
	refuse "  ... and removes its pidfile" test -e "$GW/gateway.pid"
	gw_start || exit 1
	same "a restarted gateway keeps every transaction" \
		"$(gwdb "select count(*) from transactions")" "$before"
	check "  ... and answers a repeated AuthReq from its stored replies" \
		drive --merchant "$T/m-visa" --brand Visa --resend "$T/s1/authreq.wire" \
		--save "$T/s1r"
	check "  ... byte for byte the AuthRes it sent the first time" \
		cmp "$T/s1/authres.wire" "$T/s1r/authres.wire"
	same "the database is intact" "$(gwdb "pragma integrity_check")" ok
	kill -KILL "$GW_PID"
	wait "$GW_PID" 2>/dev/null
	TEST_PIDS=$(echo "$TEST_PIDS" | sed "s/ $GW_PID//")
	gw_start || exit 1
	pass "after kill -9 the gateway starts again (stale pidfile replaced)"
	same "  ... with every transaction" "$(gwdb "select count(*) from transactions")" "$before"
	same "  ... and an intact database" "$(gwdb "pragma integrity_check")" ok

	# --- Card data never leaks -------------------------------------------------
	check "the scan works (control: the masked card is in the database)" \
		grep -aq "424242\*\*\*\*\*\*4242" "$GW/gateway.db" "$GW"/gateway.db-wal
	refuse "no full Visa card number in the gateway's database files" \
		grep -aq "$VISA_PAN" "$GW"/gateway.db "$GW"/gateway.db-wal "$GW"/gateway.db-shm
	refuse "no full MasterCard number in the gateway's database files" \
		grep -aq "$MPAN" "$GW"/gateway.db "$GW"/gateway.db-wal
	refuse "no full card number in the gateway's log" \
		grep -Eq "$VISA_PAN|$MPAN" "$GW/gateway.log"
	refuse "no Luhn-valid 13-19 digit run in the gateway's log" \
		bash -c "grep -Eo '[0-9]+' '$GW/gateway.log' | awk 'length >= 13 && length <= 19' | while read -r n; do
			s=0; l=\${#n}; for ((i = 0; i < l; i++)); do d=\${n:l-1-i:1};
			((i % 2)) && { d=\$((d * 2)); ((d > 9)) && d=\$((d - 9)); }; s=\$((s + d)); done;
			((s % 10 == 0)) && exit 0; done; exit 1"
	refuse "no CVV column anywhere in the gateway's schema" \
		bash -c "sqlite3 '$GW/gateway.db' .schema | grep -qi cvv"
fi

gw_stop
same "TERM stops the gateway cleanly" "$?" 0

# --- A gateway whose own certificate is revoked does not serve ---------------
gserial=$(openssl x509 -in "$GW/certs/Visa/sig.pem" -noout -serial | cut -d= -f2)
check "the CA revokes the gateway's Visa signature certificate" \
	set-ca revoke -f "$CA_DIR/ca.json" --reason keyCompromise "$gserial"
refuse "the gateway then refuses to start" \
	timeout 30 set-gateway serve -d -f "$GW/gateway.json"
contains "  ... saying which certificate is not good" "$T/last.out" \
	"Visa certificates in certs/Visa are not good: .*revoked"
