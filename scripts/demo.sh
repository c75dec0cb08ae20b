#!/usr/bin/env bash
# The demo (`make demo`): the central service with demo data and two simulated stands of the site
# "Аквастенд на Ленина" ("Пост 1" and "Пост 2"), each enrolled with the central service and
# syncing with it over HTTP on loopback, until Ctrl+C (or SIGTERM) stops them all. The central
# service may be stopped and started again meanwhile: the stands work on offline.
#
# The demo data opens no session: once the stands have the site's directory, the demo taps a
# demo member's card at each post (`aquastand-edge tap`), so its open sessions are the stands'
# own and can be ended anywhere (the card again, the stand's screen, the central dashboard).
# Then it prints, per post, that card and another member's QR code to show there next.
#
# Settings (the Makefile passes them): BIN (the virtual environment's bin), DEMO_DATA_DIR,
# DEMO_DATABASE_URL (empty: SQLite in DEMO_DATA_DIR), DEMO_HOST, PORT (central service, 8000),
# EDGE_PORT (stand screens: EDGE_PORT and EDGE_PORT+1, 8080/8081), NFC_PORT (the simulated
# readers' udp ports: NFC_PORT and NFC_PORT+1, 19999/20000; nfcpy's udp reader cannot use a
# port that /etc/services names, such as 10000), ATOL_PORT (the ATOL Online v5
# emulator that registers the demo's fiscal receipts, 8010), PAY_PORT (the YooKassa emulator
# for online top-ups, tests/emulators/yookassa.py, 8765).
# Stand N keeps its data in DEMO_DATA_DIR/stand-N; it is enrolled on the first run (a code from
# `aquastand-cloud provision-stand`, then `aquastand-edge enrol`) and the enrolment is reused after.
# The caller's AQUASTAND_* settings are ignored: they may name a real installation.
set -euo pipefail

BIN=${BIN:-.venv/bin}
DEMO_DATA_DIR=${DEMO_DATA_DIR:-$PWD/.demo-data}
DEMO_DATABASE_URL=${DEMO_DATABASE_URL:-}
DEMO_HOST=${DEMO_HOST:-127.0.0.1}
PORT=${PORT:-8000}
EDGE_PORT=${EDGE_PORT:-8080}
NFC_PORT=${NFC_PORT:-19999}
ATOL_PORT=${ATOL_PORT:-8010}
ATOL_URL="http://127.0.0.1:$ATOL_PORT/possystem/v5"
PAY_PORT=${PAY_PORT:-8765}
SITE="Аквастенд на Ленина"
POSTS=("Пост 1" "Пост 2")
CENTRAL="http://$DEMO_HOST:$PORT"

while read -r name; do unset "$name"; done < <(compgen -e | grep '^AQUASTAND_' || true)
mkdir -p "$DEMO_DATA_DIR"
DEMO_DATA_DIR=$(cd "$DEMO_DATA_DIR" && pwd)
export AQUASTAND_DATA_DIR=$DEMO_DATA_DIR AQUASTAND_DATABASE_URL=$DEMO_DATABASE_URL
# The demo's configuration file, written on every run so a restart of the service and its
# commands use it too: online top-ups go to the YooKassa emulator and fiscal receipts to the
# ATOL Online v5 emulator (development tools of the tests, tests/emulators/; a real
# installation names YooKassa's https://api.yookassa.ru/v3 and ATOL itself).
cat >"$DEMO_DATA_DIR/cloud.toml" <<EOF
# Written by scripts/demo.sh on every run.
payments_provider = "yookassa"
yookassa_shop_id = "100500"
yookassa_secret_key = "test_demo_secret"
yookassa_api_url = "http://127.0.0.1:$PAY_PORT/v3"
payments_return_url_base = "$CENTRAL"
fiscal_provider = "atol"
atol_url = "$ATOL_URL"
atol_login = "aquastand"
atol_password = "aquastand-demo"
atol_group_code = "aquastand-demo"
fiscal_inn = "7701234567"
fiscal_payment_address = "г. Москва, ул. Ленина, 1"
fiscal_email = "kassa@aquastand.example"
EOF

"$BIN/aquastand-cloud" init
"$BIN/aquastand-cloud" demo-data --url "$CENTRAL/"

