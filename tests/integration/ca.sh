#!/bin/bash
# The CA end to end, against the real daemon over TLS on loopback: a new
# hierarchy, merchant and gateway enrollment with tokens and by approval,
# certificates checked by the stock `openssl verify` and by our own checker,
# revocation through the CRL, hostile input, restarts.
. "$SET_TOP/tests/lib.sh"

export SET_OPERATOR=alice
CA_DIR=$T/ca
ca_init "$CA_DIR" Visa MasterCard
check "init creates a hierarchy with two brands" test -s "$CA_DIR/ca.db"
same "the root key is written with mode 0600" \
	"$(stat -c %a "$CA_DIR/offline/root.key")" 600
same "online CA keys are written with mode 0600" \
	"$(stat -c %a "$CA_DIR"/keys/*.key | sort -u)" 600
refuse "the daemon's config never names the root key" \
	grep -q "root.key" "$CA_DIR/ca.json"
refuse "init refuses a folder that already holds a hierarchy" \
	set-ca init -D "$CA_DIR" --brand Visa
refuse "init refuses a brand name with spaces" \
	set-ca init -D "$T/bad" --brand "Visa Card"
check "serve -n checks the configuration" set-ca serve -n -f "$CA_DIR/ca.json"

ca_start "$CA_DIR" || exit 1
pass "the CA daemon serves on an ephemeral port ($CA_PORT)"
check "the daemon's own CA certificates verify with openssl" \
	openssl verify -CAfile "$CA_DIR/root.pem" "$CA_DIR/root.pem"

# --- Enrollment with tokens -------------------------------------------------
MTOKEN=$(set-ca token -f "$CA_DIR/ca.json" --role merchant --id shop-1 --brand Visa 2>/dev/null)
GTOKEN=$(set-ca token -f "$CA_DIR/ca.json" --role gateway --id gw-1 --brand Visa 2>/dev/null)
same "a token is 32 hex digits" "$(echo "$MTOKEN" | grep -Ec '^[0-9a-f]{32}$')" 1
refuse "the database never holds the token itself" \
	grep -qa "$MTOKEN" "$CA_DIR/ca.db"

check "a merchant enrolls with its token over TLS" \
	set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role merchant \
	--id shop-1 --name "Shop One" --brand Visa --token "$MTOKEN" --out "$T/m1"
check "a gateway enrolls with its token over TLS" \
	set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role gateway \
	--id gw-1 --brand Visa --token "$GTOKEN" --out "$T/g1"
same "the merchant's private keys are mode 0600" \
	"$(stat -c %a "$T/m1/sig.key") $(stat -c %a "$T/m1/kex.key")" "600 600"

for who in m1 g1; do
	for c in sig kex; do
		check "openssl verify: $who $c certificate chains to the root with CRLs" \
			openssl verify -CAfile "$T/$who/root.pem" -untrusted "$T/$who/chain.pem" \
			-crl_check_all -CRLfile "$T/$who/crl.pem" "$T/$who/$c.pem"
	done
done
contains "the merchant certificate carries the SET certificateType extension" \
	<(openssl x509 -in "$T/m1/sig.pem" -noout -text) "setCext-certType|2\.23\.42\.7\.1"
contains "the signature certificate is for signing only" \
	<(openssl x509 -in "$T/m1/sig.pem" -noout -ext keyUsage) "Digital Signature"
refuse "the signature certificate cannot do key agreement" \
	grep -q "Key Agreement" <(openssl x509 -in "$T/m1/sig.pem" -noout -ext keyUsage)
contains "the key-exchange certificate is for key agreement" \
	<(openssl x509 -in "$T/m1/kex.pem" -noout -ext keyUsage) "Key Agreement"
contains "path lengths are constrained in the issuing CA" \
	<(openssl x509 -in "$T/m1/chain.pem" -noout -ext basicConstraints) "pathlen:0"

V="set-verify --root $CA_DIR/root.pem --chain $T/m1/chain.pem --crl $T/m1/crl.pem"
check "our checker accepts the merchant signature certificate as a merchant's" \
	$V --role merchant --usage sign --brand Visa "$T/m1/sig.pem"
