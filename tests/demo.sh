#!/bin/bash
# The scripted demo, on loopback, from nothing: a bank creates a SET
# certificate hierarchy and starts its CA; a merchant and a payment gateway
# enroll with one-time tokens over TLS; an unknown requester waits for the
# operator's approval; the operator revokes a certificate and the next CRL
# lists it; everything is checked with the stock openssl tools; the CA stops
# cleanly.
#
#   tests/demo.sh BUILD_DIR [WORK_DIR]
#
# WORK_DIR (default: a new temporary folder) keeps every file for a look.
set -euo pipefail

build=$(cd "${1:?usage: tests/demo.sh BUILD_DIR [WORK_DIR]}" && pwd)
export PATH="$build/bin:$build/tests:$PATH"
work=${2:-$(mktemp -d "${TMPDIR:-/tmp}/set-demo.XXXXXX")}
mkdir -p "$work"
export SET_OPERATOR=demo-operator
ca_pid=""

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
run() { printf '   $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/     /'; }
stop_ca() {
	if [ -n "$ca_pid" ] && kill -0 "$ca_pid" 2>/dev/null; then
		kill -TERM "$ca_pid"
		wait "$ca_pid" || true
	fi
}
trap stop_ca EXIT

bold "1. The bank creates a SET certificate hierarchy (two brands)"
run set-ca init -D "$work/ca" --brand Visa --brand MasterCard --listen 127.0.0.1:0
say "root: $(openssl x509 -in "$work/ca/root.pem" -noout -subject -fingerprint -sha256 | tr '\n' ' ')"

bold "2. The CA daemon starts (TLS 1.3 on an ephemeral loopback port)"
set-ca serve -d -f "$work/ca/ca.json" 2>"$work/ca/ca.log" &
ca_pid=$!
for _ in $(seq 100); do [ -s "$work/ca/ca.port" ] && break; sleep 0.1; done
port=$(cat "$work/ca/ca.port")
say "set-ca serve is running as pid $ca_pid on 127.0.0.1:$port (log: $work/ca/ca.log)"

bold "3. The operator makes one-time enrollment tokens"
mtok=$(set-ca token -f "$work/ca/ca.json" --role merchant --id acme-books --brand Visa 2>/dev/null)
gtok=$(set-ca token -f "$work/ca/ca.json" --role gateway --id acquirer-gw --brand Visa 2>/dev/null)
say "merchant acme-books: ${mtok:0:8}...  gateway acquirer-gw: ${gtok:0:8}...  (shown once)"

bold "4. The merchant and the gateway enroll over TLS"
run set-enroll --ca "127.0.0.1:$port" --root "$work/ca/root.pem" --role merchant \
	--id acme-books --name "Acme Books" --brand Visa --token "$mtok" --out "$work/merchant"
run set-enroll --ca "127.0.0.1:$port" --root "$work/ca/root.pem" --role gateway \
	--id acquirer-gw --name "Acquirer Gateway" --brand Visa --token "$gtok" --out "$work/gateway"
for who in merchant gateway; do
	for c in sig kex; do
		say "$who $c: $(openssl x509 -in "$work/$who/$c.pem" -noout -subject -ext keyUsage |
			tr '\n' ' ' | tr -s ' ')"
	done
done

bold "5. Anyone can check them with the stock openssl verify (root, chain, CRLs)"
run openssl verify -CAfile "$work/ca/root.pem" -untrusted "$work/merchant/chain.pem" \
	-crl_check_all -CRLfile "$work/merchant/crl.pem" "$work/merchant/sig.pem" "$work/merchant/kex.pem"

bold "6. A request without a token waits for the operator"
set +e
set-enroll --ca "127.0.0.1:$port" --root "$work/ca/root.pem" --role merchant \
	--id corner-shop --brand MasterCard --out "$work/corner" 2>&1 | sed 's/^/     /'
set -e
run set-ca list -f "$work/ca/ca.json" requests --status pending
req=$(set-ca list -f "$work/ca/ca.json" requests --status pending | awk '$3 == "corner-shop" { print $1 }')
run set-ca approve -f "$work/ca/ca.json" "$req"
run set-enroll --ca "127.0.0.1:$port" --root "$work/ca/root.pem" --role merchant \
	--id corner-shop --brand MasterCard --out "$work/corner" --poll

bold "7. The operator revokes the merchant's signature certificate"
serial=$(openssl x509 -in "$work/merchant/sig.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
run set-ca revoke -f "$work/ca/ca.json" --reason keyCompromise "$serial"
curl -sS --cacert "$work/ca/root.pem" -o "$work/visa-mca.crl" "https://127.0.0.1:$port/crl/visa-mca"
say "the CRL served over HTTPS now says:"
openssl crl -inform DER -in "$work/visa-mca.crl" -noout -text |
	grep -E "CRL Number|Next Update|Serial Number|Reason|Key Compromise" | sed 's/^/     /' | head -8

bold "8. openssl verify with the new CRL now refuses the revoked certificate"
openssl crl -inform DER -in "$work/visa-mca.crl" >"$work/crl-now.pem"
set-ca crl -f "$work/ca/ca.json" root >>"$work/crl-now.pem"
set-ca crl -f "$work/ca/ca.json" visa-bca >>"$work/crl-now.pem"
set +e
openssl verify -CAfile "$work/ca/root.pem" -untrusted "$work/merchant/chain.pem" \
	-crl_check_all -CRLfile "$work/crl-now.pem" "$work/merchant/sig.pem" 2>&1 | sed 's/^/     /'
set -e
say "(the gateway's certificate is unaffected:)"
run openssl verify -CAfile "$work/ca/root.pem" -untrusted "$work/gateway/chain.pem" \
	-crl_check -CRLfile "$work/gateway/crl.pem" "$work/gateway/sig.pem"

bold "9. The audit trail"
run set-ca list -f "$work/ca/ca.json" audit

bold "10. The CA stops cleanly"
kill -TERM "$ca_pid"
wait "$ca_pid" && say "set-ca exited with status 0"
ca_pid=""
say "everything is kept in $work"
