#!/usr/bin/env bash
# DataKit's whole story on a fresh embedded DK_HOME, with no account and no server:
# build and publish a package, promote it dev → int → prod under each environment's
# approval rule, see what runs where, roll back, and read the history.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
cargo build --quiet --workspace --bins

DK_HOME="$(mktemp -d "${TMPDIR:-/tmp}/datakit-quickstart.XXXXXX")"
export DK_HOME
unset DK_NO_AUTOSTART DK_DAEMON
export PATH="$repo/target/debug:$PATH"
package="$repo/client-cli/quickstart/my-package"
stop_daemon() { [ -s "$DK_HOME/dkd.lock" ] && kill "$(cat "$DK_HOME/dkd.lock")" 2>/dev/null || true; }
trap stop_daemon EXIT

say() { printf '\n\033[1;34m# %s\033[0m\n' "$*"; }
run() { printf '\033[1m$ %s\033[0m\n' "$*"; "$@"; }
promotion_id() { dk -o json promote "$@" --status | sed -n 's/^  "id": "\(.*\)",$/\1/p'; }

say "A fresh DK_HOME ($DK_HOME): dk starts dkd on first use"
# One person plays alice and bob here: the embedded forge's single-user demo mode lets
# `dk approve --as NAME` claim a reviewer, and every such approval shows "asserted by" you.
# A shared dkd never does this: approvers authenticate (see docs/shared-daemon.md).
printf 'forge: { type: embedded, asserted_approvers: true }\n' > "$DK_HOME/dkd.yaml"
run cat "$DK_HOME/dkd.yaml"
run dk env list

say "Stores are per-environment infrastructure, added through a change request under each environment's rule"
store_args() { echo "events-store --type kafka-topic --set brokers=$1-kafka:9092 --set topic=user-events-$1 --secret-ref events-store-creds"; }
store_change() { dk -o json store add "$1" $(store_args "$1") | sed -n 's/^  "id": "\(.*\)",$/\1/p'; }
served() { for _ in $(seq 100); do dk env show "$1" | grep -q events-store && return; sleep 0.2; done; echo "store not served in $1" >&2; exit 1; }
# shellcheck disable=SC2046
run dk store add dev $(store_args dev)   # dev auto-merges: returns once dkd serves it
id="$(store_change int)"
echo "int store change: $id (dk store add int $(store_args int))"
run dk approve "$id" --as alice
id="$(store_change prod)"
echo "prod store change: $id (dk store add prod $(store_args prod))"
run dk approve "$id" --as alice
run dk approve "$id" --as bob
served int
served prod
run dk env show prod

say "1. Build and publish v1.0.0 (reproducible: the same directory and version give the same digest)"
run dk build "$package" --version v1.0.0
run dk publish "$package"

say "2. dev auto-merges once checks pass"
run dk promote my-package v1.0.0 --to dev --wait

say "3. int needs one approval from @team-leads; you cannot approve your own promotion"
run dk promote my-package v1.0.0 --to int
id="$(promotion_id my-package v1.0.0 --to int)"
run dk approve "$id" || echo "(refused, exit $?)"
run dk approve "$id" --as alice
run dk promote my-package v1.0.0 --to int --wait

say "4. prod needs two approvals, including one from @security"
run dk promote my-package v1.0.0 --to prod
id="$(promotion_id my-package v1.0.0 --to prod)"
run dk approve "$id" --as alice
run dk approve "$id" --as bob
run dk promote my-package v1.0.0 --to prod --wait

say "5. What runs where"
run dk status my-package
run dk status --env prod

say "6. A new version reaches dev, then is rolled back to the one before"
run dk build "$package" --version v1.1.0
run dk publish "$package"
run dk promote my-package v1.1.0 --to dev --wait
run dk rollback my-package --to dev --wait
run dk logs my-package --env dev --sync
run dk history my-package

say "Done. Everything lives in $DK_HOME; the deployment repository is $DK_HOME/deploy.git"