refuse "a merchant certificate cannot act as a gateway" \
	$V --role gateway --usage sign "$T/m1/sig.pem"
contains "  ... and the reason names the role" "$T/last.out" "wrong-role"
refuse "a merchant's key-exchange certificate cannot sign" \
	$V --role merchant --usage sign "$T/m1/kex.pem"
refuse "a merchant certificate is refused for another brand" \
	$V --role merchant --brand MasterCard "$T/m1/sig.pem"
refuse "a merchant certificate is refused once expired" \
	$V --role merchant --at $(($(date +%s) + 400 * 86400)) "$T/m1/sig.pem"
contains "  ... as expired" "$T/last.out" "expired"
refuse "a merchant certificate is refused before its validity" \
	$V --role merchant --at $(($(date +%s) - 86400)) "$T/m1/sig.pem"

check "our checker learns the CA certificates and current CRLs from the CA (crlfetch)" \
	set-verify --root "$CA_DIR/root.pem" --fetch "$CA_ADDR" --brand Visa \
	--role merchant --usage sign "$T/m1/sig.pem"
refuse "  ... and without them it cannot check the certificate" \
	set-verify --root "$CA_DIR/root.pem" --role merchant "$T/m1/sig.pem"

# --- A foreign hierarchy ----------------------------------------------------
ca_init "$T/evil" Visa
check "a second, foreign hierarchy can be made" test -s "$T/evil/root.pem"
refuse "a certificate from a foreign hierarchy is refused" \
	set-verify --root "$CA_DIR/root.pem" --no-crl "$T/evil/root.pem"
contains "  ... as unknown-issuer" "$T/last.out" "unknown-issuer"
refuse "the enrollment client refuses a CA it cannot chain to its root" \
	set-enroll --ca "$CA_ADDR" --root "$T/evil/root.pem" --role merchant \
	--id shop-x --brand Visa --token "$MTOKEN" --out "$T/mx"

# --- Pending requests: approval and rejection ---------------------------------
set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role merchant \
	--id shop-2 --brand MasterCard --out "$T/m2" >"$T/m2.out" 2>&1
same "a request without a token waits for approval (exit 3)" "$?" 3
REQ=$(set-ca list -f "$CA_DIR/ca.json" requests --status pending | awk '$3 == "shop-2" { print $1 }')
check "the operator sees the pending request" test -n "$REQ"
set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role merchant \
	--id shop-2 --brand MasterCard --out "$T/m2" --poll >/dev/null 2>&1
same "polling before approval is still pending" "$?" 3
check "the operator approves it" set-ca approve -f "$CA_DIR/ca.json" "$REQ"
check "the requester collects its certificates by polling" \
	set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role merchant \
	--id shop-2 --brand MasterCard --out "$T/m2" --poll
check "  ... and they verify under the MasterCard brand" \
	set-verify --root "$CA_DIR/root.pem" --chain "$T/m2/chain.pem" \
	--crl "$T/m2/crl.pem" --role merchant --brand MasterCard "$T/m2/sig.pem"

set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role gateway \
	--id gw-2 --brand Visa --out "$T/g2" >/dev/null 2>&1
REQ2=$(set-ca list -f "$CA_DIR/ca.json" requests --status pending | awk '$3 == "gw-2" { print $1 }')
check "the operator rejects a request with a reason" \
	set-ca reject -f "$CA_DIR/ca.json" --reason "unknown acquirer" "$REQ2"
set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role gateway \
	--id gw-2 --brand Visa --out "$T/g2" --poll >"$T/g2.out" 2>&1
same "a rejected request is reported as rejected (exit 4)" "$?" 4
contains "  ... with the operator's reason" "$T/g2.out" "unknown acquirer"
refuse "approving a rejected request is refused" \
	set-ca approve -f "$CA_DIR/ca.json" "$REQ2"

# --- Hostile input --------------------------------------------------------------
EXPIRED=$(at_time "-3h" set-ca token -f "$CA_DIR/ca.json" --role merchant \
	--id late-merchant --brand Visa --valid 1h 2>/dev/null)
