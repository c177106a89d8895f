#!/bin/bash
# The whole purchase, the wallet against the real daemons over TLS on
# loopback, each started as its operator starts it: a CA with two brands,
# two issuer simulators (Visa BIN 424242, MasterCard BIN 555555), a payment
# gateway and a merchant enrolled for both, and a wallet holding one card of
# each brand registered with `set-wallet register`. Approved (stock and the
# issuer's hold), declined (a normal answer, exit 1), on the second brand;
# the transaction log (`orders`) and the merchant asked again (`order XID`);
# the saved PReq and PRes checked by the stock `openssl cms -verify`; no
# card number in any merchant file, daemon log or the wallet's database;
# the wallet refusing what is not a merchant before paying anything.
. "$SET_TOP/tests/lib.sh"

export SET_OPERATOR=dave
CA_DIR=$T/ca
M=$T/shop
GW=$T/gw
V=$T/visa
MC=$T/mc
W=$T/wallet
PASS=$T/pass
VISA_PAN=4242424242424242
MC_PAN=5555554242424244
echo "correct horse battery staple" >"$PASS"
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
start_daemon() { # NAME DIR CONFIG: serve -d, wait for DIR/NAME.port
	local name=$1 dir=$2
	rm -f "$dir/$name.port"
	"set-$name" serve -d -f "$dir/$name.json" >>"$dir/$name.log" 2>&1 &
	LAST_PID=$!
	TEST_PIDS="$TEST_PIDS $LAST_PID"
	if ! wait_file "$dir/$name.port"; then
		fail "the $name daemon in $dir starts" "$(tail -n 5 "$dir/$name.log")"
		exit 1
	fi
}
stock() { curl -sS --max-time 10 --cacert "$CA_DIR/root.pem" "https://$M_ADDR/catalog" |
	jq -r ".items[] | select(.sku == \"$1\") | .stock"; }
held() { set-issuer show -f "$1/issuer.json" "$2" | awk '$1 == "held" {print $2}'; }
nlog() { sqlite3 "$W/wallet.db" "select count(*) from purchases"; }
# buy CARD ITEM [OPTIONS...]: the wallet pays; output in $T/buy.out.
buy() {
	local card=$1 item=$2
	shift 2
	wallet buy --merchant "$M_ADDR" --root "$CA_DIR/root.pem" --card "$card" \
		--item "$item" --deliver-to "Alice Smith, 1 Rue de la Paix, Paris" \
		"$@" >"$T/buy.out" 2>&1
	local rc=$?
	cat "$T/buy.out" >>"$T/buys.log"
	return $rc
}

# --- The CA, two brands ---------------------------------------------------------
ca_init "$CA_DIR" Visa MasterCard
ca_start "$CA_DIR" || exit 1

# --- Two issuers ------------------------------------------------------------------
set-issuer init -D "$V" --name "First Visa Bank" --brand Visa --bin 424242 \
	--listen 127.0.0.1:0 --client set-ca --client gw-1 --demo-cards \
	--magic-amounts >/dev/null 2>&1 || fail "set-issuer init (Visa)"
set-issuer init -D "$MC" --name "Second MC Bank" --brand MasterCard --bin 555555 \
	--listen 127.0.0.1:0 --client set-ca --client gw-1 --demo-cards \
	>/dev/null 2>&1 || fail "set-issuer init (MasterCard)"
set-ca tls-cert -f "$CA_DIR/ca.json" --id issuer-visa-1 --brand Visa \
	--out "$V/tls" >/dev/null 2>&1 || fail "set-ca tls-cert (Visa issuer)"
set-ca tls-cert -f "$CA_DIR/ca.json" --id issuer-mc-1 --brand MasterCard \
	--out "$MC/tls" >/dev/null 2>&1 || fail "set-ca tls-cert (MasterCard issuer)"

# --- The gateway, enrolled for both brands -------------------------------------------
set-gateway init -D "$GW" --id gw-1 --brand Visa --brand MasterCard \
	--ca "$CA_ADDR" --root "$CA_DIR/root.pem" --listen 127.0.0.1:0 \
	>/dev/null 2>&1 || fail "set-gateway init"
