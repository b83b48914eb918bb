#!/usr/bin/env bash
# Fetch, verify, patch and build the pinned third-party dependencies.
#
#   vendor/vendor.sh fetch              download (apt-get source) + verify + unpack with Debian's patches
#   vendor/vendor.sh build musl|glibc   build static libraries into build/vendor/<toolchain>/
#   vendor/vendor.sh zoneinfo           compile tzdata into build/vendor/zoneinfo (slim TZif)
#   vendor/vendor.sh bump PACKAGE       take the archive's current Debian revision: show the new
#                                       patches, check the .orig tarball is unchanged, rewrite the lock
#   vendor/vendor.sh check-toolchain    verify the pinned musl packages are the installed ones
#
# Nothing here is committed except this script and deps.lock: sources live in build/vendor/.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
lock="$top/vendor/deps.lock"
out="$top/build/vendor"
cache="$out/cache" # downloaded archives, checked against the lock on every use
srcdir="$out/src"
jobs=$(nproc 2>/dev/null || echo 2)

die() {
	echo "vendor.sh: $*" >&2
	exit 1
}

# Lines of the lock for one package, or all packages when $1 is empty.
lock_files() { awk -v p="${1:-}" '!/^#/ && !/^@/ && NF==4 && (p=="" || $1==p)' "$lock"; }
lock_packages() { lock_files | awk '{print $1}' | uniq; }
lock_version() { lock_files "$1" | awk 'NR==1{print $2}'; }

ensure_deb_src() {
	local f=/etc/apt/sources.list.d/debian.sources
	if apt-cache showsrc curl 2>/dev/null | grep -q '^Package: curl'; then return 0; fi
	if [ -f "$f" ] && ! grep -q 'deb-src' "$f"; then
		echo "vendor.sh: enabling deb-src in $f" >&2
		sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"
	elif [ -f /etc/apt/sources.list ] && ! grep -q '^deb-src' /etc/apt/sources.list; then
		echo "vendor.sh: enabling deb-src in /etc/apt/sources.list" >&2
		sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >>/etc/apt/sources.list
	fi
	apt-get update -qq
}

verify_file() { # file sha256 -> 0 when it matches
	[ -f "$1" ] && [ "$(sha256sum "$1" | awk '{print $1}')" = "$2" ]
}

