#!/usr/bin/env bash
# Install Apache Kafka (KRaft broker jars) from Maven Central into .kafka/lib, idempotently.
# The version is pinned in deploy/kafka/pom.xml. A JRE is installed with apt-get only where
# `java` is missing. Skipped when .kafka/lib already holds the jars of that pom.
# A checkout's .kafka/lib is where the local brokers look first (streamapp/brokers/apache.py);
# outside a checkout, `streamapp broker install` fetches the same jars into the user cache.
set -euo pipefail
cd "$(dirname "$0")/.."
pom=deploy/kafka/pom.xml
dest=.kafka/lib
stamp="$dest/.pom-$(sha256sum "$pom" | cut -c1-16)"
[ -f "$stamp" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "install-kafka: installing Debian packages: ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

echo "install-kafka: fetching Apache Kafka jars ($(grep -o '<kafka.version>[^<]*' "$pom" | cut -d'>' -f2)) into $dest" >&2
rm -rf "$dest.tmp"
log=$(mktemp)
if ! mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$PWD/$dest.tmp" >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  echo "install-kafka: Maven could not fetch the Kafka jars (see above)" >&2
  exit 1
fi
rm -f "$log"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
touch "$stamp"
