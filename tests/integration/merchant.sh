#!/bin/bash
# The merchant end to end, against the real daemons over TLS on loopback: a
# CA, a Visa issuer simulator, a payment gateway and the merchant, with
# mer-drive playing the cardholder's wallet. The shop's own endpoints
# (catalog, orders, accounts) and their refusals; purchases approved (stock
# goes down), declined (a normal PRes), inquired, repeated (the same PRes,
# one authorization), tampered or mismatched (refused, nothing sent to the
# gateway); a gateway that is away (unresolved, never paid) and the
# operator's resolve afterwards (authorized once); third-party checks of the
# saved messages with `openssl cms`; hostile input; no card number anywhere
# in the merchant's folder; HUP, restarts, kill -9.
. "$SET_TOP/tests/lib.sh"

export SET_OPERATOR=dave
CA_DIR=$T/ca
M=$T/shop
GW=$T/gw
V=$T/visa
VISA_PAN=4242424242424242

# m_start: the merchant daemon as an operator starts it; sets M_ADDR.
m_start() {
	rm -f "$M/merchant.port"
	set-merchant serve -d -f "$M/merchant.json" >>"$M/merchant.log" 2>&1 &
	M_PID=$!
	TEST_PIDS="$TEST_PIDS $M_PID"
	if ! wait_file "$M/merchant.port"; then
		fail "the merchant daemon starts" "$(tail -n 5 "$M/merchant.log")"
		return 1
	fi
	M_ADDR="127.0.0.1:$(cat "$M/merchant.port")"
}