check "an already-expired token can be made for the test (faketime)" test -n "$EXPIRED"
GW3=$(set-ca token -f "$CA_DIR/ca.json" --role gateway --id gw-x --brand Visa 2>/dev/null)
db() { sqlite3 "$CA_DIR/ca.db" "$1"; }
before_req=$(db "select count(*) from requests")
before_cert=$(db "select count(*) from certs")
before_used=$(db "select count(*) from tokens where used_at is not null")
ca-attack --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --used-token "$MTOKEN" \
	--expired-token "$EXPIRED" --gateway-token "$GW3" | tee "$T/attack.out" |
	grep -E '^(PASS|FAIL)' || true
grep -q "^FAIL" "$T/attack.out" && TEST_FAILED=1
same "hostile input wrote no certificate" "$(db "select count(*) from certs")" "$before_cert"
same "hostile input used no token" \
	"$(db "select count(*) from tokens where used_at is not null")" "$before_used"
same "only the one deliberate pending request was recorded, once" \
	"$(db "select count(*) from requests")" "$((before_req + 1))"
same "nothing half-written: the database passes integrity_check" \
	"$(db "pragma integrity_check")" ok

# Over the limit: HTTP 413, or (when the server closes while curl is still
# sending) a reset; never an answer to the message.
curl -sS --max-time 10 --cacert "$CA_DIR/root.pem" -o /dev/null -w '%{http_code}' \
	-H 'Content-Type: application/json' --data-binary @<(head -c 200000 /dev/zero | tr '\0' 'a') \
	"https://$CA_ADDR/set" >"$T/big.out" 2>/dev/null
big_rc=$?
check "a body over the limit is refused (HTTP 413 or connection reset; got $(cat "$T/big.out") rc $big_rc)" \
	test "$(cat "$T/big.out")" = 413 -o "$big_rc" = 55 -o "$big_rc" = 56
printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | timeout 5 bash -c "cat > /dev/tcp/127.0.0.1/$CA_PORT" 2>/dev/null
head -c 300 /dev/urandom | timeout 5 bash -c "cat > /dev/tcp/127.0.0.1/$CA_PORT" 2>/dev/null
refuse "TLS 1.2 is refused (TLS 1.3 only)" \
	curl -sS --max-time 5 --cacert "$CA_DIR/root.pem" --tlsv1.2 --tls-max 1.2 \
	"https://$CA_ADDR/root.pem"
refuse "a client certificate from a foreign hierarchy is refused" \
	curl -sS --max-time 5 --cacert "$CA_DIR/root.pem" --cert "$T/evil/root.pem" \
	--key "$T/evil/offline/root.key" "https://$CA_ADDR/root.pem"
check "after plain HTTP, random bytes and bad TLS the daemon still serves" \
	ca_curl -o "$T/root-served.pem" "https://$CA_ADDR/root.pem"
check "  ... and the root it serves is ours" cmp "$T/root-served.pem" "$CA_DIR/root.pem"
check "a merchant's certificate works as a TLS client certificate (mutual TLS)" \
	ca_curl --cert "$T/m1/sig.pem" --key "$T/m1/sig.key" -o /dev/null "https://$CA_ADDR/root.pem"

# --- Renewal over mutual TLS -------------------------------------------------
check "a gateway renews over mutual TLS with its current certificate, no token" \
	set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role gateway \
	--id gw-1 --brand Visa --out "$T/g1-new" --tls-cert "$T/g1/sig.pem" --tls-key "$T/g1/sig.key"
check "  ... and the renewed certificate verifies as the gateway's" \
	set-verify --root "$CA_DIR/root.pem" --chain "$T/g1-new/chain.pem" \
	--crl "$T/g1-new/crl.pem" --role gateway --usage sign "$T/g1-new/sig.pem"
refuse "  ... with a new key" cmp <(openssl x509 -in "$T/g1/sig.pem" -noout -pubkey) \
	<(openssl x509 -in "$T/g1-new/sig.pem" -noout -pubkey)
set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role gateway --id gw-1 \
	--brand Visa --out "$T/g1-steal" --tls-cert "$T/m2/sig.pem" --tls-key "$T/m2/sig.key" \
	>/dev/null 2>&1
same "another party's certificate does not renew gw-1: the request waits (exit 3)" "$?" 3
set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role gateway --id gw-1 \
	--brand Visa --out "$T/g1-kex" --tls-cert "$T/g1/kex.pem" --tls-key "$T/g1/kex.key" \
	>"$T/kex-tls.out" 2>&1