# Per post: the card of the demo member whose session the demo opens there, and another demo
# member's QR code (issued if there is none yet) to start the next session there.
cards=() tokens=()
for i in "${!POSTS[@]}"; do
    found=$("$BIN/aquastand-cloud" demo-credentials --post $((i + 1)))
    read -r card token <<<"$found"
    cards+=("$card") tokens+=("$token")
done

pids=() tools=() # tools: the emulator and the receipts' sender, stopped with the rest
stop() {
    trap - INT TERM EXIT
    if ((${#pids[@]} + ${#tools[@]})); then
        kill -TERM "${pids[@]}" "${tools[@]}" 2>/dev/null || true
        wait "${pids[@]}" "${tools[@]}" 2>/dev/null || true
    fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

# Whether every process given is still running.
all_running() {
    local pid
    for pid in "$@"; do
        kill -0 "$pid" 2>/dev/null || return 1
    done
}

# Wait (up to a minute) until every URL given answers.
wait_for() {
    "$BIN/python" - "$@" <<'EOF'
import sys
import time
import urllib.error
import urllib.request

deadline = time.monotonic() + 60
for url in sys.argv[1:]:
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except urllib.error.HTTPError:
            break  # it answers
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"{url} does not answer")
            time.sleep(0.2)
EOF
}

# Open the demo's sessions as customers do, through the stands: once a stand has the site's
# directory, tap its post's card at its reader (unless a session is open there already, left by
# an earlier run), wait until the stand has sent the start to the central service, and print
# who washes at each post. Arguments: state URL, data directory and card, per post.
open_sessions() {
    "$BIN/python" - "$BIN/aquastand-edge" "$@" <<'EOF'
import json
import os
import subprocess
import sys
import time
import urllib.request

edge, posts = sys.argv[1], sys.argv[2:]


def state(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait(url, done, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while not done(state(url)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def tap(url, data_dir, card):
    """Tap until a session is open (a card can go unseen on the simulated link; a refused
    tap is refused again, and then the demo says why)."""
    env = {**os.environ, "AQUASTAND_DATA_DIR": data_dir}
    for _attempt in range(3):
        subprocess.run([edge, "tap", card], env=env, check=True, stdout=sys.stderr)
        if wait(url, lambda s: s["open_sessions"], timeout_s=5):
            return
    sys.exit(f"{url}: the tap of {card} opened no session: {state(url)['last_feedback']}")


for url, data_dir, card in zip(posts[0::3], posts[1::3], posts[2::3], strict=True):
    if not wait(url, lambda s: s["sync"]["last_sync_at"]):
        sys.exit(f"{url}: no directory from the central service")
    if not state(url)["open_sessions"]:
        tap(url, data_dir, card)
    if not wait(url, lambda s: not s["outbox"]):
        sys.exit(f"{url}: the central service did not take the stand's events")
    print(", ".join(session["client_name"] for session in state(url)["open_sessions"]))
EOF
}

"$BIN/python" -m tests.emulators.atol --port "$ATOL_PORT" &
tools+=($!)
wait_for "$ATOL_URL/getToken"
"$BIN/python" -m tests.emulators.yookassa --port "$PAY_PORT" \
    --notify-url "$CENTRAL/payments/yookassa/notify" &
tools+=($!)
"$BIN/aquastand-cloud" serve --host "$DEMO_HOST" --port "$PORT" &
central_pid=$!
pids+=("$central_pid")
wait_for "$CENTRAL/"
# The receipts' sender, a pass every 5 seconds (a real installation: a timer every minute).
"$BIN/aquastand-cloud" send-receipts --every 5 >"$DEMO_DATA_DIR/send-receipts.log" 2>&1 &
tools+=($!)

# Each stand: its own data dir, screen port and udp reader; enrolled unless it already is. The
# directory of the site comes from the central service on the stand's first sync.
stand_dirs=() state_urls=()
for i in "${!POSTS[@]}"; do
    post=${POSTS[$i]}
    dir=$DEMO_DATA_DIR/stand-$((i + 1))
    mkdir -p "$dir"
    cat >"$dir/edge.toml" <<EOF
# The demo stand "$post" at "$SITE" (written by scripts/demo.sh); ids from enrolment.json
port = $((EDGE_PORT + i))
nfc_device = "udp:127.0.0.1:$((NFC_PORT + i))"
pin_factory = "mock"
camera = "directory"
central_url = "$CENTRAL"
EOF
    if [[ -s $dir/stand_token && -s $dir/enrolment.json ]]; then
        echo "stand \"$post\": enrolled already ($dir)"
    else
        code=$("$BIN/aquastand-cloud" provision-stand --site "$SITE" --name "$post" | tail -n 1)
        AQUASTAND_DATA_DIR=$dir "$BIN/aquastand-edge" enrol --central "$CENTRAL" --code "$code"
    fi
    AQUASTAND_DATA_DIR=$dir "$BIN/aquastand-edge" run --simulate &
    pids+=($!)
    stand_dirs+=("$dir")
    state_urls+=("http://127.0.0.1:$((EDGE_PORT + i))/api/state")
done
wait_for "${state_urls[@]}"
seed=()
for i in "${!POSTS[@]}"; do
    seed+=("${state_urls[$i]}" "${stand_dirs[$i]}" "${cards[$i]}")
done
seeded=$(open_sessions "${seed[@]}")
mapfile -t washing <<<"$seeded"

cat <<EOF

The demo is running (Ctrl+C stops it all):
  central service   $CENTRAL/
  fiscal receipts   $CENTRAL/receipts (registered by the ATOL Online v5 emulator at
                    $ATOL_URL; send-receipts passes logged in $DEMO_DATA_DIR/send-receipts.log)
EOF
for i in "${!POSTS[@]}"; do
    cat <<EOF
  stand "${POSTS[$i]}" at "$SITE" (simulated: MockFactory pins, nfcpy udp reader, image camera)
                    ${state_urls[$i]}
EOF
done
echo
"$BIN/aquastand-cloud" demo-cabinet --url "$CENTRAL/"
for i in "${!POSTS[@]}"; do
    cat <<EOF

"${POSTS[$i]}": washing now: ${washing[$i]:-nobody}. The demo opened the session with this card:
tap it again (a minute or more after the start: sooner the stand says how long to wait) to end it
  AQUASTAND_DATA_DIR='${stand_dirs[$i]}' $BIN/aquastand-edge tap ${cards[$i]}
then, with the post free, show another member's QR code to start a session (again to end it)
  AQUASTAND_DATA_DIR='${stand_dirs[$i]}' $BIN/aquastand-edge scan --text '${tokens[$i]}'
EOF
done
echo

# A demo member with a phone, for the cabinet's log-in.
member_phone=$("$BIN/python" - <<'EOF'
from cloud.config import load_config
from cloud.db import bind
from cloud.models import Client, ClientPhone

bind(load_config().effective_database_url)
row = (
    ClientPhone.select(ClientPhone.phone)
    .join(Client, on=(ClientPhone.client == Client.id))
    .where((Client.kind == "member") & Client.deleted_at.is_null())
    .order_by(Client.id)
    .first()
)
print(row.phone if row else "")
EOF
)
cat <<EOF
Online top-up (the YooKassa emulator at http://127.0.0.1:$PAY_PORT/v3 plays the bank):
  1. open $CENTRAL/my/login and log in as a demo member, phone $member_phone; the SMS code is
     the last line of $DEMO_DATA_DIR/sms-outbox.jsonl
  2. "Пополнить баланс", pick an amount: you are sent to the emulator's payment page
  3. press "Оплатить": the emulator notifies the central service and sends you back; the
     balance is topped up once (staff see it on the client's "Онлайн-пополнения" page, where
     the owner can refund it, and in the top-up reports as "Онлайн")
  A payment whose notification was lost is credited by
    AQUASTAND_DATA_DIR='$DEMO_DATA_DIR' $BIN/aquastand-cloud reconcile-payments

EOF

cat <<EOF
Offline work: stop the central service (kill $central_pid): the stands go on, taps and the
screens work from their directory copies and queue their events. Start it again with
  AQUASTAND_DATA_DIR='$DEMO_DATA_DIR' AQUASTAND_DATABASE_URL='$DEMO_DATABASE_URL' $BIN/aquastand-cloud serve --host $DEMO_HOST --port $PORT
and the stands send what they did.

EOF

# The stands outlive the central service (that is what they are for): only a stand that stops,
# or Ctrl+C, ends the demo.
stands=("${pids[@]:1}")
wait -n "${pids[@]}" || true
if ! kill -0 "$central_pid" 2>/dev/null && all_running "${stands[@]}"; then
    echo "the central service stopped: the stands work offline (Ctrl+C stops them)" >&2
    wait -n "${stands[@]}" || true
fi
echo "a demo process stopped; stopping the others" >&2
exit 1