m_stop() {
	kill -TERM "$M_PID" 2>/dev/null
	wait "$M_PID"
	local rc=$?
	TEST_PIDS=${TEST_PIDS// $M_PID/}
	return $rc
}

# m_hup: reload, and wait until the reload has begun; a request made from
# then on is served once it is done (one handler at a time).
m_hup() {
	local n
	n=$(grep -c "reloading the configuration" "$M/merchant.log")
	kill -HUP "$M_PID"
	for _ in $(seq 100); do
		[ "$(grep -c "reloading the configuration" "$M/merchant.log")" -gt "$n" ] && break
		sleep 0.1
	done
}

gw_start() {
	rm -f "$GW/gateway.port"
	set-gateway serve -d -f "$GW/gateway.json" >>"$GW/gateway.log" 2>&1 &
	GW_PID=$!
	TEST_PIDS="$TEST_PIDS $GW_PID"
	if ! wait_file "$GW/gateway.port"; then
		fail "the gateway daemon starts" "$(tail -n 5 "$GW/gateway.log")"
		return 1
	fi
	GW_PORT=$(cat "$GW/gateway.port")
}

gw_stop() {
	kill -TERM "$GW_PID" 2>/dev/null
	wait "$GW_PID"
	TEST_PIDS=${TEST_PIDS// $GW_PID/}
}

# Points the merchant's config at the gateway's current port.
m_gateway_port() {
	jq --argjson p "$GW_PORT" '.gateway.port = $p' "$M/merchant.json" >"$M/m.new" &&
		mv "$M/m.new" "$M/merchant.json"
}

mcurl() { curl -sS --max-time 10 --cacert "$CA_DIR/root.pem" "$@"; }
# JSON POST to the shop: the body in $T/resp, the HTTP status printed.
post() { # PATH JSON
	mcurl -o "$T/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "$2" "https://$M_ADDR$1"
}
field() { jq -r "$1" "$T/resp"; }
# A SET message as a wallet sends it (unsigned types only).
setmsg() { # TYPE JSON [RRPID]
	local rrpid=${3:-} date body
	[ -n "$rrpid" ] || rrpid=$(openssl rand -hex 20)
	date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	body=$(echo "$2" | jq -cS --arg t "$1" --arg r "$rrpid" --arg d "$date" \
		'. + {msg: $t, rrpid: $r, date: $d}' | tr -d '\n' | base64 -w0)
	jq -cn --arg t "$1" --arg r "$rrpid" --arg b "$body" \
		'{set: 1, type: $t, rrpid: $r, body: $b}'
}
# The code of the SET Error in $T/resp.
errcode() { jq -r .body "$T/resp" | base64 -d | jq -r .code; }
stock() { mcurl "https://$M_ADDR/catalog" | jq -r ".items[] | select(.sku == \"$1\") | .stock"; }
status_of() { set-merchant order -f "$M/merchant.json" "$1" 2>>"$T/status.err" | awk '$1 == "status:" {print $2}'; }
mdb() { sqlite3 "$M/merchant.db" "$1"; }

# --- A CA -----------------------------------------------------------------------
ca_init "$CA_DIR" Visa
ca_start "$CA_DIR" || exit 1

# --- The merchant: init, enrollment, TLS, the catalog ---------------------------
check "set-merchant --help describes the commands" \
	bash -c "set-merchant --help | grep -q resolve"
check "set-merchant init --help describes init" \
	bash -c "set-merchant init --help | grep -q -- '--gateway'"
check "init makes a merchant's state folder" \
	set-merchant init -D "$M" --id shop-1 --name "Shop One" --brand Visa \
	--ca "$CA_ADDR" --root "$CA_DIR/root.pem" --gateway 127.0.0.1:1 \
	--listen 127.0.0.1:0 --currency EUR
for f in merchant.json merchant.db catalog.json root.pem; do
	check "  ... with $f" test -s "$M/$f"
done
refuse "init refuses a folder that already holds a merchant" \
	set-merchant init -D "$M" --id shop-1 --brand Visa --ca "$CA_ADDR" \
	--root "$CA_DIR/root.pem" --gateway 127.0.0.1:1
refuse "init refuses an id the CA could not enroll" \
	set-merchant init -D "$T/bad" --id "shop one" --brand Visa --ca "$CA_ADDR" \
	--root "$CA_DIR/root.pem" --gateway 127.0.0.1:1
refuse "init refuses a root that is not a certificate" \
	set-merchant init -D "$T/bad" --id shop-2 --brand Visa --ca "$CA_ADDR" \
	--root "$CA_DIR/ca.json" --gateway 127.0.0.1:1
refuse "serve refuses to start before enrollment" set-merchant serve -n -f "$M/merchant.json"
contains "  ... saying how to enroll" "$T/last.out" "set-merchant enroll"
TOKEN=$(set-ca token -f "$CA_DIR/ca.json" --role merchant --id shop-1 --brand Visa 2>/dev/null)
check "the merchant enrolls for Visa with its token" \
	set-merchant enroll -f "$M/merchant.json" --brand Visa --token "$TOKEN"
same "  ... its private keys are mode 0600" \
	"$(stat -c %a "$M/certs/Visa/sig.key") $(stat -c %a "$M/certs/Visa/kex.key")" "600 600"
refuse "enroll refuses a brand the config does not name" \
	set-merchant enroll -f "$M/merchant.json" --brand Amex --token 00
refuse "serve refuses to start without its TLS certificate" set-merchant serve -n -f "$M/merchant.json"
contains "  ... saying how to get one" "$T/last.out" "set-ca tls-cert"
set-ca tls-cert -f "$CA_DIR/ca.json" --id shop-1 --brand Visa --out "$M/tls" >/dev/null 2>&1 ||
	fail "set-ca tls-cert for the merchant"
check "serve -n checks the configuration, certificates and catalog" \
	set-merchant serve -n -f "$M/merchant.json"
jq '.listn = 1' "$M/merchant.json" >"$M/typo.json"
refuse "a config with an unknown key is refused" set-merchant serve -n -f "$M/typo.json"
contains "  ... naming the key" "$T/last.out" "listn: unknown key"
rm -f "$M/typo.json"
cat >"$M/catalog.json" <<'EOF'
{"currency": "EUR", "items": [
 {"sku": "set-book", "name": "Secure Electronic Transaction", "price": 4500, "stock": 20},
 {"sku": "mug", "name": "Dual-signature mug", "price": 990, "stock": 100},
 {"sku": "poster", "name": "Payment flow poster", "price": 1500, "stock": 2},
 {"sku": "decline", "name": "Declined by the issuer", "price": 5101, "stock": 10},
 {"sku": "stall", "name": "Never answered", "price": 5301, "stock": 10}]}
EOF
check "the catalog command reads the operator's catalog" \
	bash -c "set-merchant catalog -f '$M/merchant.json' | grep -q '51.01 EUR'"

# --- The issuer and the gateway ---------------------------------------------------
HAVE_GW=1
for p in set-issuer set-gateway; do
	if ! command -v $p >/dev/null 2>&1; then
		HAVE_GW=0
		skip "$p is not built yet: no purchase can be authorized"
	fi
done
if [ $HAVE_GW = 1 ]; then
	set-issuer init -D "$V" --name "First Visa Bank" --brand Visa --bin 424242 \
		--listen 127.0.0.1:0 --client set-ca --client gw-1 --demo-cards \
		--magic-amounts >/dev/null 2>&1 || fail "set-issuer init"
	set-ca tls-cert -f "$CA_DIR/ca.json" --id issuer-visa-1 --brand Visa \
		--out "$V/tls" >/dev/null 2>&1 || fail "set-ca tls-cert (issuer)"
	set-issuer serve -d -f "$V/issuer.json" >>"$V/issuer.log" 2>&1 &
	V_PID=$!
	TEST_PIDS="$TEST_PIDS $V_PID"
	wait_file "$V/issuer.port" || fail "the issuer starts" "$(tail -n 5 "$V/issuer.log")"
	VP=$(cat "$V/issuer.port")
	table="[{\"name\":\"First Visa Bank\",\"brand\":\"Visa\",\"bins\":[\"424242\"],\"address\":\"127.0.0.1\",\"port\":$VP}]"
	# The CA asks the issuer at cardholder registration.
	jq --argjson t "$table" '.issuers = [$t[] | .fields = ["name", "postcode", "expiry", "cvv"]]' \
		"$CA_DIR/ca.json" >"$CA_DIR/ca.json.new" && mv "$CA_DIR/ca.json.new" "$CA_DIR/ca.json"
	kill -HUP "$CA_PID"
	set-gateway init -D "$GW" --id gw-1 --brand Visa --ca "$CA_ADDR" \
		--root "$CA_DIR/root.pem" --listen 127.0.0.1:0 >/dev/null 2>&1 ||
		fail "set-gateway init"
	tok=$(set-ca token -f "$CA_DIR/ca.json" --role gateway --id gw-1 --brand Visa 2>/dev/null)
	set-gateway enroll -f "$GW/gateway.json" --brand Visa --token "$tok" >/dev/null 2>&1 ||
		fail "set-gateway enroll"
	set-ca tls-cert -f "$CA_DIR/ca.json" --id gw-1 --brand Visa --out "$GW/tls" >/dev/null 2>&1 ||
		fail "set-ca tls-cert (gateway)"
	jq --argjson t "$table" '.issuers = $t | .timeouts.issuer = 2' "$GW/gateway.json" \
		>"$GW/gateway.json.new" && mv "$GW/gateway.json.new" "$GW/gateway.json"
	gw_start || exit 1
	m_gateway_port
fi

# --- The daemon -----------------------------------------------------------------
jq '.ca.port = 1 | .pidfile = "bad.pid" | .port_file = "bad.port"' "$M/merchant.json" >"$M/bad.json"
refuse "the daemon refuses to start when it cannot learn the CRLs from the CA" \
	set-merchant serve -d -f "$M/bad.json"
contains "  ... and says so" "$T/last.out" "cannot learn the current CRLs"
rm -f "$M/bad.json"
m_start || exit 1
pass "the merchant daemon serves on an ephemeral port ($M_ADDR)"
if [ $HAVE_GW = 1 ]; then
	contains "  ... with the gateway's certificates (PCertReq)" "$M/merchant.log" \
		"gateway certificates for Visa"
fi

# --- The shop: catalog, orders, accounts ---------------------------------------------
same "GET /catalog lists the items" \
	"$(mcurl "https://$M_ADDR/catalog" | jq -c '[.merchant, .currency, (.items | length)]')" \
	'["shop-1","EUR",5]'
order='{"items":[{"sku":"mug","qty":2}],"delivery":{"name":"Alice Smith","address":"1 Rue de la Paix, Paris","method":"express"},"brand":"Visa"}'
same "POST /orders places an order" "$(post /orders "$order")" 200
same "  ... the merchant computes every price (2 x 9.90 + express 9.90)" \
	"$(field '[.amount, .currency, .items[0].unit_price, .items[0].line_total, .delivery.price] | @csv')" \
	'2970,"EUR",990,1980,990'
contains "  ... and the order description the HOD will cover" <(field .od) '^2 x mug "Dual-signature mug" at 9.90 EUR = 19.80 EUR$'
ORDER0=$(field .order_id)
same "  ... the order is placed" "$(status_of "$ORDER0")" placed
bad_order() { # WHAT STATUS CODE JSON
	local st
	st=$(post /orders "$4")
	if [ "$st" = "$2" ] && [ "$(field .error)" = "$3" ]; then
		pass "$1: $2 $3"
	else
		fail "$1: $2 $3" "got $st $(cat "$T/resp")"
	fi
}
d='"delivery":{"name":"A","address":"B","method":"standard"},"brand":"Visa"'
bad_order "an unknown SKU" 400 unknown-sku "{\"items\":[{\"sku\":\"nope\",\"qty\":1}],$d}"
bad_order "a quantity of 0" 400 bad-quantity "{\"items\":[{\"sku\":\"mug\",\"qty\":0}],$d}"
bad_order "a quantity of 1001" 400 bad-quantity "{\"items\":[{\"sku\":\"mug\",\"qty\":1001}],$d}"
bad_order "a quantity as text" 400 bad-quantity "{\"items\":[{\"sku\":\"mug\",\"qty\":\"2\"}],$d}"
bad_order "more than the stock" 400 out-of-stock "{\"items\":[{\"sku\":\"poster\",\"qty\":3}],$d}"
bad_order "a brand the shop does not take" 400 unknown-brand \
	'{"items":[{"sku":"mug","qty":1}],"delivery":{"name":"A","address":"B","method":"standard"},"brand":"Amex"}'
bad_order "a price chosen by the client" 400 malformed "{\"items\":[{\"sku\":\"mug\",\"qty\":1,\"price\":1}],$d}"
bad_order "an unknown delivery method" 400 malformed \
	'{"items":[{"sku":"mug","qty":1}],"delivery":{"name":"A","address":"B","method":"drone"},"brand":"Visa"}'
bad_order "a card number in the delivery address" 400 malformed \
	"{\"items\":[{\"sku\":\"mug\",\"qty\":1}],\"delivery\":{\"name\":\"A\",\"address\":\"$VISA_PAN\",\"method\":\"standard\"},\"brand\":\"Visa\"}"
bad_order "not JSON" 400 malformed '{"items": ['

same "POST /accounts opens a customer account" \
	"$(post /accounts '{"username":"alice","password":"correct horse battery"}')" 201
same "  ... a username is taken once" \
	"$(post /accounts '{"username":"alice","password":"another password"}')" 409
same "  ... a short password is refused" "$(post /accounts '{"username":"bob","password":"short"}')" 400
same "  ... a wrong password lists nothing" \
	"$(post /accounts/orders '{"username":"alice","password":"wrong password"}')" 401
same "  ... an unknown user neither" \
	"$(post /accounts/orders '{"username":"mallory","password":"correct horse battery"}')" 401
same "  ... the right one lists the customer's orders" \
	"$(post /accounts/orders '{"username":"alice","password":"correct horse battery"}') $(field '.orders | length')" "200 0"
refuse "  ... the database never holds the password" \
	grep -rqa "correct horse battery" "$M"
# shellcheck disable=SC2016 # a regular expression, not an expansion
contains "  ... only its salted scrypt hash" <(mdb "select hash from accounts") '^scrypt\$16384\$8\$1\$[0-9a-f]{32}\$[0-9a-f]{64}$'
same "GET /orders with HTTP Basic lists the customer's orders" \
	"$(mcurl -o "$T/resp" -w '%{http_code}' -u "alice:correct horse battery" \
		"https://$M_ADDR/orders") $(field .username) $(field '.orders | length')" "200 alice 0"
same "  ... a wrong password gets 401" \
	"$(mcurl -o "$T/resp" -w '%{http_code}' -u "alice:wrong" "https://$M_ADDR/orders")" 401
same "  ... no credentials neither" \
	"$(mcurl -o "$T/resp" -w '%{http_code}' "https://$M_ADDR/orders")" 401

# --- SET messages that need no card ---------------------------------------------------
set_post() { mcurl -o "$T/resp" -w '%{http_code}' --data-binary "$1" "https://$M_ADDR/set"; }
bad_set() { # WHAT STATUS CODE WIRE
	local st
	st=$(set_post "$4")
	if [ "$st" = "$2" ] && [ "$(errcode)" = "$3" ]; then
		pass "$1: an Error $3 ($2)"
	else
		fail "$1: an Error $3 ($2)" "got $st $(errcode 2>/dev/null)"
	fi
}
CHALL=$(openssl rand -hex 20)
bad_set "not JSON to /set" 400 malformed 'garbage'
bad_set "a message of no SET type" 400 malformed '{"set":1,"type":"Hello","rrpid":"00112233445566778899"}'
bad_set "a message the merchant does not answer" 400 malformed \
	"$(setmsg CardCInitReq '{"brand":"Visa"}')"
bad_set "PInitReq for an unknown order" 404 unknown-order \
	"$(setmsg PInitReq "{\"order_id\":\"nope\",\"brand\":\"Visa\",\"lid_c\":\"w1\",\"chall_c\":\"$CHALL\"}")"
bad_set "PInitReq with another brand than the order's" 403 wrong-brand \
	"$(setmsg PInitReq "{\"order_id\":\"$ORDER0\",\"brand\":\"MasterCard\",\"lid_c\":\"w1\",\"chall_c\":\"$CHALL\"}")"
bad_set "PInitReq with a malformed challenge" 400 malformed \
	"$(setmsg PInitReq "{\"order_id\":\"$ORDER0\",\"brand\":\"Visa\",\"lid_c\":\"w1\",\"chall_c\":\"xyz\"}")"
bad_set "PReq without its fields" 400 malformed "$(setmsg PReq '{"oidata":"!!"}')"
bad_set "PReq with bad base64" 400 malformed \
	"$(setmsg PReq "{\"oidata\":\"@@@\",\"hpi\":\"$(openssl rand -hex 32)\",\"pi\":\"AA==\",\"dualsig\":\"AA==\"}")"
bad_set "PReq whose dual signature is not CMS" 403 bad-signature \
	"$(setmsg PReq "{\"oidata\":\"$(printf '{"brand":"Visa","chall_c":"%s","chall_m":"%s","hod":"%s","lid_c":"w","lid_m":"o","merchant":"shop-1","od_salt":"%s","xid":"%s"}' \
		"$CHALL" "$CHALL" "$(openssl rand -hex 32)" "$(openssl rand -hex 16)" "$CHALL" | base64 -w0)\",\"hpi\":\"$(openssl rand -hex 32)\",\"pi\":\"AAAA\",\"dualsig\":\"AAAA\"}")"
bad_set "InqReq for an unknown XID" 404 unknown-order \
	"$(setmsg InqReq "{\"xid\":\"$CHALL\",\"chall_c\":\"$CHALL\"}")"
if [ $HAVE_GW = 1 ]; then
	R=$(openssl rand -hex 20)
	W=$(setmsg PInitReq "{\"order_id\":\"$ORDER0\",\"brand\":\"Visa\",\"lid_c\":\"w1\",\"chall_c\":\"$CHALL\"}" "$R")
	same "PInitReq for a placed order" "$(set_post "$W")" 200
	cp "$T/resp" "$T/pinit1"
	same "  ... the order is initiated" "$(status_of "$ORDER0")" initiated
	set_post "$W" >/dev/null
	check "  ... the same PInitReq again gets the same PInitRes" cmp "$T/pinit1" "$T/resp"
	bad_set "the same RRPID with other bytes" 409 rrpid-conflict \
		"$(setmsg PInitReq "{\"order_id\":\"$ORDER0\",\"brand\":\"Visa\",\"lid_c\":\"w2\",\"chall_c\":\"$CHALL\"}" "$R")"
else
	bad_set "PInitReq while no gateway ever answered" 503 gateway-unavailable \
		"$(setmsg PInitReq "{\"order_id\":\"$ORDER0\",\"brand\":\"Visa\",\"lid_c\":\"w1\",\"chall_c\":\"$CHALL\"}")"
fi
head -c 400000 /dev/zero | tr '\0' 'a' >"$T/big"
# Over the limit: HTTP 413, or (when the server closes while curl is still
# sending) a reset; never an answer to the message.
big=$(mcurl -o /dev/null -w '%{http_code}' --data-binary @"$T/big" "https://$M_ADDR/set" 2>/dev/null)
case $big in
413 | 000) pass "a body over the size limit gets 413 (or a reset): $big" ;;
*) fail "a body over the size limit gets 413 (or a reset)" "got $big" ;;
esac
refuse "plain HTTP is not served" curl -sS --max-time 5 "http://$M_ADDR/catalog"
head -c 2000 /dev/urandom >"$T/noise"
curl -sS --max-time 5 --data-binary @"$T/noise" "http://$M_ADDR/set" >/dev/null 2>&1
printf 'GET /catalog HTTP/1.1\r\n' | timeout 5 openssl s_client -quiet -connect "$M_ADDR" >/dev/null 2>&1
same "after hostile input the daemon still serves" \
	"$(mcurl -o /dev/null -w '%{http_code}' "https://$M_ADDR/catalog")" 200