# Our own patches (vendor/patches/PACKAGE/*.patch), applied after Debian's series.
patches_hash() { { cat "$top/vendor/patches/$1"/*.patch 2>/dev/null || true; } | sha256sum | cut -c1-12; }

series_count() {
	if [ -f "$1/debian/patches/series" ]; then
		grep -cv '^\s*\(#\|$\)' "$1/debian/patches/series" || true
	else
		echo 0
	fi
}

download() { # pkg version: apt-get source into the cache, or a precise failure
	local pkg=$1 ver=$2 log="$cache/apt-$1.log" now
	ensure_deb_src
	if (cd "$cache" && apt-get source -qq --download-only "$pkg=$ver" >"$log" 2>&1); then
		return 0
	fi
	now=$(apt-cache showsrc "$pkg" 2>/dev/null | awk '/^Version:/{print $2}' | sort -uV | tr '\n' ' ')
	sed 's/^/  apt: /' "$log" >&2
	die "$pkg $ver is pinned in vendor/deps.lock but could not be fetched from the Debian" \
		"archive (apt's words are above; the archive index lists: ${now:-nothing})." \
		"Debian keeps only the current revision of a source package, so a pinned revision" \
		"vanishes when a (security) update lands. The upstream .orig tarball stays pinned;" \
		"to take the new Debian patch series deliberately, run: vendor/vendor.sh bump $pkg"
}

fetch_one() {
	local pkg=$1 ver missing=0 file sum dsc stamp
	ver=$(lock_version "$pkg")
	while read -r _ _ file sum; do
		verify_file "$cache/$file" "$sum" || missing=1
	done < <(lock_files "$pkg")
	[ $missing = 0 ] || download "$pkg" "$ver"
	while read -r _ _ file sum; do
		verify_file "$cache/$file" "$sum" ||
			die "checksum mismatch for $file (expected $sum, got $(sha256sum "$cache/$file" | awk '{print $1}'))"
	done < <(lock_files "$pkg")
	dsc=$(lock_files "$pkg" | awk '$3 ~ /\.dsc$/ {print $3}')
	stamp="$srcdir/.$pkg-$ver-$(patches_hash "$pkg")"
	[ -f "$stamp" ] && return 0
	rm -rf "${srcdir:?}/$pkg"
	# dpkg-source applies Debian's quilt patch series (security fixes included).
	(cd "$cache" && dpkg-source --no-check -x "$dsc" "$srcdir/$pkg" >/dev/null) ||
		die "dpkg-source could not unpack $dsc"
	local p n=0
	for p in "$top/vendor/patches/$pkg"/*.patch; do
		[ -f "$p" ] || continue
		patch -s -p1 -d "$srcdir/$pkg" <"$p" || die "our patch $p does not apply to $pkg $ver"
		n=$((n + 1))
	done
	rm -f "$srcdir/.$pkg-"*
	touch "$stamp"
	echo "vendor.sh: $pkg $ver verified and unpacked ($(series_count "$srcdir/$pkg") Debian patches" \
		"and $n of ours applied)"
}

cmd_fetch() {
	command -v dpkg-source >/dev/null || die "dpkg-source missing: apt-get install dpkg-dev"
	mkdir -p "$cache" "$srcdir"
	local p
	for p in $(lock_packages); do fetch_one "$p"; done
}

cmd_check_toolchain() {
	local name want have
	while read -r _ name want; do
		have=$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)
		[ "$have" = "$want" ] ||
			die "toolchain package $name must be $want (installed: ${have:-none}); apt-get install $name=$want"
	done < <(awk '$1=="@toolchain"' "$lock")
}

# Flags shared by every dependency build. -ffunction-sections lets the final link drop dead code.
dep_cflags() { echo "-Os -g0 -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fPIC"; }

build_bearssl() { # cc prefix toolchain
	local b="$out/$3/bearssl"
	rm -rf "$b" && cp -a "$srcdir/bearssl" "$b"
	make -C "$b" -s -j"$jobs" CC="$1" AR=ar CFLAGS="$(dep_cflags) -W -Wall" build/libbearssl.a >/dev/null
	cp "$b"/build/libbearssl.a "$2/lib/"
	cp "$b"/inc/*.h "$2/include/"
}

build_cjson() {
	local b="$out/$3/cjson"
	rm -rf "$b" && mkdir -p "$b"
	# shellcheck disable=SC2046
	"$1" $(dep_cflags) -std=c89 -c "$srcdir/cjson/cJSON.c" -o "$b/cJSON.o"
	ar rcs "$2/lib/libcjson.a" "$b/cJSON.o"
	mkdir -p "$2/include/cjson" && cp "$srcdir/cjson/cJSON.h" "$2/include/cjson/"
}

build_libyaml() {
	local b="$out/$3/libyaml"
	rm -rf "$b" && mkdir -p "$b"
	(cd "$b" && CC="$1" CFLAGS="$(dep_cflags)" cmake -S "$srcdir/libyaml" -B . \
		-DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=MinSizeRel \
		-DCMAKE_INSTALL_PREFIX="$2" >/dev/null && make -s -j"$jobs" >/dev/null && make -s install >/dev/null)
}

build_curl() {
	local b="$out/$3/curl"
	rm -rf "$b" && mkdir -p "$b"
	# HTTP and HTTPS only, BearSSL, no threads (the operator resolves names itself and
	# pins them with CURLOPT_RESOLVE), no compression, no proxies, no cookies.
	(cd "$b" && CC="$1" CFLAGS="$(dep_cflags)" CPPFLAGS="-I$2/include" LDFLAGS="-L$2/lib" \
		"$srcdir/curl/configure" -q --prefix="$2" --disable-shared --enable-static \
		--with-bearssl="$2" --without-zlib --without-brotli --without-zstd --without-libidn2 \
		--without-libpsl --without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-librtmp \
		--without-libssh2 --without-libssh --without-libgsasl --without-hyper \
		--without-ca-bundle --without-ca-path --without-ca-fallback \
		--disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp --disable-dict \
		--disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp \
		--disable-gopher --disable-mqtt --disable-manual --disable-libcurl-option --disable-proxy \
		--disable-threaded-resolver --disable-pthreads --disable-verbose --disable-sspi \
		--disable-crypto-auth --disable-ntlm --disable-ntlm-wb --disable-tls-srp --disable-unix-sockets \
		--disable-cookies --disable-doh --disable-mime --disable-dateparse --disable-netrc \
		--disable-progress-meter --disable-alt-svc --disable-hsts --disable-websockets \
		--disable-get-easy-options --disable-dnsshuffle --disable-headers-api \
		--disable-ipv6 --disable-docs >/dev/null 2>&1 ||
		{
			tail -40 config.log >&2
			exit 1
		}
	make -s -j"$jobs" -C lib >/dev/null && make -s -C lib install >/dev/null &&
		make -s -C include install >/dev/null)
}

cmd_build() {
	local tc=${1:-musl} cc prefix stamp
	case "$tc" in
	musl)
		cmd_check_toolchain
		cc=musl-gcc
		;;
	glibc) cc=gcc ;;
	*) die "unknown toolchain $tc (musl or glibc)" ;;
	esac
	prefix="$out/$tc"
	stamp="$prefix/.built-$( (cat "$lock" "$0"; cat "$top"/vendor/patches/*/*.patch 2>/dev/null || true) | sha256sum | cut -c1-16)"
	[ -f "$stamp" ] && return 0
	cmd_fetch
	rm -rf "$prefix" && mkdir -p "$prefix/lib" "$prefix/include"
	echo "vendor.sh: building dependencies for $tc (under a minute on 2 cores)"
	build_bearssl "$cc" "$prefix" "$tc"
	build_cjson "$cc" "$prefix" "$tc"
	build_libyaml "$cc" "$prefix" "$tc"
	build_curl "$cc" "$prefix" "$tc"
	touch "$stamp"
}

