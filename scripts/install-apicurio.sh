#!/usr/bin/env bash
# Install Apicurio Registry (a Schema Registry with the Confluent-compatible API) from Maven
# Central into .apicurio/app, idempotently: its prebuilt Quarkus server (quarkus-run.jar +
# lib/). The version is pinned in deploy/apicurio/pom.xml. Running it needs Java 21+:
# streamapp/brokers/registry.py picks a JDK 21+ from /usr/lib/jvm (or $STREAMAPP_REGISTRY_JAVA).
# Skipped when .apicurio/app already holds the server of that pom.
set -euo pipefail
cd "$(dirname "$0")/.."
pom=deploy/apicurio/pom.xml
dest=.apicurio/app
stamp=".apicurio/.pom-$(sha256sum "$pom" | cut -c1-16)"
[ -f "$stamp" ] && [ -f "$dest/quarkus-run.jar" ] && exit 0

if ! command -v mvn >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-apicurio: installing Debian packages: maven" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends maven >/dev/null
fi

echo "install-apicurio: fetching Apicurio Registry ($(grep -o '<apicurio.version>[^<]*' "$pom" | cut -d'>' -f2)) into $dest" >&2
rm -rf "$dest" deploy/apicurio/target .apicurio/.pom-*
mkdir -p .apicurio
log=$(mktemp)
if ! mvn -q -B -Dstyle.color=never -f "$pom" package -Dapicurio.dest="$PWD/$dest" >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  echo "install-apicurio: Maven could not fetch Apicurio Registry (see above)" >&2
  exit 1
fi
rm -f "$log"
rm -rf deploy/apicurio/target
[ -f "$dest/quarkus-run.jar" ] || { echo "install-apicurio: no quarkus-run.jar in $dest" >&2; exit 1; }
touch "$stamp"