same "hostile input wrote no order and changed no stock" \
	"$(mdb "select count(*) from orders") $(stock mug)" "1 100"

# --- Purchases -----------------------------------------------------------------------
HAVE_CARD=0
if [ $HAVE_GW = 1 ]; then
	HAVE_CARD=1
	CARD="--card-dir $T/card"
fi
# drive ARGS...: mer-drive against our merchant; the outcome line in $T/out.
drive() {
	# shellcheck disable=SC2086
	mer-drive --merchant "$M_ADDR" --root "$CA_DIR/root.pem" --ca "$CA_ADDR" \
		--brand Visa --card "$VISA_PAN" --expiry 2034-12 --cvv 123 \
		--name "Alice Smith" --postcode 75001 $CARD --timeout 20 "$@" \
		>"$T/out" 2>"$T/drive.err"
	local rc=$?
	cat "$T/out" "$T/drive.err" >>"$T/drives.log"
	return $rc
}
outcome() { head -n 1 "$T/out"; }
held() { set-issuer show -f "$V/issuer.json" "$VISA_PAN" | awk '$1 == "held" {print $2}'; }
gw_count() { set-gateway list -f "$GW/gateway.json" 2>>"$T/status.err" | grep -c "^$1"; }

if [ $HAVE_CARD = 1 ]; then
	before=$(stock set-book)
	check "a purchase is authorized" drive --item set-book:1 --save "$T/s1"
	contains "  ... PRes authorized with the issuer's code" "$T/out" "^authorized [A-Za-z0-9]+$"
	CODE1=$(outcome | cut -d' ' -f2)
	XID1=$(cat "$T/s1/xid")
	ORDER1=$(cat "$T/s1/order")
	same "  ... the stock goes down" "$(stock set-book)" $((before - 1))
	same "  ... the order is authorized" "$(status_of "$ORDER1")" authorized
	same "  ... the issuer holds the amount" "$(held)" 4500
	same "  ... the gateway authorized it once" "$(gw_count "$XID1")" 1
	contains "orders lists it with its authorization code" \
		<(set-merchant orders -f "$M/merchant.json" --status authorized) "^$ORDER1 .* 45.00 EUR .* $CODE1$"
	contains "order shows the authorization" <(set-merchant order -f "$M/merchant.json" "$ORDER1") \
		"auth code +$CODE1"
	check "openssl cms -verify: the PRes is signed by the merchant" \
		openssl cms -verify -inform DER -in "$T/s1/pres.sig.der" -content "$T/s1/pres.body" \
		-binary -CAfile "$CA_DIR/root.pem" -purpose any -out /dev/null
	contains "  ... as setct-PResData" \
		<(openssl cms -cmsout -print -inform DER -in "$T/s1/pres.sig.der") "setct-PResData"
	contains "  ... by shop-1" <(openssl cms -cmsout -print -inform DER -in "$T/s1/pres.sig.der") "CN=shop-1"
	check "openssl cms -verify: the PInitRes is signed by the merchant" \
		openssl cms -verify -inform DER -in "$T/s1/pinitres.sig.der" -content "$T/s1/pinitres.body" \
		-binary -CAfile "$CA_DIR/root.pem" -purpose any -out /dev/null
	check "openssl cms -verify: the cardholder's dual signature over PI-TBS" \
		openssl cms -verify -inform DER -in "$T/s1/preq.dualsig.der" -content "$T/s1/preq.tbs" \
		-binary -CAfile "$CA_DIR/root.pem" -purpose any -out /dev/null
	contains "  ... as setct-PI-TBS" \
		<(openssl cms -cmsout -print -inform DER -in "$T/s1/preq.dualsig.der") "setct-PI-TBS"
	same "the merchant recorded the exact AuthReq it sent, sealed to the gateway" \
		"$(mdb "select json_extract(cast(authreq as text), '$.type') || ' ' || (json_extract(cast(authreq as text), '$.sealed') IS NOT NULL) from orders where id = '$ORDER1'")" \
		"AuthReq 1"

	check "InqReq: the order's state" drive --inquire "$XID1"
	same "  ... authorized with the same code" "$(outcome)" "authorized $CODE1"

	before=$(held)
	check "the same PReq twice gets the same PRes, byte for byte" drive --item mug:1 --repeat --save "$T/s2"
	same "  ... one authorization at the gateway" "$(gw_count "$(cat "$T/s2/xid")")" 1
	same "  ... one hold at the issuer" "$(held)" $((before + 990))
	refuse "another PReq for an XID already paid is refused" drive --item mug:1 --second-preq
	contains "  ... duplicate-purchase" "$T/out" "^error duplicate-purchase:"
	refuse "a second PInitReq for an order already paid is refused" drive --order "$ORDER1"
	contains "  ... already-paid" "$T/out" "^error already-paid:"

	before=$(stock decline)
	refuse "a declined purchase" drive --item decline:1 --save "$T/s3"
	same "  ... is a normal PRes, declined with the issuer's reason" "$(outcome)" "declined insufficient-funds"
	same "  ... not an Error" "$(jq -r .type "$T/s3/pres.wire")" PRes
	same "  ... the order is declined" "$(status_of "$(cat "$T/s3/order")")" declined
	same "  ... the stock stays" "$(stock decline)" "$before"
	drive --inquire "$(cat "$T/s3/xid")"
	same "  ... InqRes declined" "$(outcome)" "declined insufficient-funds"

	attack() { # WHAT CODE OPTIONS...
		local what=$1 code=$2 before_gw before_held
		shift 2
		before_gw=$(set-gateway list -f "$GW/gateway.json" | wc -l)
		before_held=$(held)
		drive --item mug:1 --save "$T/att" "$@"
		case "$(outcome)" in
		"error $code:"*) pass "$what: refused with $code" ;;
		*) fail "$what: refused with $code" "$(outcome)" ;;
		esac
		same "  ... nothing was sent to the gateway" \
			"$(set-gateway list -f "$GW/gateway.json" | wc -l) $(held)" "$before_gw $before_held"
		same "  ... the order stays initiated" "$(status_of "$(cat "$T/att/order")")" initiated
	}
	attack "an OI altered after signing" bad-signature --tamper-oi
	attack "an OI with another merchant challenge" order-mismatch --wrong-chall
	attack "an OI whose HOD covers another amount" order-mismatch --wrong-amount

	# --- The gateway away: unresolved, then resolved once ----------------------
	gw_stop
	before=$(stock mug)
	before_held=$(held)
	refuse "with the gateway stopped a purchase is unresolved" drive --item mug:1 --save "$T/s7"
	contains "  ... PRes unresolved" "$T/out" "^unresolved "
	ORDER7=$(cat "$T/s7/order")
	XID7=$(cat "$T/s7/xid")
	same "  ... the order is unresolved, never paid" "$(status_of "$ORDER7")" unresolved
	same "  ... nothing taken off the stock" "$(stock mug)" "$before"
	contains "  ... the operator sees it" \
		<(set-merchant orders -f "$M/merchant.json" --status unresolved) "^$ORDER7 "
	refuse "resolve while the gateway is still away: still unresolved" \
		set-merchant resolve -f "$M/merchant.json" "$ORDER7"
	gw_start || exit 1
	m_gateway_port
	m_hup
	check "after the gateway is back, resolve asks again with the same AuthReq" \
		set-merchant resolve -f "$M/merchant.json" "$ORDER7"
	contains "  ... authorized" "$T/last.out" "^$ORDER7 authorized [A-Za-z0-9]+$"
	same "  ... the stock goes down once" "$(stock mug)" $((before - 1))
	same "  ... the gateway authorized it once" "$(gw_count "$XID7")" 1
	same "  ... the issuer holds it once" "$(held)" $((before_held + 990))
	check "resolve again changes nothing" set-merchant resolve -f "$M/merchant.json" "$ORDER7"
	contains "  ... nothing to resolve" "$T/last.out" "nothing to resolve"
	check "InqReq on it" drive --inquire "$XID7"
	contains "  ... authorized" "$T/out" "^authorized "
	same "  ... still one authorization" "$(gw_count "$XID7") $(stock mug)" "1 $((before - 1))"
	contains "the order's history shows the way" <(set-merchant order -f "$M/merchant.json" "$ORDER7") \
		"unresolved .*dave"

	# The merchant's own time limit: the issuer frozen (SIGSTOP), the
	# gateway waits for it longer than the merchant waits for the gateway.
	jq '.gateway.timeout = 1' "$M/merchant.json" >"$M/m.new" && mv "$M/m.new" "$M/merchant.json"
	m_hup
	kill -STOP "$V_PID"
	before=$(stock mug)
	refuse "a gateway that does not answer in time: unresolved" drive --item mug:1 --save "$T/s8"
	contains "  ... PRes unresolved" "$T/out" "^unresolved "
	ORDER8=$(cat "$T/s8/order")
	XID8=$(cat "$T/s8/xid")
	same "  ... never paid" "$(status_of "$ORDER8") $(stock mug)" "unresolved $before"
	jq '.gateway.timeout = 15' "$M/merchant.json" >"$M/m.new" && mv "$M/m.new" "$M/merchant.json"
	m_hup
	refuse "InqReq asks the gateway again; its issuer still does not answer" \
		drive --inquire "$XID8"
	contains "  ... still unresolved (the gateway cannot answer now)" "$T/out" "^unresolved "
	kill -CONT "$V_PID"
	before_held=$(held)
	check "once the issuer is back, InqReq resolves the order" drive --inquire "$XID8"
	contains "  ... authorized" "$T/out" "^authorized "
	same "  ... once: at the gateway, at the issuer and in the stock" \
		"$(gw_count "$XID8") $(held) $(stock mug)" "1 $((before_held + 990)) $((before - 1))"

	# A revoked cardholder certificate (registration needed: the CA must
	# know the certificate to revoke it).
	check "a second card certificate is registered for the revocation test" \
		drive --item mug:1 --card-dir "$T/card-rev"
	serial=$(openssl x509 -in "$T/card-rev/card.pem" -noout -serial | cut -d= -f2)
	check "the CA revokes that cardholder certificate" \
		set-ca revoke -f "$CA_DIR/ca.json" --reason keyCompromise "$serial"
	m_hup
	before_gw=$(set-gateway list -f "$GW/gateway.json" | wc -l)
	refuse "after HUP (new CRLs) the merchant refuses the revoked cardholder certificate" \
		drive --item mug:1 --card-dir "$T/card-rev"
	contains "  ... bad-cardholder-certificate: revoked" "$T/out" \
		"^error bad-cardholder-certificate: revoked"
	same "  ... and sends nothing to the gateway" \
		"$(set-gateway list -f "$GW/gateway.json" | wc -l)" "$before_gw"

	check "a customer pays an order placed with their account" \
		drive --item mug:1 --customer "alice:correct horse battery"
	same "  ... and finds it among their orders" \
		"$(post /accounts/orders '{"username":"alice","password":"correct horse battery"}') $(field '.orders[0].status')" \
		"200 authorized"
	same "  ... with HTTP Basic too" \
		"$(mcurl -o "$T/resp" -w '%{http_code}' -u "alice:correct horse battery" \
			"https://$M_ADDR/orders") $(field '.orders[0].status')" "200 authorized"
