#!/usr/bin/env bash
# Assemble the FROM-scratch OCI image by hand (no Docker daemon):
#   deploy/image/mkimage.sh BINARY OUTDIR
# OUTDIR/rootfs      the image's file system (also what scratch.Dockerfile copies)
# OUTDIR/oci         an OCI image layout, tag "latest" (skopeo copy oci:OUTDIR/oci:latest docker://…)
# Then it proves the image is self-contained: umoci unpacks the layout and the binary runs
# `--version` chrooted into the unpacked rootfs, where nothing but the image's files exist.
set -euo pipefail
bin=${1:?binary} outdir=${2:?output dir}
top=$(cd "$(dirname "$0")/../.." && pwd)
zoneinfo="$top/build/vendor/zoneinfo"
version=$(cat "$top/VERSION")
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || echo 0)}

[ -d "$zoneinfo" ] || "$top/vendor/vendor.sh" zoneinfo
rm -rf "$outdir" && mkdir -p "$outdir/rootfs/etc" "$outdir/rootfs/usr/share" "$outdir/oci/blobs/sha256"
root="$outdir/rootfs"
install -m 0755 "$bin" "$root/omjob-operator"
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
cp -r "$zoneinfo" "$root/usr/share/zoneinfo"
rm -f "$root"/usr/share/zoneinfo/.built-*

# A reproducible layer: sorted names, fixed owner and mtime, no atime/ctime, gzip without name/time.
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=posix \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime --hard-dereference \
	-C "$root" -cf "$outdir/layer.tar" .
diff_id=$(sha256sum "$outdir/layer.tar" | cut -d' ' -f1)
gzip -n -9 <"$outdir/layer.tar" >"$outdir/layer.tar.gz"
rm "$outdir/layer.tar"

blob() { # file media-type -> prints a descriptor and moves the file into blobs/
	local d s
	d=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	mv "$1" "$outdir/oci/blobs/sha256/$d"
	printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$d" "$s"
}
layer=$(blob "$outdir/layer.tar.gz" application/vnd.oci.image.layer.v1.tar+gzip)
cat >"$outdir/config.json" <<JSON
{"architecture":"amd64","os":"linux","config":{"User":"65532:65532","Entrypoint":["/omjob-operator"],"Env":["ZONEINFO=/usr/share/zoneinfo"],"WorkingDir":"/","Labels":{"org.opencontainers.image.title":"omjob-operator","org.opencontainers.image.version":"$version"}},"rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},"history":[{"created_by":"deploy/image/mkimage.sh"}]}
JSON
config=$(blob "$outdir/config.json" application/vnd.oci.image.config.v1+json)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
	"$config" "$layer" >"$outdir/manifest.json"
manifest=$(blob "$outdir/manifest.json" application/vnd.oci.image.manifest.v1+json)
printf '{"imageLayoutVersion":"1.0.0"}' >"$outdir/oci/oci-layout"
printf '{"schemaVersion":2,"manifests":[%s]}' \
	"${manifest%\}},\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}" >"$outdir/oci/index.json"

# Verify with an independent tool, then run the binary inside the unpacked rootfs only.
check="$outdir/check"
umoci unpack --image "$outdir/oci:latest" "$check" >/dev/null
out=$(chroot --userspec=65532:65532 "$check/rootfs" /omjob-operator --version)
echo "$out" | grep -q '^omjob-operator ' || { echo "mkimage: --version failed inside the image" >&2; exit 1; }
files=$(cd "$check/rootfs" && find . -type f | grep -v '^./usr/share/zoneinfo/' | sort | tr '\n' ' ')
[ "$files" = "./etc/group ./etc/passwd ./omjob-operator " ] ||
	{ echo "mkimage: unexpected files in the image: $files" >&2; exit 1; }
rm -rf "$check"

bin_size=$(stat -c %s "$bin")
layer_size=$(echo "$layer" | sed 's/.*"size":\([0-9]*\).*/\1/')
total=$(du -cb "$outdir"/oci/blobs/sha256/* | tail -1 | cut -f1)
echo "image: $outdir/oci (tag latest), ran --version chrooted in the unpacked image:"
echo "$out" | sed 's/^/  | /'
echo "sizes: binary $bin_size bytes, compressed layer $layer_size bytes, image total $total bytes"
[ "$layer_size" -lt 1048576 ] || { echo "mkimage: compressed layer exceeds 1 MiB" >&2; exit 1; }