for b in Visa MasterCard; do
	tok=$(set-ca token -f "$CA_DIR/ca.json" --role gateway --id gw-1 --brand $b 2>/dev/null)
	set-gateway enroll -f "$GW/gateway.json" --brand $b --token "$tok" \
		>/dev/null 2>&1 || fail "set-gateway enroll $b"
done
set-ca tls-cert -f "$CA_DIR/ca.json" --id gw-1 --brand Visa --out "$GW/tls" \
	>/dev/null 2>&1 || fail "set-ca tls-cert (gateway)"
# The MasterCard issuer's clients (the CA, the gateway) hold TLS
# certificates of the Visa brand CA: it trusts both brand CAs.
cat "$MC/tls/chain.pem" "$GW/tls/chain.pem" >"$MC/tls/clients.pem"
cat "$MC/tls/crl.pem" "$GW/tls/crl.pem" >"$MC/tls/crls.pem"
jq '.tls.client_cas = "tls/clients.pem" | .tls.crl = "tls/crls.pem"' \
	"$MC/issuer.json" >"$MC/issuer.json.new" && mv "$MC/issuer.json.new" "$MC/issuer.json"
start_daemon issuer "$V"
V_PID=$LAST_PID
start_daemon issuer "$MC"
VP=$(cat "$V/issuer.port")
MP=$(cat "$MC/issuer.port")
table="[{\"name\":\"First Visa Bank\",\"brand\":\"Visa\",\"bins\":[\"424242\"],\"address\":\"127.0.0.1\",\"port\":$VP},
	{\"name\":\"Second MC Bank\",\"brand\":\"MasterCard\",\"bins\":[\"555555\"],\"address\":\"127.0.0.1\",\"port\":$MP}]"
jq --argjson t "$table" '.issuers = [$t[] | .fields = ["name", "postcode", "expiry", "cvv"]]' \
	"$CA_DIR/ca.json" >"$CA_DIR/ca.json.new" && mv "$CA_DIR/ca.json.new" "$CA_DIR/ca.json"
kill -HUP "$CA_PID"
jq --argjson t "$table" '.issuers = $t | .timeouts.issuer = 2' "$GW/gateway.json" \
	>"$GW/gateway.json.new" && mv "$GW/gateway.json.new" "$GW/gateway.json"
start_daemon gateway "$GW"
GW_ADDR="127.0.0.1:$(cat "$GW/gateway.port")"

# --- The merchant, enrolled for both brands --------------------------------------------
set-merchant init -D "$M" --id shop-1 --name "Shop One" --brand Visa \
	--brand MasterCard --ca "$CA_ADDR" --root "$CA_DIR/root.pem" \
	--gateway "$GW_ADDR" --listen 127.0.0.1:0 --currency EUR >/dev/null 2>&1 ||
	fail "set-merchant init"
for b in Visa MasterCard; do
	tok=$(set-ca token -f "$CA_DIR/ca.json" --role merchant --id shop-1 --brand $b 2>/dev/null)
	set-merchant enroll -f "$M/merchant.json" --brand $b --token "$tok" \
		>/dev/null 2>&1 || fail "set-merchant enroll $b"
done
set-ca tls-cert -f "$CA_DIR/ca.json" --id shop-1 --brand Visa --out "$M/tls" \
	>/dev/null 2>&1 || fail "set-ca tls-cert (merchant)"
cat >"$M/catalog.json" <<'EOF'
{"currency": "EUR", "items": [
 {"sku": "set-book", "name": "Secure Electronic Transaction", "price": 4500, "stock": 20},
 {"sku": "mug", "name": "Dual-signature mug", "price": 990, "stock": 100},
 {"sku": "decline", "name": "Declined by the issuer", "price": 5101, "stock": 10}]}
EOF
start_daemon merchant "$M"
M_ADDR="127.0.0.1:$(cat "$M/merchant.port")"
pass "CA, two issuers, the gateway and the merchant serve"

# --- The wallet and its two cards ---------------------------------------------------------
check "set-wallet --help names buy" bash -c "set-wallet --help | grep -q 'buy'"
for c in catalog buy orders order; do
	status "set-wallet $c --help (exit 0)" 0 set-wallet $c --help
	contains "  ... describes $c" "$T/last.out" "usage: set-wallet $c"
done
check "init makes the wallet" set-wallet -w "$W" init --passphrase-file "$PASS"
check "register the Visa card" wallet register --ca "$CA_ADDR" \
	--root "$CA_DIR/root.pem" --brand Visa --pan "$VISA_PAN" --expiry 2034-12 \
	--cvv 123 --name "Alice Smith" --postcode 75001 --label visa
check "register the MasterCard card" wallet register --ca "$CA_ADDR" \
	--root "$CA_DIR/root.pem" --brand MasterCard --pan "$MC_PAN" \
	--expiry 2034-12 --cvv 123 --name "Alice Smith" --postcode 75001 --label mc

# --- catalog -----------------------------------------------------------------------------
status "catalog lists the merchant's items" 0 \
	set-wallet catalog --merchant "$M_ADDR" --root "$CA_DIR/root.pem"
contains "  ... with prices from minor units" "$T/last.out" "set-book .* 45.00 EUR"
contains "  ... and 9.90 EUR" "$T/last.out" "mug .* 9.90 EUR"
status "catalog without --root is a usage error (exit 2)" 2 \
	set-wallet catalog --merchant "$M_ADDR"

# --- Usage errors ---------------------------------------------------------------------------
status "buy without --item is a usage error (exit 2)" 2 \
	wallet buy --merchant "$M_ADDR" --root "$CA_DIR/root.pem" --card visa \
	--deliver-to "A, B" --yes
status "buy with a bad quantity is a usage error (exit 2)" 2 \
	wallet buy --merchant "$M_ADDR" --root "$CA_DIR/root.pem" --card visa \
	--item mug:0 --deliver-to "A, B" --yes
n0=$(nlog)
status "buy without a terminal and without --yes is a usage error (exit 2)" 2 \
	buy visa mug:1 </dev/null
contains "  ... saying to give --yes" "$T/buy.out" "give --yes"
same "  ... and nothing is logged" "$(nlog)" "$n0"
status "buy with a card the wallet does not hold fails (exit 1)" 1 \
	buy nosuch mug:1 --yes

# --- An approved purchase --------------------------------------------------------------------------
before=$(stock set-book)
status "buy: an approved purchase (exit 0)" 0 buy visa set-book:1 --yes --save "$T/s1"
contains "  ... shows the order with its prices" "$T/buy.out" \
	"1 x Secure Electronic Transaction \\(set-book\\) at 45.00 EUR = 45.00 EUR"
contains "  ... the delivery" "$T/buy.out" "delivery: standard to Alice Smith, 1 Rue de la Paix, Paris"
contains "  ... and the total" "$T/buy.out" "total: 45.00 EUR, paid with visa"
contains "  ... authorized with the issuer's code" "$T/buy.out" \
	"^authorized: 45.00 EUR paid to shop-1 with visa, authorization code [A-Za-z0-9]+$"
CODE1=$(sed -n 's/.*authorization code \([A-Za-z0-9]*\)$/\1/p' "$T/buy.out")
XID1=$(cat "$T/s1/xid")
same "  ... the stock goes down" "$(stock set-book)" $((before - 1))
same "  ... one hold at the Visa issuer" "$(held "$V" "$VISA_PAN")" 4500
check "openssl cms -verify: the PRes is signed by the merchant" \
	openssl cms -verify -inform DER -in "$T/s1/pres.sig.der" -content "$T/s1/pres.body" \
	-binary -CAfile "$CA_DIR/root.pem" -purpose any -out /dev/null
contains "  ... by shop-1" <(openssl cms -cmsout -print -inform DER -in "$T/s1/pres.sig.der") "CN=shop-1"
check "openssl cms -verify: the PReq's dual signature over PI-TBS" \
	openssl cms -verify -inform DER -in "$T/s1/preq.dualsig.der" -content "$T/s1/preq.tbs" \
	-binary -CAfile "$CA_DIR/root.pem" -purpose any -out /dev/null
contains "  ... as setct-PI-TBS" \
	<(openssl cms -cmsout -print -inform DER -in "$T/s1/preq.dualsig.der") "setct-PI-TBS"
check "  ... and the PReq sent is a PReq" \
	bash -c "jq -e '.type == \"PReq\"' '$T/s1/preq.wire' >/dev/null"

# --- A declined purchase ----------------------------------------------------------------------------
before=$(stock decline)
status "buy: a declined purchase is exit 1" 1 buy visa decline:1 --yes
contains "  ... told plainly with the issuer's reason" "$T/buy.out" \
	"^declined by the bank that issued visa: insufficient funds"
refuse "  ... not an error message" grep -q "^set-wallet:" "$T/buy.out"
same "  ... the stock stays" "$(stock decline)" "$before"
XID2=$(awk '$1 == "XID" {print $2}' "$T/buy.out")

# --- The second brand -------------------------------------------------------------------------------
status "buy with the MasterCard card (exit 0)" 0 buy mc mug:2 --method express --yes
contains "  ... authorized" "$T/buy.out" "^authorized: 29.70 EUR paid to shop-1 with mc"
same "  ... held at the MasterCard issuer" "$(held "$MC" "$MC_PAN")" 2970
same "  ... nothing more at the Visa issuer" "$(held "$V" "$VISA_PAN")" 4500

# --- A confirmation on the terminal, refused -----------------------------------------------------------
n0=$(nlog)
rm -f "$T/tty.in"
mkfifo "$T/tty.in"
script -qfec "set-wallet -w $W --passphrase-file $PASS buy --merchant $M_ADDR \
--root $CA_DIR/root.pem --card visa --item mug:1 --deliver-to 'A Person, Somewhere'" \
	"$T/tty.out" <"$T/tty.in" >/dev/null 2>&1 &
pid=$!
exec 7>"$T/tty.in"
for _ in $(seq 100); do
	grep -qF "Pay this order?" "$T/tty.out" 2>/dev/null && break
	sleep 0.1
done
printf 'n\n' >&7
exec 7>&-
wait "$pid"
same "buy asks on a terminal; \"n\" cancels (exit 1)" "$?" 1
contains "  ... after showing the order" "$T/tty.out" "total: 9.90 EUR"
contains "  ... nothing was paid" "$T/tty.out" "cancelled: nothing was paid"
same "  ... nothing is logged" "$(nlog)" "$n0"

# --- Unresolved, then asked again ----------------------------------------------------------------------------
# The Visa issuer frozen: the gateway gives up on it (issuer timeout 2 s),
# the merchant answers unresolved; once it is back, `order XID` (InqReq)
# makes the merchant ask again.
kill -STOP "$V_PID"
status "buy while the Visa bank does not answer: unresolved (exit 1)" 1 buy visa mug:1 --yes
kill -CONT "$V_PID"
contains "  ... told that the payment may still go through" "$T/buy.out" "^unresolved: "
contains "  ... and how to ask again" "$T/buy.out" "set-wallet order [0-9a-f]{40}"
XID3=$(awk '$1 == "XID" {print $2}' "$T/buy.out")
logged() { sqlite3 "$W/wallet.db" "select status from purchases where xid = '$1'"; }
same "  ... logged as unresolved" "$(logged "$XID3")" unresolved
status "order XID once the bank is back: the merchant asks again (exit 0)" 0 \
	wallet order "$XID3"
contains "  ... authorized" "$T/last.out" "^authorized: 9.90 EUR paid to shop-1 with visa"
same "  ... and the log says so" "$(logged "$XID3")" authorized

# --- orders and order XID ------------------------------------------------------------------------------------
status "orders lists the purchases (exit 0)" 0 wallet orders
contains "  ... the approved one with its code" "$T/last.out" "$XID1 .*shop-1 .* 45.00 EUR visa +authorized +$CODE1$"
contains "  ... the declined one with its reason" "$T/last.out" "$XID2 .* 51.01 EUR visa +declined +insufficient-funds$"
contains "  ... the MasterCard one" "$T/last.out" " 29.70 EUR mc +authorized "
status "order XID asks the merchant (exit 0)" 0 wallet order "$XID1"
contains "  ... authorized with the same code" "$T/last.out" "authorization code $CODE1"
status "order XID of the declined purchase" 0 wallet order "$XID2"
contains "  ... declined" "$T/last.out" "^declined"
sqlite3 "$W/wallet.db" "update purchases set status = 'unknown' where xid = '$XID1'"
wallet order "$XID1" >/dev/null 2>&1
same "  ... and updates the log" \
	"$(sqlite3 "$W/wallet.db" "select status || ' ' || detail from purchases where xid = '$XID1'")" \
	"authorized $CODE1"
status "order of an XID not in the log fails (exit 1)" 1 \
	wallet order 0000000000000000000000000000000000000000

# --- Not a merchant ----------------------------------------------------------------------------------------------
n0=$(nlog)
gw0=$(set-gateway list -f "$GW/gateway.json" 2>/dev/null | wc -l)
status "buy refuses the gateway's address given as the merchant (exit 1)" 1 \
	wallet buy --merchant "$GW_ADDR" --root "$CA_DIR/root.pem" --card visa \
	--item mug:1 --deliver-to "A, B" --yes
contains "  ... saying so" "$T/last.out" "certificate required"
same "  ... nothing logged, nothing authorized" \
	"$(nlog) $(set-gateway list -f "$GW/gateway.json" 2>/dev/null | wc -l)" "$n0 $gw0"
# An impostor: a shop daemon whose SET signature certificate is the
# gateway's (a valid certificate of the brand, but not a merchant's).
F=$T/fake
mkdir -m 700 "$F"
cp -r "$M/merchant.json" "$M/catalog.json" "$M/root.pem" "$M/certs" "$M/tls" "$F/"
sqlite3 "$M/merchant.db" ".backup '$F/merchant.db'"
cp "$GW/certs/Visa/sig.pem" "$GW/certs/Visa/sig.key" "$GW/certs/Visa/chain.pem" "$F/certs/Visa/"
start_daemon merchant "$F"
F_ADDR="127.0.0.1:$(cat "$F/merchant.port")"
status "buy refuses a PInitRes signed by a certificate that is not a merchant's (exit 1)" 1 \
	wallet buy --merchant "$F_ADDR" --root "$CA_DIR/root.pem" --card visa \
	--item mug:1 --deliver-to "A, B" --yes
contains "  ... saying it is not signed by a merchant" "$T/last.out" "not signed by a merchant of Visa"
same "  ... before any PReq: nothing logged, nothing authorized" \
	"$(nlog) $(set-gateway list -f "$GW/gateway.json" 2>/dev/null | wc -l)" "$n0 $gw0"
ca_init "$T/other-ca" Visa
before=$(stock mug)
status "buy refuses a merchant a foreign root does not vouch for (exit 1)" 1 \
	wallet buy --merchant "$M_ADDR" --root "$T/other-ca/root.pem" --card visa \
	--item mug:1 --deliver-to "A, B" --yes
contains "  ... a TLS failure, before any order" "$T/last.out" "certificate"
same "  ... nothing logged, no order taken" "$(nlog) $(stock mug)" "$n0 $before"

# --- No card number anywhere ----------------------------------------------------------------------------------------
for pan in $VISA_PAN $MC_PAN; do
	refuse "no full card number ${pan:0:6}... in any merchant file" grep -rqa "$pan" "$M" "$F"
	refuse "  ... in the CA's, gateway's or issuers' logs" grep -qa "$pan" \
		"$CA_DIR/ca.log" "$GW/gateway.log" "$V/issuer.log" "$MC/issuer.log" \
		"$M/merchant.log" "$F/merchant.log"
	refuse "  ... in the wallet's database" grep -qa "$pan" "$W/wallet.db"
	refuse "  ... in what the wallet printed" grep -qa "$pan" "$T/buys.log"
done
refuse "the transaction log has no card number column" \
	bash -c "sqlite3 '$W/wallet.db' '.schema purchases' | grep -qi 'pan'"

# Under the sanitizer build, a leak or an error in the wallet would be here.
same "no sanitizer report from the wallet" \
	"$(grep -lE 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$T/buys.log" 2>/dev/null)" ""