fi

# --- Card data never reaches the merchant -------------------------------------------
refuse "no file of the merchant (database, WAL, logs, config) holds the card number" \
	grep -rqa "$VISA_PAN" "$M"
luhn_runs() { # prints Luhn-valid runs of 13-19 digits
	# Whole runs of digits only: a longer run (an RRPID's digits) is no
	# card number, and 19 digits cut out of it would be a false alarm.
	grep -aoE '[0-9]+' "$1" | awk 'length >= 13 && length <= 19' | while read -r n; do
		s=0
		for ((i = ${#n} - 1, k = 0; i >= 0; i--, k++)); do
			d=${n:i:1}
			if ((k % 2)); then
				d=$((d * 2))
				((d > 9)) && d=$((d - 9))
			fi
			s=$((s + d))
		done
		((s % 10 == 0)) && echo "$n"
	done
}
same "the merchant's log holds no Luhn-valid 13-19 digit run" "$(luhn_runs "$M/merchant.log")" ""

# --- HUP ------------------------------------------------------------------------------
cp "$M/catalog.json" "$T/catalog.keep"
echo '{ "currency": "EUR", "items": [ {"sku": "x"' >"$M/catalog.json"
m_hup
same "a broken catalog on HUP is refused, the old one stays" \
	"$(mcurl "https://$M_ADDR/catalog" | jq '.items | length')" 5
contains "  ... and the log says why" "$M/merchant.log" "catalog not reloaded"
jq '.items[1].stock = 500' "$T/catalog.keep" >"$M/catalog.json"
m_hup
same "a changed stock figure on HUP is the new count on hand" "$(stock mug)" 500

# --- Restarts ---------------------------------------------------------------------------
before=$(mdb "select count(*) || ' ' || sum(status = 'authorized') from orders")
m_stop
same "TERM stops the daemon with status 0" "$?" 0
refuse "  ... and removes its pidfile" test -e "$M/merchant.pid"
if [ $HAVE_GW = 1 ]; then
	gw_stop
fi
m_start || exit 1
same "a restarted merchant keeps every order" \
	"$(mdb "select count(*) || ' ' || sum(status = 'authorized') from orders")" "$before"
if [ $HAVE_CARD = 1 ]; then
	contains "  ... and starts with the gateway away, on the certificates kept from last time" \
		"$M/merchant.log" "kept from last time stay in use"
	check "  ... a PInitReq still hands out the gateway's certificates" drive --item mug:1 --pinit-only
	check "  ... InqReq answers from the kept orders" drive --inquire "$XID1"
	same "  ... with the same code" "$(outcome)" "authorized $CODE1"
fi
before=$(mdb "select count(*) || ' ' || sum(status = 'authorized') from orders")
kill -KILL "$M_PID"
wait "$M_PID" 2>/dev/null
TEST_PIDS=${TEST_PIDS// $M_PID/}
same "after kill -9 the database is intact" "$(mdb "pragma integrity_check")" ok
m_start || exit 1
same "  ... and the daemon starts again with every order" \
	"$(mdb "select count(*) || ' ' || sum(status = 'authorized') from orders")" "$before"

# Under the sanitizer build, a leak or an error in a stopped daemon, a
# driver or an operator command would be in these files.
same "no sanitizer report from the merchant, the drivers or the commands" \
	"$(grep -lE 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$M/merchant.log" \
		"$T/drives.log" "$T/status.err" 2>/dev/null)" ""
