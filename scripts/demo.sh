#!/usr/bin/env bash
# The demo (`make demo`): the central service with demo data and one simulated stand beside it,
# post "Пост 1" of "Аквастенд на Ленина", until Ctrl+C (or SIGTERM) stops both.
#
# Settings (the Makefile passes them): BIN (the virtual environment's bin), DEMO_DATA_DIR,
# DEMO_DATABASE_URL (empty: SQLite in DEMO_DATA_DIR), DEMO_HOST, PORT (central service, 8000),
# EDGE_PORT (stand screen, 8080), NFC_PORT (the simulated reader's udp port, 9999).
# The caller's AQUASTAND_* settings are ignored: they may name a real installation.
set -euo pipefail

BIN=${BIN:-.venv/bin}
DEMO_DATA_DIR=${DEMO_DATA_DIR:-$PWD/.demo-data}
DEMO_DATABASE_URL=${DEMO_DATABASE_URL:-}
DEMO_HOST=${DEMO_HOST:-127.0.0.1}
PORT=${PORT:-8000}
EDGE_PORT=${EDGE_PORT:-8080}
NFC_PORT=${NFC_PORT:-9999}
SITE="Аквастенд на Ленина"
POST="Пост 1"

while read -r name; do unset "$name"; done < <(compgen -e | grep '^AQUASTAND_' || true)
mkdir -p "$DEMO_DATA_DIR"
DEMO_DATA_DIR=$(cd "$DEMO_DATA_DIR" && pwd)
STAND_DIR=$DEMO_DATA_DIR/stand-1
export AQUASTAND_DATA_DIR=$DEMO_DATA_DIR AQUASTAND_DATABASE_URL=$DEMO_DATABASE_URL

"$BIN/aquastand-cloud" init
"$BIN/aquastand-cloud" demo-data --url "http://$DEMO_HOST:$PORT/"

# The stand's central id, a demo member's card to tap and a demo member's QR code to scan.
# (The QR code is issued if the member has none yet, so export the directory after this.)
found=$(
    SITE=$SITE POST=$POST "$BIN/python" - <<'EOF'
import os

from cloud import create_app
from cloud.clientbook import ensure_qr
from cloud.config import load_config
from cloud.models import Client, Credential, Site, Stand

config = load_config()
app = create_app(config)
with app.app_context():
    site = Site.get(Site.name == os.environ["SITE"])
    stand = Stand.get((Stand.site == site) & (Stand.name == os.environ["POST"]))
    members = [
        c for c in Client.select().where(
            (Client.kind == "member") & ~Client.blocked & Client.deleted_at.is_null()
        ).order_by(Client.id)
        if c.balance_kopecks > 0
    ]
    cards = {
        c.client_id: c.value for c in Credential.select().where(
            (Credential.kind == "card") & ~Credential.lost & Credential.unlinked_at.is_null()
        ).order_by(Credential.id.desc())
    }
    tapper = next(m for m in members if m.id in cards)
    scanner = next(m for m in members if m.id != tapper.id)
    print(stand.id, site.id, cards[tapper.id], ensure_qr(None, scanner, config))
EOF
)
read -r STAND_ID SITE_ID CARD_UID QR_TOKEN <<<"$found"

mkdir -p "$STAND_DIR"
cat >"$STAND_DIR/edge.toml" <<EOF
# The demo stand: "$POST" at "$SITE" (written by scripts/demo.sh)
stand_id = $STAND_ID
site_id = $SITE_ID
port = $EDGE_PORT
nfc_device = "udp:127.0.0.1:$NFC_PORT"
pin_factory = "mock"
camera = "directory"
EOF
"$BIN/aquastand-cloud" export-directory --site "$SITE" -o "$STAND_DIR/directory.json"
AQUASTAND_DATA_DIR=$STAND_DIR "$BIN/aquastand-edge" load-directory "$STAND_DIR/directory.json"

pids=()
stop() {
    trap - INT TERM EXIT
    if ((${#pids[@]})); then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

"$BIN/aquastand-cloud" serve --host "$DEMO_HOST" --port "$PORT" &
pids+=($!)
AQUASTAND_DATA_DIR=$STAND_DIR "$BIN/aquastand-edge" run --simulate &
pids+=($!)

# Wait (up to a minute) until both answer.
"$BIN/python" - "http://$DEMO_HOST:$PORT/" "http://127.0.0.1:$EDGE_PORT/api/state" <<'EOF'
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

cat <<EOF

The demo is running (Ctrl+C stops both):
  central service   http://$DEMO_HOST:$PORT/
  stand "$POST" at "$SITE" (simulated: MockFactory pins, nfcpy udp reader, image camera)
                    http://127.0.0.1:$EDGE_PORT/api/state

Tap a demo member's card (again to end the session):
  AQUASTAND_DATA_DIR='$STAND_DIR' $BIN/aquastand-edge tap $CARD_UID
Show a demo member's QR code to the camera:
  AQUASTAND_DATA_DIR='$STAND_DIR' $BIN/aquastand-edge scan --text '$QR_TOKEN'

EOF

wait -n "${pids[@]}" || true
echo "a demo process stopped; stopping the other" >&2
exit 1
