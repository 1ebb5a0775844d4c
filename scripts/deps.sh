#!/bin/sh
# deps.sh - install the Debian packages postino needs, if missing.
#   deps.sh run    what building and running needs
#   deps.sh test   that, plus the test tools (clang, pytest, swaks, ...)
#   deps.sh bench  that, plus the systems we compare against
set -e
mode=${1:-run}
pkgs="build-essential pkg-config libevent-dev libssl-dev libsqlite3-dev
  libsodium-dev libc-ares-dev libjansson-dev zlib1g-dev openssl publicsuffix"
case $mode in
test|bench)
	pkgs="$pkgs clang libclang-rt-14-dev python3 python3-pytest swaks
	  libnet-ssleay-perl curl dnsmasq-base fetchmail python3-dkim
	  python3-openssl iproute2
	  isync offlineimap3 mutt tmux" ;;
esac
case $mode in
bench)
	pkgs="$pkgs postfix libgmime-3.0-dev dovecot-imapd dovecot-pop3d
	  dovecot-lucene python3-spf libspf2-dev libopendkim-dev python3-nacl
	  python3-dnspython
	  time" ;;
esac
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
