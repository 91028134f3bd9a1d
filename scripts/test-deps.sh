#!/usr/bin/env bash
# Installs what `make test` needs when it is missing: a Postgres server
# (initdb, pg_ctl), a MariaDB server (mariadbd, mariadb-install-db), Chromium for the browser tests, and the npm packages of
# compat/ (the official PowerSync Node SDK and CLI in compat/node, the web SDK
# and vite in compat/web). Safe to run repeatedly;
# it does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
have_pg || apt_packages+=(postgresql)
{ command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } && command -v mariadb-install-db >/dev/null 2>&1 ||
  apt_packages+=(mariadb-server)
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
command -v openssl >/dev/null 2>&1 || apt_packages+=(openssl)
command -v g++ >/dev/null 2>&1 || apt_packages+=(g++ make python3)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "test-deps: installing ${apt_packages[*]} with apt-get"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

# The official SDK and CLI, pinned in compat/node/package-lock.json.
if [ -f compat/node/package.json ]; then
  stamp=compat/node/node_modules/.installed-lock
  if [ ! -f "$stamp" ] || ! cmp -s compat/node/package-lock.json "$stamp"; then
    echo "test-deps: installing npm packages of compat/node (builds better-sqlite3; takes a few minutes)"
    nodedir_flag=()
    [ -d /usr/include/node ] && nodedir_flag=(--nodedir=/usr)
    (cd compat/node && npm ci --no-audit --no-fund "${nodedir_flag[@]}")
    cp compat/node/package-lock.json "$stamp"
  fi
fi

# The official web SDK and vite (the tests bundle their page with it), pinned
# in compat/web/package-lock.json. Nothing here is built from source.
if [ -f compat/web/package.json ]; then
  stamp=compat/web/node_modules/.installed-lock
  if [ ! -f "$stamp" ] || ! cmp -s compat/web/package-lock.json "$stamp"; then
    echo "test-deps: installing npm packages of compat/web"
    (cd compat/web && npm ci --no-audit --no-fund)
    cp compat/web/package-lock.json "$stamp"
  fi
fi
