#!/usr/bin/env bash
# Install the Debian/Ubuntu packages wangge needs, only when they are missing.
#   scripts/install-os-deps.sh postgis            # for `make run`
#   scripts/install-os-deps.sh postgis chromium gdal  # for `make test` (browser tests; ogrinfo reads
#                                                       exports and the OGC API as GIS clients do)
# As root it installs with apt-get; otherwise with sudo when that works without a password prompt
# in a non-interactive run; else it prints the exact command to run and fails.
set -euo pipefail

need=()
pg_major() {
  ls /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -n 1
}

for want in "$@"; do
  case "$want" in
    postgis)
      major=$(pg_major)
      if [ -z "$major" ]; then
        need+=(postgresql postgis)
      elif [ ! -f "/usr/share/postgresql/$major/extension/postgis.control" ]; then
        need+=("postgresql-$major-postgis-3")
      fi
      ;;
    chromium)
      command -v chromium >/dev/null 2>&1 || need+=(chromium)
      # A CJK font so screenshots of the Chinese interface are legible.
      [ -d /usr/share/fonts/truetype/wqy ] || need+=(fonts-wqy-microhei)
      ;;
    gdal)
      command -v ogrinfo >/dev/null 2>&1 || need+=(gdal-bin)
      ;;
    *) echo "install-os-deps: unknown component '$want'" >&2; exit 2 ;;
  esac
done

[ ${#need[@]} -eq 0 ] && exit 0

echo "Installing OS packages: ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
elif command -v sudo >/dev/null 2>&1 && { [ -t 0 ] || sudo -n true 2>/dev/null; }; then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
else
  echo "wangge needs these packages and cannot install them without root. Run:" >&2
  echo "    sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