# Time-zone rules compiled from the pinned tzdata source with zic, in the compact "slim"
# TZif form (rules past the last transition live in each file's POSIX TZ footer). The image
# ships them at /usr/share/zoneinfo; tests read them from build/vendor/zoneinfo.
cmd_zoneinfo() {
	local dst="$out/zoneinfo" stamp s
	stamp="$dst/.built-$(lock_version tzdata)"
	[ -f "$stamp" ] && return 0
	cmd_fetch
	command -v zic >/dev/null || die "zic missing (Debian package libc-bin)"
	rm -rf "$dst" && mkdir -p "$dst"
	s="$srcdir/tzdata"
	(cd "$s" && zic -b slim -d "$dst" africa antarctica asia australasia europe northamerica \
		southamerica etcetera backward) || die "zic failed"
	touch "$stamp"
	echo "vendor.sh: zoneinfo $(lock_version tzdata) compiled into $dst ($(du -sk "$dst" | cut -f1) KiB)"
}

cmd_bump() {
	local pkg=${1:?usage: vendor.sh bump PACKAGE} old new tmp orig_old orig_new lines
	ensure_deb_src
	old=$(lock_version "$pkg")
	[ -n "$old" ] || die "$pkg is not in the lock"
	new=$(apt-cache showsrc "$pkg" | awk '/^Version:/{print $2}' | sort -V | tail -1)
	[ -n "$new" ] || die "the archive has no source package $pkg"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get source -qq --download-only "$pkg=$new" >/dev/null) ||
		die "could not fetch $pkg $new either"
	(cd "$tmp" && dpkg-source --no-check -x ./*.dsc new >/dev/null)
	echo "== $pkg: $old -> $new"
	echo "== patch series changes (- removed, + added):"
	if [ -f "$srcdir/$pkg/debian/patches/series" ]; then
		diff <(grep -v '^\s*\(#\|$\)' "$srcdir/$pkg/debian/patches/series" | sort) \
			<(grep -v '^\s*\(#\|$\)' "$tmp/new/debian/patches/series" 2>/dev/null | sort) |
			grep '^[<>]' | sed 's/^</-/; s/^>/+/' || echo "(none)"
	else
		echo "(old source not unpacked here; the new series is:)"
		cat "$tmp/new/debian/patches/series" 2>/dev/null || echo "(no patches)"
	fi
	orig_old=$(lock_files "$pkg" | awk '$3 ~ /\.orig\./ {print $3" "$4}')
	orig_new=$(cd "$tmp" && for f in *.orig.*; do
		case $f in *.asc) ;; *) echo "$f $(sha256sum "$f" | cut -d' ' -f1)" ;; esac
	done)
	[ "$orig_old" = "$orig_new" ] ||
		echo "!! the upstream tarball changed: $orig_old -> $orig_new (a new upstream release: review it)"
	lines=$(cd "$tmp" && for f in *; do
		case $f in *.asc | new) continue ;; esac
		printf '%-8s %-19s %-39s %s\n' "$pkg" "$new" "$f" "$(sha256sum "$f" | cut -d' ' -f1)"
	done)
	awk -v p="$pkg" -v repl="$lines" '
		!/^#/ && !/^@/ && NF==4 && $1==p { if (!done) { print repl; done=1 } next } { print }' \
		"$lock" >"$lock.new"
	mv "$lock.new" "$lock"
	echo "== vendor/deps.lock rewritten; review with git diff, then: make distclean && make test"
}

case "${1:-}" in
fetch) cmd_fetch ;;
build) cmd_build "${2:-musl}" ;;
zoneinfo) cmd_zoneinfo ;;
bump) cmd_bump "${2:-}" ;;
check-toolchain) cmd_check_toolchain ;;
*) die "usage: vendor.sh fetch | build musl|glibc | zoneinfo | bump PACKAGE | check-toolchain" ;;
esac