refuse "a key-exchange certificate cannot even complete a TLS handshake as a client" \
	grep -q "^issued" "$T/kex-tls.out"

# --- HUP reloads the configuration ----------------------------------------------
jq '.tokens.valid_hours = 1' "$CA_DIR/ca.json" >"$T/ca.json.new" && cp "$T/ca.json.new" "$CA_DIR/ca.json"
jq '.validity_days.gateway = 30' "$CA_DIR/ca.json" >"$T/ca.json.new" && cp "$T/ca.json.new" "$CA_DIR/ca.json"
kill -HUP "$CA_PID"
sleep 0.5
tok=$(set-ca token -f "$CA_DIR/ca.json" --role gateway --id gw-30 --brand Visa 2>/dev/null)
set-enroll --ca "$CA_ADDR" --root "$CA_DIR/root.pem" --role gateway --id gw-30 \
	--brand Visa --token "$tok" --out "$T/g30" >/dev/null 2>&1
days=$(( ( $(date -d "$(openssl x509 -in "$T/g30/sig.pem" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s) ) / 86400 ))
check "after HUP the daemon issues with the reloaded lifetime (30 days, not 365; got $days)" \
	test "$days" -ge 29 -a "$days" -le 30
echo '{ "listen": ' >"$T/broken.json"
cp "$CA_DIR/ca.json" "$T/good.json"
cp "$T/broken.json" "$CA_DIR/ca.json"
kill -HUP "$CA_PID"
sleep 0.5
check "a broken config on HUP is refused and the daemon keeps serving" \
	ca_curl -o /dev/null "https://$CA_ADDR/root.pem"
contains "  ... saying why in its log" "$CA_DIR/ca.log" "configuration not reloaded"
cp "$T/good.json" "$CA_DIR/ca.json"

# --- Revocation --------------------------------------------------------------------
# As an operator might type it: upper case, leading zeros dropped.
SERIAL_FULL=$(openssl x509 -in "$T/m1/sig.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
SERIAL=$(echo "$SERIAL_FULL" | tr 'a-f' 'A-F' | sed 's/^0*//')
check "the operator revokes the merchant's signature certificate (serial typed loosely)" \
	set-ca revoke -f "$CA_DIR/ca.json" --reason keyCompromise "$SERIAL"
refuse "revoking it twice is refused" set-ca revoke -f "$CA_DIR/ca.json" "$SERIAL"
refuse "an unknown revocation reason is refused" \
	set-ca revoke -f "$CA_DIR/ca.json" --reason whim "$SERIAL"
ca_curl -o "$T/mca.crl" "https://$CA_ADDR/crl/visa-mca" 
check "the new CRL is served over HTTPS and parses" \
	openssl crl -inform DER -in "$T/mca.crl" -noout
contains "the new CRL lists the serial" <(openssl crl -inform DER -in "$T/mca.crl" -noout -text) \
	"Serial Number: 0*$SERIAL"
contains "  ... with the reason" <(openssl crl -inform DER -in "$T/mca.crl" -noout -text) \
	"Key Compromise"
contains "the CRL has a number that went up" <(openssl crl -inform DER -in "$T/mca.crl" -noout -crlnumber) \
	"crlNumber=0x0*2$"
set-ca crl -f "$CA_DIR/ca.json" visa-mca >"$T/mca-op.pem"
check "set-ca crl prints the same CRL" \
	cmp <(openssl crl -in "$T/mca-op.pem" -outform DER) "$T/mca.crl"
cat "$T/mca-op.pem" <(set-ca crl -f "$CA_DIR/ca.json" root) \
	<(set-ca crl -f "$CA_DIR/ca.json" visa-bca) >"$T/crl-now.pem"
refuse "openssl verify -crl_check now fails for the revoked certificate" \
	openssl verify -CAfile "$CA_DIR/root.pem" -untrusted "$T/m1/chain.pem" \
	-crl_check -CRLfile "$T/crl-now.pem" "$T/m1/sig.pem"
contains "  ... because it is revoked" "$T/last.out" "revoked"
check "  ... while the gateway's certificate still verifies" \
	openssl verify -CAfile "$CA_DIR/root.pem" -untrusted "$T/g1/chain.pem" \
	-crl_check -CRLfile <(cat "$T/g1/crl.pem"; ca_curl "https://$CA_ADDR/crl/visa-pca" | openssl crl -inform DER) \
	"$T/g1/sig.pem"
refuse "our checker refuses the revoked certificate too" \
	set-verify --root "$CA_DIR/root.pem" --chain "$T/m1/chain.pem" --crl "$T/crl-now.pem" \
	--role merchant "$T/m1/sig.pem"
contains "  ... as revoked" "$T/last.out" "revoked"
refuse "a checker that fetches the current CRLs from the CA refuses it too" \
	set-verify --root "$CA_DIR/root.pem" --fetch "$CA_ADDR" --brand Visa \
	--role merchant "$T/m1/sig.pem"
contains "  ... as revoked" "$T/last.out" "revoked"
refuse "the daemon refuses the revoked certificate as a TLS client certificate" \
	ca_curl --cert "$T/m1/sig.pem" --key "$T/m1/sig.key" -o /dev/null "https://$CA_ADDR/root.pem"
ca_curl -o "$T/visa.bci" "https://$CA_ADDR/bci/Visa"
check "the brand's BCI verifies with openssl cms as signed by the brand CA" \
	openssl cms -verify -inform DER -in "$T/visa.bci" -CAfile "$CA_DIR/root.pem" \
	-certfile "$T/m1/chain.pem" -purpose any -out "$T/bci.json"
contains "  ... and names the new CRL's hash" "$T/bci.json" "$(sha256sum "$T/mca.crl" | cut -c1-64)"

# --- The audit trail -----------------------------------------------------------------
set-ca list -f "$CA_DIR/ca.json" audit >"$T/audit.out"
contains "the audit log records tokens by who made them" "$T/audit.out" "alice +token"
contains "the audit log records the approval" "$T/audit.out" "approve +$REQ"
contains "the audit log records the rejection" "$T/audit.out" "reject +$REQ2"
contains "the audit log records the revocation" "$T/audit.out" "revoke +$SERIAL_FULL"

# --- Restart keeps everything ---------------------------------------------------------
snapshot() {
	for t in certs requests tokens crls audit; do
		db "select * from $t order by rowid" | sha256sum
	done
}
kill -HUP "$CA_PID"
check "after HUP the daemon still serves" ca_curl -o /dev/null "https://$CA_ADDR/root.pem"
snapshot >"$T/before"
ca_stop
same "TERM stops the daemon cleanly (exit 0)" "$?" 0
refuse "the pidfile is removed on a clean stop" test -e "$CA_DIR/ca.pid"
snapshot >"$T/after-stop"
check "stopping the daemon changed no record" cmp "$T/before" "$T/after-stop"
ca_start "$CA_DIR" || exit 1
snapshot >"$T/after-restart"
check "after a restart, every certificate, request, token, CRL and audit entry is kept" \
	cmp "$T/before" "$T/after-restart"
refuse "after a restart, the revoked certificate is still refused" \
	ca_curl --cert "$T/m1/sig.pem" --key "$T/m1/sig.key" -o /dev/null "https://$CA_ADDR/root.pem"
check "after a restart, a new token still enrolls a gateway" bash -c "
	tok=\$(set-ca token -f '$CA_DIR/ca.json' --role gateway --id gw-9 --brand MasterCard 2>/dev/null) &&
	set-enroll --ca '$CA_ADDR' --root '$CA_DIR/root.pem' --role gateway --id gw-9 \
		--brand MasterCard --token \"\$tok\" --out '$T/g9'"
kill -KILL "$CA_PID"
wait "$CA_PID" 2>/dev/null
TEST_PIDS=""
same "after kill -9 the database passes integrity_check" "$(db "pragma integrity_check")" ok
ca_start "$CA_DIR" || exit 1
check "after kill -9 the daemon starts again and serves" \
	ca_curl -o /dev/null "https://$CA_ADDR/crl/visa-pca"
check "no log line holds a token" bash -c "! grep -q '$MTOKEN' '$CA_DIR/ca.log'"
ca_stop
