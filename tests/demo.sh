#!/bin/bash
# The scripted demo, on loopback, from nothing: a bank creates a SET
# certificate hierarchy and starts its CA; a merchant and a payment gateway
# enroll with one-time tokens over TLS; an unknown requester waits for the
# operator's approval; a card issuer opens an account and the cardholder
# registers the card from the wallet, getting a certificate that proves the
# card without containing it; a payment gateway and a shop go live and Alice
# buys: one purchase approved, one declined, each party seeing only its
# half; the operator revokes a certificate and the next CRL lists it; everything is checked with the stock openssl tools; the
# daemons stop cleanly.
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
iss_pid=""
gw_pid=""
shop_pid=""

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
run() { printf '   $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/     /'; }
stop_ca() {
	if [ -n "$ca_pid" ] && kill -0 "$ca_pid" 2>/dev/null; then
		kill -TERM "$ca_pid"
		wait "$ca_pid" || true
	fi
}
stop_all() {
	for p in $shop_pid $gw_pid; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p"
			wait "$p" || true
		fi
	done
	stop_ca
	if [ -n "$iss_pid" ] && kill -0 "$iss_pid" 2>/dev/null; then
		kill -TERM "$iss_pid"
		wait "$iss_pid" || true
	fi
}
trap stop_all EXIT

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

bold "7. A card issuer joins: its TLS certificate, an account, the CA's issuers table"
run set-ca tls-cert -f "$work/ca/ca.json" --id issuer-visa --brand Visa --out "$work/issuer-tls"
run set-issuer init -D "$work/issuer" --name "First Visa Bank" --brand Visa --bin 424242 \
	--listen 127.0.0.1:0 --tls "$work/issuer-tls"
set-issuer serve -d -f "$work/issuer/issuer.json" 2>"$work/issuer/issuer.log" &
iss_pid=$!
for _ in $(seq 100); do [ -s "$work/issuer/issuer.port" ] && break; sleep 0.1; done
iss_port=$(cat "$work/issuer/issuer.port")
say "set-issuer serve is running as pid $iss_pid on 127.0.0.1:$iss_port"
set-issuer open -f "$work/issuer/issuer.json" --name "Alice Example" --postcode 75001 \
	--limit 150000 >"$work/alice.card" 2>/dev/null
pan=$(awk '$1 == "card" { print $2 }' "$work/alice.card")
exp=$(awk '$1 == "expiry" { print $2 }' "$work/alice.card")
cvv=$(awk '$1 == "cvv" { print $2 }' "$work/alice.card")
say "the bank opened an account for Alice: card ${pan:0:6}******${pan: -4}, expiry $exp (CVV sent to her by post)"
jq --argjson port "$iss_port" '.issuers = [{"name": "First Visa Bank", "brand": "Visa",
	"bins": ["424242"], "address": "127.0.0.1", "port": $port,
	"fields": ["name", "postcode", "expiry", "cvv"]}]' "$work/ca/ca.json" >"$work/ca/ca.json.new"
mv "$work/ca/ca.json.new" "$work/ca/ca.json"
kill -HUP "$ca_pid"
sleep 0.5
say "the CA's issuers table now routes Visa cards 424242... to First Visa Bank (reloaded with HUP)"

bold "8. Alice registers her card from the wallet"
printf 'correct horse battery staple\n' >"$work/alice.pass"
chmod 600 "$work/alice.pass"
wallet() { set-wallet -w "$work/alice-wallet" --passphrase-file "$work/alice.pass" "$@"; }
run wallet init
set +e
say "first with a mistyped security code:"
wallet register --ca "127.0.0.1:$port" --root "$work/ca/root.pem" --brand Visa \
	--pan "$pan" --expiry "$exp" --cvv 000 --name "Alice Example" --postcode 75001 2>&1 |
	sed 's/^/     /'
set -e
say "then with the right one:"
wallet register --ca "127.0.0.1:$port" --root "$work/ca/root.pem" --brand Visa \
	--pan "$pan" --expiry "$exp" --cvv "$cvv" --name "Alice Example" --postcode 75001 \
	--label alice-visa 2>&1 | sed 's/^/     /'
run wallet cards
run wallet show alice-visa
say "the certificate's subject is a keyed hash of the card, never the number:"
sqlite3 "$work/ca/ca.db" "select subject from certs where role = 'cardholder'" | sed 's/^/     /'
if sqlite3 "$work/alice-wallet/wallet.db" .dump | grep -q "$pan" ||
	sqlite3 "$work/ca/ca.db" .dump | grep -q "$pan"; then
	say "!! a card number was found in a database"
	exit 1
fi
say "neither the wallet's database nor the CA's holds the card number in clear"

# wait_port FILE: waits for a daemon's port file, prints the port.
wait_port() {
	for _ in $(seq 100); do [ -s "$1" ] && break; sleep 0.1; done
	cat "$1"
}

bold "9. The payment gateway and a shop go live"
run set-gateway init -D "$work/gw" --id gw-1 --brand Visa --ca "127.0.0.1:$port" \
	--root "$work/ca/root.pem" --listen 127.0.0.1:0
tok=$(set-ca token -f "$work/ca/ca.json" --role gateway --id gw-1 --brand Visa 2>/dev/null)
run set-gateway enroll -f "$work/gw/gateway.json" --brand Visa --token "$tok"
set-ca tls-cert -f "$work/ca/ca.json" --id gw-1 --brand Visa --out "$work/gw/tls" >/dev/null
jq --argjson p "$iss_port" '.issuers = [{"name": "First Visa Bank", "brand": "Visa",
	"bins": ["424242"], "address": "127.0.0.1", "port": $p}]' "$work/gw/gateway.json" \
	>"$work/gw/gateway.json.new" && mv "$work/gw/gateway.json.new" "$work/gw/gateway.json"
jq '.clients = ["set-ca", "gw-1"]' "$work/issuer/issuer.json" >"$work/issuer/issuer.json.new" &&
	mv "$work/issuer/issuer.json.new" "$work/issuer/issuer.json"
kill -HUP "$iss_pid"
set-gateway serve -d -f "$work/gw/gateway.json" 2>"$work/gw/gateway.log" &
gw_pid=$!
gw_port=$(wait_port "$work/gw/gateway.port")
say "set-gateway serve is running as pid $gw_pid on 127.0.0.1:$gw_port; the bank lets it ask First Visa Bank"
run set-merchant init -D "$work/shop" --id demo-shop --name "Demo Coffee Shop" --brand Visa \
	--ca "127.0.0.1:$port" --root "$work/ca/root.pem" --gateway "127.0.0.1:$gw_port" \
	--listen 127.0.0.1:0
tok=$(set-ca token -f "$work/ca/ca.json" --role merchant --id demo-shop --brand Visa 2>/dev/null)
run set-merchant enroll -f "$work/shop/merchant.json" --brand Visa --token "$tok"
set-ca tls-cert -f "$work/ca/ca.json" --id demo-shop --brand Visa --out "$work/shop/tls" >/dev/null
cat >"$work/shop/catalog.json" <<'CATALOG'
{ "currency": "EUR",
  "items": [
    { "sku": "espresso", "name": "Espresso machine", "price": 24999, "stock": 5 },
    { "sku": "beans", "name": "Coffee beans, 1 kg", "price": 1499, "stock": 100 },
    { "sku": "roaster", "name": "Industrial roaster", "price": 990000, "stock": 1 }
  ] }
CATALOG
set-merchant serve -d -f "$work/shop/merchant.json" 2>"$work/shop/merchant.log" &
shop_pid=$!
shop_port=$(wait_port "$work/shop/merchant.port")
say "set-merchant serve is running as pid $shop_pid on 127.0.0.1:$shop_port"

bold "10. Alice shops: the wallet, the shop, the gateway and the bank"
shop="--merchant 127.0.0.1:$shop_port --root $work/ca/root.pem"
run wallet catalog $shop
say "an espresso machine and two bags of beans (the dual signature binds order and payment):"
run wallet buy $shop --card alice-visa --item espresso:1 --item beans:2 \
	--deliver-to "Alice Example, 1 Rue de la Paix, 75001 Paris" --yes
set +e
say "an industrial roaster, beyond Alice's credit limit:"
wallet buy $shop --card alice-visa --item roaster:1 \
	--deliver-to "Alice Example, 1 Rue de la Paix, 75001 Paris" --yes 2>&1 | sed 's/^/     /'
set -e
run wallet orders
say "what the shop saw (no card number: it never receives one):"
set-merchant orders -f "$work/shop/merchant.json" 2>&1 | sed 's/^/     /'
say "what the gateway saw (the masked card, not the order):"
set-gateway list -f "$work/gw/gateway.json" 2>&1 | sed 's/^/     /'
say "what the bank holds on Alice's account:"
set-issuer statement -f "$work/issuer/issuer.json" "$pan" 2>&1 | sed "s/$pan/${pan:0:6}******${pan: -4}/g; s/^/     /"
for f in "$work/shop"/*.db "$work/shop"/*.log "$work/gw"/*.log "$work/ca/ca.log" "$work/issuer/issuer.log"; do
	if grep -aq "$pan" "$f"; then
		say "!! the card number was found in $f"
		exit 1
	fi
done
say "no file of the shop, and no log of any daemon, holds Alice's card number"

bold "11. The operator revokes a merchant's signature certificate"
serial=$(openssl x509 -in "$work/merchant/sig.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
run set-ca revoke -f "$work/ca/ca.json" --reason keyCompromise "$serial"
curl -sS --cacert "$work/ca/root.pem" -o "$work/visa-mca.crl" "https://127.0.0.1:$port/crl/visa-mca"
say "the CRL served over HTTPS now says:"
openssl crl -inform DER -in "$work/visa-mca.crl" -noout -text |
	grep -E "CRL Number|Next Update|Serial Number|Reason|Key Compromise" | sed 's/^/     /' | head -8

bold "12. openssl verify with the new CRL now refuses the revoked certificate"
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

bold "13. The audit trail"
run set-ca list -f "$work/ca/ca.json" audit

bold "14. The daemons stop cleanly"
kill -TERM "$shop_pid" "$gw_pid" "$ca_pid" "$iss_pid"
wait "$shop_pid" && say "set-merchant exited with status 0"
wait "$gw_pid" && say "set-gateway exited with status 0"
wait "$ca_pid" && say "set-ca exited with status 0"
wait "$iss_pid" && say "set-issuer exited with status 0"
ca_pid=""
iss_pid=""
gw_pid=""
shop_pid=""
gw_pid=""
shop_pid=""
say "everything is kept in $work"
